package atomicfile

import (
	"os"
	"path/filepath"
	"testing"
)

func TestWrite(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state.json")
	for _, content := range []string{"first\n", "second, longer than the first\n"} {
		if err := Write(path, []byte(content), 0o640, ".state-*.tmp"); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(path)
		if err != nil || string(got) != content {
			t.Fatalf("read %q, %v; want %q", got, err, content)
		}
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o640 {
		t.Fatalf("mode %v, %v", st.Mode(), err)
	}
	if tmps, _ := filepath.Glob(filepath.Join(dir, ".state-*.tmp")); len(tmps) != 0 {
		t.Fatalf("temporary files left: %v", tmps)
	}
	// A folder that does not exist: an error, and nothing written.
	if err := Write(filepath.Join(dir, "none", "x"), []byte("x"), 0o600, ".x-*"); err == nil {
		t.Fatal("no error for a missing folder")
	}
	// A target that cannot be replaced (a non-empty folder): the
	// temporary file is removed.
	busy := filepath.Join(dir, "busy")
	if err := os.MkdirAll(filepath.Join(busy, "child"), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := Write(busy, []byte("x"), 0o600, ".busy-*.tmp"); err == nil {
		t.Fatal("no error renaming over a non-empty folder")
	}
	if tmps, _ := filepath.Glob(filepath.Join(dir, ".busy-*.tmp")); len(tmps) != 0 {
		t.Fatalf("temporary files left after a failure: %v", tmps)
	}
}
