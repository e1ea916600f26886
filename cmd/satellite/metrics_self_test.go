package main

import (
	"fmt"
	"testing"
	"time"

	"github.com/satellite-hq/satellite/health"
)

// The metrics check against a real exporter of ours: one agent's /metrics
// (client_golang's gauges, counters by label, a histogram), read by the
// metrics check of a second agent. The values are checked against what the
// first agent is known to do: a check that is critical (status 2), a check
// run every second (an increase of about 4 runs over 4 s), file checks
// that take well under a second.
func TestMetricsCheckReadsAnAgent(t *testing.T) {
	t.Parallel()
	closed := freePort(t) // nothing listens there
	dirA := t.TempDir()
	writeFile(t, dirA, "node.hcl", fmt.Sprintf("agent {\n  name     = \"exporter\"\n  data_dir = %q\n}\n", t.TempDir()))
	writeFile(t, dirA, "checks.hcl", fmt.Sprintf(`
check "tcp" "closed" {
  address  = "127.0.0.1:%d"
  interval = "1s"
}
check "file" "root" {
  path     = "/"
  interval = "1s"
}
`, closed))
	a := startProc(t, dirA)

	dirB := t.TempDir()
	writeFile(t, dirB, "node.hcl", fmt.Sprintf("agent {\n  name     = \"scraper\"\n  data_dir = %q\n}\n", t.TempDir()))
	writeFile(t, dirB, "checks.hcl", fmt.Sprintf(`
check "metrics" "exporter" {
  url      = "%s/metrics"
  interval = "1s"
  value "closed_status" {
    gauge = "satellite_check_status"
    match = { check = "tcp.closed" }
  }
  value "root_runs" {
    increase = "satellite_check_runs_total"
    match    = { check = "file.root" }
    over     = "4s"
  }
  value "root_runs_per_s" {
    rate  = "satellite_check_runs_total"
    match = { check = "file.root" }
    over  = "4s"
  }
  value "file_p50_ms" {
    histogram_quantile = 0.5
    metric             = "satellite_check_run_duration_seconds"
    match              = { type = "file" }
    over               = "4s"
    scale              = 1000
  }
  threshold "closed_status" {
    crit = 1
  }
}
`, a.base))
	b := startProc(t, dirB)

	var pr health.Probe
	deadline := time.Now().Add(30 * time.Second)
	for {
		var n health.Node
		b.getJSON(t, "/v1/status/local", &n)
		for _, p := range n.Probes {
			if p.Checker == "metrics.exporter" {
				pr = p
			}
		}
		if _, ok := pr.Metrics["file_p50_ms"]; ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no quantile within 30 s: %+v\n%s", pr, b.out.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	m := pr.Metrics
	if m["closed_status"] != 2 {
		t.Errorf("closed_status %v, want 2 (critical)", m["closed_status"])
	}
	if pr.Status != health.Critical || pr.Error != "closed_status 2 is above the critical threshold 1" {
		t.Errorf("status %s, error %q", pr.Status, pr.Error)
	}
	// One run a second for at least 4 s (the window is the newest scrape
	// against the youngest at least 4 s older, so up to 5 s with a 1 s
	// interval), give or take a run at either end.
	if v := m["root_runs"]; v < 3 || v > 7 {
		t.Errorf("root_runs %v, want about 4 to 5", v)
	}
	if v := m["root_runs_per_s"]; v < 0.6 || v > 1.5 {
		t.Errorf("root_runs_per_s %v, want about 1", v)
	}
	if v := m["file_p50_ms"]; v <= 0 || v > 1000 {
		t.Errorf("file_p50_ms %v, want a positive time under a second", v)
	}
	t.Logf("metrics.exporter: %v", m)
}
