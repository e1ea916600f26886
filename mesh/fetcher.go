package mesh

import (
	"context"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/hashicorp/serf/serf"

	"github.com/satellite-hq/satellite/health"
)

// The background fetcher keeps a cache of every satellite peer's full
// status, so that the cluster view is answered from local state and never
// waits on a peer. A peer is read again when its digest says its state
// changed, when its cache is older than fullMaxAge, or, after a failed
// read, when its backoff is over.
const (
	// fetchTick is how often the fetcher looks for due peers.
	fetchTick = 250 * time.Millisecond
	// maxFetches bounds the reads in flight at once, whatever the mesh's size.
	maxFetches = 8
	// fullMaxAge is how old a full status may get before it is read again
	// although no digest announced a change (its details, metrics and
	// errors, move without a state change), plus up to 20% jitter.
	fullMaxAge = 10 * time.Minute
	// maxChangeSpread bounds the random delay before reading a peer whose
	// digest announced a change. The delay is spread over N·changeSpreadPer
	// so that a change on one node of 1,000 does not bring 999 reads to it
	// at once (at most about 50 per second).
	maxChangeSpread = 20 * time.Second
	changeSpreadPer = 20 * time.Millisecond
	// retryMin and retryMax bound the backoff after a failed read.
	retryMin = 5 * time.Second
	retryMax = 2 * time.Minute
)

// peerState is what this node knows of one peer beyond its digest.
type peerState struct {
	// full is the last full status read from the peer's endpoint.
	full   *health.Node
	fullAt time.Time
	// fullKey is the content of the digest that was newest when full was
	// read: a digest with another content means the state changed since.
	fullKey string
	// tried is true once the endpoint was read at least once; answered
	// and lastErr say how the last read (background, watch or live) went.
	tried    bool
	answered bool
	lastErr  string
	lastTry  time.Time
	fails    int
	// due is when the next background read is due; zero when not planned.
	due      time.Time
	fetching bool
}

// peer returns the state of name, creating it; m.mu must be held.
func (m *Mesh) peer(name string) *peerState {
	p := m.peers[name]
	if p == nil {
		p = &peerState{}
		m.peers[name] = p
	}
	return p
}

// noteRead records the outcome of a read of name's endpoint; m.mu must be
// held. ns is nil when the read failed.
func (p *peerState) noteRead(ns *health.Node, key string, err error, now time.Time) {
	p.tried, p.lastTry = true, now
	if err != nil {
		p.answered, p.lastErr = false, err.Error()
		p.fails++
		back := min(retryMin<<min(p.fails-1, 8), retryMax)
		p.due = now.Add(back/2 + rand.N(back/2+1))
		return
	}
	p.answered, p.lastErr, p.fails = true, "", 0
	if ns != nil {
		p.full, p.fullAt, p.fullKey = ns, now, key
		p.due = now.Add(fullMaxAge + rand.N(fullMaxAge/5+1))
	}
}

// changed plans a read of a peer whose digest content is now key; m.mu
// must be held. n is the number of members, for the spread.
func (p *peerState) changed(key string, n int, now time.Time) {
	if p.full != nil && p.fullKey == key {
		return
	}
	if p.fails > 0 && !p.due.IsZero() && p.due.After(now) {
		return // backing off: the retry reads the new state too
	}
	spread := min(time.Duration(n)*changeSpreadPer, maxChangeSpread)
	at := now.Add(rand.N(spread + 1))
	if p.due.IsZero() || at.Before(p.due) {
		p.due = at
	}
}

// fetcher reads due peers in the background, at most maxFetches at once
// (benchmarks lower it),
// until ctx is done; it waits for its reads before returning.
func (m *Mesh) fetcher(ctx context.Context) {
	var wg sync.WaitGroup
	defer wg.Wait()
	sem := make(chan struct{}, m.cfg.maxFetches)
	t := time.NewTicker(fetchTick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for _, job := range m.dueReads(time.Now(), m.cfg.maxFetches) {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				m.abandon(job.name)
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				m.read(ctx, job)
			}()
		}
	}
}

// readJob is one peer to read.
type readJob struct {
	name string
	host string
	port int
	key  string // the digest content at the time of the read
}

// dueReads picks up to limit alive satellite peers whose read is due and
// marks them as being read.
func (m *Mesh) dueReads(now time.Time, limit int) []readJob {
	s := m.getSerf()
	if s == nil {
		return nil
	}
	mems := s.Members()
	m.mu.Lock()
	defer m.mu.Unlock()
	inFlight := 0
	for _, p := range m.peers {
		if p.fetching {
			inFlight++
		}
	}
	var jobs []readJob
	for _, mem := range mems {
		if len(jobs)+inFlight >= limit {
			break
		}
		if mem.Name == m.cfg.NodeName || mem.Status != serf.StatusAlive || !IsSatellite(mem.Tags) {
			continue
		}
		tags, _ := ParseTags(mem.Tags)
		if tags.PeerPort == 0 {
			continue
		}
		p := m.peer(mem.Name)
		if p.fetching || (!p.due.IsZero() && p.due.After(now)) || (p.due.IsZero() && p.tried) {
			continue
		}
		p.fetching = true
		jobs = append(jobs, readJob{name: mem.Name, host: mem.Addr.String(), port: tags.PeerPort, key: m.digestKeyLocked(mem.Name)})
	}
	return jobs
}

func (m *Mesh) abandon(name string) {
	m.mu.Lock()
	if p := m.peers[name]; p != nil {
		p.fetching = false
	}
	m.mu.Unlock()
}

// read reads one peer's endpoint and records the outcome.
func (m *Mesh) read(ctx context.Context, job readJob) {
	start := time.Now()
	ns, err := m.fetchPeer(ctx, job.name, job.host, job.port)
	m.stats.fetchDone(time.Since(start), err)
	if ctx.Err() != nil {
		m.abandon(job.name)
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	p := m.peer(job.name)
	p.fetching = false
	if err != nil {
		m.log.Debug("peer endpoint did not answer", "member", job.name, "error", err)
		p.noteRead(nil, "", err, time.Now())
		return
	}
	ns.Name, ns.Stale, ns.MemberStatus = job.name, false, nil
	p.noteRead(&ns, job.key, nil, time.Now())
}

// digestKeyLocked is the content key of name's newest digest, "" without
// one; m.mu must be held.
func (m *Mesh) digestKeyLocked(name string) string {
	if r, ok := m.digests[name]; ok {
		return r.d.contentKey()
	}
	return ""
}
