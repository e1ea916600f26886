package execcheck

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/satellite-hq/satellite/checks/checktest"

	"github.com/hashicorp/hcl/v2"
	"github.com/satellite-hq/satellite/checks"
	"github.com/satellite-hq/satellite/dsl"
	"github.com/zclconf/go-cty/cty"
	"golang.org/x/sys/unix"
)

// helperEnv makes the test binary act as a small program instead of running
// the tests (see TestNonRootUser).
const helperEnv = "SATELLITE_EXEC_TEST_HELPER"

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) != "" {
		os.Exit(helperMain(os.Getenv(helperEnv)))
	}
	// This machine's init may not reap orphans (in a container it often
	// does not): as a child subreaper the test process inherits the
	// command's orphans, which the checker must then reap itself, so the
	// tests can see that nothing is left, not even a zombie.
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		fmt.Fprintln(os.Stderr, "PR_SET_CHILD_SUBREAPER:", err)
		os.Exit(1)
	}
	os.Exit(m.Run())
}

func registration(t testing.TB) *checks.Registration {
	t.Helper()
	reg, ok := checks.Lookup(Type)
	if !ok {
		t.Fatal("exec is not registered")
	}
	return reg
}

// decoded is one check block of a source, decoded with the type's spec.
type decoded struct {
	val   cty.Value
	env   checks.Env
	diags hcl.Diagnostics
}

// decodeChecks decodes every check block of src with the registered spec.
func decodeChecks(t testing.TB, src, baseDir string, execEnabled bool, ctx *hcl.EvalContext) []decoded {
	t.Helper()
	var out []decoded
	for _, d := range checktest.DecodeChecks(t, Type, src, checks.Env{BaseDir: baseDir, Agent: dsl.Agent{EnableExec: execEnabled}}, ctx) {
		out = append(out, decoded{val: d.Val, env: d.Env, diags: d.Diags})
	}
	return out
}

// build decodes and builds `check "exec" "t" { BODY }` with exec enabled.
func build(t testing.TB, body, baseDir string) (checks.Checker, hcl.Diagnostics, string) {
	t.Helper()
	src := "check \"exec\" \"t\" {\n" + body + "\n}\n"
	d := decodeChecks(t, src, baseDir, true, nil)[0]
	if d.diags.HasErrors() {
		return nil, d.diags, src
	}
	c, diags := registration(t).Build(d.val, d.env)
	return c, diags, src
}

// mustBuild builds a body that must be valid.
func mustBuild(t testing.TB, body string) *Checker {
	t.Helper()
	c, diags, _ := build(t, body, "")
	if diags.HasErrors() || c == nil {
		t.Fatalf("build: checker %v, diags %s", c, diags)
	}
	return c.(*Checker)
}

// commandOf builds a check that runs argv with the given extra attributes.
func commandOf(t testing.TB, extra string, argv ...string) *Checker {
	t.Helper()
	q := make([]string, len(argv))
	for i, a := range argv {
		q[i] = fmt.Sprintf("%q", a)
	}
	return mustBuild(t, "command = ["+strings.Join(q, ", ")+"]\n"+extra)
}

// script writes an executable #!/bin/sh script into a fresh temporary folder.
func script(t testing.TB, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "check.sh")
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// want checks a run's verdict and that its error contains every part.
func want(t testing.TB, res checks.Result, status checks.Status, parts ...string) {
	t.Helper()
	if res.Verdict() != status {
		t.Fatalf("verdict %s (error %q, detail %q), want %s", res.Verdict(), res.Error, res.Detail, status)
	}
	for _, p := range parts {
		if !strings.Contains(res.Error, p) {
			t.Errorf("error %q does not contain %q", res.Error, p)
		}
	}
}

// alive reports whether a process exists, as a zombie or not.
func alive(pid int) (bool, string) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false, ""
	}
	return true, string(b)
}

// Shared with every check type's tests (checks/checktest).
var (
	run = checktest.Run
)
