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
	"math"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/satellite-hq/satellite/sinks"
)

const (
	// busyTimeout is how long a statement waits for another connection's
	// (or process's) write lock before failing with SQLITE_BUSY.
	busyTimeout = 5 * time.Second
	// pruneEvery is how often Write deletes rows past retention.
	pruneEvery = 10 * time.Minute
	// defaultPruneChunk bounds the rows one DELETE removes, so that a large
	// prune never holds the write lock for long.
	defaultPruneChunk = 5000
)

// DB is an open satellite SQLite database. It is a sinks.Sink and is safe for
// concurrent use.
type DB struct {
	db        *sql.DB
	path      string
	retention time.Duration
	// pruneChunk is defaultPruneChunk; tests make it small.
	pruneChunk int

	insResult *sql.Stmt
	insChange *sql.Stmt

	mu        sync.Mutex // guards lastPrune and closed
	lastPrune time.Time
	closed    bool
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
	d := &DB{db: sdb, path: abs, retention: retention, pruneChunk: defaultPruneChunk}
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
	var err error
	d.insResult, err = d.db.PrepareContext(ctx, `INSERT INTO results
		(time, node, check_addr, type, status, run_status, duration_ns, metrics, error, labels)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return fmt.Errorf("sqlite %s: %w", d.path, err)
	}
	d.insChange, err = d.db.PrepareContext(ctx, `INSERT INTO state_changes
		(time, node, check_addr, type, previous, status, error)
		VALUES (?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return fmt.Errorf("sqlite %s: %w", d.path, err)
	}
	return nil
}

// Path returns the absolute path of the database file.
func (d *DB) Path() string { return d.path }

// Write stores a batch in one transaction: a row in results for every record,
// and a row in state_changes for each with Changed set. At most every ten
// minutes it then prunes rows past retention; a failed prune does not fail
// the write, and is retried on the next one.
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
	insResult := tx.StmtContext(ctx, d.insResult)
	insChange := tx.StmtContext(ctx, d.insChange)

	for i := range batch {
		r := &batch[i]
		t := r.Time
		if t.IsZero() {
			// Refusing the record would fail its whole batch again on every
			// retry; the time it reaches the sink is the best left.
			t = time.Now()
		}
		ns := t.UnixNano()
		metrics, err := metricsJSON(r.Metrics)
		if err != nil {
			return fmt.Errorf("sqlite %s: %s: metrics: %w", d.path, r.Check, err)
		}
		labels, err := labelsJSON(r.Labels)
		if err != nil {
			return fmt.Errorf("sqlite %s: %s: labels: %w", d.path, r.Check, err)
		}
		if _, err := insResult.ExecContext(ctx, ns, r.Node, r.Check, r.Type, r.Status, r.RunStatus,
			int64(r.Duration), metrics, nullable(r.Error), labels); err != nil {
			return fmt.Errorf("sqlite %s: inserting result: %w", d.path, err)
		}
		if r.Changed {
			if _, err := insChange.ExecContext(ctx, ns, r.Node, r.Check, r.Type,
				nullable(r.Previous), r.Status, nullable(r.Error)); err != nil {
				return fmt.Errorf("sqlite %s: inserting state change: %w", d.path, err)
			}
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite %s: %w", d.path, err)
	}
	return nil
}

func (d *DB) maybePrune(ctx context.Context) {
	if d.retention <= 0 {
		return
	}
	now := time.Now()
	d.mu.Lock()
	due := now.Sub(d.lastPrune) >= pruneEvery
	if due {
		d.lastPrune = now
	}
	d.mu.Unlock()
	if !due {
		return
	}
	if _, err := d.Prune(ctx, now); err != nil {
		d.mu.Lock()
		d.lastPrune = time.Time{}
		d.mu.Unlock()
	}
}

// Prune deletes results and state changes older than now minus retention and
// returns how many rows it deleted. It does nothing when retention is zero or
// less. Rows go in chunks, each its own transaction, so that writers are never
// held up for long.
func (d *DB) Prune(ctx context.Context, now time.Time) (int64, error) {
	if d.retention <= 0 {
		return 0, nil
	}
	cutoff := now.Add(-d.retention).UnixNano()
	var total int64
	// The table names are constants of ours; only values are parameters.
	for _, q := range []string{
		`DELETE FROM results WHERE id IN (SELECT id FROM results WHERE time < ? LIMIT ?)`,
		`DELETE FROM state_changes WHERE id IN (SELECT id FROM state_changes WHERE time < ? LIMIT ?)`,
	} {
		for {
			res, err := d.db.ExecContext(ctx, q, cutoff, d.pruneChunk)
			if err != nil {
				return total, fmt.Errorf("sqlite %s: pruning: %w", d.path, err)
			}
			n, err := res.RowsAffected()
			if err != nil {
				return total, fmt.Errorf("sqlite %s: pruning: %w", d.path, err)
			}
			total += n
			if n < int64(d.pruneChunk) {
				break
			}
		}
	}
	return total, nil
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
	for _, s := range []*sql.Stmt{d.insResult, d.insChange} {
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
	b, err := json.Marshal(m)
	return string(b), err
}
