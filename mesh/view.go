package mesh

import (
	"context"
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"
	"sync"
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

// maxFetches bounds the peer endpoints one cluster view reads at once.
const maxFetches = 32

func memberStatusOf(mem serf.Member) health.Member {
	tags := make(map[string]string, len(mem.Tags))
	for k, v := range mem.Tags {
		tags[k] = v
	}
	return health.Member{Name: mem.Name, Addr: net.JoinHostPort(mem.Addr.String(), strconv.Itoa(int(mem.Port))),
		Status: mem.Status.String(), Tags: tags}
}

// Members lists the mesh's members as this node knows them, by name; none
// before Run has started serf.
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

// ClusterView is the status document for every member: this node's own
// status, each alive peer's full status from its peer endpoint (fetched in
// parallel, each bounded by PeerTimeout), and for a peer that did not
// answer its last known status marked stale.
func (m *Mesh) ClusterView(ctx context.Context) health.Cluster {
	now := time.Now()
	s := m.getSerf()
	self := m.local()
	if s == nil {
		return health.ClusterOf([]health.Node{self}, now)
	}
	mems := s.Members()
	nodes := make([]health.Node, len(mems))
	var wg sync.WaitGroup
	// Bounded fan-out: a 1,000-node view must not open 1,000 connections at once.
	sem := make(chan struct{}, maxFetches)
	for i, mem := range mems {
		ms := memberStatusOf(mem)
		if mem.Name == m.cfg.NodeName {
			self.MemberStatus = &ms
			nodes[i] = self
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			nodes[i] = m.nodeOf(ctx, mem, ms, now)
		}()
	}
	wg.Wait()
	sort.Slice(nodes, func(i, j int) bool { return nodes[i].Name < nodes[j].Name })
	cs := health.ClusterOf(nodes, now)
	if h := hashSummary(nodes); h != "" {
		cs.Summary += "; " + h
	}
	return cs
}

// nodeOf is one peer in the cluster view.
func (m *Mesh) nodeOf(ctx context.Context, mem serf.Member, ms health.Member, now time.Time) health.Node {
	tags, _ := ParseTags(mem.Tags)
	var fetchErr error
	if tags.PeerPort > 0 && (mem.Status == serf.StatusAlive || mem.Status == serf.StatusLeaving) {
		ns, err := m.fetchPeer(ctx, mem.Name, mem.Addr.String(), tags.PeerPort)
		if err == nil {
			ns.Name, ns.MemberStatus, ns.Stale = mem.Name, &ms, false
			m.mu.Lock()
			m.full[mem.Name] = fetched{ns: ns, at: now}
			m.mu.Unlock()
			return ns
		}
		fetchErr = err
		m.log.Debug("peer endpoint did not answer", "member", mem.Name, "error", err)
	}
	m.mu.Lock()
	dg, hasDigest := m.digests[mem.Name]
	full, hasFull := m.full[mem.Name]
	m.mu.Unlock()
	ns := health.Node{Name: mem.Name, MemberStatus: &ms, Status: health.NodeUnknown,
		ConfigHash: tags.ConfigHash, Version: tags.Version}
	if hasFull {
		ns = full.ns
		ns.MemberStatus = &ms
	}
	if hasDigest && (!hasFull || dg.at.After(full.at)) {
		// The digest is newer than the last full read: its status and
		// failing checks are the best knowledge.
		ns.Status, ns.ConfigHash, ns.Version = dg.d.Status, dg.d.ConfigHash, dg.d.Version
		ns.ObservedAt = dg.at.UTC()
		if hasFull {
			ns.Probes = dg.d.overlay(full.ns.Probes)
		} else {
			ns.Probes = dg.d.probes()
		}
	}
	// Gossip-only data is stale when the endpoint exists but failed (API.md),
	// or when no digest came for staleAfter refresh periods.
	ns.Stale = fetchErr != nil || tags.PeerPort > 0 && mem.Status != serf.StatusAlive ||
		!hasDigest || now.Sub(dg.at) > staleAfter*m.refreshPeriod()
	if ns.Stale {
		// API.md: a stale node's status is unknown; its last known probes
		// are still shown.
		ns.Status = health.NodeUnknown
	}
	if ns.Probes == nil {
		ns.Probes = []health.Probe{}
	}
	return ns
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

// Peers lists the other members with serf's status and the round trip
// estimated from network coordinates (checks.MeshView).
func (m *Mesh) Peers() []checks.Peer {
	s := m.getSerf()
	if s == nil {
		return nil
	}
	me, err := s.GetCoordinate()
	var out []checks.Peer
	for _, mem := range s.Members() {
		if mem.Name == m.cfg.NodeName {
			continue
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
