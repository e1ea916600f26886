package mesh

import (
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Stats counts what the mesh refused, since it was created.
type Stats struct {
	// DigestsDropped counts received digests not stored, by reason:
	// "malformed", "newer format", "not a member".
	DigestsDropped map[string]uint64
	// PeerRefused counts peer endpoint requests refused for their token
	// (missing, malformed, expired, wrong key or request, replayed, or the
	// replay cache full). TLS handshakes refused are not counted here:
	// they never become requests.
	PeerRefused uint64
	// SeenNonces is the replay cache's size now.
	SeenNonces int
}

// Reasons a digest is dropped (Stats.DigestsDropped).
const (
	dropMalformed  = "malformed"
	dropNewer      = "newer format"
	dropNotAMember = "not a member"
)

// warnInterval is the least time between two warnings of one kind that a
// peer could cause at will (malformed digests, refused peer requests).
const warnInterval = 10 * time.Second

type counters struct {
	Malformed, Newer, NotAMember, PeerRefused atomic.Uint64
}

// Stats returns the mesh's counters.
func (m *Mesh) Stats() Stats {
	return Stats{
		DigestsDropped: map[string]uint64{
			dropMalformed:  m.stats.Malformed.Load(),
			dropNewer:      m.stats.Newer.Load(),
			dropNotAMember: m.stats.NotAMember.Load(),
		},
		PeerRefused: m.stats.PeerRefused.Load(),
		SeenNonces:  m.nonces.len(),
	}
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
