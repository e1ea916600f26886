package heartbeatcheck

import (
	"path/filepath"
	"strings"
	"testing"
)

// FuzzFileName feeds check addresses (for_each keys are any string) to
// FileName: the name is always one safe path component inside the
// heartbeats folder, and two addresses never share one.
func FuzzFileName(f *testing.F) {
	for _, seed := range [][2]string{
		{"heartbeat.backup", `heartbeat.backup["x"]`},
		{`heartbeat.b["../../etc/passwd"]`, `heartbeat.b["a/b"]`},
		{"heartbeat.", "heartbeat"},
		{"heartbeat." + strings.Repeat("x", 170), "heartbeat." + strings.Repeat("x", 171)},
		{`heartbeat.b["~"]`, "heartbeat.b[\"\x00\"]"},
		{"heartbeat.ключ", "heartbeat.%D0"},
	} {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		na, nb := FileName(a), FileName(b)
		for _, n := range []string{na, nb} {
			if n == "" || n == "." || n == ".." || strings.HasPrefix(n, ".") || len(n) > 200 {
				t.Fatalf("unsafe name %q", n)
			}
			for i := 0; i < len(n); i++ {
				if c := n[i]; !safe(c) && c != '%' && c != '~' && c != '.' {
					t.Fatalf("name %q has byte %q", n, c)
				}
			}
			if p := Path("/data", a); filepath.Dir(p) != filepath.Join("/data", Dir) {
				t.Fatalf("Path(%q) = %s", a, p)
			}
		}
		if a != b && na == nb {
			t.Fatalf("%q and %q share %q", a, b, na)
		}
	})
}
