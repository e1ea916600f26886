package mesh

import (
	"context"
	"encoding/json"
	"io"
	"log"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/hashicorp/serf/serf"

	"github.com/satellite-hq/satellite/checks"
	"github.com/satellite-hq/satellite/health"
)

// hangable is a node status that can hang, as an agent whose state is
// stuck does while its serf still answers: the peer endpoint and the
// publisher then block in Local.
type hangable struct {
	mu   sync.Mutex
	hung chan struct{} // nil when not hung
	ns   health.Node
}

func (h *hangable) local() health.Node {
	h.mu.Lock()
	ch, ns := h.hung, h.ns
	h.mu.Unlock()
	if ch != nil {
		<-ch
	}
	return ns
}

func (h *hangable) hang() {
	h.mu.Lock()
	h.hung = make(chan struct{})
	h.mu.Unlock()
}

func (h *hangable) release() {
	h.mu.Lock()
	if h.hung != nil {
		close(h.hung)
		h.hung = nil
	}
	h.mu.Unlock()
}

// timedView is a ClusterView that must not wait on any peer.
func timedView(t *testing.T, n *testNode) health.Cluster {
	t.Helper()
	start := time.Now()
	cs := n.m.ClusterView(context.Background())
	// Generous for a loaded 2-core machine under -race; a read of one
	// hung peer alone would take PeerTimeout (500 ms here).
	if d := time.Since(start); d > 100*time.Millisecond {
		t.Errorf("%s's cluster view took %v", n.name, d)
	}
	return cs
}

// A hung agent whose serf still answers is caught by its watchers, and
// every node shows it stale (unreachable) without waiting on it; it is
// fresh again once it answers.
func TestHungPeerIsReportedUnreachable(t *testing.T) {
	fast := func(c *Config) {
		c.WatchInterval = 300 * time.Millisecond
		// With 5 members the loopback profile retransmits a join only
		// twice: a member that missed it waits for a push-pull (15 s).
		c.Tune = func(ml *memberlist.Config) { ml.PushPullInterval = 2 * time.Second }
	}
	a := startNode(t, "a", addr(30, 1), fast)
	var others []*testNode
	for i, name := range []string{"b", "c", "d"} {
		others = append(others, startNode(t, name, addr(30, i+2), func(c *Config) { fast(c); c.Join = []string{gossip(addr(30, 1))} }))
	}
	h := &hangable{ns: healthyStatus("e", 3)}
	e := startNode(t, "e", addr(30, 9), func(c *Config) {
		fast(c)
		c.Join = []string{gossip(addr(30, 1))}
		c.Local = h.local
	})
	t.Cleanup(h.release) // before e stops: its publisher and endpoint are blocked
	all := append([]*testNode{a, e}, others...)
	for _, n := range all {
		waitFor(t, 20*time.Second, n.name+" sees 5 alive", func() bool { return n.aliveCount() == 5 })
	}
	for _, n := range []*testNode{a, others[0], others[1], others[2]} {
		waitFresh(t, n, 3, "e")
	}

	h.hang()
	hungAt := time.Now()
	for _, n := range []*testNode{a, others[0], others[1], others[2]} {
		var ne health.Node
		waitFor(t, 15*time.Second, n.name+" shows e unreachable", func() bool {
			ne, _ = viewNode(timedView(t, n), "e")
			return ne.Stale && ne.StaleReason == StaleUnreachable
		})
		if ne.Status != health.NodeUnknown || len(ne.Probes) != 3 {
			t.Errorf("%s's view of unreachable e: status %s, %d probes (want its last known 3)", n.name, ne.Status, len(ne.Probes))
		}
	}
	t.Logf("every node showed e unreachable %v after it hung", time.Since(hungAt).Round(time.Millisecond))
	// The watchers told everyone, so even a node that never reads e
	// itself knows.
	for _, n := range []*testNode{a, others[0], others[1], others[2]} {
		waitFor(t, 15*time.Second, n.name+" holds a notice that e is down", func() bool {
			n.m.mu.Lock()
			defer n.m.mu.Unlock()
			return n.m.reportedDownLocked("e", e.m.Boot())
		})
	}
	sent := uint64(0)
	for _, n := range all {
		sent += n.m.Stats().NoticesSent
	}
	if sent == 0 || sent > 3 {
		t.Errorf("%d notices sent; want one per watcher of e (3)", sent)
	}
	if e.memberStatus("a") != "alive" || a.memberStatus("e") != "alive" {
		t.Fatalf("e's serf should still answer: a sees e %s", a.memberStatus("e"))
	}
	cs := timedView(t, a)
	if cs.Status != health.Degraded || !strings.Contains(cs.Summary, "e: stale data (unreachable)") {
		t.Fatalf("a's view: %s %q", cs.Status, cs.Summary)
	}
	// A live read of e is bounded too, and says the same.
	start := time.Now()
	one, ok := a.m.NodeView(context.Background(), "e")
	if !ok || len(one.Nodes) != 1 || !one.Nodes[0].Stale || time.Since(start) > LiveTimeout+time.Second {
		t.Fatalf("live read of hung e: ok %v, %+v after %v", ok, one, time.Since(start))
	}

	h.release()
	for _, n := range []*testNode{a, others[0], others[1], others[2]} {
		waitFor(t, 15*time.Second, n.name+" shows e fresh again", func() bool {
			ne, _ := viewNode(timedView(t, n), "e")
			return !ne.Stale
		})
	}
}

// startForeign starts a plain serf agent, no satellite agent, that joins
// join.
func startForeign(t *testing.T, name, ip string, key []byte, join string) *serf.Serf {
	t.Helper()
	conf := serf.DefaultConfig()
	conf.NodeName = name
	conf.MemberlistConfig = memberlist.DefaultLocalConfig()
	conf.MemberlistConfig.Name = name
	conf.MemberlistConfig.BindAddr, conf.MemberlistConfig.BindPort = ip, 7946
	conf.MemberlistConfig.AdvertisePort = 7946
	conf.Tags = map[string]string{"role": "web"}
	quiet := log.New(io.Discard, "", 0)
	conf.Logger, conf.MemberlistConfig.Logger = quiet, quiet
	if key != nil {
		kr, err := memberlist.NewKeyring(nil, key)
		if err != nil {
			t.Fatal(err)
		}
		conf.MemberlistConfig.Keyring = kr
	}
	s, err := serf.Create(conf)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Shutdown() })
	if _, err := s.Join([]string{join}, false); err != nil {
		t.Fatal(err)
	}
	return s
}

// Issue 13: a plain serf member is listed as foreign and changes nothing,
// while it is there and after it left.
func TestForeignMemberIsIgnored(t *testing.T) {
	a := startNode(t, "a", addr(31, 1), nil)
	b := startNode(t, "b", addr(31, 2), func(c *Config) { c.Join = []string{gossip(addr(31, 1))} })
	f := startForeign(t, "foreign-serf", addr(31, 9), nil, gossip(addr(31, 1)))
	waitFor(t, 10*time.Second, "a sees 3 alive", func() bool { return a.aliveCount() == 3 && b.aliveCount() == 3 })
	waitFresh(t, a, 3, "b")

	var fm health.Member
	for _, m := range a.m.Members() {
		if m.Name == "foreign-serf" {
			fm = m
		}
	}
	if !fm.Foreign || fm.Status != "alive" {
		t.Fatalf("the foreign member in Members: %+v", fm)
	}
	cs := timedView(t, a)
	if _, in := viewNode(cs, "foreign-serf"); in || cs.Status != health.Healthy || len(cs.Foreign) != 1 ||
		!strings.Contains(cs.Summary, "1 foreign member(s) ignored (foreign-serf)") {
		t.Fatalf("view with a foreign member: %s %q, foreign %+v", cs.Status, cs.Summary, cs.Foreign)
	}
	for _, p := range a.m.Peers() {
		if p.Name == "foreign-serf" {
			t.Fatalf("the foreign member is a peer: %+v", a.m.Peers())
		}
	}
	// A digest in the foreign member's name is not stored.
	payload, _ := encodeWith(Digest{Node: "foreign-serf", Boot: 1, Seq: 1, Status: health.Degraded}, nil, 0)
	if err := f.UserEvent(digestEvent, payload, false); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the foreign digest counted", func() bool { return a.m.Stats().DigestsDropped[dropForeign] > 0 })
	if hasDigest(a.m, "foreign-serf") {
		t.Fatal("a stored a digest of the foreign member")
	}

	if err := f.Leave(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the foreign member left", func() bool { return a.memberStatus("foreign-serf") == "left" })
	if cs := timedView(t, a); cs.Status != health.Healthy {
		t.Fatalf("after the foreign member left: %s %q", cs.Status, cs.Summary)
	}
}

// Issue 13: a key holder that sends a digest in another member's name,
// with a huge boot, changes nothing; the member's own later digests still
// arrive.
func TestForgedDigestChangesNothing(t *testing.T) {
	_, key := mustKey(t)
	a := startNode(t, "a", addr(32, 1), func(c *Config) { c.EncryptKey = key })
	b := startNode(t, "b", addr(32, 2), func(c *Config) { c.EncryptKey = key; c.Join = []string{gossip(addr(32, 1))} })
	forger := startForeign(t, "forger", addr(32, 9), key, gossip(addr(32, 1)))
	waitFor(t, 10*time.Second, "3 alive", func() bool { return a.aliveCount() == 3 })
	waitFor(t, 10*time.Second, "b's digest on a", func() bool { return hasDigest(a.m, "b") })

	for _, boot := range []uint64{math.MaxUint64, b.m.Boot() + 1} {
		forged, _ := encodeWith(Digest{Node: "b", Boot: boot, Seq: 1, Status: health.Degraded,
			Counts: Counts{Critical: 1}, NotPassing: map[string][]string{"c": {"tcp.port_0"}}}, nil, 0)
		if err := forger.UserEvent(digestEvent, forged, false); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 5*time.Second, "the forged digests held", func() bool { return a.m.Stats().DigestsDropped[dropUnconfirmed] >= 2 })
	a.m.mu.Lock()
	got := a.m.digests["b"].d
	a.m.mu.Unlock()
	if got.Boot != b.m.Boot() || got.Status != health.Healthy {
		t.Fatalf("a forged digest replaced b's: %+v", got)
	}
	if nb, _ := viewNode(timedView(t, a), "b"); nb.Status != health.Healthy {
		t.Fatalf("b in a's view after the forgery: %+v", nb)
	}

	bad := healthyStatus("b", 3)
	bad.Status = health.Degraded
	bad.Probes[2].Status = checks.StatusCritical
	b.setStatus(bad)
	waitFor(t, 5*time.Second, "b's real change on a", func() bool {
		a.m.mu.Lock()
		defer a.m.mu.Unlock()
		d := a.m.digests["b"].d
		return d.Boot == b.m.Boot() && d.Status == health.Degraded
	})
}

// Issue 13: a node whose join address is not up yet at its start keeps
// trying, without retry_join, so nodes started in any order meet.
func TestJoinBeforeThePeerIsUp(t *testing.T) {
	a := startNode(t, "a", addr(33, 1), func(c *Config) { c.Join = []string{gossip(addr(33, 2))} })
	time.Sleep(1500 * time.Millisecond) // a's first join fails
	b := startNode(t, "b", addr(33, 2), nil)
	waitFor(t, 15*time.Second, "a and b meet", func() bool { return a.aliveCount() == 2 && b.aliveCount() == 2 })
}

// NodeView reads one member live; a name that is no member is not found.
func TestNodeView(t *testing.T) {
	a := startNode(t, "a", addr(34, 1), nil)
	b := startNode(t, "b", addr(34, 2), func(c *Config) { c.Join = []string{gossip(addr(34, 1))} })
	waitFor(t, 10*time.Second, "2 alive", func() bool { return a.aliveCount() == 2 })
	waitFor(t, 10*time.Second, "b's digest on a", func() bool { return hasDigest(a.m, "b") })
	changed := healthyStatus("b", 5)
	b.status.Store(&changed) // no Notify: only a live read can know
	cs, ok := a.m.NodeView(context.Background(), "b")
	if !ok || len(cs.Nodes) != 1 || cs.Nodes[0].Stale || len(cs.Nodes[0].Probes) != 5 || cs.Nodes[0].PeerAnswered == nil {
		t.Fatalf("live read of b: %v %+v", ok, cs)
	}
	if self, ok := a.m.NodeView(context.Background(), "a"); !ok || self.Nodes[0].Name != "a" || self.Nodes[0].MemberStatus == nil {
		t.Fatalf("a's own node: %+v", self)
	}
	if _, ok := a.m.NodeView(context.Background(), "nobody"); ok {
		t.Fatal("found a member named nobody")
	}
	// The document a third-party client gets carries the new fields.
	raw, _ := json.Marshal(cs.Nodes[0])
	for _, field := range []string{`"data_age_seconds":`, `"peer_answered":true`} {
		if !strings.Contains(string(raw), field) {
			t.Errorf("node JSON lacks %s: %s", field, raw)
		}
	}
}
