package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/satellite-hq/satellite/health"
	"github.com/satellite-hq/satellite/sinks"
)

// schemaOf is every table and index of the file, with the SQL that made
// it: what two files of the same schema version have alike.
func schemaOf(t *testing.T, db *sql.DB) []string {
	t.Helper()
	rows, err := db.Query(`SELECT type, name, tbl_name, coalesce(sql, '') FROM sqlite_schema
		WHERE name NOT LIKE 'sqlite_stat%' ORDER BY type, name`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var typ, name, tbl, stmt string
		if err := rows.Scan(&typ, &name, &tbl, &stmt); err != nil {
			t.Fatal(err)
		}
		out = append(out, fmt.Sprintf("%s %s on %s: %s", typ, name, tbl, stmt))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// schemaAt is the schema a file at version v has: migrations[:v] applied
// to an empty file, as the satellite of that version wrote it.
func schemaAt(t *testing.T, v int) []string {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "v.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, m := range migrations[:v] {
		for _, stmt := range m {
			if _, err := db.Exec(stmt); err != nil {
				t.Fatal(err)
			}
		}
	}
	return schemaOf(t, db)
}

// historyAnswers are the answers of the queries the API and the dashboard
// make, over the rows writeResultsSet, manyMetrics and writeChanges wrote.
func historyAnswers(t *testing.T, d *DB) map[string]any {
	t.Helper()
	ctx := context.Background()
	out := map[string]any{}
	for _, q := range []health.Query{
		{}, {Node: "n1"}, {Node: "n2"}, {Check: "c1"}, {Node: "n1", Check: "c1"}, {Node: "n2", Check: "c1", Since: t0.Add(5 * time.Second)},
		{Status: "critical"}, {Node: "n1", Check: "c2", Status: "warning", Since: t0}, {Since: t0.Add(10 * time.Second), Limit: 3},
	} {
		got, err := d.StateChanges(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		out[fmt.Sprintf("history %+v", q)] = got
	}
	for _, q := range []health.ResultQuery{
		{Node: "n1", Check: `http.api["a"]`, Since: t0, Until: t0.Add(50 * time.Second), Step: 10 * time.Second},
		{Node: "n2", Check: `http.api["a"]`, Step: time.Minute},
		{Node: "n1", Check: "exec.many", Since: t0, Until: t0.Add(time.Minute), Step: 20 * time.Second},
	} {
		got, err := d.Results(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		out[fmt.Sprintf("results %+v", q)] = got
	}
	return out
}

// writeChanges writes state changes of two checks on two nodes.
func writeChanges(t *testing.T, d *DB) {
	t.Helper()
	var batch []sinks.Record
	for i := range 24 {
		st := []health.Status{health.Passing, health.Warning, health.Critical}[i%3]
		batch = append(batch, sinks.Record{Time: t0.Add(time.Duration(i) * time.Second), Node: fmt.Sprintf("n%d", 1+i%2),
			Check: fmt.Sprintf("c%d", 1+i/2%2), Type: "http", Status: st, RunStatus: st, Changed: true, Previous: health.Passing})
	}
	if err := d.Write(context.Background(), batch); err != nil {
		t.Fatal(err)
	}
}

// TestMigrationV2: a file of schema version 2, with its rows, migrates to
// the schema a new file has, and every query answers as before.
func TestMigrationV2(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), HistoryFile)
	d, err := Open(ctx, path, DefaultRetention)
	if err != nil {
		t.Fatal(err)
	}
	writeResultsSet(t, d)
	manyMetrics(t, d)
	writeChanges(t, d)
	want := historyAnswers(t, d)
	results := readResults(t, d)
	// Back to version 2: its indexes, as migrations 1 and 2 made them.
	for _, stmt := range []string{
		`CREATE INDEX results_check_time ON results (check_addr, time)`,
		`DROP INDEX state_changes_check_node_time`,
		`PRAGMA user_version = 2`,
	} {
		if _, err := d.db.Exec(stmt); err != nil {
			t.Fatal(err)
		}
	}
	if got, v2 := schemaOf(t, d.db), schemaAt(t, 2); !reflect.DeepEqual(got, v2) {
		t.Fatalf("the file is not a version 2 file:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(v2, "\n"))
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}

	d, err = Open(ctx, path, DefaultRetention)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if v, err := schemaVersion(ctx, d.db); err != nil || v != SchemaVersion() {
		t.Fatalf("user_version = %d, %v; want %d", v, err, SchemaVersion())
	}
	if got, fresh := schemaOf(t, d.db), schemaAt(t, SchemaVersion()); !reflect.DeepEqual(got, fresh) {
		t.Errorf("migrated schema:\n%s\nwant that of a new file:\n%s", strings.Join(got, "\n"), strings.Join(fresh, "\n"))
	}
	if got := historyAnswers(t, d); !reflect.DeepEqual(got, want) {
		for k := range want {
			if !reflect.DeepEqual(got[k], want[k]) {
				t.Errorf("%s after the migration:\n%+v\nbefore:\n%+v", k, got[k], want[k])
			}
		}
	}
	if got := readResults(t, d); !reflect.DeepEqual(got, results) {
		t.Errorf("results changed in the migration")
	}
	// And it takes writes.
	writeChanges(t, d)
	if n := count(t, d, "state_changes"); n != 48 {
		t.Errorf("%d state changes, want 48", n)
	}
}

// TestPruneSpreadOverWrites: a prune due deletes a chunk of each table per
// Write, on top of its batch, until no old row is left; no Write is held
// up for the whole prune, and the new rows stay.
func TestPruneSpreadOverWrites(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), HistoryFile)
	now := time.Now()
	const old, chunk = 95, 10
	// The old rows, written with no retention.
	writeOld(t, path, now, old, time.Second, 4, func(int) bool { return true })

	d, err := Open(ctx, path, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	d.pruneChunk = chunk
	oldLeft := func() (results, runs, changes int) {
		cut := now.Add(-time.Hour).UnixNano()
		for _, q := range []struct {
			n   *int
			sql string
		}{
			{&results, `SELECT count(*) FROM results WHERE time < ?`},
			{&runs, `SELECT count(*) FROM runs WHERE time < ?`},
			{&changes, `SELECT count(*) FROM state_changes WHERE time < ?`},
		} {
			if err := d.db.QueryRow(q.sql, cut).Scan(q.n); err != nil {
				t.Fatal(err)
			}
		}
		return
	}
	writes := 0
	for w := 0; ; w++ {
		rec := sinks.Record{Time: now.Add(time.Duration(w) * time.Millisecond), Node: "n1", Check: "new", Changed: true, Metrics: map[string]float64{"v": 1}}
		if err := d.Write(ctx, []sinks.Record{rec}); err != nil {
			t.Fatal(err)
		}
		writes++
		r, v, c := oldLeft()
		want := max(old-chunk*writes, 0)
		if r != want || v != want || c != want {
			t.Fatalf("after write %d: %d results, %d runs, %d state changes older than retention; want %d each", writes, r, v, c, want)
		}
		if r == 0 {
			break
		}
	}
	if want := (old + chunk - 1) / chunk; writes != want {
		t.Errorf("the prune took %d writes, want %d", writes, want)
	}
	d.mu.Lock()
	pending := d.pruneCutoff
	d.mu.Unlock()
	if pending != 0 {
		t.Errorf("a prune is still under way after the old rows are gone")
	}
	if r, c := count(t, d, "results"), count(t, d, "state_changes"); r != writes || c != writes {
		t.Errorf("%d results, %d state changes; want the %d written", r, c, writes)
	}
	// Until the next prune is due, a write deletes nothing.
	if _, err := d.db.Exec(`INSERT INTO results (time, node, check_addr, type, status, run_status, duration_ns) VALUES (?, 'n1', 'late', '', '', '', 0)`,
		now.Add(-2*time.Hour).UnixNano()); err != nil {
		t.Fatal(err)
	}
	if err := d.Write(ctx, []sinks.Record{{Time: now, Node: "n1", Check: "new"}}); err != nil {
		t.Fatal(err)
	}
	if r, _, _ := oldLeft(); r != 1 {
		t.Errorf("%d old results after a write with no prune due, want 1", r)
	}
}

// TestPruneWhileWriting: Prune on one goroutine and Writes on others, at
// once, each chunk its own transaction: no error, every old row deleted,
// every new one kept.
func TestPruneWhileWriting(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), HistoryFile)
	now := time.Now()
	const old = 2000
	writeOld(t, path, now, old, time.Millisecond, 7, func(i int) bool { return i%3 == 0 })
	d, err := Open(ctx, path, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	d.pruneChunk = 50

	const writers, writes, size = 2, 40, 25
	var wg sync.WaitGroup
	errs := make(chan error, writers+1)
	wg.Go(func() {
		if _, err := d.Prune(ctx, now); err != nil {
			errs <- err
		}
	})
	for g := range writers {
		wg.Go(func() {
			for w := range writes {
				b := make([]sinks.Record, size)
				for i := range b {
					b[i] = sinks.Record{Time: now.Add(time.Duration((g*writes+w)*size+i) * time.Microsecond), Node: "n1",
						Check: fmt.Sprintf("new%d", i%5), Changed: i == 0, Metrics: map[string]float64{"v": 2}}
				}
				if err := d.Write(ctx, b); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if _, err := d.Prune(ctx, now); err != nil {
		t.Fatal(err)
	}
	const added = writers * writes * size
	if r, v, c := count(t, d, "results"), count(t, d, "runs"), count(t, d, "state_changes"); r != added || v != added || c != writers*writes {
		t.Errorf("%d results, %d runs, %d state changes; want %d, %d, %d", r, v, c, added, added, writers*writes)
	}
}

// writeOld writes n results to a history at path with no retention, from
// three hours before now, step apart, over checks checks, changed(i)
// marking the state changes.
func writeOld(t *testing.T, path string, now time.Time, n int, step time.Duration, checks int, changed func(int) bool) {
	t.Helper()
	ctx := context.Background()
	keep, err := Open(ctx, path, 0)
	if err != nil {
		t.Fatal(err)
	}
	var batch []sinks.Record
	for i := range n {
		batch = append(batch, sinks.Record{Time: now.Add(-3*time.Hour + time.Duration(i)*step), Node: "n1",
			Check: fmt.Sprintf("c%d", i%checks), Changed: changed(i), Metrics: map[string]float64{"v": float64(i)}})
	}
	if err := keep.Write(ctx, batch); err != nil {
		t.Fatal(err)
	}
	if err := keep.Close(); err != nil {
		t.Fatal(err)
	}
}
