package processcheck_test

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"

	"github.com/satellite-hq/satellite/checks"
	processcheck "github.com/satellite-hq/satellite/checks/process"
	"github.com/satellite-hq/satellite/dsl"
	"github.com/satellite-hq/satellite/engine"
)

func TestSampleValidates(t *testing.T) {
	reg, ok := checks.Lookup(processcheck.Type)
	if !ok {
		t.Fatal("process is not registered")
	}
	opts := dsl.Options{LookupEnv: func(string) (string, bool) { return "", false }, UnknownEnv: true}
	cfg, diags := dsl.LoadSource("process-sample.hcl", []byte(reg.Sample), opts)
	if !diags.HasErrors() {
		plan, more := engine.Compile(cfg)
		diags = append(diags, more...)
		if plan != nil && len(plan.Checks) == 0 {
			t.Fatal("the sample declares no check")
		}
	}
	if len(diags) > 0 {
		var sb strings.Builder
		_ = dsl.WriteDiagnostics(&sb, diags, cfg.Files, false, nil)
		t.Fatalf("the sample does not validate:\n%s", sb.String())
	}
}

// From HCL to verdict: a threshold on count and an assert on result.pids,
// against real processes.
func TestEngineEvaluate(t *testing.T) {
	arg := "4242.123987"
	var pids []string
	for range 2 {
		cmd := exec.Command("sleep", arg)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		pids = append(pids, fmt.Sprint(cmd.Process.Pid))
	}
	src := fmt.Sprintf(`
check "process" "sleepers" {
  pattern = "^sleep %[1]s$"
  threshold "count" {
    warn = 1
    crit = 5
  }
}

check "process" "pids" {
  pattern = "^sleep %[1]s$"
  assert {
    condition     = length(result.pids) == 1
    error_message = "sleepers: ${join(" ", result.pids)}"
  }
}

check "process" "none" {
  name = "satellite-none"
  min  = 0
  max  = 0
}
`, strings.ReplaceAll(arg, ".", `\\.`))
	cfg, diags := dsl.LoadSource("p.hcl", []byte(src), dsl.Options{LookupEnv: func(string) (string, bool) { return "", false }})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	plan, diags := engine.Compile(cfg)
	if len(diags) > 0 {
		t.Fatal(diags)
	}
	for _, tc := range []struct {
		addr   string
		status checks.Status
		err    string
	}{
		{"process.sleepers", checks.StatusWarning, "count 2 is above the warning threshold 1"},
		{"process.pids", checks.StatusCritical, "sleepers: "},
		{"process.none", checks.StatusPassing, ""},
	} {
		c, _ := plan.Check(tc.addr)
		var res checks.Result
		// The sleepers may still be starting: wait until both are seen.
		for range 100 {
			ctx, cancel := context.WithTimeout(context.Background(), c.Timeout)
			res = c.Checker.Check(ctx)
			cancel()
			if tc.addr == "process.none" || res.Metrics[processcheck.MetricCount] == 2 {
				break
			}
		}
		v := c.Evaluate(res, 0)
		if v.Status != tc.status || !strings.Contains(v.Error, tc.err) || (tc.err == "" && v.Error != "") {
			t.Errorf("%s: %s %q, want %s with %q", tc.addr, v.Status, v.Error, tc.status, tc.err)
		}
		if tc.addr == "process.pids" {
			for _, p := range pids {
				if !strings.Contains(v.Error, p) {
					t.Errorf("%q does not list pid %s", v.Error, p)
				}
			}
		}
	}
}
