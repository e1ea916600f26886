package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// ErrSchemaTooNew is returned by Open for a database written by a newer
// satellite, whose schema this one does not know.
var ErrSchemaTooNew = errors.New("database schema is newer than this satellite knows")

// migration is a list of statements applied in one transaction; the
// database's PRAGMA user_version is the number of migrations applied.
type migration []string

// migrations is append-only: a released migration is never edited, a change
// of schema is a new entry.
var migrations = []migration{
	// 1: results and state changes.
	{
		`CREATE TABLE results (
			id          INTEGER PRIMARY KEY,
			time        INTEGER NOT NULL, -- run start, unix nanoseconds
			node        TEXT    NOT NULL,
			check_addr  TEXT    NOT NULL,
			type        TEXT    NOT NULL,
			status      TEXT    NOT NULL, -- after thresholds, asserts and hysteresis
			run_status  TEXT    NOT NULL, -- this run's own status
			duration_ns INTEGER NOT NULL,
			metrics     TEXT    NOT NULL DEFAULT '{}', -- JSON object
			error       TEXT,             -- NULL when the run had no error
			labels      TEXT    NOT NULL DEFAULT '{}'  -- JSON object
		)`,
		`CREATE INDEX results_time ON results (time)`,
		`CREATE INDEX results_check_time ON results (check_addr, time)`,
		`CREATE TABLE state_changes (
			id         INTEGER PRIMARY KEY,
			time       INTEGER NOT NULL, -- unix nanoseconds
			node       TEXT    NOT NULL,
			check_addr TEXT    NOT NULL,
			type       TEXT    NOT NULL,
			previous   TEXT,             -- NULL when there was no previous state
			status     TEXT    NOT NULL,
			error      TEXT              -- NULL when the run had no error
		)`,
		`CREATE INDEX state_changes_time ON state_changes (time)`,
		`CREATE INDEX state_changes_node_time ON state_changes (node, time)`,
		`CREATE INDEX state_changes_check_time ON state_changes (check_addr, time)`,
	},
	// 2: what the dashboard's charts read (DB.Results): every run again, in
	// a narrow table clustered by series (a check on a node) and time, with
	// its failing flag and its finite metric values in slot columns, so that
	// a range of one check is read in order and without parsing the JSON of
	// each run. A series' metrics get slots 0, 1, ... as they first come:
	// slot k is column v(k%8) of the rows of part k/8; part 0 is every run's
	// row, a part above only holds the slots past the first eight.
	{
		`CREATE TABLE result_series (
			id         INTEGER PRIMARY KEY, -- never reused: a series is never deleted
			check_addr TEXT    NOT NULL,
			node       TEXT    NOT NULL,
			UNIQUE (check_addr, node)
		)`,
		`CREATE TABLE metric_slots (
			series INTEGER NOT NULL, -- result_series.id
			name   TEXT    NOT NULL, -- the metric
			slot   INTEGER NOT NULL,
			PRIMARY KEY (series, name),
			UNIQUE (series, slot)
		) WITHOUT ROWID`,
		// Written in the transaction of its result; a run replayed with the
		// same time keeps its first row. No foreign key: a check on every
		// insert.
		`CREATE TABLE runs (
			series  INTEGER NOT NULL, -- result_series.id
			time    INTEGER NOT NULL, -- the result's time, unix nanoseconds
			part    INTEGER NOT NULL,
			failing INTEGER,          -- part 0: 1 for warning, critical or blocked, else 0; NULL above
			v0 REAL, v1 REAL, v2 REAL, v3 REAL, v4 REAL, v5 REAL, v6 REAL, v7 REAL,
			PRIMARY KEY (series, time, part)
		) WITHOUT ROWID`,
		// The runs already stored. metricsJSON writes NaN and the infinities
		// as strings; the range test leaves out a number too large for a
		// float64 that another writer could have stored.
		`INSERT INTO result_series (check_addr, node) SELECT DISTINCT check_addr, node FROM results`,
		`INSERT INTO metric_slots (series, name, slot)
			SELECT s.id, m.name, row_number() OVER (PARTITION BY s.id ORDER BY m.name) - 1
			FROM (SELECT DISTINCT r.check_addr, r.node, j.key AS name FROM results AS r, json_each(r.metrics) AS j
				WHERE j.type IN ('integer', 'real') AND j.value BETWEEN -1.7976931348623157e308 AND 1.7976931348623157e308) AS m
			JOIN result_series AS s ON s.check_addr = m.check_addr AND s.node = m.node`,
		`INSERT OR IGNORE INTO runs (series, time, part, failing, v0, v1, v2, v3, v4, v5, v6, v7)
			SELECT s.id, r.time, coalesce(ms.slot / 8, 0) AS p,
				CASE WHEN coalesce(ms.slot / 8, 0) = 0 THEN r.status IN ('warning', 'critical', 'blocked') END,
				max(CASE ms.slot % 8 WHEN 0 THEN j.value END), max(CASE ms.slot % 8 WHEN 1 THEN j.value END),
				max(CASE ms.slot % 8 WHEN 2 THEN j.value END), max(CASE ms.slot % 8 WHEN 3 THEN j.value END),
				max(CASE ms.slot % 8 WHEN 4 THEN j.value END), max(CASE ms.slot % 8 WHEN 5 THEN j.value END),
				max(CASE ms.slot % 8 WHEN 6 THEN j.value END), max(CASE ms.slot % 8 WHEN 7 THEN j.value END)
			FROM results AS r
			JOIN result_series AS s ON s.check_addr = r.check_addr AND s.node = r.node
			LEFT JOIN json_each(r.metrics) AS j
			LEFT JOIN metric_slots AS ms ON ms.series = s.id AND ms.name = j.key
				AND j.type IN ('integer', 'real') AND j.value BETWEEN -1.7976931348623157e308 AND 1.7976931348623157e308
			GROUP BY r.id, p`,
		// The runs whose every metric is past the first eight slots.
		`INSERT OR IGNORE INTO runs (series, time, part, failing)
			SELECT s.id, r.time, 0, r.status IN ('warning', 'critical', 'blocked')
			FROM results AS r JOIN result_series AS s ON s.check_addr = r.check_addr AND s.node = r.node`,
	},
	// 3: indexes for the queries made, and no others. Nothing reads results
	// by check (the charts read runs; pruning reads results by time), and
	// its index by check was the costliest to keep: every run of a batch
	// went to another page of it. The history list of one check on one node
	// (the dashboard's check page) reads an index on both, in time order,
	// rather than one of them and a filter on the other; state changes are
	// few, so the index costs little.
	{
		`DROP INDEX IF EXISTS results_check_time`,
		`CREATE INDEX IF NOT EXISTS state_changes_check_node_time ON state_changes (check_addr, node, time)`,
	},
}

// SchemaVersion is the schema version this code writes.
func SchemaVersion() int { return len(migrations) }

func schemaVersion(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}) (int, error) {
	var v int
	if err := q.QueryRowContext(ctx, `PRAGMA user_version`).Scan(&v); err != nil {
		return 0, fmt.Errorf("reading schema version: %w", err)
	}
	return v, nil
}

func checkVersion(path string, v int) error {
	switch {
	case v < 0:
		return fmt.Errorf("sqlite %s: schema version %d is invalid; this is not a satellite database", path, v)
	case v > len(migrations):
		return fmt.Errorf("sqlite %s: %w (file at version %d, this satellite knows up to %d); upgrade satellite or use another file", path, ErrSchemaTooNew, v, len(migrations))
	}
	return nil
}

// migrate brings the schema up to date, one transaction per migration. The
// version is read again inside each (immediate) transaction, so two processes
// opening the same new file do not both apply a migration.
func migrate(ctx context.Context, db *sql.DB, path string) error {
	v, err := schemaVersion(ctx, db)
	if err != nil {
		return fmt.Errorf("sqlite %s: %w", path, err)
	}
	if err := checkVersion(path, v); err != nil {
		return err
	}
	for v < len(migrations) {
		if v, err = step(ctx, db, path); err != nil {
			return err
		}
	}
	return nil
}

// step applies the next migration, if any, and returns the version reached.
func step(ctx context.Context, db *sql.DB, path string) (int, error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("sqlite %s: migrating: %w", path, err)
	}
	defer func() { _ = tx.Rollback() }()
	v, err := schemaVersion(ctx, tx)
	if err != nil {
		return 0, fmt.Errorf("sqlite %s: %w", path, err)
	}
	if err := checkVersion(path, v); err != nil {
		return 0, err
	}
	if v == len(migrations) {
		return v, nil
	}
	for _, stmt := range migrations[v] {
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			return 0, fmt.Errorf("sqlite %s: migration %d: %w", path, v+1, err)
		}
	}
	// A PRAGMA takes no parameters; the value is an int of ours.
	if _, err := tx.ExecContext(ctx, fmt.Sprintf(`PRAGMA user_version = %d`, v+1)); err != nil {
		return 0, fmt.Errorf("sqlite %s: migration %d: %w", path, v+1, err)
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("sqlite %s: migration %d: %w", path, v+1, err)
	}
	return v + 1, nil
}
