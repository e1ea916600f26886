// Package sqlite is the `sqlite` sink type, and the SQLite store the agent
// keeps its local history in: results and state changes in one file, in WAL
// mode, with a versioned schema.
package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/satellite-hq/satellite/health"
	"github.com/satellite-hq/satellite/sinks"
)

const (
	// busyTimeout is how long a statement waits for another connection's
	// (or process's) write lock before failing with SQLITE_BUSY.
	busyTimeout = 5 * time.Second
	// pruneEvery is how often Write starts deleting rows past retention.
	pruneEvery = 10 * time.Minute
	// defaultPruneChunk bounds the rows one DELETE removes, and so what a
	// Write adds to its own time while a prune is under way: a chunk of each
	// table. Twice a full batch: a history of 10M results keeps two thirds
	// of its write rate while an eighth of it is pruned, and the prune is
	// done about as soon as when one Write did all of it.
	defaultPruneChunk = 2000
)

// DB is an open satellite SQLite database. It is a sinks.Sink and is safe for
// concurrent use.
type DB struct {
	db        *sql.DB
	path      string
	retention time.Duration
	// pruneChunk is defaultPruneChunk; tests make it small.
	pruneChunk int

	// insResults[i] inserts resultChunks[i] results in one statement;
	// insRuns[i] as many rows of runs.
	insResults []*sql.Stmt
	insRuns    []*sql.Stmt
	insChange  *sql.Stmt
	// These find and add the series of runs and their metrics' slots.
	selSeries, insSeries, selSlot, nextSlot, insSlot *sql.Stmt

	mu        sync.Mutex // guards lastPrune, pruneCutoff and closed
	lastPrune time.Time
	// pruneCutoff is the cutoff (Unix nanoseconds) of the prune under way,
	// which each Write goes on with; 0 when none is.
	pruneCutoff int64
	closed      bool

	cacheMu sync.Mutex // guards series and slots
	// series and slots cache result_series and metric_slots. Their rows
	// are never changed or deleted, so an entry stays valid, in every
	// process, once the transaction that added it committed.
	series map[seriesKey]int64
	slots  map[slotKey]int
}

// seriesKey is the series of runs of one check on one node.
type seriesKey struct{ check, node string }

// slotKey is a metric of a series.
type slotKey struct {
	series int64
	name   string
}

var _ sinks.Sink = (*DB)(nil)

// Open opens the database at path, creating it and its folder if needed, and
// brings its schema up to date. Rows older than retention are pruned by Write
// and Prune; a retention of zero or less keeps every row. A database written
// by a newer satellite is refused with an error wrapping ErrSchemaTooNew.
func Open(ctx context.Context, path string, retention time.Duration) (*DB, error) {
	if path == "" {
		return nil, errors.New("sqlite: empty database path")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("sqlite %s: %w", path, err)
	}
	if err := os.MkdirAll(filepath.Dir(abs), 0o750); err != nil {
		return nil, fmt.Errorf("sqlite %s: creating folder: %w", abs, err)
	}
	// Create the file ourselves so that it is not world-readable; SQLite
	// gives its -wal and -shm files the same mode.
	f, err := os.OpenFile(abs, os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("sqlite %s: %w", abs, err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("sqlite %s: %w", abs, err)
	}

	sdb, err := sql.Open("sqlite", dsn(abs))
	if err != nil {
		return nil, fmt.Errorf("sqlite %s: %w", abs, err)
	}
	d := &DB{db: sdb, path: abs, retention: retention, pruneChunk: defaultPruneChunk,
		series: map[seriesKey]int64{}, slots: map[slotKey]int{}}
	if err := d.init(ctx); err != nil {
		_ = d.closeAll()
		return nil, err
	}
	return d, nil
}

// dsn is the modernc.org/sqlite data source name of a database file: a
// file: URI, so that any character may appear in the path, with the pragmas
// every connection of the pool runs when it opens.
func dsn(abs string) string {
	p := filepath.ToSlash(abs)
	if !strings.HasPrefix(p, "/") {
		p = "/" + p // a Windows volume: file:/C:/...
	}
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busyTimeout.Milliseconds()))
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(NORMAL)")
	// Checkpoint every 16000 WAL pages (about 64 MB) rather than SQLite's
	// 1000. A batch of 1000 results dirties 100 to 1100 pages, most of them
	// the last page of a series in runs, which the next batch dirties
	// again; a checkpoint writes each page once however many batches
	// changed it, and syncs the file. At 1000 pages that was a fifth of a
	// sustained write's time; 16000 rather than 4000 saves another sixth of
	// the CPU time of a batch of 1000 checks.
	q.Add("_pragma", "wal_autocheckpoint(16000)")
	// A WAL that grew past 128 MB (a reader kept the checkpoint from
	// catching up while writes went on) is cut back when it next restarts.
	q.Add("_pragma", "journal_size_limit(134217728)")
	// Up to 16 MB of page cache a connection (SQLite's default is 2 MB),
	// taken only as pages are read. With 2 MB, a write transaction on a
	// history of a million results no longer fit: SQLite spilled dirty
	// pages to the WAL mid-transaction and read evicted index pages back,
	// two fifths of a sustained write's time.
	q.Add("_pragma", "cache_size(-16000)")
	q.Add("_pragma", "foreign_keys(1)")
	// Write transactions take the write lock when they begin, so that two
	// writers wait on busy_timeout rather than deadlock on a lock upgrade.
	q.Set("_txlock", "immediate")
	u := url.URL{Scheme: "file", Path: p, OmitHost: true, RawQuery: q.Encode()}
	return u.String()
}

func (d *DB) init(ctx context.Context) error {
	if err := d.db.PingContext(ctx); err != nil {
		return fmt.Errorf("sqlite %s: %w", d.path, err)
	}
	if err := migrate(ctx, d.db, d.path); err != nil {
		return err
	}
	for _, n := range resultChunks {
		st, err := d.db.PrepareContext(ctx, insertResultsSQL(n))
		if err != nil {
			return fmt.Errorf("sqlite %s: %w", d.path, err)
		}
		d.insResults = append(d.insResults, st)
	}
	for _, n := range resultChunks {
		st, err := d.db.PrepareContext(ctx, insertRunsSQL(n))
		if err != nil {
			return fmt.Errorf("sqlite %s: %w", d.path, err)
		}
		d.insRuns = append(d.insRuns, st)
	}
	for _, p := range []struct {
		st  **sql.Stmt
		sql string
	}{
		{&d.insChange, insChangeSQL},
		{&d.selSeries, selSeriesSQL},
		{&d.insSeries, `INSERT INTO result_series (check_addr, node) VALUES (?, ?)`},
		{&d.selSlot, selSlotSQL},
		{&d.nextSlot, nextSlotSQL},
		{&d.insSlot, `INSERT INTO metric_slots (series, name, slot) VALUES (?, ?, ?)`},
	} {
		var err error
		if *p.st, err = d.db.PrepareContext(ctx, p.sql); err != nil {
			return fmt.Errorf("sqlite %s: %w", d.path, err)
		}
	}
	return nil
}

// Statements of Write and AddEvent, by name for the test of their plans.
const (
	insChangeSQL = `INSERT INTO state_changes
			(time, node, check_addr, type, previous, status, error)
			VALUES (?, ?, ?, ?, ?, ?, ?)`
	selSeriesSQL = `SELECT id FROM result_series WHERE check_addr = ? AND node = ?`
	selSlotSQL   = `SELECT slot FROM metric_slots WHERE series = ? AND name = ?`
	nextSlotSQL  = `SELECT coalesce(max(slot) + 1, 0) FROM metric_slots WHERE series = ?`
)

// resultChunks are the numbers of results one INSERT stores, largest first;
// the last is 1. A batch goes in as many of the largest as fit, then the
// next, and so on: with a statement per row, the per-statement work of
// database/sql and the driver (and a goroutine per statement when ctx can be
// cancelled) costs more than storing the row.
var resultChunks = []int{64, 8, 1}

// resultCols is the number of parameters of one row of results.
const resultCols = 10

// insertResultsSQL is an INSERT of n rows of results, every value a
// parameter. OR ROLLBACK: a statement of many rows that could fail halfway
// (on a NOT NULL constraint) would otherwise need a statement journal, a
// temporary file written for every page the statement changes. Nothing we
// bind is NULL where NULL is refused, and a failed batch is rolled back
// whole anyway.
func insertResultsSQL(n int) string {
	var sb strings.Builder
	sb.WriteString(`INSERT OR ROLLBACK INTO results
		(time, node, check_addr, type, status, run_status, duration_ns, metrics, error, labels)
		VALUES `)
	for i := range n {
		if i > 0 {
			sb.WriteString(", ")
		}
		sb.WriteString("(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
	}
	return sb.String()
}

// runCols is the number of parameters of one row of runs: series, time,
// part, failing and a value for each of the slotsPerPart slots.
const runCols = 4 + slotsPerPart

// slotsPerPart is the number of metric columns of a row of runs.
const slotsPerPart = 8

// insertRunsSQL is an INSERT of n rows of runs, every value a parameter.
// OR IGNORE: a run stored again with the same time (a batch replayed after
// its commit was not acknowledged) keeps its first row; it is not an error
// that would fail the batch on every retry.
func insertRunsSQL(n int) string {
	var sb strings.Builder
	sb.WriteString(`INSERT OR IGNORE INTO runs (series, time, part, failing, v0, v1, v2, v3, v4, v5, v6, v7) VALUES `)
	for i := range n {
		if i > 0 {
			sb.WriteString(", ")
		}
		sb.WriteString("(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
	}
	return sb.String()
}

// Path returns the absolute path of the database file.
func (d *DB) Path() string { return d.path }

// Write stores a batch in one transaction: a row in results for every record,
// a row in runs for each (two or more for a result of over eight metrics),
// and a row in state_changes for each with Changed set. At most every ten
// minutes it then starts a prune of the rows past retention, which it and
// the next writes carry out a chunk at a time (see maybePrune); a failed
// prune does not fail the write, and is retried on the next one.
func (d *DB) Write(ctx context.Context, batch []sinks.Record) error {
	if len(batch) == 0 {
		return nil
	}
	if err := d.write(ctx, batch); err != nil {
		return err
	}
	d.maybePrune(ctx)
	return nil
}

func (d *DB) write(ctx context.Context, batch []sinks.Record) error {
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite %s: %w", d.path, err)
	}
	defer func() { _ = tx.Rollback() }()
	insChange := tx.StmtContext(ctx, d.insChange)

	// times[i] is batch[i]'s time in Unix nanoseconds.
	times := make([]int64, len(batch))
	for i := range batch {
		t := batch[i].Time
		if t.IsZero() {
			// Refusing the record would fail its whole batch again on every
			// retry; the time it reaches the sink is the best left.
			t = time.Now()
		}
		times[i] = t.UnixNano()
	}
	insResults := make([]*sql.Stmt, len(resultChunks)) // made on first use
	args := make([]any, 0, resultChunks[0]*resultCols)
	for c, i := 0, 0; i < len(batch); {
		for len(batch)-i < resultChunks[c] {
			c++
		}
		args = args[:0]
		for end := i + resultChunks[c]; i < end; i++ {
			r := &batch[i]
			metrics, err := metricsJSON(r.Metrics)
			if err != nil {
				return fmt.Errorf("sqlite %s: %s: metrics: %w", d.path, r.Check, err)
			}
			labels, err := labelsJSON(r.Labels)
			if err != nil {
				return fmt.Errorf("sqlite %s: %s: labels: %w", d.path, r.Check, err)
			}
			args = append(args, times[i], r.Node, r.Check, r.Type, r.Status, r.RunStatus,
				int64(r.Duration), metrics, nullable(r.Error), labels)
		}
		if insResults[c] == nil {
			insResults[c] = tx.StmtContext(ctx, d.insResults[c])
		}
		if _, err := insResults[c].ExecContext(ctx, args...); err != nil {
			return fmt.Errorf("sqlite %s: inserting result: %w", d.path, err)
		}
	}
	added, err := d.writeRuns(ctx, tx, batch, times)
	if err != nil {
		return err
	}
	for i := range batch {
		r := &batch[i]
		if r.Changed {
			if _, err := insChange.ExecContext(ctx, times[i], r.Node, r.Check, r.Type,
				nullable(string(r.Previous)), string(r.Status), nullable(r.Error)); err != nil {
				return fmt.Errorf("sqlite %s: inserting state change: %w", d.path, err)
			}
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite %s: %w", d.path, err)
	}
	if len(added.series) > 0 || len(added.slots) > 0 {
		d.cacheMu.Lock()
		maps.Copy(d.series, added.series)
		maps.Copy(d.slots, added.slots)
		d.cacheMu.Unlock()
	}
	return nil
}

// cacheAdds are the series and slots a transaction looked up in the
// database, for the cache once it commits: an id added by a transaction
// that rolls back is not valid.
type cacheAdds struct {
	series map[seriesKey]int64
	slots  map[slotKey]int
}

// writeRuns stores the rows of runs of batch in tx: for each record, its
// failing flag and its finite metric values in their slots.
func (d *DB) writeRuns(ctx context.Context, tx *sql.Tx, batch []sinks.Record, times []int64) (cacheAdds, error) {
	var added cacheAdds
	args := make([]any, 0, len(batch)*runCols)
	for i := range batch {
		r := &batch[i]
		series, err := d.seriesID(ctx, tx, seriesKey{r.Check, r.Node}, &added)
		if err != nil {
			return added, err
		}
		failing := int64(0)
		switch r.Status {
		case health.Warning, health.Critical, health.Blocked:
			failing = 1
		}
		row := len(args)
		args = append(args, series, times[i], int64(0), failing, nil, nil, nil, nil, nil, nil, nil, nil)
		var parts map[int]int // part -> where its row starts in args
		for name, v := range r.Metrics {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				continue
			}
			k := slotKey{series, name}
			slot, ok := d.cachedSlot(k, &added)
			if !ok {
				if err := d.recordSlots(ctx, tx, series, r.Metrics, &added); err != nil {
					return added, err
				}
				slot, _ = d.cachedSlot(k, &added)
			}
			part, at := slot/slotsPerPart, row
			if part > 0 {
				var ok bool
				if at, ok = parts[part]; !ok {
					if parts == nil {
						parts = map[int]int{}
					}
					at = len(args)
					parts[part] = at
					args = append(args, series, times[i], int64(part), nil, nil, nil, nil, nil, nil, nil, nil, nil)
				}
			}
			args[at+4+slot%slotsPerPart] = v
		}
	}
	stmts := make([]*sql.Stmt, len(resultChunks)) // made on first use
	for c, i, n := 0, 0, len(args)/runCols; i < n; {
		for n-i < resultChunks[c] {
			c++
		}
		if stmts[c] == nil {
			stmts[c] = tx.StmtContext(ctx, d.insRuns[c])
		}
		if _, err := stmts[c].ExecContext(ctx, args[i*runCols:(i+resultChunks[c])*runCols]...); err != nil {
			return added, fmt.Errorf("sqlite %s: inserting runs: %w", d.path, err)
		}
		i += resultChunks[c]
	}
	return added, nil
}

// seriesID returns the id of a series of runs, adding it if it is new.
func (d *DB) seriesID(ctx context.Context, tx *sql.Tx, k seriesKey, added *cacheAdds) (int64, error) {
	d.cacheMu.Lock()
	id, ok := d.series[k]
	d.cacheMu.Unlock()
	if ok {
		return id, nil
	}
	if id, ok = added.series[k]; ok {
		return id, nil
	}
	err := tx.StmtContext(ctx, d.selSeries).QueryRowContext(ctx, k.check, k.node).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		var res sql.Result
		if res, err = tx.StmtContext(ctx, d.insSeries).ExecContext(ctx, k.check, k.node); err == nil {
			id, err = res.LastInsertId()
		}
	}
	if err != nil {
		return 0, fmt.Errorf("sqlite %s: series of %s: %w", d.path, k.check, err)
	}
	if added.series == nil {
		added.series = map[seriesKey]int64{}
	}
	added.series[k] = id
	return id, nil
}

// cachedSlot is the slot of a metric of a series, if the cache or added
// has it.
func (d *DB) cachedSlot(k slotKey, added *cacheAdds) (int, bool) {
	d.cacheMu.Lock()
	slot, ok := d.slots[k]
	d.cacheMu.Unlock()
	if !ok {
		slot, ok = added.slots[k]
	}
	return slot, ok
}

// recordSlots finds the slots of the finite metrics of a record of a
// series, for added, and gives the new ones the next slots in the order of
// their names: the layout of a series does not depend on the order of a map,
// and is the one migration 2 gave the runs it filled.
func (d *DB) recordSlots(ctx context.Context, tx *sql.Tx, series int64, metrics map[string]float64, added *cacheAdds) error {
	names := make([]string, 0, len(metrics))
	for name, v := range metrics {
		if !math.IsNaN(v) && !math.IsInf(v, 0) {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	for _, name := range names {
		if _, err := d.slot(ctx, tx, slotKey{series, name}, added); err != nil {
			return err
		}
	}
	return nil
}

// slot returns the slot of a metric of a series, giving it the next one if
// it is new.
func (d *DB) slot(ctx context.Context, tx *sql.Tx, k slotKey, added *cacheAdds) (int, error) {
	slot, ok := d.cachedSlot(k, added)
	if ok {
		return slot, nil
	}
	err := tx.StmtContext(ctx, d.selSlot).QueryRowContext(ctx, k.series, k.name).Scan(&slot)
	if errors.Is(err, sql.ErrNoRows) {
		if err = tx.StmtContext(ctx, d.nextSlot).QueryRowContext(ctx, k.series).Scan(&slot); err == nil {
			_, err = tx.StmtContext(ctx, d.insSlot).ExecContext(ctx, k.series, k.name, slot)
		}
	}
	if err != nil {
		return 0, fmt.Errorf("sqlite %s: slot of metric %s: %w", d.path, k.name, err)
	}
	if added.slots == nil {
		added.slots = map[slotKey]int{}
	}
	added.slots[k] = slot
	return slot, nil
}

// maybePrune is the pruning Write does after its batch: every pruneEvery it
// starts a prune of the rows past retention, and each Write, this one and
// the next, deletes one chunk of each table until none is left, so that a
// large prune (a shorter retention, an agent that was stopped for days) is
// spread over many writes rather than holding up one for all of it.
func (d *DB) maybePrune(ctx context.Context) {
	if d.retention <= 0 {
		return
	}
	now := time.Now()
	d.mu.Lock()
	if d.pruneCutoff == 0 && now.Sub(d.lastPrune) >= pruneEvery {
		d.lastPrune = now
		d.pruneCutoff = now.Add(-d.retention).UnixNano()
	}
	cutoff := d.pruneCutoff
	d.mu.Unlock()
	if cutoff == 0 {
		return
	}
	_, done, err := d.pruneStep(ctx, cutoff)
	if err == nil && !done {
		return
	}
	d.mu.Lock()
	if d.pruneCutoff == cutoff {
		d.pruneCutoff = 0
		if err != nil {
			d.lastPrune = time.Time{} // retried on the next write
		}
	}
	d.mu.Unlock()
}

// Prune deletes results, their runs and state changes older than now minus
// retention, and returns how many results and state changes it deleted. It
// does nothing when retention is zero or less. Rows go in chunks, each its
// own transaction, so that writers are never held up for long.
func (d *DB) Prune(ctx context.Context, now time.Time) (int64, error) {
	if d.retention <= 0 {
		return 0, nil
	}
	cutoff := now.Add(-d.retention).UnixNano()
	var total int64
	for {
		n, done, err := d.pruneStep(ctx, cutoff)
		total += n
		if err != nil || done {
			return total, err
		}
	}
}

// pruneStep deletes a chunk of at most pruneChunk rows older than cutoff
// (Unix nanoseconds) from each table, each chunk in its own transaction:
// results and state_changes through their index on time, runs through its
// primary key, series by series. It returns how many results and state
// changes it deleted, and done once no table had a full chunk to delete.
func (d *DB) pruneStep(ctx context.Context, cutoff int64) (deleted int64, done bool, err error) {
	done = true
	for _, q := range pruneSQL {
		res, err := d.db.ExecContext(ctx, q.sql, cutoff, d.pruneChunk)
		if err != nil {
			return deleted, false, fmt.Errorf("sqlite %s: pruning: %w", d.path, err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return deleted, false, fmt.Errorf("sqlite %s: pruning: %w", d.path, err)
		}
		if q.counted {
			deleted += n
		}
		if n >= int64(d.pruneChunk) {
			done = false
		}
	}
	return deleted, done, nil
}

// pruneSQL are the DELETEs of Prune, each of at most ?2 rows older than ?1.
// The table names are constants of ours; only values are parameters.
var pruneSQL = []struct {
	table, sql string
	counted    bool
}{
	{"results", `DELETE FROM results WHERE id IN (SELECT id FROM results WHERE time < ? LIMIT ?)`, true},
	{"state_changes", `DELETE FROM state_changes WHERE id IN (SELECT id FROM state_changes WHERE time < ? LIMIT ?)`, true},
	// A search of each series' oldest runs (runs has no index on time
	// alone).
	{"runs", `DELETE FROM runs WHERE (series, time, part) IN (SELECT series, time, part FROM runs
			WHERE series IN (SELECT id FROM result_series) AND time < ? LIMIT ?)`, false},
}

// Close releases the database. Calling it again does nothing.
func (d *DB) Close() error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil
	}
	d.closed = true
	d.mu.Unlock()
	// Keeps the query planner's statistics fresh; cheap when there is
	// nothing to do, and a failure costs only speed.
	_, _ = d.db.Exec(`PRAGMA optimize`)
	return d.closeAll()
}

func (d *DB) closeAll() error {
	var errs []error
	for _, s := range slices.Concat(d.insResults, d.insRuns) {
		errs = append(errs, s.Close())
	}
	for _, s := range []*sql.Stmt{d.insChange, d.selSeries, d.insSeries, d.selSlot, d.nextSlot, d.insSlot} {
		if s != nil {
			errs = append(errs, s.Close())
		}
	}
	errs = append(errs, d.db.Close())
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("sqlite %s: closing: %w", d.path, err)
	}
	return nil
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// metricsJSON encodes metrics as a JSON object with sorted keys. JSON has no
// NaN or infinities, so those are written as the strings "NaN", "+Inf" and
// "-Inf", the way Prometheus writes them.
func metricsJSON(m map[string]float64) (string, error) {
	if len(m) == 0 {
		return "{}", nil
	}
	if s, ok := plainMetricsJSON(m); ok {
		return s, nil
	}
	return marshalMetrics(m)
}

// marshalMetrics is metricsJSON by way of encoding/json.
func marshalMetrics(m map[string]float64) (string, error) {
	finite := true
	for _, v := range m {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			finite = false
			break
		}
	}
	var (
		b   []byte
		err error
	)
	if finite {
		b, err = json.Marshal(m)
	} else {
		mixed := make(map[string]any, len(m))
		for k, v := range m {
			switch {
			case math.IsNaN(v):
				mixed[k] = "NaN"
			case math.IsInf(v, 1):
				mixed[k] = "+Inf"
			case math.IsInf(v, -1):
				mixed[k] = "-Inf"
			default:
				mixed[k] = v
			}
		}
		b, err = json.Marshal(mixed)
	}
	return string(b), err
}

func labelsJSON(m map[string]string) (string, error) {
	if len(m) == 0 {
		return "{}", nil
	}
	if s, ok := plainLabelsJSON(m); ok {
		return s, nil
	}
	b, err := json.Marshal(m)
	return string(b), err
}

// plainMetricsJSON writes what metricsJSON does, without reflection, when no
// key needs escaping; ok is false otherwise.
func plainMetricsJSON(m map[string]float64) (_ string, ok bool) {
	var kb [16]string
	keys := kb[:0]
	for k := range m {
		if !plainJSON(k) {
			return "", false
		}
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var bb [256]byte
	b := append(bb[:0], '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '"')
		b = append(b, k...)
		b = append(b, '"', ':')
		b = appendJSONFloat(b, m[k])
	}
	b = append(b, '}')
	return string(b), true
}

// plainLabelsJSON writes what json.Marshal does, without reflection, when
// no key or value needs escaping; ok is false otherwise.
func plainLabelsJSON(m map[string]string) (_ string, ok bool) {
	var kb [16]string
	keys := kb[:0]
	for k, v := range m {
		if !plainJSON(k) || !plainJSON(v) {
			return "", false
		}
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var bb [256]byte
	b := append(bb[:0], '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '"')
		b = append(b, k...)
		b = append(b, '"', ':', '"')
		b = append(b, m[k]...)
		b = append(b, '"')
	}
	b = append(b, '}')
	return string(b), true
}

// plainJSON reports whether json.Marshal writes s between quotes unchanged:
// printable ASCII without the characters it escapes.
func plainJSON(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c < 0x20 || c >= 0x80, c == '"', c == '\\', c == '<', c == '>', c == '&':
			return false
		}
	}
	return true
}

// appendJSONFloat appends f the way json.Marshal writes a float64, and NaN
// and the infinities as metricsJSON does.
func appendJSONFloat(b []byte, f float64) []byte {
	switch {
	case math.IsNaN(f):
		return append(b, `"NaN"`...)
	case math.IsInf(f, 1):
		return append(b, `"+Inf"`...)
	case math.IsInf(f, -1):
		return append(b, `"-Inf"`...)
	}
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		// e-09 becomes e-9, as encoding/json writes it.
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}
