package mesh

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"sort"
	"sync"
	"time"

	"github.com/hashicorp/serf/serf"
)

// Watches catch a hung agent whose serf still answers (its gossip goes on,
// its checks and digests do not) within a bound that does not grow with
// the mesh. Every satellite member is watched by the watchers members that
// follow it on a ring ordered by a hash of the names, so each node watches
// about watchers others whatever the mesh's size: the reads cost O(N)
// mesh-wide, not the O(N²) of every node polling every other. A watcher
// reads its members' peer endpoints every WatchInterval; after
// watchFailures failures in a row it gossips an unreachability notice,
// and when a member it holds a notice about answers again it gossips that
// the member is back. Every node marks a member unreachable (stale) while
// the newest notice about the member's current boot says it is down.
const (
	watchers      = 3
	watchFailures = 2
	// noticeEvent is the serf user event of unreachability notices.
	noticeEvent = "satellite:unreachable"
	// noticeFormat is the first byte of a notice.
	noticeFormat = 1
)

// DefaultWatchInterval is Config.WatchInterval when unset: a hung agent is
// reported within about watchFailures periods plus the read timeouts.
const DefaultWatchInterval = 15 * time.Second

// notice is the newest unreachability notice about a member.
type notice struct {
	down  bool
	boot  uint64
	by    string
	ltime serf.LamportTime
	at    time.Time
}

// noticeMsg is a notice as gossiped.
type noticeMsg struct {
	Node string `json:"n"`
	Boot uint64 `json:"b"`
	Down bool   `json:"d"`
	By   string `json:"by"`
}

// noticeEntry is a held notice in an anti-entropy answer, with the
// Lamport time it was gossiped at.
type noticeEntry struct {
	noticeMsg
	LTime uint64 `json:"l"`
}

// watchState is a watcher's own record of one member it watches.
type watchState struct {
	fails    int
	reported bool // a down notice was sent for this boot and not answered since
	boot     uint64
}

// watchTarget is a member to watch.
type watchTarget struct {
	name, host string
	port       int
	boot       uint64
}

// watchTargets are the members this node watches: the watchers alive
// satellite members before it on the ring (all the others in a mesh of
// watchers+1 or fewer).
func (m *Mesh) watchTargets() []watchTarget {
	s := m.getSerf()
	if s == nil {
		return nil
	}
	type ringMember struct {
		h uint64
		t watchTarget
	}
	var ring []ringMember
	selfAt := -1
	for _, mem := range s.Members() {
		if mem.Status != serf.StatusAlive || !IsSatellite(mem.Tags) {
			continue
		}
		tags, _ := ParseTags(mem.Tags)
		if tags.PeerPort == 0 && mem.Name != m.cfg.NodeName {
			continue
		}
		ring = append(ring, ringMember{ringHash(mem.Name), watchTarget{mem.Name, mem.Addr.String(), tags.PeerPort, tags.Boot}})
	}
	sort.Slice(ring, func(i, j int) bool {
		if ring[i].h != ring[j].h {
			return ring[i].h < ring[j].h
		}
		return ring[i].t.name < ring[j].t.name
	})
	for i, r := range ring {
		if r.t.name == m.cfg.NodeName {
			selfAt = i
		}
	}
	if selfAt < 0 {
		return nil
	}
	n := min(watchers, len(ring)-1)
	out := make([]watchTarget, 0, n)
	for k := 1; k <= n; k++ {
		out = append(out, ring[(selfAt-k+len(ring))%len(ring)].t)
	}
	return out
}

func ringHash(name string) uint64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte(name))
	return h.Sum64()
}

// watcher reads the watched members every WatchInterval (jittered) until
// ctx is done.
func (m *Mesh) watcher(ctx context.Context) {
	state := map[string]*watchState{}
	for {
		p := m.cfg.WatchInterval
		t := time.NewTimer(p*9/10 + rand.N(p/5+1))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		m.watchRound(ctx, state)
	}
}

// watchRound reads every watched member once, in parallel, and sends the
// notices due.
func (m *Mesh) watchRound(ctx context.Context, state map[string]*watchState) {
	targets := m.watchTargets()
	watched := make(map[string]bool, len(targets))
	errs := make([]error, len(targets))
	var wg sync.WaitGroup
	for i, tg := range targets {
		watched[tg.name] = true
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = m.watchRead(ctx, tg)
		}()
	}
	wg.Wait()
	for name := range state {
		if !watched[name] {
			delete(state, name) // no longer ours to watch
		}
	}
	if ctx.Err() != nil {
		return
	}
	for i, tg := range targets {
		st := state[tg.name]
		if st == nil || st.boot != tg.boot {
			st = &watchState{boot: tg.boot}
			state[tg.name] = st
		}
		if errs[i] == nil {
			st.fails, st.reported = 0, false
			m.mu.Lock()
			held := m.reportedDownLocked(tg.name, tg.boot)
			m.mu.Unlock()
			if held {
				m.sendNotice(tg, false)
			}
			continue
		}
		st.fails++
		if st.fails >= watchFailures && !st.reported {
			st.reported = true
			m.log.Warn("a watched member's peer endpoint does not answer; telling the mesh it is unreachable",
				"member", tg.name, "failures", st.fails, "error", errs[i])
			m.sendNotice(tg, true)
		}
	}
}

// watchRead reads a watched member's full status, which also refreshes the
// cluster view's copy of it.
func (m *Mesh) watchRead(ctx context.Context, tg watchTarget) error {
	m.mu.Lock()
	key := m.digestKeyLocked(tg.name)
	m.mu.Unlock()
	start := time.Now()
	ns, err := m.fetchPeer(ctx, tg.name, tg.host, tg.port)
	m.stats.fetchDone(time.Since(start), err)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	p := m.peer(tg.name)
	if err != nil {
		p.noteRead(nil, "", err, time.Now())
		return err
	}
	ns.Name, ns.Stale, ns.MemberStatus = tg.name, false, nil
	p.noteRead(&ns, key, nil, time.Now())
	return nil
}

// sendNotice gossips that tg is down (or back).
func (m *Mesh) sendNotice(tg watchTarget, down bool) {
	s := m.getSerf()
	if s == nil {
		return
	}
	b, err := json.Marshal(noticeMsg{Node: tg.name, Boot: tg.boot, Down: down, By: m.cfg.NodeName})
	if err != nil {
		return
	}
	if err := s.UserEvent(noticeEvent, append([]byte{noticeFormat}, b...), false); err != nil {
		m.log.Warn("sending an unreachability notice", "member", tg.name, "error", err)
		return
	}
	m.stats.Notices.Add(1)
}

// errNotice is a malformed notice.
var errNotice = errors.New("malformed unreachability notice")

func decodeNotice(b []byte) (noticeMsg, error) {
	var n noticeMsg
	if len(b) < 2 || b[0] != noticeFormat {
		return n, errNotice
	}
	if err := json.Unmarshal(b[1:], &n); err != nil || n.Node == "" {
		return n, errNotice
	}
	return n, nil
}

// userNotice takes a gossiped notice.
func (m *Mesh) userNotice(ev serf.UserEvent) {
	n, err := decodeNotice(ev.Payload)
	if err != nil {
		m.stats.Malformed.Add(1)
		m.malformedWarn.note(func(c uint64) {
			m.log.Warn("malformed digests or notices", "count", c, "last_error", err)
		})
		return
	}
	if m.cfg.noDigestEvents && n.By != m.cfg.NodeName {
		return
	}
	m.considerNotice(n, ev.LTime)
}

// considerNotice stores a notice about a satellite member's current boot
// when it is newer (by serf's Lamport clock) than the one held, and
// reports whether it did. Notices come by gossip and in anti-entropy
// answers (a notice is sent once per change, so a lost one would keep a
// node stale, or not, for good).
func (m *Mesh) considerNotice(n noticeMsg, ltime serf.LamportTime) bool {
	if n.Node == m.cfg.NodeName {
		return false // this node knows best whether it hangs
	}
	boot, member, satellite := m.memberBoot(n.Node, n.Boot)
	if !member || !satellite || boot != n.Boot {
		return false
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if old, ok := m.downs[n.Node]; ok && old.boot == n.Boot && old.ltime >= ltime {
		return false
	}
	// A "back" notice is kept even with no "down" held: it orders a late
	// "down" it answered.
	old, had := m.downs[n.Node]
	m.downs[n.Node] = notice{down: n.Down, boot: n.Boot, by: n.By, ltime: ltime, at: time.Now()}
	if n.Down || had && old.down && old.boot == n.Boot {
		m.log.Info(fmt.Sprintf("member %s reported %s", n.Node, map[bool]string{true: "unreachable", false: "reachable again"}[n.Down]), "by", n.By)
	}
	if n.By == m.cfg.NodeName {
		// This node's watcher sent it; serf handed it back with its
		// Lamport time: push it too. (m.mu is held: fanNotices is
		// set here directly.)
		m.fanNotices[n.Node] = noticeEntry{noticeMsg: n, LTime: uint64(ltime)}
		m.kickFanout()
	}
	return true
}

// heldNotices are the notices this node holds that say a member is down,
// or that it stored since since, as anti-entropy hands them on.
func (m *Mesh) heldNotices(since time.Time) []noticeEntry {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := []noticeEntry{}
	for name, n := range m.downs {
		if n.down || n.at.After(since) {
			out = append(out, noticeEntry{noticeMsg: noticeMsg{Node: name, Boot: n.boot, Down: n.down, By: n.by}, LTime: uint64(n.ltime)})
		}
	}
	return out
}

// reportedDownLocked reports whether the newest notice about name's boot
// says it is unreachable; m.mu must be held.
func (m *Mesh) reportedDownLocked(name string, boot uint64) bool {
	n, ok := m.downs[name]
	return ok && n.down && n.boot == boot
}
