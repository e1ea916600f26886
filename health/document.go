package health

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// Probe is one check in the status document.
type Probe struct {
	Checker  string             `json:"checker"`
	Type     string             `json:"type"`
	Status   Status             `json:"status"`
	Error    string             `json:"error,omitempty"`
	Detail   string             `json:"detail,omitempty"`
	Metrics  map[string]float64 `json:"metrics,omitempty"`
	Since    *time.Time         `json:"since,omitempty"`
	Flapping bool               `json:"flapping"`
	// LastRun is when the latest run started.
	LastRun *time.Time `json:"last_run,omitempty"`
	// DurationMS is how long the latest run took.
	DurationMS float64 `json:"duration_ms,omitempty"`
	// Silenced is true while a silence holds the check's alerts (it still
	// runs and is recorded); SilenceID names the silence.
	Silenced  bool   `json:"silenced,omitempty"`
	SilenceID string `json:"silence_id,omitempty"`
}

// Member is a node's mesh membership, as serf sees it.
type Member struct {
	Name   string            `json:"name"`
	Addr   string            `json:"addr"`
	Status string            `json:"status"`
	Tags   map[string]string `json:"tags"`
	// Foreign is true for a member that is no satellite agent (a plain serf
	// agent in the same gossip pool): listed, never counted.
	Foreign bool `json:"foreign,omitempty"`
}

// Node is one node in the status document.
type Node struct {
	Name         string    `json:"name"`
	MemberStatus *Member   `json:"member_status,omitempty"`
	Status       NodeState `json:"status"`
	ConfigHash   string    `json:"config_hash"`
	Version      string    `json:"version"`
	ObservedAt   time.Time `json:"observed_at"`
	Stale        bool      `json:"stale"`
	// StaleReason says why a stale node is stale: its member is failed,
	// left or leaving, its peer endpoint did not answer this node's last
	// read or its watchers reported it (unreachable), or no digest came
	// from it for three refresh periods (no digest).
	StaleReason string `json:"stale_reason,omitempty"`
	// DataAgeSeconds is how long ago this node received the newest of the
	// data shown (a digest or a read of the node's peer endpoint); 0 for
	// the node answering.
	DataAgeSeconds float64 `json:"data_age_seconds"`
	// PeerAnswered says whether the node's peer endpoint answered the last
	// read of it by the node answering; absent when it was never read.
	PeerAnswered *bool   `json:"peer_answered,omitempty"`
	Probes       []Probe `json:"probes"`
}

// Cluster is the status document of GET /v1/status.
type Cluster struct {
	Status    NodeState `json:"status"`
	Summary   string    `json:"summary"`
	Timestamp time.Time `json:"timestamp"`
	Nodes     []Node    `json:"nodes"`
	// Foreign lists the members that are no satellite agents (plain serf
	// agents in the same gossip pool); they count neither way.
	Foreign []Member `json:"foreign,omitempty"`
}

// NodeStateOf judges a node from its probes: degraded when any is
// critical or blocked, unknown when none has a result yet, else healthy.
func NodeStateOf(probes []Probe) NodeState {
	if len(probes) == 0 {
		return Healthy
	}
	unknown := 0
	for _, p := range probes {
		switch p.Status {
		case Critical, Blocked:
			return Degraded
		case Unknown:
			unknown++
		}
	}
	if unknown == len(probes) {
		return NodeUnknown
	}
	return Healthy
}

// Failing lists the probes that make a node degraded, as "http.api critical".
func Failing(probes []Probe) []string {
	var out []string
	for _, p := range probes {
		if p.Status.Failing() {
			out = append(out, fmt.Sprintf("%s %s", p.Checker, p.Status))
		}
	}
	sort.Strings(out)
	return out
}

// ClusterOf builds the status document from node statuses: degraded when a
// node is degraded or unknown, stale, or its member is not alive.
func ClusterOf(nodes []Node, now time.Time) Cluster {
	cs := Cluster{Status: Healthy, Timestamp: now.UTC(), Nodes: nodes}
	var reasons []string
	degraded := 0
	for _, n := range nodes {
		var why []string
		if n.Status == Degraded {
			why = append(why, strings.Join(Failing(n.Probes), ", "))
		}
		if n.Status == NodeUnknown && !n.Stale {
			why = append(why, "no data yet")
		}
		if n.Stale {
			if r := n.StaleReason; r != "" && (n.MemberStatus == nil || r != n.MemberStatus.Status) {
				why = append(why, "stale data ("+r+")")
			} else {
				why = append(why, "stale data")
			}
		}
		if n.MemberStatus != nil && n.MemberStatus.Status != "alive" {
			why = append(why, n.MemberStatus.Status)
		}
		if len(why) > 0 {
			degraded++
			reasons = append(reasons, fmt.Sprintf("%s: %s", n.Name, strings.Join(why, "; ")))
		}
	}
	if degraded == 0 {
		cs.Summary = fmt.Sprintf("all %d node(s) healthy", len(nodes))
		return cs
	}
	cs.Status = Degraded
	cs.Summary = fmt.Sprintf("%d of %d node(s) degraded (%s)", degraded, len(nodes), strings.Join(reasons, "; "))
	return cs
}
