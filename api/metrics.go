package api

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/satellite-hq/satellite/engine"
	"github.com/satellite-hq/satellite/events"
)

// Metrics is the per-check part of /metrics. The gauges and counters are
// built from a snapshot at each scrape rather than stored per series, so
// that ten thousand checks cost nothing between scrapes and a check removed
// by a reload disappears at once. Register it with the Registry given to
// New, and feed it every engine.Event through Observe.
type Metrics struct {
	snapshot func() []engine.CheckSnapshot

	status   *prometheus.Desc
	metric   *prometheus.Desc
	runs     *prometheus.Desc
	flapping *prometheus.Desc
	duration *prometheus.HistogramVec
}

// DurationBuckets are the run duration histogram's buckets, in seconds:
// from 1 ms to 30 s, the longest sensible check timeout.
var DurationBuckets = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}

// NewMetrics builds the collector; snapshot (usually Scheduler.Snapshot) is
// called once per scrape and may be nil.
func NewMetrics(snapshot func() []engine.CheckSnapshot) *Metrics {
	checkLabels := []string{"check", "type"}
	return &Metrics{
		snapshot: snapshot,
		status: prometheus.NewDesc("satellite_check_status",
			"The check's state after hysteresis: 0 passing, 1 warning, 2 critical, 3 blocked, -1 unknown (no result yet).",
			checkLabels, nil),
		metric: prometheus.NewDesc("satellite_check_metric",
			"A metric the check's latest run reported (latency_ms, used_percent ...), named by the metric label.",
			[]string{"check", "type", "metric"}, nil),
		runs: prometheus.NewDesc("satellite_check_runs_total",
			"Runs of the check by the run's own status (before hysteresis; blocked counts the times a dependency kept it from running), since the agent started or the check last changed. A status appears once a run had it.",
			[]string{"check", "type", "status"}, nil),
		flapping: prometheus.NewDesc("satellite_check_flapping",
			"1 when the check's state changed often in its recent runs, else 0.",
			checkLabels, nil),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "satellite_check_run_duration_seconds",
			Help:    "How long check runs took, by check type.",
			Buckets: DurationBuckets,
		}, []string{"type"}),
	}
}

// Describe implements prometheus.Collector.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	ch <- m.status
	ch <- m.metric
	ch <- m.runs
	ch <- m.flapping
	m.duration.Describe(ch)
}

// Collect implements prometheus.Collector.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	m.duration.Collect(ch)
	if m.snapshot == nil {
		return
	}
	for _, cs := range m.snapshot() {
		if cs.Check == nil {
			continue
		}
		addr, typ := cs.Check.Address, cs.Check.Type
		ch <- prometheus.MustNewConstMetric(m.status, prometheus.GaugeValue, float64(cs.State.Status.Severity()), addr, typ)
		flapping := 0.0
		if cs.State.Flapping {
			flapping = 1
		}
		ch <- prometheus.MustNewConstMetric(m.flapping, prometheus.GaugeValue, flapping, addr, typ)
		for name, v := range cs.State.Metrics {
			ch <- prometheus.MustNewConstMetric(m.metric, prometheus.GaugeValue, v, addr, typ, name)
		}
		// Only the statuses a run has had: zero counters for every status
		// would quadruple the series of a large node for little use (alert
		// on satellite_check_status instead).
		for st, n := range cs.Runs {
			if n > 0 {
				ch <- prometheus.MustNewConstMetric(m.runs, prometheus.CounterValue, float64(n), addr, typ, string(st))
			}
		}
	}
}

// Observe records a run's duration; a blocked check did not run and is
// not recorded, nor is a cluster event. Safe to call from many goroutines.
func (m *Metrics) Observe(e *events.Event) {
	if !e.Ran() {
		return
	}
	m.duration.WithLabelValues(e.Check.Type).Observe(e.Duration.Seconds())
}

// NewBuildInfo is a collector of satellite_build_info{version}, always 1.
func NewBuildInfo(version string) prometheus.Collector {
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "satellite_build_info",
		Help:        "Always 1; the version label is the running satellite's version.",
		ConstLabels: prometheus.Labels{"version": version},
	})
	g.Set(1)
	return g
}
