package mesh

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"sort"
	"time"

	"github.com/hashicorp/serf/serf"
)

// Anti-entropy repairs the digests gossip lost. A serf user event is sent
// a bounded number of times and only replayed to nodes that join, so a
// node that missed one (packets dropped, or membership messages filling
// the packets while many nodes restart) would keep a member's old state
// until the member's next refresh, which at 1,000 nodes is 500 s away.
// Every antiEntropyInterval each node reads one random satellite peer's
// recent digests (those it stored in the last three intervals, and its
// own) from the peer endpoint and takes what is newer, through the same
// checks as gossiped digests (member, boot confirmed by tags, newer).
// The cost is one small read per node per interval, whatever the mesh's
// size: the answer holds the mesh's digests of the last 30 s, about 60 at
// the refresh rate cap plus the changes.
//
// A full read (DigestsPath?all=1: every digest the peer holds) is made
// once after this node joins and when a member comes back from failed
// with the boot it had (a healed partition), at most once per
// fullSyncGap (one asked for sooner waits for the gap, it is not
// dropped): what a joiner or a healed side missed is older than the
// window, and no digest is gossiped again for it.
const (
	// DigestsPath is the peer endpoint's recent-digests resource.
	DigestsPath         = "/v1/peer/digests"
	antiEntropyInterval = 10 * time.Second
	// antiEntropyWindowPer is the window in intervals: a digest is
	// offered by every node that has it for long enough that a read
	// missed or failed once still leaves another chance.
	antiEntropyWindowPer = 3
	// maxSyncDigests bounds an answer, newest first.
	maxSyncDigests = 512
	// maxSyncBody bounds what a peer may send back (512 full digests).
	maxSyncBody = maxSyncDigests * 2 * maxDigestPayload
	// maxFullSyncDigests bounds a full answer: more members than serf
	// handles well.
	maxFullSyncDigests = 10000
	maxFullSyncBody    = maxFullSyncDigests * 2 * maxDigestPayload
	// fullSyncGap is the least time between two full reads.
	fullSyncGap = 30 * time.Second
	// missingSyncGap is the least time between two full reads made
	// because this node lacks some alive member's digest (joined while
	// the mesh formed, from a peer that knew few); a member that never
	// sends one costs a full read per minute.
	missingSyncGap = time.Minute
)

// digestSet is the recent-digests resource: digests as gossiped (without
// the format byte, which is Format).
type digestSet struct {
	Format  int               `json:"format"`
	Digests []json.RawMessage `json:"digests"`
	// Notices are the unreachability notices the peer holds, one per
	// member at most (added in 0.1: older peers send none).
	Notices []noticeEntry `json:"notices,omitempty"`
}

// recentDigests is what this node offers: its own digest and the digests
// it stored since the window began (all of them when all is set), newest
// first, at most maxSyncDigests (maxFullSyncDigests).
func (m *Mesh) recentDigests(now time.Time, all bool) []Digest {
	since := now.Add(-antiEntropyWindowPer * m.cfg.antiEntropyEvery)
	limit := maxSyncDigests
	if all {
		since, limit = time.Time{}, maxFullSyncDigests
	}
	m.mu.Lock()
	var recent []received
	if m.own != nil {
		recent = append(recent, received{*m.own, now})
	}
	for _, r := range m.digests {
		if r.at.After(since) {
			recent = append(recent, r)
		}
	}
	m.mu.Unlock()
	sort.Slice(recent, func(i, j int) bool { return recent[i].at.After(recent[j].at) })
	out := make([]Digest, 0, min(len(recent), limit))
	for _, r := range recent[:min(len(recent), limit)] {
		out = append(out, r.d)
	}
	return out
}

func (m *Mesh) serveDigests(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead && r.Method != http.MethodPost {
		w.Header().Set("Allow", "GET, HEAD, POST")
		http.Error(w, "GET, HEAD or POST", http.StatusMethodNotAllowed)
		return
	}
	now := time.Now()
	if !m.admitPeer(w, r, now) {
		return
	}
	if r.Method == http.MethodPost {
		m.takePush(w, r)
		return
	}
	all := r.URL.Query().Get("all") == "1"
	since := now.Add(-antiEntropyWindowPer * m.cfg.antiEntropyEvery)
	if all {
		since = time.Time{}
	}
	set := digestSet{Format: digestFormat, Digests: []json.RawMessage{}, Notices: m.heldNotices(since)}
	for _, d := range m.recentDigests(now, all) {
		b, err := json.Marshal(d)
		if err != nil {
			http.Error(w, "encoding digests", http.StatusInternalServerError)
			return
		}
		set.Digests = append(set.Digests, b)
	}
	w.Header().Set("Content-Type", "application/json")
	if err := json.NewEncoder(w).Encode(set); err != nil {
		m.log.Debug("writing recent digests", "error", err)
	}
}

// antiEntropy reads a random peer's recent digests every
// antiEntropyInterval (jittered), and a peer's full set when asked
// (wantFullSync), until ctx is done.
func (m *Mesh) antiEntropy(ctx context.Context) {
	var (
		lastFull time.Time
		// deferred is a full read asked for within fullSyncGap of the
		// last one (a partition that heals soon after this node joined):
		// it is made once the gap has passed, not dropped.
		deferred     bool
		deferredFrom string
	)
	for {
		every := m.cfg.antiEntropyEvery
		wait := every*9/10 + rand.N(every/5+1)
		if deferred {
			wait = min(wait, max(time.Until(lastFull.Add(fullSyncGap)), 0))
		}
		t := time.NewTimer(wait)
		full, from := false, ""
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
			switch {
			case deferred && time.Since(lastFull) >= fullSyncGap:
				full, from, deferred = true, deferredFrom, false
			default:
				full = time.Since(lastFull) > missingSyncGap && m.missingDigests()
			}
		case from = <-m.fullSync:
			t.Stop()
			if time.Since(lastFull) < fullSyncGap {
				deferred, deferredFrom = true, from
				continue
			}
			full, deferred = true, false
		}
		tg, ok := m.satellitePeer(from)
		if !ok {
			tg, ok = m.randomPeer()
		}
		if !ok {
			continue
		}
		if full {
			lastFull = time.Now()
			m.stats.FullSyncs.Add(1)
		}
		if _, err := m.syncFrom(ctx, tg, full); err != nil {
			m.log.Debug("anti-entropy read", "peer", tg.name, "full", full, "error", err)
		}
	}
}

// missingDigests reports whether some alive satellite member's digest,
// of the boot its tags announce, is not held here a window after the
// member (in that boot) was first told.
func (m *Mesh) missingDigests() bool {
	s := m.getSerf()
	if s == nil {
		return false
	}
	mems := s.Members()
	grace := antiEntropyWindowPer * m.cfg.antiEntropyEvery
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, mem := range mems {
		if mem.Name == m.cfg.NodeName || mem.Status != serf.StatusAlive || !IsSatellite(mem.Tags) {
			continue
		}
		// A digest of an older life than the tags announce is lacking too:
		// a restarted member's new digest is pushed, not gossiped. A
		// member told within the window is not lacking yet: its push, or
		// a peer's recent digests, usually bring it in that time.
		k, known := m.known[mem.Name]
		if !known || k.boot != tagBootOf(mem.Tags) || time.Since(k.since) < grace {
			continue
		}
		if e, ok := m.digests[mem.Name]; !ok || e.d.Boot < k.boot {
			return true
		}
	}
	return false
}

// wantFullSync asks the anti-entropy loop for a full read of from's
// digests (of a random peer's when from is "" or cannot be read); one
// request waits, others are dropped.
func (m *Mesh) wantFullSync(from string) {
	select {
	case m.fullSync <- from:
	default:
	}
}

// satellitePeer is the member called name, when it is an alive satellite
// agent with a peer endpoint.
func (m *Mesh) satellitePeer(name string) (watchTarget, bool) {
	s := m.getSerf()
	if name == "" || name == m.cfg.NodeName || s == nil {
		return watchTarget{}, false
	}
	for _, mem := range s.Members() {
		if mem.Name != name {
			continue
		}
		tags, _ := ParseTags(mem.Tags)
		if mem.Status != serf.StatusAlive || !IsSatellite(mem.Tags) || tags.PeerPort == 0 {
			return watchTarget{}, false
		}
		return watchTarget{mem.Name, mem.Addr.String(), tags.PeerPort, tags.Boot}, true
	}
	return watchTarget{}, false
}

// randomPeer is an alive satellite member with a peer endpoint, not this
// node; ok is false when there is none.
func (m *Mesh) randomPeer() (watchTarget, bool) {
	s := m.getSerf()
	if s == nil {
		return watchTarget{}, false
	}
	var out watchTarget
	n := 0
	for _, mem := range s.Members() {
		if mem.Name == m.cfg.NodeName || mem.Status != serf.StatusAlive || !IsSatellite(mem.Tags) {
			continue
		}
		tags, _ := ParseTags(mem.Tags)
		if tags.PeerPort == 0 {
			continue
		}
		// Reservoir sampling: one pass, no copy of the member list.
		if n++; rand.IntN(n) == 0 {
			out = watchTarget{mem.Name, mem.Addr.String(), tags.PeerPort, tags.Boot}
		}
	}
	return out, n > 0
}

// syncFrom reads tg's recent digests (all of them when full) and
// considers each; it returns how many were newer than this node's and
// stored.
func (m *Mesh) syncFrom(ctx context.Context, tg watchTarget, full bool) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, m.cfg.PeerTimeout)
	defer cancel()
	path, limit, body := DigestsPath, maxSyncDigests, maxSyncBody
	if full {
		path, limit, body = DigestsPath+"?all=1", maxFullSyncDigests, maxFullSyncBody
	}
	start := time.Now()
	resp, u, err := m.peerGet(ctx, tg.name, tg.host, tg.port, path)
	if err != nil {
		m.stats.fetchDone(time.Since(start), err)
		return 0, err
	}
	defer resp.Body.Close()
	var set digestSet
	err = json.NewDecoder(io.LimitReader(resp.Body, int64(body))).Decode(&set)
	switch {
	case err != nil:
		err = fmt.Errorf("peer endpoint %s: decoding: %w", u, err)
	case set.Format > digestFormat:
		err = fmt.Errorf("peer endpoint %s: %w (%d, this node reads %d)", u, errNewerFormat, set.Format, digestFormat)
	case len(set.Digests) > limit || len(set.Notices) > maxFullSyncDigests:
		err = fmt.Errorf("peer endpoint %s: %d digests and %d notices, more than an answer may hold (%d, %d)", u, len(set.Digests), len(set.Notices), limit, maxFullSyncDigests)
	}
	m.stats.fetchDone(time.Since(start), err)
	if err != nil {
		return 0, err
	}
	repaired := 0
	for _, raw := range set.Digests {
		d, err := decodeDigest(append([]byte{byte(set.Format)}, raw...))
		if err != nil || d.Node == m.cfg.NodeName {
			continue
		}
		if m.consider(d) == "" {
			repaired++
		}
	}
	for _, n := range set.Notices {
		if n.Node != "" && m.considerNotice(n.noticeMsg, serf.LamportTime(n.LTime)) {
			repaired++
		}
	}
	m.stats.Repaired.Add(uint64(repaired))
	return repaired, nil
}
