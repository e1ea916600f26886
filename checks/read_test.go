package checks

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"testing/iotest"
)

func TestReadLimited(t *testing.T) {
	for _, n := range []int{0, 1, 4095, 4096} {
		data, err := ReadLimited(strings.NewReader(strings.Repeat("x", n)), 4096, "f", "a small file")
		if err != nil || len(data) != n {
			t.Errorf("%d bytes: %d, %v", n, len(data), err)
		}
	}
	for limit, want := range map[int64]string{
		4 << 10:  "/proc/loadavg is larger than 4 KiB; it is not the kernel's file",
		64 << 10: "/proc/loadavg is larger than 64 KiB; it is not the kernel's file",
		1 << 20:  "/proc/loadavg is larger than 1 MiB; it is not the kernel's file",
		4 << 20:  "/proc/loadavg is larger than 4 MiB; it is not the kernel's file",
		1536:     "/proc/loadavg is larger than 1536 bytes; it is not the kernel's file",
		100:      "/proc/loadavg is larger than 100 bytes; it is not the kernel's file",
	} {
		_, err := ReadLimited(strings.NewReader(strings.Repeat("x", int(limit)+1)), limit, "/proc/loadavg", "the kernel's file")
		if err == nil || err.Error() != want {
			t.Errorf("limit %d: %v, want %q", limit, err, want)
		}
	}
	broken := errors.New("broken")
	if _, err := ReadLimited(iotest.ErrReader(broken), 10, "f", "x"); err != broken {
		t.Errorf("read error %v, want it as it is", err)
	}
}

func TestReadFileLimited(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "modules")
	if err := os.WriteFile(p, []byte("overlay 1 0 - Live 0x0\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if data, err := ReadFileLimited(p, 1<<20, "the kernel's module list"); err != nil || string(data) != "overlay 1 0 - Live 0x0\n" {
		t.Errorf("%q, %v", data, err)
	}
	if _, err := ReadFileLimited(p, 8, "the kernel's module list"); err == nil || err.Error() != p+" is larger than 8 bytes; it is not the kernel's module list" {
		t.Errorf("too large: %v", err)
	}
	var pe *fs.PathError
	if _, err := ReadFileLimited(filepath.Join(dir, "missing"), 10, "x"); !errors.Is(err, fs.ErrNotExist) || !errors.As(err, &pe) || pe.Op != "open" {
		t.Errorf("missing: %v", err)
	}
	if _, err := ReadFileLimited(dir, 10, "x"); !errors.Is(err, syscall.EISDIR) || !errors.As(err, &pe) || pe.Op != "read" {
		t.Errorf("directory: %v", err)
	}
}
