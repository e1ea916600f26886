package engine_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/satellite-hq/satellite/checks"
	"github.com/satellite-hq/satellite/dsl"
	"github.com/satellite-hq/satellite/engine"
)

func compileSource(t *testing.T, src string) *engine.Plan {
	t.Helper()
	cfg, diags := dsl.LoadSource("eval.hcl", []byte(src), dsl.Options{LookupEnv: func(string) (string, bool) { return "", false }})
	if !diags.HasErrors() {
		plan, more := engine.Compile(cfg)
		diags = append(diags, more...)
		if !diags.HasErrors() {
			return plan
		}
	}
	var sb strings.Builder
	_ = dsl.WriteDiagnostics(&sb, diags, cfg.Files, false, nil)
	t.Fatalf("config does not compile:\n%s", sb.String())
	return nil
}

func runCheck(t *testing.T, plan *engine.Plan, addr string) engine.Verdict {
	t.Helper()
	c, ok := plan.Check(addr)
	if !ok {
		t.Fatalf("no check %s", addr)
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.Timeout)
	defer cancel()
	return c.Evaluate(c.Checker.Check(ctx), 0)
}

// The whole path from HCL to verdict, against real loopback servers:
// asserts on result.json, thresholds in both directions, and asserts left
// out when the checker already failed.
func TestEvaluateAgainstLoopback(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/ok":
			fmt.Fprint(w, `{"status": "ok", "members": 3}`)
		case "/degraded":
			fmt.Fprint(w, `{"status": "degraded", "members": 1}`)
		default:
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprint(w, `not json`)
		}
	}))
	defer srv.Close()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	l.Close()

	plan := compileSource(t, fmt.Sprintf(`
locals { base = %q }

check "http" "health" {
  for_each = toset(["ok", "degraded", "broken"])
  url      = "${local.base}/${each.key}"
  assert {
    condition     = try(result.json.status, "") == "ok"
    error_message = "${each.key}: status is ${try(result.json.status, "missing")}"
  }
  assert {
    condition     = try(result.json.members, 0) >= 3
    error_message = "only ${try(result.json.members, 0)} members"
  }
}

check "http" "status_warn" {
  url = "${local.base}/ok"
  threshold "status_code" {
    warn = 199
    crit = 500
  }
}

check "http" "below" {
  url = "${local.base}/ok"
  threshold "status_code" {
    warn      = 300
    crit      = 250
    direction = "below"
  }
}

check "tcp" "closed" {
  address = %q
  timeout = "2s"
  assert {
    condition     = result.latency_ms < 1
    error_message = "never evaluated: the checker already failed"
  }
}
`, srv.URL, closed))

	cases := []struct {
		addr   string
		status checks.Status
		errHas string
	}{
		{`http.health["ok"]`, checks.StatusPassing, ""},
		{`http.health["degraded"]`, checks.StatusCritical, "degraded: status is degraded; only 1 members"},
		{`http.health["broken"]`, checks.StatusCritical, "503"},
		{"http.status_warn", checks.StatusWarning, "status_code 200 is above the warning threshold 199"},
		{"http.below", checks.StatusCritical, "status_code 200 is below the critical threshold 250"},
		{"tcp.closed", checks.StatusCritical, "refused"},
	}
	for _, tc := range cases {
		t.Run(tc.addr, func(t *testing.T) {
			v := runCheck(t, plan, tc.addr)
			if v.Status != tc.status || !strings.Contains(v.Error, tc.errHas) {
				t.Fatalf("got %s %q, want %s with %q", v.Status, v.Error, tc.status, tc.errHas)
			}
			if strings.Contains(v.Error, "never evaluated") {
				t.Fatalf("assert ran after the checker failed: %q", v.Error)
			}
			if tc.status == checks.StatusPassing && v.Error != "" {
				t.Fatalf("a passing run has an error: %q", v.Error)
			}
		})
	}
}

// Plan properties that the scheduler relies on: dependencies first,
// only_on against the node's tags, defaults and fingerprints.
func TestPlanOrderAndDefaults(t *testing.T) {
	plan := compileSource(t, `
agent {
  name = "n1"
  tags = { role = "worker" }
}
defaults {
  interval                 = "20s"
  failures_before_critical = 3
  labels                   = { team = "a" }
}
check "tcp" "z_first" { address = "127.0.0.1:1" }
check "tcp" "b" {
  address    = "127.0.0.1:2"
  depends_on = [check.tcp.z_first]
  labels     = { tier = "x" }
}
check "tcp" "a" {
  address    = "127.0.0.1:3"
  depends_on = [check.tcp.b]
  interval   = "1m"
  only_on    = { role = "master" }
}
`)
	var order []string
	for _, c := range plan.Checks {
		order = append(order, c.Address)
	}
	if strings.Join(order, " ") != "tcp.z_first tcp.b tcp.a" {
		t.Fatalf("dependencies must come first: %v", order)
	}
	a, _ := plan.Check("tcp.a")
	b, _ := plan.Check("tcp.b")
	if a.Runs || !b.Runs || len(plan.Running()) != 2 {
		t.Fatalf("only_on: a.Runs=%v b.Runs=%v", a.Runs, b.Runs)
	}
	if b.Interval != 20*time.Second || b.Timeout != 10*time.Second || a.Interval != time.Minute {
		t.Fatalf("intervals: b %s/%s a %s", b.Interval, b.Timeout, a.Interval)
	}
	if b.FailuresBeforeCritical != 3 || b.SuccessesBeforePassing != 1 {
		t.Fatalf("hysteresis defaults: %d %d", b.FailuresBeforeCritical, b.SuccessesBeforePassing)
	}
	if b.Labels["team"] != "a" || b.Labels["tier"] != "x" {
		t.Fatalf("labels: %v", b.Labels)
	}
	if a.Fingerprint == "" || a.Fingerprint == b.Fingerprint {
		t.Fatal("fingerprints must tell checks apart")
	}
	// A short interval halves the default timeout.
	short := compileSource(t, `check "tcp" "s" {
  address  = "127.0.0.1:1"
  interval = "4s"
}`)
	if c, _ := short.Check("tcp.s"); c.Timeout != 2*time.Second {
		t.Fatalf("timeout for a 4s interval: %s", c.Timeout)
	}
}

// A reload recompiles: an unchanged check must keep its fingerprint, and
// any change to what it does must change it.
func TestFingerprintStableAcrossCompiles(t *testing.T) {
	src := `
check "tcp" "a" {
  address = "127.0.0.1:1"
  threshold "latency_ms" {
    warn = 5
  }
  assert {
    condition = result.latency_ms < 100
  }
}
check "tcp" "b" {
  address    = "127.0.0.1:2"
  depends_on = [check.tcp.a]
}
`
	fp := func(src, addr string) string {
		c, _ := compileSource(t, src).Check(addr)
		return c.Fingerprint
	}
	a1, b1 := fp(src, "tcp.a"), fp(src, "tcp.b")
	if a1 == "" || a1 != fp("# moved\n\n"+src, "tcp.a") || b1 != fp(src, "tcp.b") {
		t.Fatal("the same check must keep its fingerprint")
	}
	for _, change := range []string{
		strings.Replace(src, "warn = 5", "warn = 6", 1),
		strings.Replace(src, "< 100", "< 101", 1),
		strings.Replace(src, "127.0.0.1:1", "127.0.0.1:3", 1),
	} {
		if fp(change, "tcp.a") == a1 {
			t.Errorf("a change kept the fingerprint:\n%s", change)
		}
	}
}
