package sinks_test

import (
	"context"
	"testing"
	"time"

	"github.com/satellite-hq/satellite/sinks"
	"github.com/satellite-hq/satellite/sinks/spool"
)

// discardSink stores nothing, at no cost: what is measured is the writer.
type discardSink struct{}

func (discardSink) Write(context.Context, []sinks.Record) error { return nil }
func (discardSink) Close() error                                { return nil }

// BenchmarkEnqueue is what the scheduler pays per result and sink: with the
// in-memory queue, and with a spool (every record written to its file before
// Enqueue returns), with the sink delivering and with the sink down (the
// writer not running; the spool at its 256 MiB bound drops the oldest).
func BenchmarkEnqueue(b *testing.B) {
	r := sinks.Record{
		Time: time.Now(), Node: "node-01.dc1", Check: `http.apiserver["10.0.0.1"]`, Type: "http",
		Status: "passing", RunStatus: "passing", Duration: 3 * time.Millisecond,
		Metrics: map[string]float64{"latency_ms": 2.7, "status_code": 200, "body_bytes": 512},
		Labels:  map[string]string{"team": "core", "zone": "b"},
	}
	for _, c := range []struct {
		name        string
		spool, sink bool
	}{
		{"memory/delivering", false, true},
		{"spool/delivering", true, true},
		{"spool/sink-down", true, false},
	} {
		b.Run(c.name, func(b *testing.B) {
			opts := sinks.WriterOptions{BatchSize: 1000, QueueSize: 100_000, FlushInterval: 10 * time.Millisecond}
			if c.spool {
				sp, err := spool.Open(spool.Options{Dir: b.TempDir()})
				if err != nil {
					b.Fatal(err)
				}
				opts.Queue = sp
			}
			w := sinks.NewWriter(discardSink{}, opts)
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			if c.sink {
				go func() { defer close(done); _ = w.Run(ctx) }()
			} else {
				close(done)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				r.Time = r.Time.Add(time.Duration(i))
				w.Enqueue(r)
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
			st := w.Stats()
			cancel()
			<-done
			if c.spool {
				// Not flushed: the spool keeps the rest, and Close is quick.
				w2ctx, c2 := context.WithTimeout(context.Background(), time.Millisecond)
				_ = w.Close(w2ctx)
				c2()
			} else {
				_ = w.Close(context.Background())
			}
			if c.sink && st.Dropped > 0 {
				b.Logf("dropped %d of %d", st.Dropped, b.N)
			}
		})
	}
}
