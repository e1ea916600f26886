package sqlite

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/satellite-hq/satellite/health"
	"github.com/satellite-hq/satellite/sinks"
)

// TestMain removes the big histories the benchmarks build, once per process.
func TestMain(m *testing.M) {
	code := m.Run()
	cleanupBigWrite()
	if bigHistory.dir != "" {
		_ = os.RemoveAll(bigHistory.dir)
	}
	os.Exit(code)
}

// The big history: bigChecks checks of node-1 every bigInterval over
// bigSpan, and node-2's runs of the first check (which Results must skip),
// bigRows results in all.
const (
	bigChecks   = 16
	bigInterval = 10 * time.Second
	bigSpan     = 7 * 24 * time.Hour
	bigRows     = 1_000_000
	bigTicks    = int(bigSpan / bigInterval) // 60,480 runs a check
	bigOthers   = bigRows - bigChecks*bigTicks
)

var bigHistory struct {
	once sync.Once
	dir  string
	path string
	end  time.Time
	took time.Duration
	err  error
}

func bigCheck(c int) string { return fmt.Sprintf(`http.api["%02d"]`, c) }

// bigHistoryFile builds the big history on first use, through Write in
// batches of 1000, in time order, as an agent writes it.
func bigHistoryFile(b *testing.B) (path string, end time.Time) {
	b.Helper()
	h := &bigHistory
	h.once.Do(func() {
		start := time.Now()
		h.dir, h.err = os.MkdirTemp("", "satellite-results-bench-")
		if h.err != nil {
			return
		}
		h.path = filepath.Join(h.dir, HistoryFile)
		h.end = time.Now().Truncate(time.Hour)
		h.err = buildBigHistory(h.path, h.end.Add(-bigSpan))
		h.took = time.Since(start)
	})
	if h.err != nil {
		b.Fatal(h.err)
	}
	b.Logf("history of %d results built in %v", bigRows, h.took.Round(time.Millisecond))
	return h.path, h.end
}

func buildBigHistory(path string, from time.Time) error {
	ctx := context.Background()
	d, err := Open(ctx, path, 0)
	if err != nil {
		return err
	}
	labels := map[string]string{"team": "core", "env": "prod"}
	batch := make([]sinks.Record, 0, 1000)
	flush := func() error {
		err := d.Write(ctx, batch)
		batch = batch[:0]
		return err
	}
	n := 0
	for k := range bigTicks {
		tick := from.Add(time.Duration(k) * bigInterval)
		for c := range bigChecks {
			status := health.Passing
			switch {
			case (k+c)%97 == 0:
				status = health.Warning
			case (k+c)%211 == 0:
				status = health.Critical
			}
			m := map[string]float64{
				"latency_ms":  float64((k*7+c*13)%1000) / 10,
				"status_code": 200,
			}
			if c%2 == 0 {
				m["bytes"] = float64(5000 + k%300)
			}
			batch = append(batch, sinks.Record{
				Time: tick.Add(time.Duration(c) * 50 * time.Millisecond), Node: "node-1", Check: bigCheck(c), Type: "http",
				Status: status, RunStatus: status, Duration: 12 * time.Millisecond, Metrics: m, Labels: labels,
			})
		}
		// node-2's runs of the first check, spread evenly.
		if k*bigOthers/bigTicks != (k+1)*bigOthers/bigTicks {
			batch = append(batch, sinks.Record{
				Time: tick.Add(3 * time.Second), Node: "node-2", Check: bigCheck(0), Type: "http",
				Status: health.Passing, RunStatus: health.Passing, Duration: 12 * time.Millisecond,
				Metrics: map[string]float64{"latency_ms": 1, "status_code": 200, "bytes": 1}, Labels: labels,
			})
		}
		if len(batch) >= 1000-bigChecks-1 {
			n += len(batch)
			if err := flush(); err != nil {
				_ = d.Close()
				return err
			}
		}
	}
	n += len(batch)
	if err := flush(); err != nil {
		_ = d.Close()
		return err
	}
	if n != bigRows {
		_ = d.Close()
		return fmt.Errorf("built %d results, want %d", n, bigRows)
	}
	return d.Close()
}

// BenchmarkResults7Days reads the dashboard's 7-day chart of one 10-second
// check (AutoStep(7d) = 1h, 168 buckets of 360 runs, 3 metrics) from a
// history of a million results:
//
//	go test -run '^$' -bench Results7Days -benchtime 20x -count 5 ./sinks/sqlite
func BenchmarkResults7Days(b *testing.B) {
	path, end := bigHistoryFile(b)
	ctx := context.Background()
	d, err := Open(ctx, path, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	q := health.ResultQuery{Node: "node-1", Check: bigCheck(0), Since: end.Add(-bigSpan), Until: end, Step: health.AutoStep(bigSpan)}

	// The first query, on a connection whose page cache is cold.
	t := time.Now()
	s, err := d.Results(ctx, q)
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("first query: %v", time.Since(t).Round(time.Microsecond))
	runs := 0
	for _, r := range s.Runs {
		runs += r
	}
	if len(s.Times) != int(bigSpan/q.Step) || runs != bigTicks || len(s.Metrics) != 3 {
		b.Fatalf("%d buckets, %d runs, %d metrics; want %d, %d, 3", len(s.Times), runs, len(s.Metrics), bigSpan/q.Step, bigTicks)
	}
	for b.Loop() {
		if s, err = d.Results(ctx, q); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(s.Times)), "buckets")
	b.ReportMetric(float64(runs), "results/op")
}
