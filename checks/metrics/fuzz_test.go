package metrics

import (
	"bytes"
	"math"
	"testing"
	"time"
)

// FuzzMetricsParse runs arbitrary bodies through what a run does with a
// response: the filter, expfmt's parser, and every kind of value, twice so
// that rates and quantiles compare two scrapes. It must not panic, and
// what it measures must be finite numbers.
func FuzzMetricsParse(f *testing.F) {
	for _, seed := range []string{
		"# TYPE up gauge\nup{job=\"a\"} 1\nup{job=\"b\"} 0\n",
		"# TYPE x_total counter\nx_total{code=\"200\"} 10\nx_total{code=\"500\"} 1 1700000000000\n",
		"# TYPE h histogram\nh_bucket{le=\"0.1\"} 1\nh_bucket{le=\"1\"} 3\nh_bucket{le=\"+Inf\"} 4\nh_sum 2.5\nh_count 4\n",
		"h_bucket{le=\"0.5\",i=\"a\"} 2\nh_bucket{le=\"+Inf\",i=\"a\"} 2\nh_bucket{le=\"NaN\"} 1\n",
		"# TYPE s summary\ns{quantile=\"0.99\"} 3\ns_sum 5\ns_count 2\n",
		"# TYPE x counter\nx_total 3 1700000000.5 # {id=\"x\"} 1 1.5\n# TYPE h histogram\nh_bucket{le=\"1.0\"} 1 # {a=\"b\"} 0.5\nh_bucket{le=\"+Inf\"} 1\n# EOF\n",
		"{\"up\",job=\"a\"} 1\n\"x_total\"{a=\"b\"} 2\n",
		"up{job=\"a\" 1\n",
		"up -Inf\nx_total NaN\nh_bucket{le=\"-1\"} 5\nh_bucket{le=\"+Inf\"} 2\n",
	} {
		f.Add([]byte(seed), []byte(seed), false)
		f.Add([]byte(seed), []byte(seed+seed), true)
	}
	at := time.Unix(1_700_000_000, 0)
	values := []valueConfig{
		{name: "up", kind: kindGauge, metric: "up", scale: 1},
		{name: "up_a", kind: kindGauge, metric: "up", match: []matcher{{"job", "a"}}, agg: aggMax, scale: 1},
		{name: "s99", kind: kindGauge, metric: "s", match: []matcher{{"quantile", "0.99"}}, scale: 1},
		{name: "rate", kind: kindRate, metric: "x_total", over: time.Minute, scale: 1},
		{name: "inc", kind: kindIncrease, metric: "x_total", over: time.Minute, agg: aggMin, scale: 2},
		{name: "count", kind: kindRate, metric: "h_count", over: time.Minute, scale: 1},
		{name: "p50", kind: kindQuantile, metric: "h", quantile: 0.5, over: time.Minute, scale: 1},
		{name: "p99", kind: kindQuantile, metric: "h", quantile: 0.99, over: time.Minute, agg: aggMax, scale: 1000},
	}
	f.Fuzz(func(t *testing.T, first, second []byte, openMetrics bool) {
		for _, vs := range [][]valueConfig{values, nil} {
			c := newChecker()
			c.maxBody = 1 << 20
			c.setValues(vs)
			for i, body := range [][]byte{first, second} {
				exp, err := c.parse(bytes.NewReader(body), openMetrics)
				if err != nil {
					if len(err.Error()) > 2*maxErrorText {
						t.Fatalf("an error of %d bytes", len(err.Error()))
					}
					continue
				}
				res := c.evaluate(exp, at.Add(time.Duration(i)*time.Minute))
				for name, v := range res.Metrics {
					if math.IsNaN(v) || math.IsInf(v, 0) {
						t.Fatalf("%s = %v", name, v)
					}
				}
			}
		}
	})
}
