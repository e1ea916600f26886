package processcheck

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/satellite-hq/satellite/checks/checktest"

	"github.com/hashicorp/hcl/v2"
	"github.com/satellite-hq/satellite/checks"
	"github.com/zclconf/go-cty/cty"
)

func registration(t testing.TB) *checks.Registration {
	t.Helper()
	reg, ok := checks.Lookup(Type)
	if !ok {
		t.Fatal("process is not registered")
	}
	return reg
}

type decoded struct {
	val   cty.Value
	env   checks.Env
	diags hcl.Diagnostics
}

// decodeChecks decodes every check block of src with the registered spec.
func decodeChecks(t testing.TB, src string, ctx *hcl.EvalContext) []decoded {
	t.Helper()
	var out []decoded
	for _, d := range checktest.DecodeChecks(t, Type, src, checks.Env{}, ctx) {
		out = append(out, decoded{val: d.Val, env: d.Env, diags: d.Diags})
	}
	return out
}

// build decodes and builds `check "process" "t" { BODY }`.
func build(t testing.TB, body string) (checks.Checker, hcl.Diagnostics, string) {
	t.Helper()
	src := "check \"process\" \"t\" {\n" + body + "\n}\n"
	d := decodeChecks(t, src, nil)[0]
	if d.diags.HasErrors() {
		return nil, d.diags, src
	}
	c, diags := registration(t).Build(d.val, d.env)
	return c, diags, src
}

// mustBuild builds a body that must be valid.
func mustBuild(t testing.TB, body string) *Checker {
	t.Helper()
	c, diags, _ := build(t, body)
	if diags.HasErrors() || c == nil {
		t.Fatalf("build: checker %v, diags %s", c, diags)
	}
	return c.(*Checker)
}

// unique returns prefix followed by random hex, n characters in all.
func unique(t testing.TB, prefix string, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return (prefix + hex.EncodeToString(b))[:n]
}

// program copies an executable to a fresh folder under a new name, so that
// the processes it runs have that name.
func program(t testing.TB, from, name string) string {
	t.Helper()
	src, err := exec.LookPath(from)
	if err != nil {
		t.Skipf("no %s here: %v", from, err)
	}
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	to := filepath.Join(t.TempDir(), name)
	out, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	return to
}

// start runs n copies of argv until the test ends, and returns their pids.
func start(t testing.TB, n int, argv ...string) []int {
	t.Helper()
	var pids []int
	for range n {
		cmd := exec.Command(argv[0], argv[1:]...)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		})
		pids = append(pids, cmd.Process.Pid)
	}
	// Wait until each has exec'd (its comm is no longer the test's).
	for _, pid := range pids {
		want := filepath.Base(argv[0])
		if len(want) > commLen {
			want = want[:commLen]
		}
		waitFor(t, func() bool { return comm(pid) == want }, "pid %d to become %s", pid, want)
	}
	return pids
}

func comm(pid int) string {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	return strings.TrimSuffix(string(b), "\n")
}

func waitFor(t testing.TB, cond func() bool, format string, args ...any) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for "+format, args...)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func run(c checks.Checker) checks.Result {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return c.Check(ctx)
}

// pidsOf returns result.pids as ints.
func pidsOf(t testing.TB, res checks.Result) []int {
	t.Helper()
	v, ok := res.Attrs["pids"]
	if !ok || v.IsNull() || !v.Type().Equals(cty.List(cty.Number)) {
		t.Fatalf("result.pids %#v", v)
	}
	var out []int
	for it := v.ElementIterator(); it.Next(); {
		_, e := it.Element()
		i, _ := e.AsBigFloat().Int64()
		out = append(out, int(i))
	}
	return out
}

func mkfifo(path string) error { return syscall.Mkfifo(path, 0o600) }
