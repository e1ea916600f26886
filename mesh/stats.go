package mesh

import (
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Stats counts what the mesh received, refused and read, since it was
// created.
type Stats struct {
	// DigestsReceived counts the digests that came by gossip (replays
	// included), DigestsAccepted those stored as a member's newest.
	DigestsReceived, DigestsAccepted uint64
	// DigestsDropped counts received digests not stored, by reason:
	// "malformed", "newer format", "not a member", "foreign", "old boot",
	// "not newer" (a replay or an older one), "unconfirmed boot" (held
	// until the member's tags confirm its boot; counted when it arrives).
	DigestsDropped map[string]uint64
	// DigestsRepaired counts the digests gossip had not brought that
	// anti-entropy reads of peers' recent digests did (stored as newer).
	DigestsRepaired uint64
	// FullSyncs counts the full reads of a peer's digests, made after
	// joining and when a partition heals.
	FullSyncs uint64
	// DigestsPushed and PushErrors count this node's fan-out requests
	// (its changed digest POSTed to a member), answered and failed.
	DigestsPushed, PushErrors uint64
	// PeerRefused counts peer endpoint requests refused for their token
	// (missing, malformed, expired, wrong key or request, replayed, or the
	// replay cache full). TLS handshakes refused are not counted here:
	// they never become requests.
	PeerRefused uint64
	// SeenNonces is the replay cache's size now.
	SeenNonces int
	// Reads counts the reads of peers' endpoints (background, watches,
	// live), ReadErrors those that failed; ReadSeconds is their latency.
	Reads, ReadErrors uint64
	ReadSeconds       Histogram
	// NoticesSent counts the unreachability notices this node gossiped.
	NoticesSent uint64
	// GossipBytesIn and GossipBytesOut count serf's traffic (UDP packets
	// and TCP streams, memberlist's framing and encryption included).
	GossipBytesIn, GossipBytesOut uint64
}

// Histogram is a cumulative histogram: Counts[i] observations were at most
// Bounds[i]; Count and Sum cover every observation.
type Histogram struct {
	Bounds []float64
	Counts []uint64
	Count  uint64
	Sum    float64
}

// readBounds are the buckets of Stats.ReadSeconds.
var readBounds = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5}

// Reasons a digest is dropped (Stats.DigestsDropped).
const (
	dropMalformed   = "malformed"
	dropNewer       = "newer format"
	dropNotAMember  = "not a member"
	dropForeign     = "foreign"
	dropOldBoot     = "old boot"
	dropNotNewer    = "not newer"
	dropUnconfirmed = "unconfirmed boot"
)

// warnInterval is the least time between two warnings of one kind that a
// peer could cause at will (malformed digests, refused peer requests).
const warnInterval = 10 * time.Second

type counters struct {
	Received, Accepted                                       atomic.Uint64
	Malformed, Newer, NotAMember, Foreign, OldBoot, NotNewer atomic.Uint64
	Pending                                                  atomic.Uint64
	PeerRefused, Notices, Repaired, FullSyncs                atomic.Uint64
	Pushed, PushErrors                                       atomic.Uint64
	BytesIn, BytesOut                                        atomic.Uint64

	readMu   sync.Mutex
	reads    uint64
	readErrs uint64
	readSum  float64
	readHist [12]uint64 // per bucket of readBounds, then +Inf
}

// fetchDone records one read of a peer's endpoint.
func (c *counters) fetchDone(d time.Duration, err error) {
	sec := d.Seconds()
	i := sort.SearchFloat64s(readBounds, sec)
	c.readMu.Lock()
	c.reads++
	if err != nil {
		c.readErrs++
	}
	c.readSum += sec
	c.readHist[i]++
	c.readMu.Unlock()
}

// drop counts a received digest not stored, by reason.
func (c *counters) drop(reason string) {
	switch reason {
	case dropMalformed:
		c.Malformed.Add(1)
	case dropNewer:
		c.Newer.Add(1)
	case dropNotAMember:
		c.NotAMember.Add(1)
	case dropForeign:
		c.Foreign.Add(1)
	case dropOldBoot:
		c.OldBoot.Add(1)
	case dropNotNewer:
		c.NotNewer.Add(1)
	case dropUnconfirmed:
		c.Pending.Add(1)
	}
}

// Stats returns the mesh's counters.
func (m *Mesh) Stats() Stats {
	c := &m.stats
	st := Stats{
		DigestsReceived: c.Received.Load(),
		DigestsAccepted: c.Accepted.Load(),
		DigestsDropped: map[string]uint64{
			dropMalformed:   c.Malformed.Load(),
			dropNewer:       c.Newer.Load(),
			dropNotAMember:  c.NotAMember.Load(),
			dropForeign:     c.Foreign.Load(),
			dropOldBoot:     c.OldBoot.Load(),
			dropNotNewer:    c.NotNewer.Load(),
			dropUnconfirmed: c.Pending.Load(),
		},
		DigestsRepaired: c.Repaired.Load(),
		FullSyncs:       c.FullSyncs.Load(),
		DigestsPushed:   c.Pushed.Load(),
		PushErrors:      c.PushErrors.Load(),
		PeerRefused:     c.PeerRefused.Load(),
		SeenNonces:      m.nonces.len(),
		NoticesSent:     c.Notices.Load(),
		GossipBytesIn:   c.BytesIn.Load(),
		GossipBytesOut:  c.BytesOut.Load(),
	}
	c.readMu.Lock()
	st.Reads, st.ReadErrors = c.reads, c.readErrs
	h := Histogram{Bounds: readBounds, Counts: make([]uint64, len(readBounds)), Count: c.reads, Sum: c.readSum}
	var cum uint64
	for i := range readBounds {
		cum += c.readHist[i]
		h.Counts[i] = cum
	}
	c.readMu.Unlock()
	st.ReadSeconds = h
	return st
}

// ViewStats is the cluster view's state: members by status (alive,
// failed, leaving, left, foreign) and the age of the oldest data
// it holds about an alive satellite peer.
type ViewStats struct {
	Members       map[string]int
	OldestDataAge time.Duration
}

// ViewStats counts the members by status and finds the oldest data.
func (m *Mesh) ViewStats() ViewStats {
	vs := ViewStats{Members: map[string]int{}}
	s := m.getSerf()
	if s == nil {
		return vs
	}
	now := time.Now()
	mems := s.Members()
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, mem := range mems {
		status := mem.Status.String()
		if !IsSatellite(mem.Tags) {
			status = "foreign"
		}
		vs.Members[status]++
		if mem.Name == m.cfg.NodeName || status != "alive" {
			continue
		}
		newest := time.Time{}
		if r, ok := m.digests[mem.Name]; ok {
			newest = r.at
		}
		if p := m.peers[mem.Name]; p != nil && p.fullAt.After(newest) {
			newest = p.fullAt
		}
		if !newest.IsZero() && now.Sub(newest) > vs.OldestDataAge {
			vs.OldestDataAge = now.Sub(newest)
		}
	}
	return vs
}

// limitedWarn lets one warning through per interval, with the number of
// occurrences since the last one; the occurrences in between are only
// counted, and flush reports them once the interval is over even if no new
// one comes.
type limitedWarn struct {
	mu       sync.Mutex
	interval time.Duration
	now      func() time.Time
	last     time.Time
	pending  uint64
	emit     func(n uint64) // the pending report, for flush
}

func newLimitedWarn(interval time.Duration) *limitedWarn {
	return &limitedWarn{interval: interval, now: time.Now}
}

// note counts one occurrence; warn is called (with the count since the
// last warning) when a warning is due.
func (l *limitedWarn) note(warn func(n uint64)) {
	l.mu.Lock()
	l.pending++
	now := l.now()
	if !l.last.IsZero() && now.Sub(l.last) < l.interval {
		l.emit = warn
		l.mu.Unlock()
		return
	}
	n := l.pending
	l.pending, l.last, l.emit = 0, now, nil
	l.mu.Unlock()
	warn(n)
}

// flush reports the occurrences counted since the last warning, once the
// interval since it is over.
func (l *limitedWarn) flush() {
	l.mu.Lock()
	if l.pending == 0 || l.emit == nil || l.now().Sub(l.last) < l.interval {
		l.mu.Unlock()
		return
	}
	n, warn := l.pending, l.emit
	l.pending, l.last, l.emit = 0, l.now(), nil
	l.mu.Unlock()
	warn(n)
}

// limitedWriter is the peer server's error log (TLS handshake errors from
// scanners, for one): one line per interval, with the count.
type limitedWriter struct {
	l   *limitedWarn
	log func(n uint64, line string)
}

func (w limitedWriter) Write(p []byte) (int, error) {
	line := strings.TrimSpace(string(p))
	w.l.note(func(n uint64) { w.log(n, line) })
	return len(p), nil
}
