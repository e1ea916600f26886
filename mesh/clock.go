package mesh

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/serf/serf"

	"github.com/satellite-hq/satellite/checks"
)

// ClockPath is the peer endpoint's clock resource (the clock check). A GET
// answers, in Unix nanoseconds of the answering node's clock, when the
// request arrived and when the answer left:
//
//	{"receive_unix_ns":1767225600000000000,"transmit_unix_ns":1767225600000041000}
//
// It is authorised as PeerPath is (a token when the mesh is encrypted, the
// peer TLS when configured).
const ClockPath = "/v1/peer/clock"

// clockAnswer is the clock resource's answer.
type clockAnswer struct {
	Receive  int64 `json:"receive_unix_ns"`
	Transmit int64 `json:"transmit_unix_ns"`
}

// serveClock answers a clock request: the receive time is taken first, the
// transmit time last.
func (m *Mesh) serveClock(w http.ResponseWriter, r *http.Request) {
	recv := time.Now()
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", "GET")
		http.Error(w, "GET only", http.StatusMethodNotAllowed)
		return
	}
	if !m.admitPeer(w, r, recv) {
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	t2 := recv.UnixNano()
	b := make([]byte, 0, 80)
	b = append(b, `{"receive_unix_ns":`...)
	b = strconv.AppendInt(b, t2, 10)
	b = append(b, `,"transmit_unix_ns":`...)
	// The receive time plus the time spent here on the monotonic clock: a
	// step of the wall clock in between does not count as time spent.
	b = strconv.AppendInt(b, t2+int64(time.Since(recv)), 10)
	b = append(b, "}\n"...)
	if _, err := w.Write(b); err != nil {
		m.log.Debug("writing a clock answer", "error", err)
	}
}

// clockQuery is the serf query that the clock checks of older versions send
// (this one reads the peers' ClockPath instead).
const clockQuery = "satellite:clock"

// query answers serf queries: older agents still ask for the clock so.
func (m *Mesh) query(q *serf.Query) {
	switch q.Name {
	case clockQuery:
		b := strconv.AppendInt(nil, time.Now().UnixNano(), 10)
		if err := q.Respond(b); err != nil {
			m.log.Debug("answering a clock query", "from", q.SourceNode(), "error", err)
		}
	default:
		m.log.Debug("ignoring query", "name", q.Name)
	}
}

const (
	// clockSamples is how many samples of a peer's clock are taken, after
	// the warm-up request; the one with the smallest delay is kept.
	clockSamples = 4
	// maxClockPeers bounds the peers sampled at once.
	maxClockPeers = 16
	// maxClockBody bounds a clock answer.
	maxClockBody = 4 << 10
)

// Clocks reads the clock of every alive satellite member with a peer
// endpoint (foreign members are ignored), in parallel and within ctx, and
// returns one sample per peer read (checks.MeshView), by name. Each peer is
// sampled NTP-style over one kept-alive connection: a warm-up request opens
// it, then clockSamples requests each give, with t1 the request sent, t2 and
// t3 its arrival and the answer's departure on the peer (ClockPath), and t4
// the answer's arrival,
//
//	offset = ((t2 − t1) + (t3 − t4)) / 2    delay = (t4 − t1) − (t3 − t2)
//
// and the sample with the smallest delay is kept: its offset is off by at
// most half its delay (by how much the two legs differ). The error, when
// some peers gave no sample, says which and why; the samples are still
// returned.
func (m *Mesh) Clocks(ctx context.Context) ([]checks.ClockSample, error) {
	s := m.getSerf()
	if s == nil {
		return nil, fmt.Errorf("mesh is not running")
	}
	type target struct {
		name, host string
		port       int
	}
	var targets []target
	var fails []clockFailure
	for _, mem := range s.Members() {
		if mem.Name == m.cfg.NodeName || mem.Status != serf.StatusAlive || !IsSatellite(mem.Tags) {
			continue
		}
		tags, _ := ParseTags(mem.Tags)
		if tags.PeerPort <= 0 {
			fails = append(fails, clockFailure{peer: mem.Name, reason: "no peer endpoint (no peer port)"})
			continue
		}
		targets = append(targets, target{mem.Name, mem.Addr.String(), tags.PeerPort})
	}
	samples := make([]checks.ClockSample, len(targets))
	errs := make([]error, len(targets))
	var wg sync.WaitGroup
	sem := make(chan struct{}, maxClockPeers)
	for i, t := range targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				errs[i] = ctx.Err()
				return
			}
			defer func() { <-sem }()
			samples[i], errs[i] = m.clockOf(ctx, t.name, t.host, t.port)
		}()
	}
	wg.Wait()
	out := make([]checks.ClockSample, 0, len(targets))
	for i, t := range targets {
		if errs[i] != nil {
			fails = append(fails, clockFailure{peer: t.name, reason: m.clockReason(ctx, errs[i]), err: errs[i]})
			continue
		}
		out = append(out, samples[i])
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Peer < out[j].Peer })
	if len(fails) > 0 {
		return out, &clockError{fails: fails}
	}
	return out, nil
}

// clockOf samples one peer's clock: the warm-up, then clockSamples samples,
// keeping the one with the smallest delay. When ctx ends after some
// samples, the best of those is the answer.
func (m *Mesh) clockOf(ctx context.Context, name, host string, port int) (checks.ClockSample, error) {
	var best clockReading
	n := 0
	for i := range clockSamples + 1 {
		r, err := m.readClock(ctx, name, host, port)
		if err != nil {
			if n > 0 {
				break
			}
			return checks.ClockSample{}, err
		}
		if r.coarse {
			// Further requests would be refused too.
			return checks.ClockSample{Peer: name, Offset: r.offset, RTT: r.delay}, nil
		}
		if i == 0 {
			// The warm-up: on a new connection the peer's side of the TLS
			// handshake (verifying our certificate) delays the first
			// request's arrival, which would bias its offset.
			continue
		}
		if n == 0 || r.delay < best.delay {
			best = r
		}
		n++
	}
	return checks.ClockSample{Peer: name, Offset: best.offset, RTT: best.delay}, nil
}

// clockReading is one sample of a peer's clock.
type clockReading struct {
	offset, delay time.Duration
	// coarse is a reading from the Date header of a refusal (coarseClock).
	coarse bool
}

// readClock takes one sample. t1 is taken when the connection is in hand,
// just before the request is written (so neither making the token nor
// dialing counts), t4 when the answer's first byte is read; t4 − t1 is on
// the monotonic clock, and t4's wall time is t1's plus that, so a step of
// our wall clock during the sample does not count either.
func (m *Mesh) readClock(ctx context.Context, name, host string, port int) (clockReading, error) {
	var mu sync.Mutex
	var sent, arrived time.Time
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		GotConn:              func(httptrace.GotConnInfo) { mu.Lock(); sent = time.Now(); mu.Unlock() },
		GotFirstResponseByte: func() { mu.Lock(); arrived = time.Now(); mu.Unlock() },
	})
	before := time.Now()
	resp, u, err := m.peerGet(ctx, name, host, port, ClockPath)
	after := time.Now()
	mu.Lock()
	t1, t4 := sent, arrived
	mu.Unlock()
	if t1.IsZero() {
		t1 = before
	}
	if t4.IsZero() || t4.Before(t1) {
		t4 = after
	}
	rtt := t4.Sub(t1)
	if err != nil {
		var se *peerStatusError
		if errors.As(err, &se) && se.code == http.StatusUnauthorized {
			if r, ok := coarseClock(se.header, t1, rtt); ok {
				return r, nil
			}
		}
		return clockReading{}, err
	}
	defer resp.Body.Close()
	// Read to the end, so that the connection is kept for the next sample.
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxClockBody))
	if err != nil {
		return clockReading{}, fmt.Errorf("peer endpoint %s: %w", u, err)
	}
	var a clockAnswer
	if err := json.Unmarshal(b, &a); err != nil || a.Receive <= 0 || a.Transmit < a.Receive || time.Duration(a.Transmit-a.Receive) > rtt {
		return clockReading{}, fmt.Errorf("peer endpoint %s: not a clock answer: %.80q", u, b)
	}
	t1w := t1.UnixNano()
	t4w := t1w + int64(rtt)
	return clockReading{
		offset: time.Duration(((a.Receive - t1w) + (a.Transmit - t4w)) / 2),
		delay:  rtt - time.Duration(a.Transmit-a.Receive),
	}, nil
}

// coarseClock reads a peer's clock from the Date header of its refusal (401),
// when that is far enough off to be why our token was refused: the token's
// time must be within peerTokenWindow of the peer's clock, so a peer whose
// clock is further off (or our own clock) refuses every token, and the
// clock it most needs to show would otherwise be missing. Date is in whole
// seconds, so the reading is good to about half a second: plenty at more
// than peerTokenWindow/2.
func coarseClock(h http.Header, t1 time.Time, rtt time.Duration) (clockReading, bool) {
	d, err := http.ParseTime(h.Get("Date"))
	if err != nil {
		return clockReading{}, false
	}
	// The middle of the Date's second against the middle of the round trip.
	mid := t1.UnixNano() + int64(rtt/2)
	off := time.Duration(d.UnixNano() + int64(time.Second/2) - mid)
	if off.Abs() < peerTokenWindow/2 {
		return clockReading{}, false
	}
	return clockReading{offset: off, delay: rtt, coarse: true}, true
}

// clockReason is why a peer gave no sample, in a few words.
func (m *Mesh) clockReason(ctx context.Context, err error) string {
	var se *peerStatusError
	var ne net.Error
	switch {
	case errors.Is(err, context.Canceled):
		return "canceled"
	case ctx.Err() != nil && (errors.Is(err, ctx.Err()) || errors.As(err, &ne) && ne.Timeout()):
		return "no answer before the check's timeout"
	case errors.As(err, &ne) && ne.Timeout():
		return fmt.Sprintf("no answer within %s", m.cfg.PeerTimeout)
	case errors.As(err, &se) && se.code == http.StatusNotFound:
		return "no " + ClockPath + " (404): an older satellite version, measured once upgraded"
	case errors.As(err, &se) && se.code == http.StatusUnauthorized:
		why, _, _ := strings.Cut(strings.TrimSpace(string(se.body)), "\n")
		if len(why) > 200 {
			why = why[:200] + "..."
		}
		return "refused our token (" + why + ")"
	}
	return err.Error()
}

// clockFailure is a peer that gave no sample.
type clockFailure struct {
	peer, reason string
	err          error
}

// clockError names the peers that gave no sample, grouped by reason.
type clockError struct{ fails []clockFailure }

// maxNamedPerReason is how many peers clockError names for one reason.
const maxNamedPerReason = 5

func (e *clockError) Error() string {
	fails := append([]clockFailure(nil), e.fails...)
	sort.Slice(fails, func(i, j int) bool { return fails[i].peer < fails[j].peer })
	var reasons []string
	by := map[string][]string{}
	for _, f := range fails {
		if _, ok := by[f.reason]; !ok {
			reasons = append(reasons, f.reason)
		}
		by[f.reason] = append(by[f.reason], f.peer)
	}
	parts := make([]string, len(reasons))
	for i, r := range reasons {
		names := by[r]
		s := strings.Join(names[:min(len(names), maxNamedPerReason)], ", ")
		if len(names) > maxNamedPerReason {
			s += fmt.Sprintf(" and %d more", len(names)-maxNamedPerReason)
		}
		parts[i] = s + ": " + r
	}
	return strings.Join(parts, "; ")
}

func (e *clockError) Unwrap() []error {
	var out []error
	for _, f := range e.fails {
		if f.err != nil {
			out = append(out, f.err)
		}
	}
	return out
}
