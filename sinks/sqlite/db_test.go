package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/satellite-hq/satellite/health"
	"github.com/satellite-hq/satellite/sinks"
)

const nasty = `it's "quoted"; DROP TABLE results; -- 'x' \ %_ ? ☃` + "\n\x00tail"

func openTest(t testing.TB, retention time.Duration) *DB {
	t.Helper()
	d, err := Open(context.Background(), filepath.Join(t.TempDir(), "history.db"), retention)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := d.Close(); err != nil {
			t.Error(err)
		}
	})
	return d
}

// base is recent, so that the prune Write runs does not touch test rows.
var base = time.Now().Add(-time.Hour).Truncate(time.Second)

type resultRow struct {
	Time                                time.Time
	Node, Check, Type, Status, RunState string
	Duration                            time.Duration
	Metrics, Labels                     string
	Error                               sql.NullString
}

func readResults(t *testing.T, d *DB) []resultRow {
	t.Helper()
	rows, err := d.db.Query(`SELECT time, node, check_addr, type, status, run_status, duration_ns, metrics, error, labels FROM results ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []resultRow
	for rows.Next() {
		var r resultRow
		var ns, dur int64
		if err := rows.Scan(&ns, &r.Node, &r.Check, &r.Type, &r.Status, &r.RunState, &dur, &r.Metrics, &r.Error, &r.Labels); err != nil {
			t.Fatal(err)
		}
		r.Time = time.Unix(0, ns)
		r.Duration = time.Duration(dur)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func count(t *testing.T, d *DB, table string) int {
	t.Helper()
	var n int
	if err := d.db.QueryRow(`SELECT count(*) FROM ` + table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestWriteReadBack(t *testing.T) {
	d := openTest(t, DefaultRetention)
	ctx := context.Background()
	batch := []sinks.Record{
		{
			Time: base.Add(123 * time.Nanosecond), Node: "n1", Check: `http.api["a"]`, Type: "http",
			Status: "ok", RunStatus: "ok", Duration: 1500 * time.Microsecond,
			Metrics: map[string]float64{"latency_ms": 1.5, "code": 200},
			Labels:  map[string]string{"team": "core"},
		},
		{
			Time: base.Add(time.Second), Node: nasty, Check: nasty, Type: nasty,
			Status: nasty, RunStatus: nasty, Error: nasty,
			Metrics: map[string]float64{"nan": math.NaN(), "inf": math.Inf(1), "ninf": math.Inf(-1), nasty: 1},
			Labels:  map[string]string{nasty: nasty},
		},
	}
	if err := d.Write(ctx, batch); err != nil {
		t.Fatal(err)
	}
	if err := d.Write(ctx, nil); err != nil {
		t.Fatal(err)
	}
	got := readResults(t, d)
	if len(got) != 2 {
		t.Fatalf("got %d results, want 2", len(got))
	}
	want0 := resultRow{
		Time: batch[0].Time, Node: "n1", Check: `http.api["a"]`, Type: "http", Status: "ok", RunState: "ok",
		Duration: 1500 * time.Microsecond, Metrics: `{"code":200,"latency_ms":1.5}`, Labels: `{"team":"core"}`,
	}
	if !got[0].Time.Equal(want0.Time) {
		t.Errorf("time = %v, want %v", got[0].Time, want0.Time)
	}
	got[0].Time = want0.Time
	if !reflect.DeepEqual(got[0], want0) {
		t.Errorf("row 0 = %+v\nwant %+v", got[0], want0)
	}
	r := got[1]
	for name, v := range map[string]string{"node": r.Node, "check": r.Check, "type": r.Type, "status": r.Status, "run_status": r.RunState, "error": r.Error.String} {
		if v != nasty {
			t.Errorf("%s = %q, want %q", name, v, nasty)
		}
	}
	if !r.Error.Valid {
		t.Error("error is NULL")
	}
	if got[0].Error.Valid {
		t.Errorf("empty error stored as %q, want NULL", got[0].Error.String)
	}

	// The JSON columns are valid JSON, which SQLite itself can read.
	var inf, nan string
	if err := d.db.QueryRow(`SELECT json_extract(metrics, '$.inf'), json_extract(metrics, '$.nan') FROM results WHERE id = 2`).Scan(&inf, &nan); err != nil {
		t.Fatal(err)
	}
	if inf != "+Inf" || nan != "NaN" {
		t.Errorf("json_extract: inf=%q nan=%q", inf, nan)
	}
	var metrics map[string]any
	var labels map[string]string
	if err := json.Unmarshal([]byte(r.Metrics), &metrics); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(r.Labels), &labels); err != nil {
		t.Fatal(err)
	}
	if metrics[nasty] != 1.0 || metrics["ninf"] != "-Inf" || labels[nasty] != nasty {
		t.Errorf("metrics %v, labels %v", metrics, labels)
	}
	for _, table := range []string{"results", "state_changes"} {
		var ok int
		if err := d.db.QueryRow(`SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = ?`, table).Scan(&ok); err != nil || ok != 1 {
			t.Errorf("table %s: count=%d err=%v", table, ok, err)
		}
	}
	if n := count(t, d, "state_changes"); n != 0 {
		t.Errorf("state_changes has %d rows, want 0 (no record Changed)", n)
	}
}

func TestStateChanges(t *testing.T) {
	d := openTest(t, DefaultRetention)
	ctx := context.Background()
	rec := func(sec int, node, check string, prev, status health.Status, changed bool) sinks.Record {
		return sinks.Record{
			Time: base.Add(time.Duration(sec) * time.Second), Node: node, Check: check, Type: "tcp",
			Status: status, RunStatus: status, Changed: changed, Previous: prev,
		}
	}
	batch := []sinks.Record{
		rec(1, "n1", "tcp.a", "", "ok", true),
		rec(2, "n1", "tcp.a", "", "ok", false),
		rec(3, "n1", "tcp.a", "ok", "critical", true),
		rec(4, "n2", "tcp.a", "", "warning", true),
		rec(5, "n2", "tcp.b", "", "ok", true),
		rec(6, "n1", "tcp.a", "critical", "ok", true),
		rec(7, nasty, nasty, nasty, nasty, true),
	}
	batch[2].Error = "connection refused"
	if err := d.Write(ctx, batch); err != nil {
		t.Fatal(err)
	}
	if n := count(t, d, "state_changes"); n != 6 {
		t.Fatalf("state_changes has %d rows, want 6", n)
	}

	secs := func(cs []health.Change) []int {
		out := []int{}
		for _, c := range cs {
			out = append(out, int(c.Time.Sub(base)/time.Second))
		}
		return out
	}
	for _, tc := range []struct {
		name string
		q    health.Query
		want []int
	}{
		{"all", health.Query{}, []int{7, 6, 5, 4, 3, 1}},
		{"node", health.Query{Node: "n1"}, []int{6, 3, 1}},
		{"check", health.Query{Check: "tcp.a"}, []int{6, 4, 3, 1}},
		{"node and check", health.Query{Node: "n2", Check: "tcp.a"}, []int{4}},
		{"since", health.Query{Since: base.Add(4 * time.Second)}, []int{7, 6, 5, 4}},
		{"limit", health.Query{Limit: 2}, []int{7, 6}},
		{"all filters", health.Query{Node: "n1", Check: "tcp.a", Since: base.Add(2 * time.Second), Limit: 1}, []int{6}},
		{"nasty", health.Query{Node: nasty, Check: nasty}, []int{7}},
		{"injection is a value", health.Query{Node: "n1' OR '1'='1"}, []int{}},
		{"none", health.Query{Node: "n3"}, []int{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := d.StateChanges(ctx, tc.q)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(secs(got), tc.want) {
				t.Errorf("got %v, want %v", secs(got), tc.want)
			}
		})
	}

	got, err := d.StateChanges(ctx, health.Query{Node: "n1", Limit: 2})
	if err != nil {
		t.Fatal(err)
	}
	want := health.Change{Time: base.Add(3 * time.Second).UTC(), Node: "n1", Check: "tcp.a", Type: "tcp", Previous: "ok", Status: "critical", Error: "connection refused"}
	if !reflect.DeepEqual(got[1], want) {
		t.Errorf("got %+v\nwant %+v", got[1], want)
	}
	got, err = d.StateChanges(ctx, health.Query{Node: nasty})
	if err != nil {
		t.Fatal(err)
	}
	if c := got[0]; c.Node != nasty || c.Check != nasty || c.Previous != nasty || c.Status != nasty {
		t.Errorf("nasty strings did not round-trip: %+v", c)
	}
}

func TestPrune(t *testing.T) {
	d := openTest(t, 24*time.Hour)
	d.pruneChunk = 7
	ctx := context.Background()
	now := base.Add(48 * time.Hour)
	var batch []sinks.Record
	// 2*pruneChunk+1 old rows exercise the chunked delete.
	for i := range 2*d.pruneChunk + 1 {
		batch = append(batch, sinks.Record{Time: now.Add(-25*time.Hour - time.Duration(i)*time.Millisecond), Node: "n", Check: "old", Changed: i == 0})
	}
	for i := range 3 {
		batch = append(batch, sinks.Record{Time: now.Add(-23*time.Hour + time.Duration(i)), Node: "n", Check: "new", Changed: true})
	}
	if err := d.Write(ctx, batch); err != nil {
		t.Fatal(err)
	}
	n, err := d.Prune(ctx, now)
	if err != nil {
		t.Fatal(err)
	}
	if want := int64(2*d.pruneChunk + 1 + 1); n != want {
		t.Errorf("pruned %d rows, want %d", n, want)
	}
	if r, c := count(t, d, "results"), count(t, d, "state_changes"); r != 3 || c != 3 {
		t.Errorf("after prune: %d results, %d state changes; want 3, 3", r, c)
	}
	if n, err := d.Prune(ctx, now); err != nil || n != 0 {
		t.Errorf("second prune: %d, %v", n, err)
	}
}

func TestWritePrunes(t *testing.T) {
	d := openTest(t, time.Hour)
	ctx := context.Background()
	old := sinks.Record{Time: time.Now().Add(-2 * time.Hour), Check: "old", Changed: true}
	if err := d.Write(ctx, []sinks.Record{old}); err != nil {
		t.Fatal(err)
	}
	if r, c := count(t, d, "results"), count(t, d, "state_changes"); r != 0 || c != 0 {
		t.Errorf("Write kept %d results, %d state changes past retention", r, c)
	}

	keep := openTest(t, 0) // no retention: keep everything
	if err := keep.Write(ctx, []sinks.Record{old}); err != nil {
		t.Fatal(err)
	}
	if n, err := keep.Prune(ctx, time.Now().Add(1000*time.Hour)); err != nil || n != 0 {
		t.Errorf("prune with no retention: %d, %v", n, err)
	}
	if r := count(t, keep, "results"); r != 1 {
		t.Errorf("%d results, want 1", r)
	}
}

func TestReopenKeepsData(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "h.db")
	for i := range 3 {
		d, err := Open(ctx, path, DefaultRetention)
		if err != nil {
			t.Fatal(err)
		}
		if err := d.Write(ctx, []sinks.Record{{Time: base, Check: fmt.Sprint(i), Changed: true}}); err != nil {
			t.Fatal(err)
		}
		cs, err := d.StateChanges(ctx, health.Query{})
		if err != nil {
			t.Fatal(err)
		}
		if len(cs) != i+1 {
			t.Errorf("open %d: %d state changes, want %d", i, len(cs), i+1)
		}
		v, err := schemaVersion(ctx, d.db)
		if err != nil || v != SchemaVersion() {
			t.Errorf("user_version = %d, %v; want %d", v, err, SchemaVersion())
		}
		if err := d.Close(); err != nil {
			t.Fatal(err)
		}
		if err := d.Close(); err != nil {
			t.Errorf("second Close: %v", err)
		}
	}
}

func TestNewerSchemaRefused(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "h.db")
	d, err := Open(ctx, path, DefaultRetention)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.db.Exec(fmt.Sprintf(`PRAGMA user_version = %d`, SchemaVersion()+1)); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	_, err = Open(ctx, path, DefaultRetention)
	if !errors.Is(err, ErrSchemaTooNew) {
		t.Fatalf("Open = %v, want ErrSchemaTooNew", err)
	}
	if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "upgrade satellite") {
		t.Errorf("error does not name the file and the fix: %v", err)
	}
}

func TestNotADatabase(t *testing.T) {
	path := filepath.Join(t.TempDir(), "junk.db")
	if err := os.WriteFile(path, []byte(strings.Repeat("not sqlite ", 100)), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(context.Background(), path, DefaultRetention); err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("Open of a non-database = %v, want an error naming the file", err)
	}
}

func TestPragmas(t *testing.T) {
	d := openTest(t, DefaultRetention)
	ctx := context.Background()
	if err := d.Write(ctx, []sinks.Record{{Time: base, Check: "x", Changed: true}}); err != nil {
		t.Fatal(err)
	}
	// Several at once, so that more than one pooled connection is checked.
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			conn, err := d.db.Conn(ctx)
			if err != nil {
				t.Error(err)
				return
			}
			defer conn.Close()
			for pragma, want := range map[string]string{
				"journal_mode": "wal", "synchronous": "1", "foreign_keys": "1", "busy_timeout": "5000", "integrity_check": "ok",
			} {
				var got string
				if err := conn.QueryRowContext(ctx, "PRAGMA "+pragma).Scan(&got); err != nil {
					t.Error(err)
				} else if got != want {
					t.Errorf("PRAGMA %s = %q, want %q", pragma, got, want)
				}
			}
		})
	}
	wg.Wait()
}

func TestOpenCreatesFolder(t *testing.T) {
	dir := filepath.Join(t.TempDir(), `a b?c#d%20`, "deeper")
	path := filepath.Join(dir, "h.db")
	d, err := Open(context.Background(), path, DefaultRetention)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Write(context.Background(), []sinks.Record{{Time: base, Check: "x"}}); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if d.Path() != path {
		t.Errorf("Path() = %q, want %q", d.Path(), path)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() == 0 {
		t.Error("database file is empty")
	}
	if m := fi.Mode().Perm(); m&0o007 != 0 {
		t.Errorf("database file mode %v is world-accessible", m)
	}
	di, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if m := di.Mode().Perm(); m&0o007 != 0 {
		t.Errorf("folder mode %v is world-accessible", m)
	}
	entries, err := os.ReadDir(filepath.Dir(dir))
	if err != nil || len(entries) != 1 {
		t.Errorf("parent of the folder holds %v (%v), want only the folder", entries, err)
	}
}

func TestConcurrentWriters(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "h.db")
	// Two handles on one file stand for two processes.
	a, err := Open(ctx, path, DefaultRetention)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := Open(ctx, path, DefaultRetention)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()

	const writers, batches, size = 4, 20, 50
	var wg sync.WaitGroup
	for w := range writers {
		d := a
		if w%2 == 1 {
			d = b
		}
		wg.Go(func() {
			for i := range batches {
				batch := make([]sinks.Record, size)
				for j := range batch {
					batch[j] = sinks.Record{Time: base.Add(time.Duration(i*size + j)), Node: fmt.Sprint(w), Check: "c", Changed: j == 0}
				}
				if err := d.Write(ctx, batch); err != nil {
					t.Error(err)
					return
				}
			}
		})
		wg.Go(func() {
			for range batches {
				if _, err := d.StateChanges(ctx, health.Query{Node: fmt.Sprint(w), Limit: 10}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if n := count(t, a, "results"); n != writers*batches*size {
		t.Errorf("%d results, want %d", n, writers*batches*size)
	}
	if n := count(t, b, "state_changes"); n != writers*batches {
		t.Errorf("%d state changes, want %d", n, writers*batches)
	}
}

func TestWriteCanceled(t *testing.T) {
	d := openTest(t, DefaultRetention)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := d.Write(ctx, []sinks.Record{{Time: base, Check: "x"}}); err == nil {
		t.Fatal("Write with a canceled context succeeded")
	}
	if n := count(t, d, "results"); n != 0 {
		t.Errorf("%d results after a failed Write, want 0", n)
	}
}

func TestDSN(t *testing.T) {
	got := dsn("/var/lib/sat ellite/h?#%.db")
	if !strings.HasPrefix(got, "file:/var/lib/sat%20ellite/h%3F%23%25.db?") {
		t.Errorf("dsn = %q", got)
	}
	for _, want := range []string{"journal_mode%28WAL%29", "busy_timeout%285000%29", "synchronous%28NORMAL%29", "foreign_keys%281%29", "_txlock=immediate",
		"wal_autocheckpoint%2816000%29", "journal_size_limit%28134217728%29"} {
		if !strings.Contains(got, want) {
			t.Errorf("dsn %q lacks %q", got, want)
		}
	}
}

func BenchmarkWrite(b *testing.B) {
	d := openTest(b, DefaultRetention)
	ctx := context.Background()
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

func TestAddEvent(t *testing.T) {
	d := openTest(t, DefaultRetention)
	ctx := context.Background()
	ev := health.Change{Time: base, Node: "n2", Check: "mesh.member", Type: "mesh", Previous: "alive", Status: "failed", Error: "no answer to probes"}
	if err := d.AddEvent(ctx, ev); err != nil {
		t.Fatal(err)
	}
	if n := count(t, d, "results"); n != 0 {
		t.Errorf("an event added %d result rows", n)
	}
	got, err := d.StateChanges(ctx, health.Query{Node: "n2"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || !got[0].Time.Equal(ev.Time) || got[0].Check != ev.Check || got[0].Previous != "alive" ||
		got[0].Status != "failed" || got[0].Error != ev.Error {
		t.Fatalf("history has %+v, want %+v", got, ev)
	}
}
