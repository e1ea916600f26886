package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const (
	badlyFormatted = `check "tcp" "a" {
address = "127.0.0.1:1"
  interval="10s"
    labels = {team="x", owner = "y"}
}



variable "v" {
  default=1
}
`
	canonical = `check "tcp" "a" {
  address  = "127.0.0.1:1"
  interval = "10s"
  labels   = { team = "x", owner = "y" }
}



variable "v" {
  default = 1
}
`
	syntaxError = `check "tcp" "a" {
  address = "127.0.0.1:1" "extra"
   interval="10s"
}
`
)

func TestFmtCheckThenWrite(t *testing.T) {
	isolate(t)
	dir := t.TempDir()
	bad := writeFile(t, dir, "bad.hcl", badlyFormatted)
	if err := os.Chmod(bad, 0o640); err != nil {
		t.Fatal(err)
	}
	good := writeFile(t, dir, "good.hcl", canonical)

	// --check lists the file and changes nothing.
	r := satellite(t, "fmt", "--check", dir).want(t, exitFailed)
	if r.stdout != bad+"\n" || r.stderr != "" {
		t.Errorf("fmt --check: stdout %q, stderr %q; want %q", r.stdout, r.stderr, bad+"\n")
	}
	if got := readFile(t, bad); got != badlyFormatted {
		t.Errorf("fmt --check changed the file:\n%s", got)
	}

	// fmt rewrites it, keeping its mode, and leaves the good one alone.
	goodInfo, _ := os.Stat(good)
	r = satellite(t, "fmt", dir).want(t, exitOK)
	if r.stdout != bad+"\n" || r.stderr != "" {
		t.Errorf("fmt: stdout %q, stderr %q; want %q", r.stdout, r.stderr, bad+"\n")
	}
	if got := readFile(t, bad); got != canonical {
		t.Errorf("fmt wrote:\n%s\nwant:\n%s", got, canonical)
	}
	if st, err := os.Stat(bad); err != nil || st.Mode().Perm() != 0o640 {
		t.Errorf("mode after fmt: %v, %v; want 0640", st.Mode(), err)
	}
	if st, _ := os.Stat(good); !st.ModTime().Equal(goodInfo.ModTime()) {
		t.Errorf("fmt rewrote a file already in canonical form")
	}

	// Now everything is canonical.
	r = satellite(t, "fmt", "--check", dir).want(t, exitOK)
	if r.stdout != "" || r.stderr != "" {
		t.Errorf("second fmt --check: stdout %q, stderr %q", r.stdout, r.stderr)
	}
	satellite(t, "fmt", bad).want(t, exitOK)
}

func TestFmtSyntaxError(t *testing.T) {
	isolate(t)
	dir := t.TempDir()
	broken := writeFile(t, dir, "broken.hcl", syntaxError)
	bad := writeFile(t, dir, "bad.hcl", badlyFormatted)

	for _, args := range [][]string{{"fmt", broken}, {"fmt", "--check", broken}} {
		r := satellite(t, args...).want(t, exitFailed)
		if !strings.Contains(r.stderr, broken+":2:27: Error: Missing newline after argument") || !strings.Contains(r.stderr, "^") {
			t.Errorf("%v: stderr:\n%s", args, r.stderr)
		}
		if r.stdout != "" {
			t.Errorf("%v: stdout %q", args, r.stdout)
		}
		if got := readFile(t, broken); got != syntaxError {
			t.Errorf("%v changed a file with a syntax error:\n%s", args, got)
		}
	}

	// In a folder, the other files are still formatted, but the exit code
	// says something went wrong.
	r := satellite(t, "fmt", dir).want(t, exitFailed)
	if r.stdout != bad+"\n" {
		t.Errorf("stdout %q, want %q", r.stdout, bad+"\n")
	}
	if readFile(t, bad) != canonical || readFile(t, broken) != syntaxError {
		t.Errorf("fmt on a folder with a broken file: wrong contents after")
	}
}

func TestFmtFileSelection(t *testing.T) {
	isolate(t)
	dir := t.TempDir()
	jsonSrc := `{"check": {"tcp": {"a": {"address": "127.0.0.1:1"}}}}`
	jsonFile := writeFile(t, dir, "a.hcl.json", jsonSrc)
	vars := writeFile(t, dir, "site.auto.vars.hcl", "v=2\n")
	other := writeFile(t, dir, "notes.txt", "x=1\n")
	nested := writeFile(t, dir, "sub/nested.hcl", "x=1\n")

	// A directory: its *.hcl files, variable files included; not JSON, not
	// other files, not sub-folders.
	r := satellite(t, "fmt", "--check", dir).want(t, exitFailed)
	if r.stdout != vars+"\n" {
		t.Errorf("fmt --check %s: %q, want only %s", dir, r.stdout, vars)
	}
	// A JSON file named explicitly is left alone too.
	r = satellite(t, "fmt", jsonFile).want(t, exitOK)
	if r.stdout != "" || r.stderr != "" || readFile(t, jsonFile) != jsonSrc {
		t.Errorf("fmt %s: stdout %q, stderr %q", jsonFile, r.stdout, r.stderr)
	}
	// Other files named explicitly are formatted as HCL.
	r = satellite(t, "fmt", other, nested).want(t, exitOK)
	if r.stdout != other+"\n"+nested+"\n" || readFile(t, other) != "x = 1\n" {
		t.Errorf("fmt %s %s: %q", other, nested, r.stdout)
	}
	// A missing path.
	r = satellite(t, "fmt", filepath.Join(dir, "nope")).want(t, exitFailed)
	if !strings.Contains(r.stderr, "no such file or directory") {
		t.Errorf("missing path: %q", r.stderr)
	}
	// The repository's own valid fixture folder with a JSON file.
	satellite(t, "fmt", "--check", filepath.Join(validDir, "split")).want(t, exitOK)
}

func TestFmtDefaultPath(t *testing.T) {
	isolate(t)
	dir := t.TempDir()
	bad := writeFile(t, dir, "bad.hcl", badlyFormatted)
	t.Setenv("SATELLITE_CONFIG", dir)
	r := satellite(t, "fmt", "--check").want(t, exitFailed)
	if r.stdout != bad+"\n" {
		t.Errorf("fmt --check with SATELLITE_CONFIG: %q", r.stdout)
	}
}
