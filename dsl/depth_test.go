package dsl

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestHCLDepth(t *testing.T) {
	long := func(n int, sep string) string { return "1" + strings.Repeat(sep+"1", n) }
	for _, tc := range []struct {
		name string
		src  string
		want int64 // at least, or at most for ok cases
		deep bool  // want > 256
	}{
		{"flat", "a = 1\nb = [1, 2, 3]\n", 2, false},
		{"block", "check \"tcp\" \"x\" {\n  a = { b = [1] }\n}\n", 4, false},
		{"many operator lines", strings.Repeat("a = 1 + 2 + 3 # comment\n", 1000), 3, false},
		{"many object items", "a = {\n" + strings.Repeat("  k = x + y\n", 1000) + "}\n", 4, false},
		{"chain in parens over lines", "a = (" + long(300, " +\n") + ")\n", 300, true},
		{"chain in for object over lines", "a = {for k in x : k => " + long(300, "\n+ ") + "}\n", 300, true},
		{"chain in interpolation", "a = \"${" + long(300, " + ") + "}\"\n", 300, true},
		{"splats", "a = x" + strings.Repeat("[*]", 300) + "\n", 300, true},
		{"directives", "a = \"" + strings.Repeat("%{ if true }", 300) + strings.Repeat("%{ endif }", 300) + "\"\n", 300, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := hclDepth([]byte(tc.src), "t.hcl", MaxDepthCeiling)
			if tc.deep && d.max <= 256 {
				t.Errorf("depth %d, want more than 256", d.max)
			}
			if !tc.deep && d.max > tc.want {
				t.Errorf("depth %d, want at most %d", d.max, tc.want)
			}
			if ub, ok := fastDepth([]byte(tc.src)); ok && ub < d.max {
				t.Errorf("fastDepth %d, under hclDepth %d", ub, d.max)
			}
		})
	}
}

// TestFastDepthBoundsHCLDepth: fastDepth's bound is never under hclDepth's
// depth, on the fixtures, the examples, the hostile corpus and the cases
// of TestHCLDepth.
func TestFastDepthBoundsHCLDepth(t *testing.T) {
	var paths []string
	for _, pat := range []string{"../testdata/*/*.hcl", "../testdata/*/*/*.hcl", "../examples/*/*.hcl"} {
		m, _ := filepath.Glob(pat)
		paths = append(paths, m...)
	}
	if len(paths) < 20 {
		t.Fatalf("only %d files", len(paths))
	}
	srcs := map[string][]byte{
		"comments":  []byte("a = 1 # x ) ) )\nb = (1 /* ) */ + 2)\n// ))\nc = \"#)\"\n"),
		"strings":   []byte("a = \"\\\")))\" \nb = \"$${((\" \nc = \"${(1 + 2)}\"\n"),
		"splat":     []byte("a = x" + strings.Repeat("[*]", 50) + "\n"),
		"newlines":  []byte("a = (1 +\n2 +\n3)\nb = {for k in x : k => 1\n+ 2}\n"),
		"interp":    []byte("a = \"x${ {a = [1, (2)]} }y${~ 1 ~}\"\n"),
		"heredoc":   []byte("a = <<EOT\n((((\nEOT\n"),
		"directive": []byte("a = \"%{ if true }x%{ endif }\"\n"),
	}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		srcs[p] = b
	}
	for name, src := range srcs {
		exact := hclDepth(src, name, MaxDepthCeiling)
		if ub, ok := fastDepth(src); ok && ub < exact.max {
			t.Errorf("%s: fastDepth %d, under hclDepth %d", name, ub, exact.max)
		}
	}
}

func TestReadRegularFile(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(dir, "big")
	if err := os.WriteFile(big, make([]byte, 2000), 0o600); err != nil {
		t.Fatal(err)
	}
	ok := filepath.Join(dir, "ok")
	if err := os.WriteFile(ok, []byte("token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ path, want string }{
		{fifo, "not a regular file (a named pipe (FIFO))"},
		{"/dev/zero", "not a regular file (a character device)"},
		{dir, "not a regular file (a directory)"},
		{"/proc/self/status", "is in /proc"},
		{big, "larger than the test reads (1000 bytes)"},
	} {
		_, err := ReadRegularFile(tc.path, 1000, "the test")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.path, err, tc.want)
		}
	}
	if b, err := ReadRegularFile(ok, 1000, "the test"); err != nil || string(b) != "token\n" {
		t.Errorf("ok: %q, %v", b, err)
	}
}
