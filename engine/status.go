package engine

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/satellite-hq/satellite/checks"
)

// Node and cluster statuses (API.md).
const (
	NodeHealthy  = "healthy"
	NodeDegraded = "degraded"
	NodeUnknown  = "unknown"
)

// Probe is one check in the status document.
type Probe struct {
	Checker  string             `json:"checker"`
	Type     string             `json:"type"`
	Status   checks.Status      `json:"status"`
	Error    string             `json:"error,omitempty"`
	Detail   string             `json:"detail,omitempty"`
	Metrics  map[string]float64 `json:"metrics,omitempty"`
	Since    *time.Time         `json:"since,omitempty"`
	Flapping bool               `json:"flapping"`
	// LastRun is when the latest run started.
	LastRun *time.Time `json:"last_run,omitempty"`
	// DurationMS is how long the latest run took.
	DurationMS float64 `json:"duration_ms,omitempty"`
}

// MemberStatus is a node's mesh membership, as serf sees it.
type MemberStatus struct {
	Name   string            `json:"name"`
	Addr   string            `json:"addr"`
	Status string            `json:"status"`
	Tags   map[string]string `json:"tags"`
}

// NodeStatus is one node in the status document.
type NodeStatus struct {
	Name         string        `json:"name"`
	MemberStatus *MemberStatus `json:"member_status,omitempty"`
	Status       string        `json:"status"`
	ConfigHash   string        `json:"config_hash"`
	Version      string        `json:"version"`
	ObservedAt   time.Time     `json:"observed_at"`
	Stale        bool          `json:"stale"`
	Probes       []Probe       `json:"probes"`
}

// ClusterStatus is the status document of GET /v1/status.
type ClusterStatus struct {
	Status    string       `json:"status"`
	Summary   string       `json:"summary"`
	Timestamp time.Time    `json:"timestamp"`
	Nodes     []NodeStatus `json:"nodes"`
}

// ProbeOf renders a check's state as a probe.
func ProbeOf(c *Check, s State) Probe {
	p := Probe{
		Checker: c.Address, Type: c.Type, Status: s.Status, Error: s.Error, Detail: s.Detail,
		Metrics: s.Metrics, Flapping: s.Flapping, DurationMS: float64(s.Duration) / float64(time.Millisecond),
	}
	if !s.Since.IsZero() {
		since := s.Since.UTC()
		p.Since = &since
	}
	if !s.LastRun.IsZero() {
		lr := s.LastRun.UTC()
		p.LastRun = &lr
	}
	return p
}

// NodeStatusOf judges a node from its probes: degraded when any is
// critical or blocked, unknown when none has a result yet, else healthy.
func NodeStatusOf(probes []Probe) string {
	if len(probes) == 0 {
		return NodeHealthy
	}
	unknown := 0
	for _, p := range probes {
		switch p.Status {
		case checks.StatusCritical, checks.StatusBlocked:
			return NodeDegraded
		case checks.StatusUnknown:
			unknown++
		}
	}
	if unknown == len(probes) {
		return NodeUnknown
	}
	return NodeHealthy
}

// Failing lists the probes that make a node degraded, as "http.api critical".
func Failing(probes []Probe) []string {
	var out []string
	for _, p := range probes {
		if p.Status == checks.StatusCritical || p.Status == checks.StatusBlocked {
			out = append(out, fmt.Sprintf("%s %s", p.Checker, p.Status))
		}
	}
	sort.Strings(out)
	return out
}

// ClusterOf builds the status document from node statuses: degraded when a
// node is degraded or unknown, stale, or its member is not alive.
func ClusterOf(nodes []NodeStatus, now time.Time) ClusterStatus {
	cs := ClusterStatus{Status: NodeHealthy, Timestamp: now.UTC(), Nodes: nodes}
	var reasons []string
	degraded := 0
	for _, n := range nodes {
		var why []string
		if n.Status == NodeDegraded {
			why = append(why, strings.Join(Failing(n.Probes), ", "))
		}
		if n.Status == NodeUnknown && !n.Stale {
			why = append(why, "no data yet")
		}
		if n.Stale {
			why = append(why, "stale data")
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
	cs.Status = NodeDegraded
	cs.Summary = fmt.Sprintf("%d of %d node(s) degraded (%s)", degraded, len(nodes), strings.Join(reasons, "; "))
	return cs
}
