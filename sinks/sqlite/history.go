package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/satellite-hq/satellite/health"
)

// StateChanges returns the state changes matching q, newest first.
func (d *DB) StateChanges(ctx context.Context, q health.Query) ([]health.Change, error) {
	query, args := stateChangesSQL(q)
	rows, err := d.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite %s: reading state changes: %w", d.path, err)
	}
	defer rows.Close()
	var out []health.Change
	for rows.Next() {
		var (
			sc        health.Change
			ns        int64
			prev, msg sql.NullString
		)
		if err := rows.Scan(&ns, &sc.Node, &sc.Check, &sc.Type, &prev, &sc.Status, &msg); err != nil {
			return nil, fmt.Errorf("sqlite %s: reading state changes: %w", d.path, err)
		}
		sc.Time = time.Unix(0, ns).UTC()
		sc.Previous = prev.String
		sc.Error = msg.String
		out = append(out, sc)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite %s: reading state changes: %w", d.path, err)
	}
	return out, nil
}

// stateChangesSQL is the query of StateChanges and its arguments. Only fixed
// fragments are joined into the SQL; every value is a parameter.
func stateChangesSQL(q health.Query) (string, []any) {
	var (
		where []string
		args  []any
	)
	if q.Node != "" {
		where = append(where, "node = ?")
		args = append(args, q.Node)
	}
	if q.Check != "" {
		where = append(where, "check_addr = ?")
		args = append(args, q.Check)
	}
	if q.Status != "" {
		where = append(where, "status = ?")
		args = append(args, q.Status)
	}
	if !q.Since.IsZero() {
		where = append(where, "time >= ?")
		args = append(args, q.Since.UnixNano())
	}
	var sb strings.Builder
	sb.WriteString(`SELECT time, node, check_addr, type, previous, status, error FROM state_changes`)
	if len(where) > 0 {
		sb.WriteString(" WHERE ")
		sb.WriteString(strings.Join(where, " AND "))
	}
	sb.WriteString(" ORDER BY time DESC, id DESC LIMIT ?")
	limit := -1 // SQLite: no limit
	if q.Limit > 0 {
		limit = q.Limit
	}
	return sb.String(), append(args, limit)
}

// AddEvent stores a cluster event this node saw (a member joined, failed or
// left; a node's status changed) as a state change with no result behind
// it, so that `satellite history --node NAME` tells a node's story.
func (d *DB) AddEvent(ctx context.Context, e health.Change) error {
	t := e.Time
	if t.IsZero() {
		t = time.Now()
	}
	if _, err := d.insChange.ExecContext(ctx, t.UnixNano(), e.Node, e.Check, e.Type,
		nullable(e.Previous), e.Status, nullable(e.Error)); err != nil {
		return fmt.Errorf("sqlite %s: inserting event: %w", d.path, err)
	}
	return nil
}
