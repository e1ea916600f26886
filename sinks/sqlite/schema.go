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
