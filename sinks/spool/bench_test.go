package spool

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/satellite-hq/satellite/sinks"
)

// benchRecord is a typical result: an http check with three metrics and two
// labels, about 200 bytes encoded.
func benchRecord(i int) sinks.Record {
	return sinks.Record{
		Time: base.Add(time.Duration(i) * time.Millisecond), Node: "node-01.dc1", Check: `http.apiserver["10.0.0.1"]`,
		Type: "http", Status: "passing", RunStatus: "passing", Duration: 3 * time.Millisecond,
		Metrics: map[string]float64{"latency_ms": 2.7, "status_code": 200, "body_bytes": 512},
		Labels:  map[string]string{"team": "core", "zone": "b"},
	}
}

// BenchmarkPush is the cost of Writer.Enqueue on a spool, paid on the
// scheduler's goroutine, under each sync policy. The spool is at its
// default bound, so a long run also pays for dropping the oldest segments.
func BenchmarkPush(b *testing.B) {
	for _, p := range []SyncPolicy{SyncInterval, SyncNone, SyncAlways} {
		b.Run(p.String(), func(b *testing.B) {
			s := open(b, Options{Dir: b.TempDir(), Sync: p})
			r := benchRecord(0)
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				r.Time = base.Add(time.Duration(i))
				if err := s.Push(r); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
			b.ReportMetric(float64(s.Bytes())/float64(max(s.Len(), 1)), "disk-B/record")
		})
	}
}

// BenchmarkReplay is delivery after an outage: Peek a batch, Ack it, until
// the spool is empty (the sink itself costs nothing here).
func BenchmarkReplay(b *testing.B) {
	for _, batch := range []int{100, 1000} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			s := open(b, Options{Dir: b.TempDir(), MaxBytes: 1 << 40})
			for i := range b.N {
				if err := s.Push(benchRecord(i)); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportAllocs()
			b.ResetTimer()
			n := 0
			for {
				recs, err := s.Peek(batch)
				if err != nil {
					b.Fatal(err)
				}
				if len(recs) == 0 {
					break
				}
				n += len(recs)
				if err := s.Ack(len(recs)); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			if n != b.N {
				b.Fatalf("replayed %d of %d", n, b.N)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
		})
	}
}

// BenchmarkLongOutage pushes a million records into a spool bounded at
// 64 MiB with no sink to take them, and reports the most the spool held on
// disk and the most heap in use after a GC, sampled every 50,000 records:
// the disk stays within the bound and the heap flat, whatever the backlog.
func BenchmarkLongOutage(b *testing.B) {
	const n, bound, every = 1_000_000, 64 << 20, 50_000
	for range b.N {
		b.StopTimer()
		s, err := Open(Options{Dir: b.TempDir(), MaxBytes: bound})
		if err != nil {
			b.Fatal(err)
		}
		var ms runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&ms)
		heap0 := ms.HeapInuse
		var maxDisk int64
		var maxHeap, firstHeap uint64
		r := benchRecord(0)
		b.StartTimer()
		for i := range n {
			r.Time = base.Add(time.Duration(i))
			if err := s.Push(r); err != nil {
				b.Fatal(err)
			}
			if (i+1)%every == 0 {
				b.StopTimer()
				maxDisk = max(maxDisk, s.Bytes(), diskBytes(b, s.dir))
				runtime.GC()
				runtime.ReadMemStats(&ms)
				if firstHeap == 0 {
					firstHeap = ms.HeapInuse
				}
				maxHeap = max(maxHeap, ms.HeapInuse)
				b.StartTimer()
			}
		}
		b.StopTimer()
		if maxDisk > bound {
			b.Fatalf("the spool held %d bytes, over its %d bound", maxDisk, bound)
		}
		b.ReportMetric(float64(maxDisk)/(1<<20), "max-disk-MiB")
		b.ReportMetric(float64(maxHeap)/(1<<20), "max-heap-MiB")
		b.ReportMetric((float64(maxHeap)-float64(heap0))/(1<<20), "heap-growth-MiB")
		b.ReportMetric((float64(maxHeap)-float64(firstHeap))/(1<<20), "heap-growth-after-50k-MiB")
		b.ReportMetric(float64(s.Dropped()), "dropped")
		b.ReportMetric(float64(s.Len()), "kept")
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}
