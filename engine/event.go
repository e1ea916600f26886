package engine

import (
	"time"

	"github.com/satellite-hq/satellite/checks"
	"github.com/satellite-hq/satellite/events"
)

// Event is what the scheduler reports after each run of a check, or each
// time it blocks one. The agent turns it into an events.Event (ToBus) and
// publishes it; subscribers never see this type.
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

// ToBus is the event as the events bus carries it: a CheckRun of node, with
// the error and detail redacted (redact may be nil).
func (e Event) ToBus(node string, redact func(string) string) *events.Event {
	ev := &events.Event{
		Kind: events.CheckRun, Time: e.Started, Node: node,
		Check:  events.Check{Address: e.Check.Address, Type: e.Check.Type, Labels: e.Check.Labels, Sinks: e.Check.Sinks, Notify: e.Check.Notify, DependsOn: e.Check.DependsOn},
		Status: e.State.Status, Previous: e.Previous, RunStatus: e.Verdict.Status, Changed: e.Changed,
		Error: e.State.Error, Detail: e.State.Detail, Metrics: e.State.Metrics, Flapping: e.State.Flapping,
		Scheduled: e.Scheduled, Duration: e.Duration,
	}
	if redact != nil {
		ev.Error, ev.Detail = redact(ev.Error), redact(ev.Detail)
	}
	return ev
}
