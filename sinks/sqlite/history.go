package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
)

// Query selects state changes. Zero fields do not filter.
type Query struct {
	// Node keeps the changes of one node.
	Node string
	// Check keeps the changes of one check address.
	Check string
	// Since keeps the changes at or after a time.
	Since time.Time
	// Limit caps the number of changes; zero or less means no cap.
	Limit int
}

// StateChange is one change of a check's state.
type StateChange struct {
	Time     time.Time `json:"time"`
	Node     string    `json:"node"`
	Check    string    `json:"check"`
	Type     string    `json:"type"`
	Previous string    `json:"previous"`
	Status   string    `json:"status"`
	Error    string    `json:"error,omitempty"`
}

// StateChanges returns the state changes matching q, newest first.
func (d *DB) StateChanges(ctx context.Context, q Query) ([]StateChange, error) {
	var (
		where []string
		args  []any
	)
	// Only fixed fragments are joined into the SQL; every value is a parameter.
	if q.Node != "" {
		where = append(where, "node = ?")
		args = append(args, q.Node)
	}
	if q.Check != "" {
		where = append(where, "check_addr = ?")
		args = append(args, q.Check)
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
	args = append(args, limit)

	rows, err := d.db.QueryContext(ctx, sb.String(), args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite %s: reading state changes: %w", d.path, err)
	}
	defer rows.Close()
	var out []StateChange
	for rows.Next() {
		var (
			sc        StateChange
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

// AddEvent stores a cluster event this node saw (a member joined, failed or
// left; a node's status changed) as a state change with no result behind
// it, so that `satellite history --node NAME` tells a node's story.
func (d *DB) AddEvent(ctx context.Context, e StateChange) error {
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
