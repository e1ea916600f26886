package health

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// Change is one change of a check's state in the history, or one cluster
// event stored as a change: a member's under the check name "mesh.member"
// (Status alive, failed, left ...), a node's status under "mesh.node"
// (Status healthy, degraded, unknown). Previous and Status are therefore
// plain strings, not always a check's Status.
type Change struct {
	Time     time.Time `json:"time"`
	Node     string    `json:"node"`
	Check    string    `json:"check"`
	Type     string    `json:"type"`
	Previous string    `json:"previous"`
	Status   string    `json:"status"`
	Error    string    `json:"error,omitempty"`
}

// Query selects state changes from a history.
type Query struct {
	// Node keeps the changes of one node.
	Node string
	// Check keeps the changes of one check address.
	Check string
	// Status keeps the changes to one status (a check's, such as
	// "critical", or a cluster event's, such as "failed").
	Status string
	// Since keeps the changes at or after a time.
	Since time.Time
	// Limit caps the number of changes; zero or less means no cap.
	Limit int
}

// HistoryStore is a history that can be read: the agent's local SQLite
// history implements it, and the API reads through it without knowing the
// store.
type HistoryStore interface {
	// StateChanges returns the changes matching q, newest first.
	StateChanges(ctx context.Context, q Query) ([]Change, error)
}

// ParseSince reads the `since` of a history query, as the CLI's --since and
// the API's ?since= both take it:
//
//   - a duration back from now: "2h", "90m", "1h30m" (Go's syntax, never
//     negative); a zero duration ("0") is the zero time, which keeps
//     everything;
//   - an RFC 3339 time: "2026-11-25T12:00:00Z", "2026-11-25T13:00:00+01:00",
//     fractions of a second allowed;
//   - a date, "2026-11-25": its midnight in loc (the CLI passes the local
//     zone, the API UTC).
//
// Times are returned in UTC.
func ParseSince(s string, now time.Time, loc *time.Location) (time.Time, error) {
	s = strings.TrimSpace(s)
	if d, err := time.ParseDuration(s); err == nil {
		switch {
		case d < 0:
			return time.Time{}, fmt.Errorf("since %s: the duration goes back from now, so it cannot be negative", s)
		case d == 0:
			return time.Time{}, nil
		}
		return now.Add(-d).UTC(), nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil && strings.Contains(s, " ") {
		// An unescaped "+01:00" offset in a URL arrives as " 01:00".
		t, err = time.Parse(time.RFC3339Nano, strings.ReplaceAll(s, " ", "+"))
	}
	if err == nil {
		return t.UTC(), nil
	}
	if loc == nil {
		loc = time.UTC
	}
	if t, err := time.ParseInLocation(time.DateOnly, s, loc); err == nil {
		return t.UTC(), nil
	}
	return time.Time{}, fmt.Errorf("since %q is neither a duration (24h, 90m; 0 for all) nor a time (RFC 3339, such as 2026-11-25T12:00:00Z, or a date such as 2026-11-25)", s)
}
