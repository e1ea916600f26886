package dsl

import (
	"os"
	"path/filepath"
	"strings"
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
