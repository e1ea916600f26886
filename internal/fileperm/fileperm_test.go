package fileperm

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSecret(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		mode os.FileMode
		want string // "" for no warning
	}{
		{0o600, ""}, {0o400, ""}, {0o640, "its group"}, {0o644, "every user"}, {0o666, "every user"}, {0o620, "its group"},
	} {
		p := filepath.Join(dir, "token")
		if err := os.WriteFile(p, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, tc.mode); err != nil {
			t.Fatal(err)
		}
		got := Secret(p, "api.token_file")
		if (got == "") != (tc.want == "") || !strings.Contains(got, tc.want) {
			t.Errorf("mode %04o: %q, want %q", tc.mode, got, tc.want)
		}
		if got != "" && (!strings.Contains(got, p) || !strings.Contains(got, "chmod 600")) {
			t.Errorf("mode %04o: %q names neither the file nor the fix", tc.mode, got)
		}
	}
	if w := Secret(filepath.Join(dir, "missing"), "x"); w != "" {
		t.Errorf("missing file: %q", w)
	}
}

func TestDataDir(t *testing.T) {
	for _, tc := range []struct {
		mode os.FileMode
		want string
	}{
		{0o700, ""}, {0o750, ""}, {0o755, "every user can enter"}, {0o770, "its group can write"}, {0o777, "every user can write"}, {0o1777, "every user can write"},
	} {
		d := filepath.Join(t.TempDir(), "data")
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(d, tc.mode); err != nil {
			t.Fatal(err)
		}
		got := DataDir(d)
		if (got == "") != (tc.want == "") || !strings.Contains(got, tc.want) {
			t.Errorf("mode %04o: %q, want %q", tc.mode, got, tc.want)
		}
	}
}
