package execcheck_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"

	"github.com/satellite-hq/satellite/checks"
	execcheck "github.com/satellite-hq/satellite/checks/exec"
	"github.com/satellite-hq/satellite/dsl"
	"github.com/satellite-hq/satellite/engine"
)

func compile(t *testing.T, src string, unknownEnv bool) (*engine.Plan, hcl.Diagnostics, *dsl.Config) {
	t.Helper()
	opts := dsl.Options{LookupEnv: func(string) (string, bool) { return "", false }, UnknownEnv: unknownEnv}
	cfg, diags := dsl.LoadSource("exec.hcl", []byte(src), opts)
	if diags.HasErrors() {
		return nil, diags, cfg
	}
	plan, more := engine.Compile(cfg)
	return plan, append(diags, more...), cfg
}

func render(cfg *dsl.Config, diags hcl.Diagnostics) string {
	var sb strings.Builder
	_ = dsl.WriteDiagnostics(&sb, diags, cfg.Files, false, nil)
	return sb.String()
}

func TestSampleValidates(t *testing.T) {
	reg, ok := checks.Lookup(execcheck.Type)
	if !ok {
		t.Fatal("exec is not registered")
	}
	plan, diags, cfg := compile(t, reg.Sample, true)
	if len(diags) > 0 {
		t.Fatalf("the sample does not validate:\n%s", render(cfg, diags))
	}
	if len(plan.Checks) < 2 {
		t.Fatalf("the sample declares %d checks", len(plan.Checks))
	}
}

// Without agent { enable_exec = true }, validate points at the check block.
func TestEngineRefusesExecWithoutEnableExec(t *testing.T) {
	for _, agent := range []string{"", "agent {\n  enable_exec = false\n}\n"} {
		src := agent + "check \"exec\" \"x\" {\n  command = [\"/bin/true\"]\n}\n"
		_, diags, _ := compile(t, src, false)
		if len(diags) != 1 || !diags.HasErrors() {
			t.Fatalf("diags %s, want one error", diags)
		}
		d := diags[0]
		if d.Summary != "Exec checks are not enabled" || !strings.Contains(d.Detail, "agent { enable_exec = true }") {
			t.Errorf("%s: %s", d.Summary, d.Detail)
		}
		line := strings.Count(agent, "\n") + 1
		if d.Subject == nil || d.Subject.Filename != "exec.hcl" || d.Subject.Start.Line != line ||
			src[d.Subject.Start.Byte:d.Subject.End.Byte] != `check "exec" "x"` {
			t.Errorf("subject %v, want the block header on line %d", d.Subject, line)
		}
	}
}

// From HCL to verdict: thresholds and asserts on what exec reports.
func TestEngineEvaluate(t *testing.T) {
	dir := t.TempDir()
	scriptPath := filepath.Join(dir, "status.sh")
	if err := os.WriteFile(scriptPath, []byte("#!/bin/sh\necho \"STATUS $1\"\nexit $2\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	plan, diags, cfg := compile(t, fmt.Sprintf(`
agent {
  enable_exec = true
}

check "exec" "fine" {
  command = [%[1]q, "fine", "0"]
  assert {
    condition     = result.exit_code == 0 && trimspace(result.output) == "STATUS fine"
    error_message = "output was ${result.output}"
  }
}

check "exec" "stale" {
  command = [%[1]q, "STALE", "0"]
  assert {
    condition     = length(regexall("STALE", result.output)) == 0
    error_message = "backup is stale"
  }
}

check "exec" "warn" {
  command = [%[1]q, "degraded", "1"]
}

check "exec" "slow" {
  command = [%[1]q, "fine", "0"]
  threshold "duration_ms" {
    warn = 0
  }
}
`, scriptPath), false)
	if len(diags) > 0 {
		t.Fatalf("%s", render(cfg, diags))
	}
	for _, tc := range []struct {
		addr   string
		status checks.Status
		err    string
	}{
		{"exec.fine", checks.StatusPassing, ""},
		{"exec.stale", checks.StatusCritical, "backup is stale"},
		{"exec.warn", checks.StatusWarning, "STATUS degraded"},
		{"exec.slow", checks.StatusWarning, "duration_ms"},
	} {
		c, ok := plan.Check(tc.addr)
		if !ok {
			t.Fatalf("no %s", tc.addr)
		}
		ctx, cancel := context.WithTimeout(context.Background(), c.Timeout)
		v := c.Evaluate(c.Checker.Check(ctx), 0)
		cancel()
		if v.Status != tc.status || !strings.Contains(v.Error, tc.err) || (tc.err == "" && v.Error != "") {
			t.Errorf("%s: %s %q, want %s with %q", tc.addr, v.Status, v.Error, tc.status, tc.err)
		}
	}
}
