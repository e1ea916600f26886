package engine

import (
	"time"

	"github.com/satellite-hq/satellite/checks"
	"github.com/satellite-hq/satellite/sinks"
)

// Event is what the scheduler reports after each run of a check, or each
// time it blocks one. Consumers (history, sinks, metrics, mesh) get it on a
// run goroutine and must not block on it for long.
type Event struct {
	Check *Check
	// State is the check's state after this run.
	State State
	// Previous is the status before this run.
	Previous checks.Status
	// Changed is true when State.Status differs from Previous.
	Changed bool
	// Result is the checker's result; zero for a blocked check.
	Result checks.Result
	// Verdict is the run's status after thresholds and asserts; Blocked for
	// a blocked check.
	Verdict Verdict
	// Scheduled is when the run was due, Started when it began.
	Scheduled, Started time.Time
	// Duration is how long the run took, as the scheduler measured it;
	// zero for a blocked check.
	Duration time.Duration
}

// Record turns the event into what sinks store, with secrets redacted.
func (e Event) Record(node string, redact func(string) string) sinks.Record {
	r := sinks.Record{
		Time:      e.Started,
		Node:      node,
		Check:     e.Check.Address,
		Type:      e.Check.Type,
		Status:    string(e.State.Status),
		RunStatus: string(e.Verdict.Status),
		Changed:   e.Changed,
		Duration:  e.Duration,
		Metrics:   e.Result.Metrics,
		Error:     e.State.Error,
		Labels:    e.Check.Labels,
	}
	if e.Changed {
		r.Previous = string(e.Previous)
	}
	if redact != nil {
		r.Error = redact(r.Error)
	}
	return r
}
