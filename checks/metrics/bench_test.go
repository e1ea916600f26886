package metrics

import (
	"bytes"
	"testing"
	"time"
)

// BenchmarkParse5MB is one run's work on a busy kube-apiserver's
// exposition (~5 MB, ~30,000 lines, histograms with 128 labelled series of
// 24 buckets each): filter the body, parse what a quantile value names with
// expfmt, and compute the quantile over the buckets' deltas since the
// previous run.
func BenchmarkParse5MB(b *testing.B) {
	bodies := [][]byte{apiserverBody(5<<20, 1), apiserverBody(5<<20, 2)}
	c := newChecker()
	c.setValues([]valueConfig{{name: "p99", kind: kindQuantile, metric: "apiserver_request_duration_seconds",
		quantile: 0.99, over: time.Minute, scale: 1}})
	b.Logf("%d bytes, %d lines", len(bodies[0]), bytes.Count(bodies[0], []byte("\n")))
	at := time.Unix(1_700_000_000, 0)
	b.ReportAllocs()
	b.SetBytes(int64(len(bodies[0])))
	i := 0
	for b.Loop() {
		exp, err := c.parse(bytes.NewReader(bodies[i%2]), false)
		if err != nil {
			b.Fatal(err)
		}
		res := c.evaluate(exp, at.Add(time.Duration(i)*time.Minute))
		if _, ok := res.Metrics["p99"]; i > 0 && !ok {
			b.Fatalf("run %d: no quantile: %s", i, res.Error)
		}
		i++
	}
}

// BenchmarkParse5MBWhole parses the whole exposition, as a check without
// values does: the cost of expfmt's parser for every family.
func BenchmarkParse5MBWhole(b *testing.B) {
	body := apiserverBody(5<<20, 1)
	c := newChecker()
	c.setValues(nil)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := c.parse(bytes.NewReader(body), false); err != nil {
			b.Fatal(err)
		}
	}
}
