package dsl

import "testing"

func TestNormalise(t *testing.T) {
	same := [][2]string{
		{"check \"tcp\" \"a\" {\n  address = \"x\" # c\n}", `check "tcp" "a" { address="x" }`},
		{"a = 1 // c\nb = 2", "a=1\n\n  b   =   2"},
		{"a = /* c */ b - c", "a = b - c"},
		{`x = "${ {a = 1}.a } # not a comment"`, `x = "${{a=1}.a} # not a comment"`},
	}
	for _, p := range same {
		if a, b := normalise([]byte(p[0])), normalise([]byte(p[1])); a != b {
			t.Errorf("%q → %q, %q → %q: want equal", p[0], a, p[1], b)
		}
	}
	differ := [][2]string{
		{`a = "x y"`, `a = "x  y"`},
		{"a = b-c", "a = b - c"}, // b-c is one identifier in HCL
		{"x = <<EOT\n  a  b\nEOT\n", "x = <<EOT\n a b\nEOT\n"},
		{`a = "# x"`, `a = ""`},
	}
	for _, p := range differ {
		if normalise([]byte(p[0])) == normalise([]byte(p[1])) {
			t.Errorf("%q and %q normalise alike", p[0], p[1])
		}
	}
}

func FuzzNormalise(f *testing.F) {
	for _, s := range []string{"a = 1", `x = "${y}"`, "x = <<EOT\nq\nEOT\n", "/* ", "<<", `"\`, "${", "}}}"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		_ = normalise([]byte(s))
	})
}
