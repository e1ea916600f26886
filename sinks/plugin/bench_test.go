package plugin

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/satellite-hq/satellite/sinks"
)

// BenchmarkJSONL measures records/s through the host and the jsonl example
// plugin (a gRPC call, JSON encoding and one fsync per batch).
func BenchmarkJSONL(b *testing.B) {
	for _, size := range []int{100, 1000} {
		b.Run(fmt.Sprintf("batch=%d", size), func(b *testing.B) {
			ctx := hclog.WithContext(context.Background(), hclog.NewNullLogger())
			c := &Config{Command: jsonlBin, Config: map[string]string{"path": filepath.Join(b.TempDir(), "out.jsonl")},
				StartTimeout: 10 * time.Second, WriteTimeout: time.Minute}
			s, err := c.Open(ctx)
			if err != nil {
				b.Fatal(err)
			}
			defer func() { _ = s.Close() }()
			batch := make([]sinks.Record, size)
			for i := range batch {
				batch[i] = record(i)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if err := s.Write(ctx, batch); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*size)/b.Elapsed().Seconds(), "records/s")
		})
	}
}
