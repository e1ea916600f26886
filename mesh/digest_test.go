package mesh

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/serf/serf"

	"github.com/satellite-hq/satellite/checks"
	"github.com/satellite-hq/satellite/health"
)

// worstCase is a node with hundreds of failing checks with long names.
func worstCase(name string) health.Node {
	ns := health.Node{Name: name, Status: health.Degraded, ConfigHash: strings.Repeat("f", 64), Version: strings.Repeat("9", 40)}
	for i := range 400 {
		st := []checks.Status{checks.StatusCritical, checks.StatusBlocked, checks.StatusWarning, checks.StatusUnknown}[i%4]
		ns.Probes = append(ns.Probes, health.Probe{Checker: fmt.Sprintf("http.%s_%03d", strings.Repeat("very_long_name", 8), i), Status: st})
	}
	return ns
}

func TestDigestWorstCaseFits(t *testing.T) {
	name := strings.Repeat("n", 128) // serf's longest node name
	d, names := digestOf(worstCase(name), 1<<62, 1<<40, time.Now())
	d.SinkBacklog, d.SinkDropped = 1<<60, 1<<60
	b, err := encodeDigest(d, names)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) > maxDigestPayload {
		t.Fatalf("digest is %d bytes, limit %d", len(b), maxDigestPayload)
	}
	got, err := decodeDigest(b)
	if err != nil {
		t.Fatal(err)
	}
	kept := 0
	for _, ns := range got.NotPassing {
		kept += len(ns)
	}
	if got.More == 0 || kept+got.More != 400 || len(got.NotPassing["c"]) == 0 {
		t.Fatalf("kept %d, more %d, by state %v", kept, got.More, got.NotPassing)
	}
	if got.Counts != (Counts{Critical: 100, Blocked: 100, Warning: 100, Unknown: 100}) {
		t.Fatalf("counts %+v", got.Counts)
	}
	t.Logf("128-byte node name: %d bytes, %d of 400 names kept", len(b), kept)

	// A usual node name leaves room for several names, critical ones first.
	d, names = digestOf(worstCase("node-17.dc1"), 1<<62, 1<<40, time.Now())
	b, err = encodeDigest(d, names)
	if err != nil {
		t.Fatal(err)
	}
	got, _ = decodeDigest(b)
	if len(b) > maxDigestPayload || len(got.NotPassing["c"]) < 4 || len(got.NotPassing["u"]) > 0 {
		t.Fatalf("%d bytes, kept %v", len(b), got.NotPassing)
	}
	t.Logf("usual node name: %d bytes, %d critical names kept, +%d more", len(b), len(got.NotPassing["c"]), got.More)

	// And serf itself accepts it (its limit counts the whole encoded message).
	n := startNode(t, name, addr(2, 1), func(c *Config) {
		c.Local = func() health.Node { return worstCase(name) }
		c.PeerPort = 0
	})
	if err := n.m.publish(); err != nil {
		t.Fatalf("serf refused the worst-case digest: %v", err)
	}
}

func TestDigestOrdering(t *testing.T) {
	m, err := New(Config{NodeName: "me", Bind: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	// peer's tags, as its member events tell them.
	member := func(boot uint64) {
		tags := MemberTags{Boot: boot}.encode()
		m.memberEvent(serf.MemberEvent{Type: serf.EventMemberUpdate, Members: []serf.Member{{Name: "peer", Addr: net.IPv4(127, 0, 0, 2), Tags: tags}}})
	}
	member(100)
	deliver := func(boot, seq uint64, status health.NodeState) {
		d := Digest{Node: "peer", Boot: boot, Seq: seq, Status: status}
		b, err := encodeWith(d, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		m.userEvent(serf.UserEvent{Name: digestEvent, Payload: b})
	}
	current := func() Digest { m.mu.Lock(); defer m.mu.Unlock(); return m.digests["peer"].d }
	deliver(100, 5, "healthy")
	deliver(100, 4, "degraded") // late, older: ignored
	if c := current(); c.Seq != 5 || c.Status != "healthy" {
		t.Fatalf("an older sequence replaced a newer one: %+v", c)
	}
	// A forged digest with a huge boot (issue 13: it used to silence the
	// member for good) is held, never applied: the member's tags say 100.
	deliver(math.MaxUint64, 1, "degraded")
	if c := current(); c.Boot != 100 || c.Status != "healthy" {
		t.Fatalf("a digest with a boot the member's tags do not have was applied: %+v", c)
	}
	deliver(100, 6, "healthy") // the real member's next digest still counts
	if c := current(); c.Seq != 6 {
		t.Fatalf("the real member's digest was ignored after a forged one: %+v", c)
	}
	// A restarted member: its first digest of boot 200 may come before its
	// new tags. It waits for them, and then wins with seq 1.
	deliver(200, 1, "degraded")
	if c := current(); c.Boot != 100 {
		t.Fatalf("a boot the tags have not confirmed was applied: %+v", c)
	}
	member(200)
	if c := current(); c.Boot != 200 || c.Seq != 1 || c.Status != "degraded" {
		t.Fatalf("the restarted member's held digest was not applied when its tags came: %+v", c)
	}
	deliver(100, 9, "healthy") // the old boot's late digest: ignored
	if c := current(); c.Boot != 200 {
		t.Fatalf("the previous boot's digest replaced the new boot's: %+v", c)
	}
	// Our own digest, echoed by serf, is not a peer.
	b, _ := encodeWith(Digest{Node: "me", Boot: 1, Seq: 1}, nil, 0)
	m.userEvent(serf.UserEvent{Name: digestEvent, Payload: b})
	if _, ok := m.digests["me"]; ok {
		t.Fatal("stored our own digest")
	}
	st := m.Stats()
	if st.DigestsDropped[dropOldBoot] != 1 || st.DigestsDropped[dropNotNewer] != 1 || st.DigestsDropped[dropUnconfirmed] != 2 ||
		st.DigestsAccepted != 3 || st.DigestsReceived != 6 {
		t.Fatalf("counters: %+v", st)
	}
}

func TestDigestVersionSkew(t *testing.T) {
	// A newer major version is ignored (the peer endpoint still serves it).
	j, _ := json.Marshal(Digest{Node: "peer", Boot: 1, Seq: 1})
	if _, err := decodeDigest(append([]byte{digestFormat + 1}, j...)); err == nil || !strings.Contains(err.Error(), "newer format") {
		t.Fatalf("newer format: %v", err)
	}
	// Within the major version, fields a newer minor adds are skipped.
	newer := []byte(`{"n":"peer","b":1,"q":2,"s":"healthy","c":{"p":4},"zz_future":{"x":[1,2]}}`)
	d, err := decodeDigest(append([]byte{digestFormat}, newer...))
	if err != nil || d.Node != "peer" || d.Counts.Passing != 4 {
		t.Fatalf("additive field broke decoding: %+v %v", d, err)
	}
	for _, bad := range [][]byte{nil, {0}, {digestFormat, '{'}, append([]byte{digestFormat}, `{"q":1}`...)} {
		if _, err := decodeDigest(bad); err == nil {
			t.Errorf("decoded %q", bad)
		}
	}
}

func TestDigestFromGossipWhenPeerEndpointIsDown(t *testing.T) {
	// A member without a peer endpoint is shown from its digest only.
	a := startNode(t, "a", addr(3, 1), nil)
	b := startNode(t, "b", addr(3, 2), func(c *Config) { c.Join = []string{gossip(addr(3, 1))}; c.PeerPort = 0 })
	bad := worstCase("b")
	b.setStatus(bad)
	waitFor(t, 5*time.Second, "b's digest on a", func() bool {
		a.m.mu.Lock()
		defer a.m.mu.Unlock()
		return a.m.digests["b"].d.Status == health.Degraded
	})
	cs := a.m.ClusterView(context.Background())
	nb, ok := viewNode(cs, "b")
	if !ok || nb.Status != health.Degraded || nb.Stale || len(nb.Probes) == 0 || nb.Probes[0].Status != checks.StatusCritical ||
		!strings.HasPrefix(nb.Probes[len(nb.Probes)-1].Checker, "+") {
		t.Fatalf("b from its digest: %+v", nb)
	}
}

// Finding 11: a digest for a name that is no member is not kept, however
// many come (before, 20,000 ghost names grew RSS by 6 MB until a reap that
// never came).
func TestGhostDigestsAreNotStored(t *testing.T) {
	a := startNode(t, "a", addr(13, 1), func(c *Config) { c.ReconnectTimeout, c.TombstoneTimeout = 2*time.Second, 2*time.Second })
	b := startNode(t, "b", addr(13, 2), func(c *Config) { c.Join = []string{gossip(addr(13, 1))} })
	waitFor(t, 10*time.Second, "b's digest on a", func() bool { return hasDigest(a.m, "b") })
	// b's first digest may have come before a knew b as a member (and
	// been dropped as not one): count from here.
	dropped0 := a.m.Stats().DigestsDropped[dropNotAMember]
	for i := range 20_000 {
		p, err := encodeWith(Digest{Node: fmt.Sprintf("ghost-%05d", i), Boot: 1, Seq: 1, Status: health.Healthy}, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		a.m.userEvent(serf.UserEvent{Name: digestEvent, Payload: p})
	}
	a.m.mu.Lock()
	stored := len(a.m.digests)
	a.m.mu.Unlock()
	if stored != 1 {
		t.Fatalf("a stores %d digests after 20,000 ghost names (want b's alone)", stored)
	}
	if got := a.m.Stats().DigestsDropped[dropNotAMember] - dropped0; got != 20_000 {
		t.Fatalf("dropped as not a member: %d", got)
	}

	// A member that left is forgotten when serf reaps it, and its
	// digests (serf replays recent events to joiners) are not stored again.
	last, err := encodeWith(Digest{Node: "b", Boot: b.m.Boot(), Seq: 1 << 30}, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	b.stop()
	waitFor(t, 20*time.Second, "b reaped on a", func() bool { return a.memberStatus("b") == "" && !hasDigest(a.m, "b") })
	a.m.userEvent(serf.UserEvent{Name: digestEvent, Payload: last})
	if hasDigest(a.m, "b") {
		t.Fatal("a reaped member's digest was stored again")
	}
}

func TestMalformedDigestWarningsAreRateLimited(t *testing.T) {
	var out syncBuffer
	m, err := New(Config{NodeName: "me", Bind: "127.0.0.1:0",
		Logger: hclog.New(&hclog.LoggerOptions{Output: &out, Level: hclog.Warn})})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_800_000_000, 0)
	m.malformedWarn.now = func() time.Time { return now }
	bad := func(n int) {
		for range n {
			m.userEvent(serf.UserEvent{Name: digestEvent, Payload: []byte{digestFormat, '{'}})
		}
	}
	warnings := func() []string {
		var w []string
		for _, l := range strings.Split(out.String(), "\n") {
			if strings.Contains(l, "[WARN]") {
				w = append(w, l)
			}
		}
		return w
	}
	bad(100)
	now = now.Add(5 * time.Second)
	bad(50)
	if w := warnings(); len(w) != 1 || !strings.Contains(w[0], "malformed digests: count=1 ") {
		t.Fatalf("150 malformed digests in 5s: %q", w)
	}
	m.malformedWarn.flush() // within the interval: nothing
	now = now.Add(6 * time.Second)
	m.malformedWarn.flush() // the event loop's ticker, after it
	if w := warnings(); len(w) != 2 || !strings.Contains(w[1], "count=149 ") {
		t.Fatalf("after the interval: %q", w)
	}
	now = now.Add(time.Second)
	bad(1)
	now = now.Add(10 * time.Second)
	bad(1)
	if w := warnings(); len(w) != 3 || !strings.Contains(w[2], "count=2 ") {
		t.Fatalf("the next interval: %q", w)
	}
	// A newer format is not an error: counted, not warned about.
	j, _ := json.Marshal(Digest{Node: "peer", Boot: 1, Seq: 1})
	m.userEvent(serf.UserEvent{Name: digestEvent, Payload: append([]byte{digestFormat + 1}, j...)})
	if s := m.Stats(); s.DigestsDropped[dropMalformed] != 152 || s.DigestsDropped[dropNewer] != 1 || len(warnings()) != 3 {
		t.Fatalf("stats %+v, %d warnings", s, len(warnings()))
	}
}

// syncBuffer is a log output the test reads while the mesh writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Nodes started together refresh at points spread over the period, not in
// lockstep: the publish at start restarts the period, and the first
// refresh after it comes at a random fraction of it. Before, every node's
// first refresh came within the same fifth of the period (0.9 to 1.1 of it
// after the start), and so did every later one.
func TestFirstRefreshesSpread(t *testing.T) {
	const nodes, period = 16, 2 * time.Second
	var (
		ms      []*Mesh
		started []time.Time
	)
	for i := range nodes {
		n := startNode(t, fmt.Sprintf("r%02d", i), addr(94, i+1), func(c *Config) {
			c.RefreshInterval, c.Debounce = period, 10*time.Millisecond
		})
		ms, started = append(ms, n.m), append(started, time.Now())
	}
	// When each published its second digest, after its own start.
	first := make([]time.Duration, nodes)
	waitFor(t, 3*period, "every node's first refresh", func() bool {
		done := true
		for i, m := range ms {
			m.mu.Lock()
			seq := m.seq
			m.mu.Unlock()
			if first[i] == 0 && seq >= 2 {
				first[i] = time.Since(started[i])
			}
			done = done && first[i] > 0
		}
		return done
	})
	lo, hi := slices.Min(first), slices.Max(first)
	t.Logf("first refreshes %v to %v after the start", lo.Round(time.Millisecond), hi.Round(time.Millisecond))
	// Uniform over the period, 16 of them span less than 2/5 of it with
	// a chance of about 16·0.4^15, 2e-5.
	if hi-lo < period*2/5 {
		t.Errorf("the first refreshes all came within %v of each other: in lockstep", hi-lo)
	}
}
