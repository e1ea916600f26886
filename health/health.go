// Package health holds satellite's status vocabulary in one place: a
// check's Status, the status document (Probe, Node, Cluster, Member) and the
// history's Change, with the rules that judge a node and a cluster from
// them. It imports no other satellite package, so that every layer (checks,
// the engine, the mesh, the API, sinks, the CLI) can share its types.
package health

// Status is the verdict of one run, or of a check's current state.
type Status string

// The statuses of LANGUAGE.md.
const (
	Passing  Status = "passing"
	Warning  Status = "warning"
	Critical Status = "critical"
	Blocked  Status = "blocked"
	Unknown  Status = "unknown"
)

// Severity orders statuses from best to worst, for "the worse of two":
// passing 0, warning 1, critical 2, blocked 3, anything else -1.
func (s Status) Severity() int {
	switch s {
	case Passing:
		return 0
	case Warning:
		return 1
	case Critical:
		return 2
	case Blocked:
		return 3
	default:
		return -1
	}
}

// Failing reports whether the status makes its node degraded.
func (s Status) Failing() bool { return s == Critical || s == Blocked }

// Worse returns the worse of two run statuses.
func Worse(a, b Status) Status {
	if b.Severity() > a.Severity() {
		return b
	}
	return a
}

// NodeState is a node's or the cluster's status in the status document.
type NodeState string

// Node and cluster statuses (API.md).
const (
	Healthy  NodeState = "healthy"
	Degraded NodeState = "degraded"
	// NodeUnknown is a node with no result yet, or whose data is stale.
	NodeUnknown NodeState = "unknown"
)
