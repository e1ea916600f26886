package systemdcheck

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/satellite-hq/satellite/checks"
	"github.com/satellite-hq/satellite/dsl"
	"github.com/satellite-hq/satellite/engine"
)

// compile loads src as a whole config and compiles it, as validate does.
func compile(t testing.TB, src string, unknownEnv bool) (*engine.Plan, hcl.Diagnostics) {
	t.Helper()
	cfg, diags := dsl.LoadSource("test.hcl", []byte(src), dsl.Options{
		LookupEnv:  func(string) (string, bool) { return "", false },
		UnknownEnv: unknownEnv,
	})
	if diags.HasErrors() {
		return nil, diags
	}
	plan, more := engine.Compile(cfg)
	return plan, append(diags, more...)
}

// mustChecker compiles one systemd check block and returns its checker.
func mustChecker(t testing.TB, body string) *Checker {
	t.Helper()
	plan, diags := compile(t, "check \"systemd\" \"t\" {\n"+body+"\n}\n", false)
	if diags.HasErrors() {
		t.Fatalf("compile: %s", diags)
	}
	c, ok := plan.Check("systemd.t")
	if !ok || c.Checker == nil {
		t.Fatal("no checker for systemd.t")
	}
	return c.Checker.(*Checker)
}

// at points a checker at this test's own places: a bus socket path and
// a systemctl, both in temporary folders.
func (c *Checker) at(busSocket, systemctl string) *Checker {
	c.bus = newDBusSource(busSocket)
	c.ctl = systemctlSource{program: systemctl}
	return c
}

// missingPath returns a path in a fresh temporary folder that does not exist.
func missingPath(t testing.TB, name string) string {
	t.Helper()
	return filepath.Join(t.TempDir(), name)
}

// fakeSystemctl writes an executable script named systemctl into a fresh
// folder and returns the folder. It stands in for systemctl, which cannot
// talk to a systemd here: the script prints what a real systemctl prints.
func fakeSystemctl(t testing.TB, script string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "systemctl"), []byte("#!/bin/sh\n"+script), 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

func run(c checks.Checker, timeout time.Duration) checks.Result {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return c.Check(ctx)
}

func wantStatus(t testing.TB, res checks.Result, want checks.Status, errParts ...string) {
	t.Helper()
	if res.Verdict() != want {
		t.Fatalf("verdict %s (error %q), want %s", res.Verdict(), res.Error, want)
	}
	for _, p := range errParts {
		if !strings.Contains(res.Error, p) {
			t.Errorf("error %q does not contain %q", res.Error, p)
		}
	}
}

func testdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var timedOut = regexp.MustCompile(`^systemd: timed out after ([0-9.]+m?s) waiting for (.+)$`)

// wantTimeout checks the error of a run that timed out: it names the
// source and about the timeout (the deadline was set a moment before the
// run started, longer on a loaded machine).
func wantTimeout(t testing.TB, res checks.Result, timeout time.Duration, source string) {
	t.Helper()
	m := timedOut.FindStringSubmatch(res.Error)
	if res.Verdict() != checks.StatusCritical || m == nil || m[2] != source {
		t.Fatalf("%s %q, want a timeout waiting for %s", res.Verdict(), res.Error, source)
	}
	if d, _ := time.ParseDuration(m[1]); d > timeout || d < timeout-50*time.Millisecond {
		t.Errorf("%q: timed out after %s, want about %s", res.Error, d, timeout)
	}
}
