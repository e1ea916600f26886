// Package events is the agent's event bus: one Event type for what the
// scheduler and the mesh report (a check ran or was blocked, a member
// joined or failed, a node's status or config hash changed), published
// once and handed to every subscriber (the history, each sink, /metrics, the
// mesh's digest publisher, the log, and later notifiers and the dashboard's
// live feed), each through its own bounded queue and goroutine.
//
// The contract, for publishers and subscribers:
//
//   - Publish never blocks and never fails. An event goes into every
//     subscriber's queue that has room; a subscriber whose queue is full
//     loses it, and the loss is counted (Stats, satellite_events_dropped_total
//     on /metrics) and logged at most once per DropLogInterval.
//   - Each subscriber sees the events in the order they were published.
//     The scheduler publishes a check's events in the order its state
//     changed (see engine.SchedulerOptions.OnEvent), so every subscriber
//     sees each check's runs in order.
//   - A handler runs on its subscription's own goroutine, one event at a
//     time. It may block (on a disk, a server, a lock) for as long as it
//     likes: only its own queue fills. It must return once the context it
//     is given is done, which happens when its subscription is closed with
//     an expired context.
//   - Events are shared by every subscriber and must not be modified.
//     Their Error and Detail are already redacted: a subscriber may log,
//     store or send them as they are.
package events

import (
	"time"

	"github.com/satellite-hq/satellite/health"
)

// Kind says what an event reports.
type Kind uint8

// The kinds of event.
const (
	// CheckRun is one run of a check, or one time it was blocked by a
	// dependency (RunStatus blocked); Changed says whether its state
	// changed.
	CheckRun Kind = iota + 1
	// MemberJoined, MemberFailed, MemberLeft, MemberReaped and
	// MemberUpdated are mesh membership changes of Node.
	MemberJoined
	MemberFailed
	MemberLeft
	MemberReaped
	MemberUpdated
	// NodeStatus is a node's status changing, as its digests tell: From
	// and To are health.NodeState values.
	NodeStatus
	// ConfigHash is a node's config hash changing (a reload): From and To
	// are the hashes.
	ConfigHash
	// Digest is a newer digest of a peer whose content changed (its
	// status, failing checks or config hash; refreshes are not told), for
	// live views: To is the node's status as the digest says. It is not a
	// cluster event: neither the history nor the log keep it.
	Digest
)

var kindNames = map[Kind]string{
	CheckRun: "check", MemberJoined: "joined", MemberFailed: "failed", MemberLeft: "left",
	MemberReaped: "reaped", MemberUpdated: "updated", NodeStatus: "status", ConfigHash: "config_hash",
	Digest: "digest",
}

// String is the kind's short name, as logs show it.
func (k Kind) String() string {
	if s, ok := kindNames[k]; ok {
		return s
	}
	return "unknown"
}

// Cluster reports whether the kind is a cluster event (not a check's run,
// nor a view's digest update).
func (k Kind) Cluster() bool { return k != CheckRun && k != Digest }

// Event is one thing that happened. The fields of a check run are set for
// CheckRun only; From and To for NodeStatus and ConfigHash.
type Event struct {
	Kind Kind
	// Time is when the run started (CheckRun) or when this node saw the
	// cluster event.
	Time time.Time
	// Node is the node the event is about: the one that ran the check, or
	// the member of a cluster event.
	Node string

	// Check is the run's check.
	Check Check
	// Status is the check's state after the run, Previous the one before;
	// Changed is true when they differ. RunStatus is the run's own verdict,
	// before hysteresis (blocked for a blocked check).
	Status, Previous, RunStatus health.Status
	Changed                     bool
	// Error says why the check is not passing; Detail is the run's extra
	// output. Both are redacted.
	Error, Detail string
	// Metrics are the run's metrics (may hold NaN or ±Inf).
	Metrics map[string]float64
	// Flapping is the check's flapping flag after the run.
	Flapping bool
	// Scheduled is when the run was due; Duration how long it took (zero
	// when blocked).
	Scheduled time.Time
	Duration  time.Duration

	// From and To are the old and new value of a NodeStatus or ConfigHash.
	From, To string
}

// Check is what subscribers know of the check of a run: enough to route
// and label it, without the engine's compiled plan. Its map and slice are
// the compiled check's own and must not be modified.
type Check struct {
	// Address is TYPE.NAME or TYPE.NAME["key"].
	Address string
	Type    string
	Labels  map[string]string
	// Sinks are the addresses of the sinks the check's results go to; nil
	// means every sink.
	Sinks []string
	// Notify are the addresses of the notifiers told of its alerts.
	Notify []string
	// DependsOn are the addresses of the checks it depends on.
	DependsOn []string
}

// Ran reports whether the event is a run that executed its checker (a
// blocked check did not).
func (e *Event) Ran() bool { return e.Kind == CheckRun && e.RunStatus != health.Blocked }
