package mesh

import (
	"context"
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/serf/serf"

	"github.com/satellite-hq/satellite/checks"
	"github.com/satellite-hq/satellite/health"
)

// The peers and clock check types read the mesh through checks.MeshView.
var _ checks.MeshView = (*Mesh)(nil)

// staleAfter is how many refresh periods without a digest make a member's
// data stale (API.md).
const staleAfter = 3

// LiveTimeout bounds the live read of GET /v1/status?node=NAME.
const LiveTimeout = time.Second

// Reasons a node's data is stale (health.Node.StaleReason), besides serf's
// member statuses failed, left and leaving. (Memberlist's suspicion is not
// one: memberlist v0.7 keeps it internal, Node.State is never written, so
// a suspect member is alive here until it is declared failed.)
const (
	StaleUnreachable = "unreachable"
	StaleNoDigest    = "no digest"
)

func memberStatusOf(mem serf.Member) health.Member {
	tags := make(map[string]string, len(mem.Tags))
	for k, v := range mem.Tags {
		tags[k] = v
	}
	return health.Member{Name: mem.Name, Addr: net.JoinHostPort(mem.Addr.String(), strconv.Itoa(int(mem.Port))),
		Status: mem.Status.String(), Tags: tags, Foreign: !IsSatellite(mem.Tags)}
}

// Members lists the mesh's members as this node knows them, by name; none
// before Run has started serf. Foreign members (no satellite agents) are
// listed with Foreign set.
func (m *Mesh) Members() []health.Member {
	s := m.getSerf()
	if s == nil {
		return nil
	}
	mems := s.Members()
	out := make([]health.Member, 0, len(mems))
	for _, mem := range mems {
		out = append(out, memberStatusOf(mem))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// LocalMember is this node's membership; nil before Run has started serf.
func (m *Mesh) LocalMember() *health.Member {
	s := m.getSerf()
	if s == nil {
		return nil
	}
	ms := memberStatusOf(s.LocalMember())
	return &ms
}

// ClusterView is the status document for every member, from this node's
// own state only: the newest digest of every member and the full statuses
// the background fetcher read. It never waits on a peer, so it takes the
// same time whether peers answer or hang. Foreign members are listed apart
// and count neither way.
func (m *Mesh) ClusterView(ctx context.Context) health.Cluster {
	now := time.Now()
	s := m.getSerf()
	self := m.local()
	if s == nil {
		return health.ClusterOf([]health.Node{self}, now)
	}
	return m.viewOf(s.Members(), self, m.refreshPeriod(), now)
}

// viewOf is the cluster view of mems, self being this node's own status.
func (m *Mesh) viewOf(mems []serf.Member, self health.Node, period time.Duration, now time.Time) health.Cluster {
	nodes := make([]health.Node, 0, len(mems))
	var foreign []health.Member
	m.mu.Lock()
	for _, mem := range mems {
		ms := memberStatusOf(mem)
		switch {
		case ms.Foreign:
			foreign = append(foreign, ms)
		case mem.Name == m.cfg.NodeName:
			self.MemberStatus = &ms
			nodes = append(nodes, self)
		default:
			nodes = append(nodes, m.nodeLocked(mem, ms, period, now))
		}
	}
	m.mu.Unlock()
	return clusterOf(nodes, foreign, now)
}

// NodeView is the status document of one member, its peer endpoint read
// now (within LiveTimeout and ctx); when it does not answer, its last known
// state, marked stale. ok is false when name is no member.
func (m *Mesh) NodeView(ctx context.Context, name string) (cs health.Cluster, ok bool) {
	now := time.Now()
	s := m.getSerf()
	if name == m.cfg.NodeName {
		self := m.local()
		if s != nil {
			ms := memberStatusOf(s.LocalMember())
			self.MemberStatus = &ms
		}
		return health.ClusterOf([]health.Node{self}, now), true
	}
	if s == nil {
		return health.Cluster{}, false
	}
	var mem serf.Member
	for _, x := range s.Members() {
		if x.Name == name {
			mem, ok = x, true
			break
		}
	}
	if !ok {
		return health.Cluster{}, false
	}
	ms := memberStatusOf(mem)
	if ms.Foreign {
		return clusterOf([]health.Node{}, []health.Member{ms}, now), true
	}
	tags, _ := ParseTags(mem.Tags)
	if tags.PeerPort > 0 && mem.Status == serf.StatusAlive {
		m.mu.Lock()
		key := m.digestKeyLocked(name)
		m.mu.Unlock()
		rctx, cancel := context.WithTimeout(ctx, LiveTimeout)
		start := time.Now()
		ns, err := m.fetchPeer(rctx, name, mem.Addr.String(), tags.PeerPort)
		cancel()
		m.stats.fetchDone(time.Since(start), err)
		m.mu.Lock()
		if err == nil {
			ns.Name, ns.Stale, ns.MemberStatus = name, false, nil
			m.peer(name).noteRead(&ns, key, nil, time.Now())
		} else {
			m.peer(name).noteRead(nil, "", err, time.Now())
		}
		m.mu.Unlock()
		now = time.Now()
	}
	period := m.refreshPeriod()
	m.mu.Lock()
	n := m.nodeLocked(mem, ms, period, now)
	m.mu.Unlock()
	return clusterOf([]health.Node{n}, nil, now), true
}

// clusterOf is the status document of nodes, with the foreign members
// listed apart and named in the summary.
func clusterOf(nodes []health.Node, foreign []health.Member, now time.Time) health.Cluster {
	sort.Slice(nodes, func(i, j int) bool { return nodes[i].Name < nodes[j].Name })
	cs := health.ClusterOf(nodes, now)
	if h := hashSummary(nodes); h != "" {
		cs.Summary += "; " + h
	}
	if len(foreign) > 0 {
		sort.Slice(foreign, func(i, j int) bool { return foreign[i].Name < foreign[j].Name })
		names := make([]string, 0, min(len(foreign), 5))
		for i, f := range foreign {
			if i == 5 {
				names = append(names, "...")
				break
			}
			names = append(names, f.Name)
		}
		cs.Summary += fmt.Sprintf("; %d foreign member(s) ignored (%s)", len(foreign), strings.Join(names, ", "))
		cs.Foreign = foreign
	}
	return cs
}

// nodeLocked is one peer in the view, from its digest and its last full
// status; m.mu must be held.
func (m *Mesh) nodeLocked(mem serf.Member, ms health.Member, period time.Duration, now time.Time) health.Node {
	tags, _ := ParseTags(mem.Tags)
	dg, hasDigest := m.digests[mem.Name]
	p := m.peers[mem.Name]
	ns := health.Node{Name: mem.Name, MemberStatus: &ms, Status: health.NodeUnknown,
		ConfigHash: tags.ConfigHash, Version: tags.Version}
	var newest time.Time
	if p != nil && p.full != nil {
		ns = *p.full
		ns.MemberStatus = &ms
		newest = p.fullAt
	}
	if hasDigest && (p == nil || p.full == nil || dg.at.After(p.fullAt)) {
		// The digest is newer than the last full read: its status and
		// failing checks are the best knowledge.
		ns.Status, ns.ConfigHash, ns.Version = dg.d.Status, dg.d.ConfigHash, dg.d.Version
		ns.ObservedAt = dg.at.UTC()
		if p != nil && p.full != nil {
			ns.Probes = dg.d.overlay(p.full.Probes)
		} else {
			ns.Probes = dg.d.probes()
		}
		newest = dg.at
	}
	if tags.ConfigHash != "" {
		// A reload announces the new hash in the member's tags at once:
		// they are fresher than any digest or read.
		ns.ConfigHash = tags.ConfigHash
	}
	if !newest.IsZero() {
		ns.DataAgeSeconds = now.Sub(newest).Seconds()
	}
	if p != nil && p.tried {
		answered := p.answered
		ns.PeerAnswered = &answered
	}
	ns.StaleReason = m.staleLocked(mem, tags, period, now)
	if ns.Stale = ns.StaleReason != ""; ns.Stale {
		// API.md: a stale node's status is unknown; its last known probes
		// are still shown.
		ns.Status = health.NodeUnknown
	}
	if ns.Probes == nil {
		ns.Probes = []health.Probe{}
	}
	return ns
}

// staleLocked is why this node's data about mem is stale, "" when it is
// not: serf's status when not alive, else unreachable (its peer endpoint
// did not answer, or a watcher reported it down), else no digest within
// staleAfter refresh periods. m.mu must be held.
func (m *Mesh) staleLocked(mem serf.Member, tags MemberTags, period time.Duration, now time.Time) string {
	p := m.peers[mem.Name]
	dg, hasDigest := m.digests[mem.Name]
	switch {
	case mem.Status != serf.StatusAlive:
		return mem.Status.String()
	case tags.PeerPort > 0 && p != nil && p.tried && !p.answered, m.reportedDownLocked(mem.Name, tags.Boot):
		return StaleUnreachable
	case !hasDigest || now.Sub(dg.at) > staleAfter*period:
		return StaleNoDigest
	}
	return ""
}

// AlertMember is a satellite member as cluster alerts see it.
type AlertMember struct {
	Name string
	// Status is serf's: alive, leaving, left, failed.
	Status string
	// Stale is why this node's data about it is stale ("" when fresh):
	// failed, unreachable, no digest.
	Stale      string
	ConfigHash string
}

// AlertMembers are the satellite members (this node included, foreign
// members left out) as this node sees them now, by name. Cheap: no probe
// lists are built.
func (m *Mesh) AlertMembers() []AlertMember {
	s := m.getSerf()
	if s == nil {
		return nil
	}
	mems := s.Members()
	period, now := m.refreshPeriod(), time.Now()
	out := make([]AlertMember, 0, len(mems))
	m.mu.Lock()
	for _, mem := range mems {
		if !IsSatellite(mem.Tags) {
			continue
		}
		tags, _ := ParseTags(mem.Tags)
		am := AlertMember{Name: mem.Name, Status: mem.Status.String(), ConfigHash: mem.Tags[tagHash]}
		if mem.Name != m.cfg.NodeName {
			am.Stale = m.staleLocked(mem, tags, period, now)
		}
		out = append(out, am)
	}
	m.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// hashSummary says when members run different config hashes: a rollout in
// progress, or stuck.
func hashSummary(nodes []health.Node) string {
	by := map[string][]string{}
	for _, n := range nodes {
		if n.ConfigHash != "" {
			by[n.ConfigHash] = append(by[n.ConfigHash], n.Name)
		}
	}
	if len(by) < 2 {
		return ""
	}
	hashes := make([]string, 0, len(by))
	for h := range by {
		hashes = append(hashes, h)
	}
	sort.Strings(hashes)
	parts := make([]string, len(hashes))
	for i, h := range hashes {
		parts[i] = h + ": " + strings.Join(by[h], ", ")
	}
	return fmt.Sprintf("members run %d config hashes (%s)", len(by), strings.Join(parts, "; "))
}

// Peers lists the other satellite members with serf's status and the round trip
// estimated from network coordinates (checks.MeshView).
func (m *Mesh) Peers() []checks.Peer {
	s := m.getSerf()
	if s == nil {
		return nil
	}
	me, err := s.GetCoordinate()
	var out []checks.Peer
	for _, mem := range s.Members() {
		if mem.Name == m.cfg.NodeName || !IsSatellite(mem.Tags) {
			continue // foreign members are no peers
		}
		p := checks.Peer{Name: mem.Name, Status: mem.Status.String()}
		if err == nil {
			if c, ok := s.GetCachedCoordinate(mem.Name); ok && c != nil && me.IsCompatibleWith(c) {
				p.RTT, p.HasRTT = me.DistanceTo(c), true
			}
		}
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
