package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/satellite-hq/satellite/health"
	"github.com/satellite-hq/satellite/sinks"
)

// The big write benchmarks: sustained Write on a history that already holds
// a million or ten million results, and Write while retention pruning runs.
//
//	go test -run '^$' -bench 'BenchmarkWriteBig$' -benchtime 3s -timeout 1h ./sinks/sqlite
//	go test -run '^$' -bench 'BenchmarkWriteBigPruning' -benchtime 1x -timeout 1h ./sinks/sqlite
//
// The history is made of bigWriteChecks checks of node-1, each run at a
// fixed interval over bigWriteSpan (so a bigger history has shorter
// intervals), written by bulk SQL in a few seconds a million rows rather
// than through Write: see buildBulk. Each size is built once per process,
// in a temporary folder removed at the end.
const (
	bigWriteChecks = 1000
	bigWriteSpan   = 7 * 24 * time.Hour
	bigWriteBatch  = 1000
)

var bigWrite struct {
	mu    sync.Mutex
	dir   string
	files map[string]*bulkFile
}

// bulkFile is a history built by buildBulk.
type bulkFile struct {
	path     string
	from     time.Time // the first run
	interval time.Duration
	ticks    int // runs of each check
	took     time.Duration
}

// cleanupBigWrite removes the files of the big write benchmarks; TestMain
// calls it.
func cleanupBigWrite() {
	if bigWrite.dir != "" {
		_ = os.RemoveAll(bigWrite.dir)
	}
}

// bigWriteFile returns the history of rows results over span ending at
// end, building it on first use.
func bigWriteFile(b *testing.B, name string, rows int, end time.Time, span time.Duration) *bulkFile {
	b.Helper()
	bigWrite.mu.Lock()
	defer bigWrite.mu.Unlock()
	if f, ok := bigWrite.files[name]; ok {
		return f
	}
	if bigWrite.dir == "" {
		dir, err := os.MkdirTemp("", "satellite-write-bench-")
		if err != nil {
			b.Fatal(err)
		}
		bigWrite.dir = dir
		bigWrite.files = map[string]*bulkFile{}
	}
	ticks := rows / bigWriteChecks
	f := &bulkFile{
		path:     filepath.Join(bigWrite.dir, name+".db"),
		interval: span / time.Duration(ticks),
		ticks:    ticks,
	}
	f.from = end.Add(-time.Duration(ticks) * f.interval)
	start := time.Now()
	if err := buildBulk(f); err != nil {
		b.Fatal(err)
	}
	f.took = time.Since(start)
	st, err := os.Stat(f.path)
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("history %s: %d results (%d checks every %v) built in %v, %d MB", name, ticks*bigWriteChecks,
		bigWriteChecks, f.interval, f.took.Round(100*time.Millisecond), st.Size()>>20)
	bigWrite.files[name] = f
	return f
}

// buildBulk writes f's history: Open makes the schema of the code under
// test; then, on a connection of its own without a journal, the secondary
// indexes of results and state_changes are dropped, the rows generated in
// SQL (runs in the order of its primary key) and the indexes made again
// from their own CREATE statements, as sorted builds. What it stores is what
// Write would have: a row of results for every run, its row of runs (slots
// 0, 1, 2 for bytes, latency_ms and status_code), a state change for every
// hundredth.
func buildBulk(f *bulkFile) error {
	ctx := context.Background()
	d, err := Open(ctx, f.path, 0)
	if err != nil {
		return err
	}
	if err := d.Close(); err != nil {
		return err
	}
	db, err := sql.Open("sqlite", "file:"+f.path+"?_pragma=journal_mode(OFF)&_pragma=synchronous(OFF)&_pragma=cache_size(-262144)&_pragma=temp_store(MEMORY)")
	if err != nil {
		return err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)

	var indexes []string
	rows, err := db.QueryContext(ctx, `SELECT name, sql FROM sqlite_schema
		WHERE type = 'index' AND sql IS NOT NULL AND tbl_name IN ('results', 'state_changes') ORDER BY name`)
	if err != nil {
		return err
	}
	var drops []string
	for rows.Next() {
		var name, stmt string
		if err := rows.Scan(&name, &stmt); err != nil {
			rows.Close()
			return err
		}
		drops = append(drops, `DROP INDEX "`+name+`"`)
		indexes = append(indexes, stmt)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}

	n, c := int64(f.ticks*bigWriteChecks), int64(bigWriteChecks)
	from, step := f.from.UnixNano(), int64(f.interval)
	// Run k of check c: at from + k*step + c µs; latency_ms, bytes and the
	// status are functions of k and c.
	const gen = `WITH RECURSIVE i(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM i WHERE n + 1 < %s),
		r AS (SELECT %s AS k, %s AS c FROM i),
		v AS (SELECT k, c, ?3 + k * ?4 + c * 1000 AS time,
			((k * 7 + c * 13) %% 1000) / 10.0 AS latency, 5000 + k %% 300 AS bytes,
			CASE WHEN (k + c) %% 97 = 0 THEN 'warning' WHEN (k + c) %% 211 = 0 THEN 'critical' ELSE 'passing' END AS status
			FROM r)`
	stmts := slices.Concat(drops, []string{
		`INSERT INTO result_series (id, check_addr, node)
			WITH RECURSIVE i(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM i WHERE n + 1 < ?2)
			SELECT n + 1, printf('http.api["%04d"]', n), 'node-1' FROM i`,
		`INSERT INTO metric_slots (series, name, slot)
			SELECT id, m.name, m.slot FROM result_series,
			(SELECT 'bytes' AS name, 0 AS slot UNION ALL SELECT 'latency_ms', 1 UNION ALL SELECT 'status_code', 2) AS m`,
		fmt.Sprintf(gen, "?1", "n / ?2", "n % ?2") + `
		INSERT INTO results (time, node, check_addr, type, status, run_status, duration_ns, metrics, error, labels)
			SELECT time, 'node-1', printf('http.api["%04d"]', c), 'http', status, status, 12000000,
				printf('{"bytes":%d,"latency_ms":%s,"status_code":200}', bytes, latency), NULL, '{"env":"prod","team":"core"}'
			FROM v`,
		fmt.Sprintf(gen, "?1", "n % (?1 / ?2)", "n / (?1 / ?2)") + `
		INSERT INTO runs (series, time, part, failing, v0, v1, v2)
			SELECT c + 1, time, 0, status != 'passing', bytes, latency, 200 FROM v`,
		fmt.Sprintf(gen, "?1 / 100", "n * 100 / ?2", "n * 100 % ?2") + `
		INSERT INTO state_changes (time, node, check_addr, type, previous, status, error)
			SELECT time, 'node-1', printf('http.api["%04d"]', c), 'http', 'passing', status, NULL FROM v`,
	}, indexes, []string{`PRAGMA journal_mode = WAL`})
	for _, s := range stmts {
		if _, err := db.ExecContext(ctx, s, n, c, from, step); err != nil {
			return fmt.Errorf("%.60s: %w", s, err)
		}
	}
	return nil
}

// bigWriteBatches are batches of bigWriteBatch results of the first checks
// of the big history, in time order from its end: each batch holds
// bigWriteBatch/checks runs of each of those checks.
type bigWriteBatches struct {
	f      *bulkFile
	checks int
	tick   int // the next run
	batch  []sinks.Record
}

func newBigWriteBatches(f *bulkFile, checks int) *bigWriteBatches {
	w := &bigWriteBatches{f: f, checks: checks, tick: f.ticks, batch: make([]sinks.Record, bigWriteBatch)}
	labels := map[string]string{"team": "core", "env": "prod"}
	for i := range w.batch {
		w.batch[i] = sinks.Record{
			Node: "node-1", Check: fmt.Sprintf(`http.api["%04d"]`, i%checks), Type: "http",
			Status: health.Passing, RunStatus: health.Passing, Duration: 12 * time.Millisecond,
			Changed: i%100 == 0, Previous: health.Warning,
			Metrics: map[string]float64{"latency_ms": 12.5, "status_code": 200, "bytes": 5120},
			Labels:  labels,
		}
	}
	return w
}

// next is the next batch; the records are reused.
func (w *bigWriteBatches) next() []sinks.Record {
	for i := range w.batch {
		k, c := w.tick+i/w.checks, i%w.checks
		w.batch[i].Time = w.f.from.Add(time.Duration(k)*w.f.interval + time.Duration(c)*time.Microsecond)
		w.batch[i].Metrics["latency_ms"] = float64((k*7+c*13)%1000) / 10
	}
	w.tick += len(w.batch) / w.checks
	return w.batch
}

// BenchmarkWriteBig is sustained Write, batches of 1,000, on a fresh file
// and on histories of 1M and 10M results: checks=50 are 20 runs of each of
// 50 checks a batch, checks=1000 one run of each of 1,000 (every row of a
// batch then goes to another place of each index by check).
func BenchmarkWriteBig(b *testing.B) {
	end := time.Now().Truncate(time.Hour)
	for _, size := range []struct {
		name string
		rows int
	}{{"fresh", 0}, {"1M", 1_000_000}, {"10M", 10_000_000}} {
		for _, checks := range []int{50, 1000} {
			b.Run(fmt.Sprintf("rows=%s/checks=%d", size.name, checks), func(b *testing.B) {
				var path string
				f := &bulkFile{from: end, interval: bigWriteSpan / 1000}
				if size.rows == 0 {
					path = filepath.Join(b.TempDir(), HistoryFile)
				} else {
					f = bigWriteFile(b, size.name, size.rows, end, bigWriteSpan)
					path = f.path
				}
				ctx := context.Background()
				d, err := Open(ctx, path, 0)
				if err != nil {
					b.Fatal(err)
				}
				defer d.Close()
				w := newBigWriteBatches(f, checks)
				cpu := cpuTime(b)
				for b.Loop() {
					if err := d.Write(ctx, w.next()); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.N*bigWriteBatch)/b.Elapsed().Seconds(), "results/s")
				b.ReportMetric(float64((cpuTime(b)-cpu).Microseconds())/float64(b.N*bigWriteBatch), "cpu-µs/result")
				// The next run goes on from here.
				f.ticks = w.tick
			})
		}
	}
}

// BenchmarkWriteBigPruning is Write, batches of 1,000 of 50 checks, on a
// history of 1M or 10M results of which an eighth is past retention, from
// the first Write (which finds the prune due) until the prune has deleted
// every old row: results/s over that time, the longest Write, and how long
// the prune took. Each run works on a fresh copy of the history. Run it
// with -benchtime 1x: it writes b.N batches, or more until the prune is
// done, and the figures are those of the prune.
func BenchmarkWriteBigPruning(b *testing.B) {
	end := time.Now().Truncate(time.Hour)
	for _, size := range []struct {
		name string
		rows int
	}{{"1M", 1_000_000}, {"10M", 10_000_000}} {
		b.Run("rows="+size.name, func(b *testing.B) {
			f := bigWriteFile(b, size.name+"-8d", size.rows, end, bigWriteSpan*8/7)
			path := filepath.Join(b.TempDir(), HistoryFile)
			if err := copyFile(path, f.path); err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			d, err := Open(ctx, path, bigWriteSpan)
			if err != nil {
				b.Fatal(err)
			}
			defer d.Close()
			w := newBigWriteBatches(f, 50)
			b.ResetTimer()
			start := time.Now()
			cutoff := start.Add(-bigWriteSpan).UnixNano()
			var longest time.Duration
			writes := 0
			for ; writes < b.N || pruning(b, d, cutoff); writes++ {
				t := time.Now()
				if err := d.Write(ctx, w.next()); err != nil {
					b.Fatal(err)
				}
				longest = max(longest, time.Since(t))
			}
			took := time.Since(start)
			b.StopTimer()
			b.ReportMetric(float64(writes*bigWriteBatch)/took.Seconds(), "results/s")
			b.ReportMetric(float64(longest.Milliseconds()), "max-write-ms")
			b.ReportMetric(took.Seconds(), "prune-s")
		})
	}
}

// pruning reports whether rows older than cutoff are left.
func pruning(b *testing.B, d *DB, cutoff int64) bool {
	var left bool
	if err := d.db.QueryRow(`SELECT EXISTS (SELECT 1 FROM results WHERE time < ?1)
		OR EXISTS (SELECT 1 FROM state_changes WHERE time < ?1)
		OR EXISTS (SELECT 1 FROM runs WHERE series IN (SELECT id FROM result_series) AND time < ?1)`, cutoff).Scan(&left); err != nil {
		b.Fatal(err)
	}
	return left
}

// cpuTime is the CPU time the process has used, user and system: with the
// machine shared, a steadier figure than the time a Write takes.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func copyFile(dst, src string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		_ = out.Close()
		return err
	}
	// On disk before the benchmark starts: else the first checkpoint's sync
	// of the file would write the whole copy.
	if err := out.Sync(); err != nil {
		_ = out.Close()
		return err
	}
	return out.Close()
}

// BenchmarkMigrateV2 is Open of a version 2 history of 10M results, which
// migration 3 brings up to date (it drops results' index by check and
// makes one of state changes by check and node).
//
//	go test -run '^$' -bench 'BenchmarkMigrateV2' -timeout 1h ./sinks/sqlite
func BenchmarkMigrateV2(b *testing.B) {
	if SchemaVersion() < 3 {
		b.Skip("no migration past version 2")
	}
	f := bigWriteFile(b, "10M", 10_000_000, time.Now().Truncate(time.Hour), bigWriteSpan)
	ctx := context.Background()
	var took time.Duration
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		db, err := sql.Open("sqlite", "file:"+f.path)
		if err != nil {
			b.Fatal(err)
		}
		for _, stmt := range []string{
			`CREATE INDEX results_check_time ON results (check_addr, time)`,
			`DROP INDEX state_changes_check_node_time`,
			`PRAGMA user_version = 2`,
		} {
			if _, err := db.Exec(stmt); err != nil {
				b.Fatal(err)
			}
		}
		if err := db.Close(); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		t := time.Now()
		d, err := Open(ctx, f.path, 0)
		if err != nil {
			b.Fatal(err)
		}
		took += time.Since(t)
		b.StopTimer()
		if err := d.Close(); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.ReportMetric(took.Seconds()/float64(b.N), "open-s")
}
