package metrics

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/satellite-hq/satellite/checks"
)

// exporter is a client_golang registry with a gauge, a counter and a
// histogram, each with labels, as an exporter would serve them.
type exporter struct {
	reg  *prometheus.Registry
	up   *prometheus.GaugeVec
	reqs *prometheus.CounterVec
	lat  *prometheus.HistogramVec
}

func newExporter() *exporter {
	e := &exporter{
		reg:  prometheus.NewRegistry(),
		up:   prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "test_up", Help: "Whether the instance is up."}, []string{"instance"}),
		reqs: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "test_requests_total", Help: "Requests."}, []string{"instance", "code"}),
		lat: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "test_latency_seconds", Help: "Latency.",
			Buckets: []float64{0.01, 0.05, 0.1, 0.5, 1}}, []string{"instance"}),
	}
	e.reg.MustRegister(e.up, e.reqs, e.lat)
	return e
}

func observe(h prometheus.Observer, v float64, n int) {
	for range n {
		h.Observe(v)
	}
}

const valuesCheck = `
check "metrics" "t" {
  url = "%s/metrics"

  value "up_sum" { gauge = "test_up" }
  value "up_a" {
    gauge = "test_up"
    match = { instance = "a" }
  }
  value "up_min" {
    gauge     = "test_up"
    aggregate = "min"
  }
  value "req_rate" {
    rate = "test_requests_total"
    over = "1m"
  }
  value "req_rate_a200" {
    rate  = "test_requests_total"
    match = { instance = "a", code = "200" }
    over  = "1m"
  }
  value "req_rate_max" {
    rate      = "test_requests_total"
    aggregate = "max"
    over      = "1m"
  }
  value "errors" {
    increase = "test_requests_total"
    match    = { code = "500" }
    over     = "1m"
  }
  value "p99_ms" {
    histogram_quantile = 0.99
    metric             = "test_latency_seconds"
    over               = "1m"
    scale              = 1000
  }
  value "p50_a" {
    histogram_quantile = 0.5
    metric             = "test_latency_seconds"
    match              = { instance = "a" }
    over               = "1m"
  }
  value "p99_max" {
    histogram_quantile = 0.99
    metric             = "test_latency_seconds"
    aggregate          = "max"
    over               = "1m"
  }
  value "p99_min" {
    histogram_quantile = 0.99
    metric             = "test_latency_seconds"
    aggregate          = "min"
    over               = "1m"
  }
  value "observed_per_second" {
    rate = "test_latency_seconds_count"
    over = "1m"
  }
  value "observed_seconds" {
    increase = "test_latency_seconds_sum"
    over     = "1m"
  }

  threshold "p99_ms" {
    warn = 500
    crit = 2000
  }
  threshold "up_min" {
    crit      = 1
    direction = "below"
  }
}
`

func TestValues(t *testing.T) {
	e := newExporter()
	ep := registryEndpoint(t, e.reg, promhttp.HandlerOpts{})
	c := compile(t, fmt.Sprintf(valuesCheck, ep.srv.URL))

	// Before the first scrape: history that the window must leave out.
	e.up.WithLabelValues("a").Set(1)
	e.up.WithLabelValues("b").Set(0)
	e.reqs.WithLabelValues("a", "200").Add(100)
	e.reqs.WithLabelValues("a", "500").Add(3)
	e.reqs.WithLabelValues("b", "200").Add(50)
	observe(e.lat.WithLabelValues("a"), 5, 1000) // all in +Inf
	observe(e.lat.WithLabelValues("b"), 0.02, 7)

	res, v := c.run(t)
	// The gauges are measured at once; the rest needs a second scrape.
	wantValue(t, res, "up_sum", 1)
	wantValue(t, res, "up_a", 1)
	wantValue(t, res, "up_min", 0)
	for _, name := range []string{"req_rate", "req_rate_a200", "req_rate_max", "errors", "p99_ms", "p50_a", "p99_max", "p99_min", "observed_per_second", "observed_seconds"} {
		wantAbsent(t, res, name)
		if !strings.Contains(res.Detail, name+" (the first scrape") {
			t.Errorf("detail %q does not name %s as not measured yet", res.Detail, name)
		}
	}
	// Some values were measured: the run is judged on them, not unknown.
	if res.Status != "" {
		t.Errorf("first run: status %q, want the checker's own verdict empty", res.Status)
	}
	// up_min = 0 is below its critical threshold: judged at once.
	if v.Status != checks.StatusCritical || !strings.Contains(v.Error, "up_min 0 is below the critical threshold 1") {
		t.Errorf("first run judged %s: %s", v.Status, v.Error)
	}
	wantValue(t, res, MetricSamples, 2+3+2*(6+2)) // 2 gauges, 3 counters, 2 histograms of 6 buckets, _sum and _count
	if res.Metrics[MetricBodyBytes] <= 0 {
		t.Errorf("body_bytes %v", res.Metrics[MetricBodyBytes])
	}
	if got := res.Attrs["content_type"].AsString(); !strings.HasPrefix(got, "text/plain") {
		t.Errorf("content type %q", got)
	}

	// The window: a minute of traffic.
	e.up.WithLabelValues("b").Set(1)
	e.reqs.WithLabelValues("a", "200").Add(600)
	e.reqs.WithLabelValues("a", "500").Add(6)
	e.reqs.WithLabelValues("b", "200").Add(120)
	a, b := e.lat.WithLabelValues("a"), e.lat.WithLabelValues("b")
	observe(a, 0.005, 10)
	observe(a, 0.03, 20)
	observe(a, 0.07, 60)
	observe(a, 0.3, 10)
	observe(b, 0.7, 100)
	c.clock.add(time.Minute)

	res, v = c.run(t)
	if res.Status != "" || res.Error != "" {
		t.Fatalf("second run: status %q, error %q", res.Status, res.Error)
	}
	wantValue(t, res, "up_sum", 2)
	wantValue(t, res, "up_min", 1)
	wantValue(t, res, "req_rate", (600+6+120)/60.0)
	wantValue(t, res, "req_rate_a200", 600/60.0)
	wantValue(t, res, "req_rate_max", 600/60.0)
	wantValue(t, res, "errors", 6)
	wantValue(t, res, "observed_per_second", 200/60.0)
	wantValue(t, res, "observed_seconds", 0.005*10+0.03*20+0.07*60+0.3*10+0.7*100)

	// The quantiles, by hand from the window's bucket counts (cumulative):
	//            le=0.01  0.05  0.1  0.5   1  +Inf
	//   a             10    30   90  100  100  100
	//   b              0     0    0    0  100  100
	//   sum by le     10    30   90  100  200  200
	// p99 of the sum: rank 0.99*200 = 198 falls in (0.5, 1], which holds
	// 200-100 observations, 98 of them up to the rank.
	wantValue(t, res, "p99_ms", 1000*(0.5+(1-0.5)*(198.0-100)/(200-100)))
	// p50 of a: rank 50 falls in (0.05, 0.1], 90-30 observations, 20 up to it.
	wantValue(t, res, "p50_a", 0.05+(0.1-0.05)*(50.0-30)/(90-30))
	// p99 of each: a's rank 99 in (0.1, 0.5], 100-90 observations, 9 up to
	// it; b's rank 99 in (0.5, 1], 100 observations, all 99 up to it.
	pa, pb := 0.1+(0.5-0.1)*(99.0-90)/(100-90), 0.5+(1-0.5)*(99.0-0)/(100-0)
	wantValue(t, res, "p99_max", pb)
	wantValue(t, res, "p99_min", pa)

	if v.Status != checks.StatusWarning || !strings.Contains(v.Error, "p99_ms 990 is above the warning threshold 500") {
		t.Errorf("second run judged %s: %s", v.Status, v.Error)
	}
}

func TestWindow(t *testing.T) {
	reg := prometheus.NewRegistry()
	n := prometheus.NewCounter(prometheus.CounterOpts{Name: "events_total", Help: "Events."})
	reg.MustRegister(n)
	ep := registryEndpoint(t, reg, promhttp.HandlerOpts{})
	c := compile(t, fmt.Sprintf(`
check "metrics" "t" {
  url = "%s/metrics"
  value "events" {
    increase = "events_total"
    over     = "1m"
  }
  threshold "events" {
    crit = 1000
  }
}
`, ep.srv.URL))

	// Scrapes every 30s; the counter at each: 0, 10, 30, 60, 100.
	steps := []struct {
		total   float64
		want    float64 // when measured
		unknown string
	}{
		{0, -1, "events (the first scrape; needs another one 1m0s later)"},
		{10, -1, "events (needs a scrape 1m0s old, the oldest is 30s old)"},
		{30, 30, ""}, // against the scrape at 0s, exactly 1m old
		{60, 50, ""}, // against the one at 30s: the youngest that is 1m old
		{100, 70, ""},
	}
	last := 0.0
	for i, s := range steps {
		if i > 0 {
			c.clock.add(30 * time.Second)
		}
		n.Add(s.total - last)
		last = s.total
		res, v := c.run(t)
		if s.unknown != "" {
			wantAbsent(t, res, "events")
			if res.Status != checks.StatusUnknown || v.Status != checks.StatusUnknown || res.Error != "not measured yet: "+s.unknown {
				t.Errorf("scrape %d: status %s, verdict %s, error %q; want unknown: %s", i, res.Status, v.Status, res.Error, s.unknown)
			}
			continue
		}
		wantValue(t, res, "events", s.want)
		if v.Status != checks.StatusPassing {
			t.Errorf("scrape %d: verdict %s (%s)", i, v.Status, v.Error)
		}
	}
	// The history keeps the window and one scrape before it.
	h := c.checker.history[0]
	if len(h.snaps) != 3 {
		t.Errorf("%d snapshots kept, want 3 (60s, 90s, 120s)", len(h.snaps))
	}
}

func TestQuantileWithoutObservations(t *testing.T) {
	e := newExporter()
	ep := registryEndpoint(t, e.reg, promhttp.HandlerOpts{})
	c := compile(t, fmt.Sprintf(`
check "metrics" "t" {
  url = "%s/metrics"
  value "p99" {
    histogram_quantile = 0.99
    metric             = "test_latency_seconds"
    over               = "10s"
  }
  value "count" {
    increase = "test_latency_seconds_count"
    over     = "10s"
  }
}
`, ep.srv.URL))
	observe(e.lat.WithLabelValues("a"), 0.2, 5)
	c.run(t)
	c.clock.add(10 * time.Second)
	res, _ := c.run(t) // nothing observed in the window
	wantAbsent(t, res, "p99")
	wantValue(t, res, "count", 0)
	if res.Status != "" || res.Error != "" || res.Detail != "not measured yet: p99 (no observations in the last 10s)" {
		t.Errorf("status %q, error %q, detail %q", res.Status, res.Error, res.Detail)
	}
	observe(e.lat.WithLabelValues("a"), 0.2, 1)
	c.clock.add(10 * time.Second)
	res, _ = c.run(t)
	// One observation in (0.1, 0.5]: rank 0.99 of 1 in that bucket.
	wantValue(t, res, "p99", 0.1+(0.5-0.1)*0.99)
}

// A restarted exporter starts its counters again from 0: the value before
// the reset is added, as Prometheus' rate() does.
func TestCounterReset(t *testing.T) {
	ep := newEndpoint(t, nil)
	serve := func(total float64, obs int) {
		reg := prometheus.NewRegistry()
		n := prometheus.NewCounter(prometheus.CounterOpts{Name: "restarts_seen_total", Help: "x"})
		h := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "op_seconds", Help: "x", Buckets: []float64{1, 2}})
		reg.MustRegister(n, h)
		n.Add(total)
		observe(h, 1.5, obs)
		ep.serveRegistry(reg, promhttp.HandlerOpts{})
	}
	c := compile(t, fmt.Sprintf(`
check "metrics" "t" {
  url = "%s/metrics"
  value "increase" {
    increase = "restarts_seen_total"
    over     = "1m"
  }
  value "rate" {
    rate = "restarts_seen_total"
    over = "1m"
  }
  value "p50" {
    histogram_quantile = 0.5
    metric             = "op_seconds"
    over               = "1m"
  }
}
`, ep.srv.URL))
	serve(100, 40)
	c.run(t)
	serve(150, 60) // the same process, later
	c.clock.add(30 * time.Second)
	c.run(t)
	serve(20, 4) // restarted with a new registry
	c.clock.add(30 * time.Second)
	res, _ := c.run(t)
	// 100 → 150 → (reset) 20: 50 before the reset and 20 after.
	wantValue(t, res, "increase", 70)
	wantValue(t, res, "rate", 70/60.0)
	// Every observation is in (1, 2]: 20 before the reset, 4 after; the
	// quantile is within that bucket whatever the count.
	wantValue(t, res, "p50", 1+(2-1)*(0.5*24-0)/24)
}

func TestSummaryQuantileAsGauge(t *testing.T) {
	reg := prometheus.NewRegistry()
	s := prometheus.NewSummary(prometheus.SummaryOpts{Name: "gc_seconds", Help: "x", Objectives: map[float64]float64{0.5: 0.05, 0.99: 0.001}})
	reg.MustRegister(s)
	for i := 1; i <= 100; i++ {
		s.Observe(float64(i))
	}
	ep := registryEndpoint(t, reg, promhttp.HandlerOpts{})
	c := compile(t, fmt.Sprintf(`
check "metrics" "t" {
  url = "%s/metrics"
  value "p99" {
    gauge = "gc_seconds"
    match = { quantile = "0.99" }
  }
  value "count" { gauge = "gc_seconds_count" }
  value "sum" { gauge = "gc_seconds_sum" }
}
`, ep.srv.URL))
	res, _ := c.run(t)
	wantValue(t, res, "p99", 99)
	wantValue(t, res, "count", 100)
	wantValue(t, res, "sum", 5050)
}

func TestMissingMetric(t *testing.T) {
	e := newExporter()
	e.up.WithLabelValues("a").Set(1)
	e.lat.WithLabelValues("a").Observe(1)
	ep := registryEndpoint(t, e.reg, promhttp.HandlerOpts{})
	for _, tc := range []struct{ value, want string }{
		{`gauge = "nope_total"`, `x: metric "nope_total" is not in the scrape`},
		{"histogram_quantile = 0.9\nmetric = \"nope_seconds\"\nover = \"1m\"", `x: no histogram "nope_seconds" (no series nope_seconds_bucket) in the scrape`},
		{"gauge = \"test_up\"\nmatch = { instance = \"z\" }", `x: none of the 1 series of "test_up" matches {instance="z"}`},
		{`gauge = "test_latency_seconds"`, `x: "test_latency_seconds" is a histogram: use histogram_quantile`},
		{"histogram_quantile = 0.9\nmetric = \"test_up\"\nover = \"1m\"", `x: "test_up" is a gauge, not a histogram`},
	} {
		c := compile(t, fmt.Sprintf("check \"metrics\" \"t\" {\n  url = \"%s/metrics\"\n  value \"up\" { gauge = \"test_up\" }\n  value \"x\" {\n%s\n  }\n}\n", ep.srv.URL, tc.value))
		res, v := c.run(t)
		if v.Status != checks.StatusCritical || !strings.Contains(res.Error, tc.want) {
			t.Errorf("%s: verdict %s, error %q; want critical with %q", tc.value, v.Status, res.Error, tc.want)
		}
		// The other values are still measured.
		wantValue(t, res, "up", 1)
	}
}

// The real clock: a rate over one second, two scrapes a second apart.
func TestRealClock(t *testing.T) {
	reg := prometheus.NewRegistry()
	n := prometheus.NewCounter(prometheus.CounterOpts{Name: "ticks_total", Help: "x"})
	reg.MustRegister(n)
	ep := registryEndpoint(t, reg, promhttp.HandlerOpts{})
	c := compile(t, fmt.Sprintf("check \"metrics\" \"t\" {\n  url = \"%s/metrics\"\n  value \"r\" {\n    rate = \"ticks_total\"\n    over = \"1s\"\n  }\n}\n", ep.srv.URL))
	c.checker.now = time.Now
	start := time.Now()
	c.run(t)
	n.Add(50)
	time.Sleep(1100 * time.Millisecond)
	res, _ := c.run(t)
	elapsed := time.Since(start).Seconds()
	r, ok := res.Metrics["r"]
	// 50 over the time between the two scrapes: at least 1.1s, at most elapsed.
	if !ok || r > 50/1.1 || r < 50/elapsed {
		t.Errorf("rate %v (measured %v), want 50 over 1.1s to %.2fs", r, ok, elapsed)
	}
}

// A gauge that is not a finite number is not measured; a series written
// twice counts once.
func TestOddSamples(t *testing.T) {
	ep := serveText(t, "text/plain; version=0.0.4", "up NaN\ndown +Inf\ntwice{a=\"1\"} 2\ntwice{a=\"1\"} 3\ntwice{a=\"2\"} 5\n")
	c := compile(t, fmt.Sprintf(`
check "metrics" "t" {
  url = "%s/metrics"
  value "up" { gauge = "up" }
  value "down" { gauge = "down" }
  value "twice" { gauge = "twice" }
}
`, ep.srv.URL))
	res, v := c.run(t)
	wantAbsent(t, res, "up")
	wantAbsent(t, res, "down")
	wantValue(t, res, "twice", 2+5)
	if v.Status != checks.StatusPassing || res.Detail != "not measured yet: up (the value is NaN), down (the value is +Inf)" {
		t.Errorf("%s: %q", v.Status, res.Detail)
	}
	// With no value measured at all, the run is unknown.
	ep = serveText(t, "text/plain; version=0.0.4", "up NaN\n")
	c = compile(t, fmt.Sprintf(`
check "metrics" "t" {
  url = "%s/metrics"
  value "up" { gauge = "up" }
}
`, ep.srv.URL))
	res, v = c.run(t)
	if v.Status != checks.StatusUnknown || res.Error != "not measured yet: up (the value is NaN)" {
		t.Errorf("no value measured: %s: %q", v.Status, res.Error)
	}
}
