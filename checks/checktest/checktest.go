// Package checktest holds what the tests of every check type share:
// compiling a config as validate does, running a checker under a deadline,
// and asserting on diagnostics and results. Only tests import it.
package checktest

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

// Compile loads src as a config file and compiles it, as `satellite validate`
// does; unknownEnv is `validate --unknown-env`.
func Compile(t testing.TB, src string, unknownEnv bool) (*engine.Plan, hcl.Diagnostics) {
	t.Helper()
	opts := dsl.Options{LookupEnv: func(string) (string, bool) { return "", false }, UnknownEnv: unknownEnv}
	cfg, diags := dsl.LoadSource("test.hcl", []byte(src), opts)
	if diags.HasErrors() {
		return nil, diags
	}
	plan, more := engine.Compile(cfg)
	return plan, append(diags, more...)
}

// MustCompile compiles src, which must have no diagnostic at all.
func MustCompile(t testing.TB, src string) *engine.Plan {
	t.Helper()
	plan, diags := Compile(t, src, false)
	if len(diags) > 0 {
		t.Fatalf("config does not compile cleanly: %s", diags)
	}
	return plan
}

// MustCheck compiles src and returns the check at addr, which must have a checker.
func MustCheck(t testing.TB, src, addr string) *engine.Check {
	t.Helper()
	c, ok := MustCompile(t, src).Check(addr)
	if !ok {
		t.Fatalf("no check %s", addr)
	}
	if c.Checker == nil {
		t.Fatalf("check %s has no checker", addr)
	}
	return c
}

// Run runs a checker under a timeout, as the scheduler does (with
// checks.WithTimeout, so errors name the timeout exactly).
func Run(c checks.Checker, timeout time.Duration) checks.Result {
	ctx, cancel := checks.WithTimeout(context.Background(), timeout)
	defer cancel()
	return c.Check(ctx)
}

// Expired returns a context whose deadline passed before the run.
func Expired(t testing.TB) context.Context {
	ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Millisecond))
	t.Cleanup(cancel)
	return ctx
}

// WantDiag checks that diags hold exactly one error, with the summary, a
// detail containing detail that is a full sentence, and a subject on the
// line of src marked "# <-".
func WantDiag(t *testing.T, src string, diags hcl.Diagnostics, summary, detail string) {
	t.Helper()
	errs := diags.Errs()
	if len(errs) != 1 {
		t.Fatalf("%d errors, want 1: %s", len(errs), diags)
	}
	d := errs[0].(*hcl.Diagnostic)
	if d.Summary != summary {
		t.Errorf("summary %q, want %q", d.Summary, summary)
	}
	if !strings.Contains(d.Detail, detail) || !(strings.HasSuffix(d.Detail, ".") || strings.HasSuffix(d.Detail, "?")) {
		t.Errorf("detail %q: want a sentence containing %q", d.Detail, detail)
	}
	wantLine := 0
	for i, line := range strings.Split(src, "\n") {
		if strings.Contains(line, "# <-") {
			wantLine = i + 1
		}
	}
	if d.Subject == nil || d.Subject.Filename != "test.hcl" || d.Subject.Start.Line != wantLine {
		t.Errorf("subject %v, want test.hcl line %d", d.Subject, wantLine)
	}
}

// WantCritical fails unless the run was critical with an error containing every part.
func WantCritical(t testing.TB, res checks.Result, parts ...string) {
	t.Helper()
	if res.Verdict() != checks.StatusCritical {
		t.Fatalf("verdict %s (error %q), want critical", res.Verdict(), res.Error)
	}
	t.Logf("error: %s", res.Error)
	for _, p := range parts {
		if !strings.Contains(res.Error, p) {
			t.Errorf("error %q does not contain %q", res.Error, p)
		}
	}
}

// WantPassing fails unless the run passed.
func WantPassing(t testing.TB, res checks.Result) {
	t.Helper()
	if res.Verdict() != checks.StatusPassing {
		t.Fatalf("verdict %s, error %q, detail %q; want passing", res.Verdict(), res.Error, res.Detail)
	}
}

// Sample tests that the type's embedded sample validates on its own, with
// and without --unknown-env, and that every check in it builds.
func Sample(t *testing.T, typ string) {
	reg, ok := checks.Lookup(typ)
	if !ok {
		t.Fatalf("%s is not registered", typ)
	}
	if strings.TrimSpace(reg.Sample) == "" || reg.Doc == "" {
		t.Fatalf("registration: sample %d bytes, doc %q", len(reg.Sample), reg.Doc)
	}
	for _, unknown := range []bool{true, false} {
		plan, diags := Compile(t, reg.Sample, unknown)
		if len(diags) > 0 {
			t.Fatalf("unknownEnv=%v: the sample does not validate cleanly: %s", unknown, diags)
		}
		if len(plan.Checks) == 0 {
			t.Fatal("the sample declares no check")
		}
		for _, c := range plan.Checks {
			if c.Type != typ {
				t.Errorf("the sample declares a %s check", c.Type)
			}
			if c.Checker == nil && !unknown {
				t.Errorf("%s has no checker", c.Address)
			}
		}
	}
}

// DocExamples tests that every hcl example of the type's page in
// docs/checks validates cleanly, as `satellite validate --unknown-env` would.
// It runs from the type's folder (checks/TYPE).
func DocExamples(t *testing.T, typ string) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "checks", typ+".md"))
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```hcl\n(.*?)```").FindAllSubmatch(doc, -1)
	if len(blocks) == 0 {
		t.Fatal("the page has no hcl example")
	}
	for i, b := range blocks {
		if _, diags := Compile(t, string(b[1]), true); len(diags) > 0 {
			t.Errorf("example %d does not validate cleanly: %s\n%s", i+1, diags, b[1])
		}
	}
}
