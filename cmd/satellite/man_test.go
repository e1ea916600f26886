package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/satellite-hq/satellite/internal/testenv"
)

// TestManPages writes the man pages and checks that there is one per
// command --help lists, no more, with the header, the options (inherited
// ones too), the examples and the links that man(1) shows.
func TestManPages(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "man")
	// 2026-12-07 06:11:07 UTC: the pages are dated SOURCE_DATE_EPOCH.
	t.Setenv("SOURCE_DATE_EPOCH", "1796623867")
	r := satellite(t, "man", "--dir", dir).want(t, exitOK)

	// The pages expected: every command of the tree that is not hidden,
	// and cobra's completion command with its four shells (added when the
	// root runs).
	want := []string{"satellite-completion.1"}
	for _, sh := range []string{"bash", "fish", "powershell", "zsh"} {
		want = append(want, "satellite-completion-"+sh+".1")
	}
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Hidden {
			return
		}
		want = append(want, strings.ReplaceAll(c.CommandPath(), " ", "-")+".1")
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(newRootCmd())
	sort.Strings(want)

	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("pages written:\n  %s\nwant:\n  %s", strings.Join(got, " "), strings.Join(want, " "))
	}
	if wantOut := "Wrote " + strconv.Itoa(len(want)) + " man pages into " + dir + ".\n"; r.stdout != wantOut {
		t.Errorf("stdout %q, want %q", r.stdout, wantOut)
	}
	for _, hidden := range []string{"satellite-man.1", "satellite-help.1", "satellite-__complete.1"} {
		if _, err := os.Stat(filepath.Join(dir, hidden)); err == nil {
			t.Errorf("%s was written: hidden commands and help have no page", hidden)
		}
	}

	page := readPage(t, dir, "satellite-validate.1")
	for _, s := range []string{
		`.TH "SATELLITE-VALIDATE" "1" "Dec 2026" "satellite ` + version + `" "satellite manual"`,
		".SH NAME\nsatellite-validate - Check a config",
		".SH SYNOPSIS\n\\fBsatellite validate [PATH...] [flags]\\fP",
		"Exit codes: 0 valid (warnings allowed), 1 invalid, 2 usage.",
		// A flag with its default, and its usage.
		"\\fB--format\\fP=\"text\"\n\toutput format: text or json\n",
		"\\fB--var-file\\fP=[]",
		".SH EXAMPLE\n",
		"satellite validate examples/quickstart\n",
		".SH SEE ALSO\n\\fBsatellite(1)\\fP",
	} {
		if !strings.Contains(page, s) {
			t.Errorf("satellite-validate.1 lacks %q:\n%s", s, page)
		}
	}
	if strings.Contains(page, "Auto generated") {
		t.Error("satellite-validate.1 has cobra's generated-on line: the package would not be reproducible")
	}

	// A sub-command shows the flags it inherits, and its parent lists it.
	page = readPage(t, dir, "satellite-keyring-install.1")
	if !strings.Contains(page, ".SH OPTIONS INHERITED FROM PARENT COMMANDS\n") ||
		!strings.Contains(page, "\\fB--token-file\\fP") {
		t.Errorf("satellite-keyring-install.1 lacks the inherited --token-file:\n%s", page)
	}
	page = readPage(t, dir, "satellite-keyring.1")
	if !strings.Contains(page, "\\fBsatellite-keyring-install(1)\\fP") || !strings.Contains(page, "\\fBsatellite-keyring-use(1)\\fP") {
		t.Errorf("satellite-keyring.1 does not list its commands:\n%s", page)
	}
	page = readPage(t, dir, "satellite.1")
	if !strings.Contains(page, "\\fBsatellite-validate(1)\\fP") || strings.Contains(page, "satellite-man") {
		t.Errorf("satellite.1 should link validate and not the hidden man command:\n%s", page)
	}

	// Rendered by man(1) as lintian does: no groff warning on any page, and
	// options come out as ASCII "--" to copy.
	manBin, err := exec.LookPath("man")
	if err != nil {
		testenv.Unavailable(t, "man (man-db, which lintian depends on) is not installed")
	}
	for _, name := range want {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		cmd := exec.CommandContext(ctx, manBin, "--warnings", "-E", "UTF-8", "-l", "-Tutf8", "-Z", filepath.Join(dir, name))
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		err := cmd.Run()
		cancel()
		if err != nil || stderr.Len() > 0 {
			t.Errorf("man --warnings %s: %v\n%s", name, err, stderr.String())
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, manBin, "-l", filepath.Join(dir, "satellite-validate.1"))
	cmd.Env = append(os.Environ(), "MANWIDTH=80", "LC_ALL=C.UTF-8", "MANPAGER=cat", "PAGER=cat")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("man -l satellite-validate.1: %v", err)
	}
	for _, s := range []string{"SATELLITE-VALIDATE(1)", "satellite-validate - Check a config", "--var-file", "Dec 2026"} {
		if !strings.Contains(string(out), s) {
			t.Errorf("man -l satellite-validate.1 shows no %q:\n%s", s, out)
		}
	}
}

func TestManErrors(t *testing.T) {
	r := satellite(t, "man").want(t, exitUsage)
	if !strings.Contains(r.stderr, `required flag(s) "dir" not set`) {
		t.Errorf("man without --dir: %q", r.stderr)
	}

	t.Setenv("SOURCE_DATE_EPOCH", "yesterday")
	r = satellite(t, "man", "--dir", t.TempDir()).want(t, exitUsage)
	if !strings.Contains(r.stderr, `SOURCE_DATE_EPOCH must be seconds since 1970, not "yesterday"`) {
		t.Errorf("bad SOURCE_DATE_EPOCH: %q", r.stderr)
	}

	t.Setenv("SOURCE_DATE_EPOCH", "")
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	r = satellite(t, "man", "--dir", filepath.Join(file, "man")).want(t, exitFailed)
	if !strings.Contains(r.stderr, "Error: writing the man pages: mkdir "+file+": not a directory") {
		t.Errorf("man into a file: %q", r.stderr)
	}
}

func readPage(t *testing.T, dir, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
