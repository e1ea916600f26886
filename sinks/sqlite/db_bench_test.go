package sqlite

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/satellite-hq/satellite/sinks"
)

// BenchmarkWriteCancelable is BenchmarkWrite with a context that can be
// cancelled, as the agent's writers pass: the driver then watches the context
// for every statement it runs.
//
//	go test -run '^$' -bench 'BenchmarkWrite' -count 6 ./sinks/sqlite
func BenchmarkWriteCancelable(b *testing.B) {
	d := openTest(b, DefaultRetention)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const size = 1000
	batch := make([]sinks.Record, size)
	for i := range batch {
		batch[i] = sinks.Record{
			Time: time.Now(), Node: "node-1", Check: fmt.Sprintf(`http.api["%d"]`, i%50), Type: "http",
			Status: "ok", RunStatus: "ok", Duration: 12 * time.Millisecond, Changed: i%100 == 0, Previous: "warning",
			Metrics: map[string]float64{"latency_ms": 12.5, "status_code": 200, "bytes": 5120},
			Labels:  map[string]string{"team": "core", "env": "prod"},
		}
	}
	for b.Loop() {
		if err := d.Write(ctx, batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*size)/b.Elapsed().Seconds(), "results/s")
}

// BenchmarkWrite10kChecks is BenchmarkWrite with the results of 10,000
// checks, 1,000 a batch, as an agent running 10,000 checks writes them: every
// row of a batch goes to another place of the (check_addr, time) index.
func BenchmarkWrite10kChecks(b *testing.B) {
	d := openTest(b, DefaultRetention)
	ctx := context.Background()
	const size, checks = 1000, 10_000
	batches := make([][]sinks.Record, checks/size)
	start := time.Now().Add(-time.Hour)
	for k := range batches {
		batches[k] = make([]sinks.Record, size)
		for i := range batches[k] {
			n := k*size + i
			batches[k][i] = sinks.Record{
				Node: "node-1", Check: fmt.Sprintf(`http.api["%05d"]`, n), Type: "http",
				Status: "ok", RunStatus: "ok", Duration: 12 * time.Millisecond, Changed: n%100 == 0, Previous: "warning",
				Metrics: map[string]float64{"latency_ms": 12.5, "status_code": 200, "bytes": 5120},
				Labels:  map[string]string{"team": "core", "env": "prod"},
			}
		}
	}
	n := 0
	for b.Loop() {
		batch := batches[n%len(batches)]
		for i := range batch {
			batch[i].Time = start.Add(time.Duration(n) * time.Millisecond)
		}
		if err := d.Write(ctx, batch); err != nil {
			b.Fatal(err)
		}
		n++
	}
	b.ReportMetric(float64(b.N*size)/b.Elapsed().Seconds(), "results/s")
}
