package influxdb

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/satellite-hq/satellite/sinks"
)

// benchBatch is a batch of n records like an agent's: 2 metrics, a label,
// one in 20 a state change, times distinct from every other batch's.
func benchBatch(n, iter int, t0 time.Time) []sinks.Record {
	b := records("bench-node", n, t0.Add(time.Duration(iter)*time.Duration(n)*time.Millisecond))
	for i := range b {
		if i%20 == 0 {
			b[i].Changed, b[i].Previous = true, "critical"
		}
	}
	return b
}

// BenchmarkWrite is the sink's throughput to the InfluxDB 1.8 of make test:
// one Write of a whole batch per iteration, as the Writer calls it.
func BenchmarkWrite(b *testing.B) {
	base := influxURL(b)
	for _, size := range []int{1000, 5000} {
		b.Run(fmt.Sprintf("batch=%d", size), func(b *testing.B) {
			db := newDatabase(b, base)
			s := openSink(b, testConfig(base, db))
			ctx := context.Background()
			t0 := time.Now().Add(-24 * time.Hour)
			batches := make([][]sinks.Record, 8)
			for i := range batches {
				batches[i] = benchBatch(size, i, t0)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				batch := batches[i%len(batches)]
				// New times each round, so the server stores new points
				// rather than overwriting the last round's.
				shift := time.Duration(i/len(batches)) * time.Duration(len(batches)*size) * time.Millisecond
				for j := range batch {
					batch[j].Time = t0.Add(shift + time.Duration(i%len(batches)*size+j)*time.Millisecond)
				}
				if err := s.Write(ctx, batch); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*size)/b.Elapsed().Seconds(), "results/s")
		})
	}
}

// BenchmarkEncode is the sink's CPU per record, without the server:
// records to line protocol.
func BenchmarkEncode(b *testing.B) {
	batch := benchBatch(1000, 0, time.Now())
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		e := getEncoder()
		for j := range batch {
			if err := e.result("satellite_check", &batch[j]); err != nil {
				b.Fatal(err)
			}
			if batch[j].Changed {
				if err := e.change("satellite_state_change", &batch[j]); err != nil {
					b.Fatal(err)
				}
			}
		}
		putEncoder(e)
	}
	b.ReportMetric(float64(b.N*len(batch))/b.Elapsed().Seconds(), "results/s")
}

// BenchmarkServerCeiling is the reference for BenchmarkWrite: the same
// points, encoded beforehand, posted to the same server in the same
// requests (Parallelism at a time) with nothing but net/http. What the sink
// reaches of this is what it costs; the rest is the server and the machine.
func BenchmarkServerCeiling(b *testing.B) {
	base := influxURL(b)
	for _, size := range []int{1000, 5000} {
		b.Run(fmt.Sprintf("batch=%d", size), func(b *testing.B) {
			db := newDatabase(b, base)
			t0 := time.Now().Add(-24 * time.Hour)
			per := chunkSize(size)
			const rounds = 8
			// bodies[i] are round i's requests.
			bodies := make([][]string, rounds)
			for i := range bodies {
				batch := benchBatch(size, i, t0)
				for lo := 0; lo < size; lo += per {
					e := getEncoder()
					for j := lo; j < min(lo+per, size); j++ {
						_ = e.result("satellite_check", &batch[j])
						if batch[j].Changed {
							_ = e.change("satellite_state_change", &batch[j])
						}
					}
					bodies[i] = append(bodies[i], e.buf.String())
					putEncoder(e)
				}
			}
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: Parallelism}}
			defer client.CloseIdleConnections()
			u := base + "/api/v2/write?precision=ns&bucket=" + url.QueryEscape(db+"/autogen")
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				var wg sync.WaitGroup
				errs := make(chan error, len(bodies[i%rounds]))
				sem := make(chan struct{}, Parallelism)
				for _, body := range bodies[i%rounds] {
					sem <- struct{}{}
					wg.Go(func() {
						defer func() { <-sem }()
						resp, err := client.Post(u, "text/plain", strings.NewReader(body))
						if err != nil {
							errs <- err
							return
						}
						_, _ = io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
						if resp.StatusCode != http.StatusNoContent {
							errs <- fmt.Errorf("HTTP %d", resp.StatusCode)
						}
					})
				}
				wg.Wait()
				close(errs)
				if err := <-errs; err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*size)/b.Elapsed().Seconds(), "results/s")
		})
	}
}
