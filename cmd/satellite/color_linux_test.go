package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"unsafe"
)

// openPTY opens a pseudo-terminal pair, or skips the test when the system
// has none.
func openPTY(t *testing.T) (ptmx, pts *os.File) {
	t.Helper()
	ptmx, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals: %v", err)
	}
	var unlock int32
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, ptmx.Fd(), syscall.TIOCSPTLCK, uintptr(unsafe.Pointer(&unlock))); e != 0 {
		ptmx.Close()
		t.Skipf("unlockpt: %v", e)
	}
	var n uint32
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, ptmx.Fd(), syscall.TIOCGPTN, uintptr(unsafe.Pointer(&n))); e != 0 {
		ptmx.Close()
		t.Skipf("ptsname: %v", e)
	}
	pts, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		ptmx.Close()
		t.Skipf("open pts: %v", err)
	}
	return ptmx, pts
}

// runOnTerminal runs the command line with stdout and stderr on a
// pseudo-terminal and returns what the terminal received.
func runOnTerminal(t *testing.T, args ...string) (string, int) {
	t.Helper()
	ptmx, pts := openPTY(t)
	defer ptmx.Close()
	var out bytes.Buffer
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = io.Copy(&out, ptmx) // ends with EIO once pts is closed
	}()
	code := run(args, pts, pts)
	pts.Close()
	<-done
	return out.String(), code
}

// Colour on a terminal, and none with NO_COLOR.
func TestColorOnTerminal(t *testing.T) {
	isolate(t)
	path := filepath.Join(invalidDir, "cycle.hcl")

	unsetenv(t, "NO_COLOR")
	out, code := runOnTerminal(t, "validate", path)
	if code != exitFailed || !strings.Contains(out, "\x1b[") || !strings.Contains(out, "Dependency cycle") {
		t.Errorf("on a terminal: exit %d, want 1 and colour:\n%q", code, out)
	}

	for _, v := range []string{"1", "true"} {
		t.Setenv("NO_COLOR", v)
		out, code = runOnTerminal(t, "validate", path)
		if code != exitFailed || strings.Contains(out, "\x1b") || !strings.Contains(out, "Dependency cycle") {
			t.Errorf("NO_COLOR=%s on a terminal: exit %d, want 1 and no escape codes:\n%q", v, code, out)
		}
	}

	// An empty NO_COLOR does not count (no-color.org).
	t.Setenv("NO_COLOR", "")
	if out, _ = runOnTerminal(t, "validate", path); !strings.Contains(out, "\x1b[") {
		t.Errorf("NO_COLOR= (empty) on a terminal must keep colour:\n%q", out)
	}
}
