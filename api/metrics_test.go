package api

import (
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/satellite-hq/satellite/checks"
	"github.com/satellite-hq/satellite/engine"
	"github.com/satellite-hq/satellite/events"
)

func newTestRegistry(snapshot func() []engine.CheckSnapshot) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(NewMetrics(snapshot))
	return reg
}

func testSnapshot() []engine.CheckSnapshot {
	return []engine.CheckSnapshot{
		{
			Check: &engine.Check{Address: "http.api", Type: "http"},
			State: engine.State{Status: checks.StatusCritical, Flapping: true,
				Metrics: map[string]float64{"latency_ms": 12.5, "status_code": 503}},
			Runs: map[checks.Status]uint64{checks.StatusPassing: 10, checks.StatusCritical: 3},
		},
		{
			Check: &engine.Check{Address: `tcp.db["a"]`, Type: "tcp"},
			State: engine.State{Status: checks.StatusPassing, Metrics: map[string]float64{"latency_ms": 0.25}},
			Runs:  map[checks.Status]uint64{checks.StatusPassing: 7, checks.StatusWarning: 1},
		},
		{
			Check: &engine.Check{Address: "container.x", Type: "container"},
			State: engine.State{Status: checks.StatusBlocked},
			Runs:  map[checks.Status]uint64{checks.StatusBlocked: 2},
		},
		{
			Check: &engine.Check{Address: "dns.new", Type: "dns"},
			State: engine.NewState(time.Now()),
		},
	}
}

func TestMetrics(t *testing.T) {
	var mu sync.Mutex
	snap := testSnapshot()
	m := NewMetrics(func() []engine.CheckSnapshot {
		mu.Lock()
		defer mu.Unlock()
		return snap
	})
	reg := prometheus.NewRegistry()
	reg.MustRegister(m, NewBuildInfo("0.1.0"))

	httpCheck, tcpCheck := snap[0].Check, snap[1].Check
	for _, e := range []events.Event{
		{Kind: events.CheckRun, Check: events.Check{Address: httpCheck.Address, Type: httpCheck.Type}, Duration: 20 * time.Millisecond, RunStatus: checks.StatusPassing},
		{Kind: events.CheckRun, Check: events.Check{Address: httpCheck.Address, Type: httpCheck.Type}, Duration: 1500 * time.Millisecond, RunStatus: checks.StatusCritical},
		{Kind: events.CheckRun, Check: events.Check{Address: httpCheck.Address, Type: httpCheck.Type}, RunStatus: checks.StatusBlocked}, // did not run
		{Kind: events.MemberJoined, Node: "node-b"}, // a cluster event: ignored
		{Kind: events.CheckRun, Check: events.Check{Address: tcpCheck.Address, Type: tcpCheck.Type}, Duration: 2 * time.Millisecond, RunStatus: checks.StatusPassing},
	} {
		m.Observe(&e)
	}

	_, base := newServer(t, &stubBackend{}, Options{Token: "full", ReadToken: "read", Registry: reg})
	if a := do(t, nil, "GET", base+"/metrics", ""); a.code != 401 {
		t.Errorf("/metrics without token: %d", a.code)
	}
	a := do(t, nil, "GET", base+"/metrics", "read")
	if a.code != 200 || !strings.HasPrefix(a.header.Get("Content-Type"), "text/plain") {
		t.Fatalf("%d %s: %s", a.code, a.header.Get("Content-Type"), a.body)
	}
	mustContain(t, a.body,
		"# HELP satellite_check_status The check's state after hysteresis: 0 passing, 1 warning, 2 critical, 3 blocked, -1 unknown (no result yet).",
		"# TYPE satellite_check_status gauge",
		`satellite_check_status{check="http.api",type="http"} 2`,
		`satellite_check_status{check="tcp.db[\"a\"]",type="tcp"} 0`,
		`satellite_check_status{check="container.x",type="container"} 3`,
		`satellite_check_status{check="dns.new",type="dns"} -1`,

		"# TYPE satellite_check_metric gauge",
		`satellite_check_metric{check="http.api",metric="latency_ms",type="http"} 12.5`,
		`satellite_check_metric{check="http.api",metric="status_code",type="http"} 503`,
		`satellite_check_metric{check="tcp.db[\"a\"]",metric="latency_ms",type="tcp"} 0.25`,

		"# TYPE satellite_check_runs_total counter",
		`satellite_check_runs_total{check="http.api",status="passing",type="http"} 10`,
		`satellite_check_runs_total{check="http.api",status="critical",type="http"} 3`,
		`satellite_check_runs_total{check="tcp.db[\"a\"]",status="warning",type="tcp"} 1`,
		`satellite_check_runs_total{check="container.x",status="blocked",type="container"} 2`,

		"# TYPE satellite_check_flapping gauge",
		`satellite_check_flapping{check="http.api",type="http"} 1`,
		`satellite_check_flapping{check="tcp.db[\"a\"]",type="tcp"} 0`,

		"# TYPE satellite_check_run_duration_seconds histogram",
		`satellite_check_run_duration_seconds_bucket{type="http",le="0.001"} 0`,
		`satellite_check_run_duration_seconds_bucket{type="http",le="0.025"} 1`,
		`satellite_check_run_duration_seconds_bucket{type="http",le="2.5"} 2`,
		`satellite_check_run_duration_seconds_bucket{type="http",le="30"} 2`,
		`satellite_check_run_duration_seconds_count{type="http"} 2`,
		`satellite_check_run_duration_seconds_count{type="tcp"} 1`,
		`satellite_check_run_duration_seconds_bucket{type="tcp",le="0.0025"} 1`,

		`satellite_build_info{version="0.1.0"} 1`,
	)
	if strings.Contains(a.body, `satellite_check_metric{check="container.x"`) {
		t.Error("a blocked check without metrics has metric series")
	}
	for _, s := range []string{`satellite_check_runs_total{check="http.api",status="warning"`, `satellite_check_runs_total{check="dns.new"`} {
		if strings.Contains(a.body, s) {
			t.Errorf("a zero run counter: %s", s)
		}
	}

	// A check removed by a reload is gone at the next scrape.
	mu.Lock()
	snap = snap[1:]
	mu.Unlock()
	a = do(t, nil, "GET", base+"/metrics", "full")
	if strings.Contains(a.body, `satellite_check_status{check="http.api"`) {
		t.Error("a removed check is still exported")
	}
	mustContain(t, a.body, `satellite_check_status{check="tcp.db[\"a\"]",type="tcp"} 0`)
}

// Gather checks the values themselves, NaN metrics included.
func TestMetricsGather(t *testing.T) {
	snap := testSnapshot()
	snap[1].State.Metrics["odd"] = math.NaN()
	reg := newTestRegistry(func() []engine.CheckSnapshot { return snap })
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]int{}
	for _, mf := range mfs {
		counts[mf.GetName()] = len(mf.GetMetric())
		if mf.GetName() != "satellite_check_metric" {
			continue
		}
		for _, mt := range mf.GetMetric() {
			labels := map[string]string{}
			for _, lp := range mt.GetLabel() {
				labels[lp.GetName()] = lp.GetValue()
			}
			if labels["metric"] == "odd" && !math.IsNaN(mt.GetGauge().GetValue()) {
				t.Errorf("odd = %v", mt.GetGauge().GetValue())
			}
		}
	}
	want := map[string]int{
		"satellite_check_status":     4,
		"satellite_check_flapping":   4,
		"satellite_check_metric":     4,
		"satellite_check_runs_total": 5,
	}
	for name, n := range want {
		if counts[name] != n {
			t.Errorf("%s: %d series, want %d", name, counts[name], n)
		}
	}
	// No run yet: the histogram has no series.
	if counts["satellite_check_run_duration_seconds"] != 0 {
		t.Errorf("histogram: %d series", counts["satellite_check_run_duration_seconds"])
	}

	// Without a snapshot function, only the histogram remains.
	reg = newTestRegistry(nil)
	if mfs, err := reg.Gather(); err != nil || len(mfs) != 0 {
		t.Errorf("%d families, %v", len(mfs), err)
	}
}

// BenchmarkMetricsCollect scrapes 10,000 checks with three metrics each.
func BenchmarkMetricsCollect(b *testing.B) {
	snap := make([]engine.CheckSnapshot, 10000)
	for i := range snap {
		snap[i] = engine.CheckSnapshot{
			Check: &engine.Check{Address: fmt.Sprintf("http.svc%d", i), Type: "http"},
			State: engine.State{Status: checks.StatusPassing,
				Metrics: map[string]float64{"latency_ms": 1, "status_code": 200, "bytes": 512}},
			Runs: map[checks.Status]uint64{checks.StatusPassing: uint64(i)},
		}
	}
	reg := newTestRegistry(func() []engine.CheckSnapshot { return snap })
	b.ReportAllocs()
	for b.Loop() {
		if _, err := reg.Gather(); err != nil {
			b.Fatal(err)
		}
	}
}
