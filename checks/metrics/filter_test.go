package metrics

import (
	"bytes"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"
)

// OpenMetrics that client_golang does not write: info and stateset types,
// a unit, timestamps in seconds, an exemplar with one, UTF-8 names, text
// after # EOF.
const handwrittenOpenMetrics = `# HELP build Build information.
# TYPE build info
build_info{version="1.2.3"} 1
# TYPE power stateset
power{power="on"} 1
power{power="off"} 0
# TYPE uptime counter
# UNIT uptime seconds
uptime_total 3 1700000000.5 # {id="x # {y}"} 1 1700000000.1
uptime_created 1700000000.0
# TYPE "my.metric" gauge
"my.metric"{a="b"} 4
{"other.metric",a="c"} 5 1700000000
# TYPE queue unknown
queue 2
# EOF
this is after the end and not read
`

func TestOpenMetricsHandwritten(t *testing.T) {
	ep := serveText(t, "application/openmetrics-text; version=1.0.0; charset=utf-8", handwrittenOpenMetrics)
	c := compile(t, fmt.Sprintf(`
check "metrics" "t" {
  url = "%s/metrics"
  value "info" { gauge = "build_info" }
  value "on" {
    gauge = "power"
    match = { power = "on" }
  }
  value "uptime" { gauge = "uptime_total" }
  value "dotted" { gauge = "my.metric" }
  value "other" { gauge = "other.metric" }
  value "queue" { gauge = "queue" }
}
`, ep.srv.URL))
	res, v := c.run(t)
	if v.Status != "passing" {
		t.Fatalf("%s: %s", v.Status, v.Error)
	}
	for name, want := range map[string]float64{"info": 1, "on": 1, "uptime": 3, "dotted": 4, "other": 5, "queue": 2} {
		wantValue(t, res, name, want)
	}
	wantValue(t, res, MetricSamples, 8)

	// The counter named as OpenMetrics' family, without _total.
	ep = serveText(t, "application/openmetrics-text; version=1.0.0; charset=utf-8", handwrittenOpenMetrics)
	res, _ = compile(t, fmt.Sprintf("check \"metrics\" \"t\" {\n  url = \"%s/metrics\"\n  value \"u\" { gauge = \"uptime\" }\n}\n", ep.srv.URL)).run(t)
	if !strings.Contains(res.Error, `OpenMetrics writes the samples of a counter as uptime_total`) {
		t.Errorf("error %q", res.Error)
	}
}

// The filter keeps the named metrics' lines, and blank lines in place of
// the others, so the parser's line numbers are the body's.
func TestFilterKeepsNamedLines(t *testing.T) {
	body := apiserverBody(200<<10, 0)
	c := newChecker()
	c.setValues([]valueConfig{
		{name: "p", kind: kindQuantile, metric: "apiserver_request_duration_seconds", quantile: 0.5, over: time.Minute, scale: 1},
		{name: "g", kind: kindGauge, metric: "apiserver_inflight_0", scale: 1},
	})
	f, err := filterBody(bytes.NewReader(body), 1<<30, c.wanted, false)
	if err != nil {
		t.Fatal(err)
	}
	if n, m := bytes.Count(f.kept, []byte("\n")), bytes.Count(body, []byte("\n")); n != m {
		t.Errorf("kept %d lines of %d", n, m)
	}
	exp, err := c.parse(bytes.NewReader(body), false)
	if err != nil {
		t.Fatal(err)
	}
	if got := slices.Sorted(maps.Keys(exp.families)); !slices.Equal(got, []string{"apiserver_inflight_0", "apiserver_request_duration_seconds"}) {
		t.Errorf("families parsed: %q", got)
	}
	samples := 0
	for _, l := range bytes.Split(bytes.TrimSuffix(body, []byte("\n")), []byte("\n")) {
		if !bytes.HasPrefix(l, []byte("#")) {
			samples++
		}
	}
	if exp.samples != samples {
		t.Errorf("samples %d, want %d", exp.samples, samples)
	}

	// Lines longer than the read buffer are read whole.
	long := "up{l=\"" + strings.Repeat("x", 3*readBuffer) + "\"} 1\n"
	c.setValues([]valueConfig{{name: "up", kind: kindGauge, metric: "up", scale: 1}})
	_, err = c.parse(strings.NewReader("# TYPE up gauge\n"+long+long[:len(long)-1]), false)
	if err == nil || !strings.Contains(err.Error(), "line 3") {
		t.Errorf("a long last line without its newline: %v", err)
	}
	exp, err = c.parse(strings.NewReader(long+"up{l=\"y\"} 2\n"), false)
	if err != nil || len(exp.families["up"].GetMetric()) != 2 {
		t.Errorf("long lines: %v, %v", exp, err)
	}
}

func TestHistoryBounded(t *testing.T) {
	v := &valueConfig{name: "r", kind: kindRate, metric: "x", over: time.Hour, scale: 1}
	h := newHistory()
	at := time.Unix(1_700_000_000, 0)
	const scrapes = 5000 // more than an hour at one a second
	for i := range scrapes {
		// One series always there, and one that lives for one scrape.
		pts := []point{{key: "stable", v: float64(i)}, {key: fmt.Sprintf("churn%d", i), v: 1}}
		if _, err := compute(v, h, at.Add(time.Duration(i)*time.Second), pts); err != nil {
			t.Fatal(err)
		}
		if len(h.snaps) > maxSnapshots {
			t.Fatalf("scrape %d: %d snapshots kept", i, len(h.snaps))
		}
	}
	if len(h.cols) > 3*(maxSnapshots+minCompact) || len(h.index) != len(h.cols) {
		t.Errorf("%d columns (%d in the index) after %d scrapes of churning series", len(h.cols), len(h.index), scrapes)
	}
	// The stable series still counts from its history.
	out, err := compute(v, h, at.Add(scrapes*time.Second), []point{{key: "stable", v: scrapes}})
	if err != nil || !out.ok {
		t.Fatalf("%+v, %v", out, err)
	}
	if out.v <= 0.99 || out.v > 1.01 {
		t.Errorf("rate %v, want 1/s", out.v)
	}
}
