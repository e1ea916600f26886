package mesh

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/serf/serf"

	"github.com/satellite-hq/satellite/checks"
	"github.com/satellite-hq/satellite/health"
)

// A node that missed a member's newest digest (here: it holds an older
// one, as after a lost user event) gets it from a peer's recent digests
// within a few anti-entropy periods, and its view shows the member's real
// state again.
func TestAntiEntropyRepairsMissedDigest(t *testing.T) {
	t.Parallel()
	fast := func(c *Config) { c.antiEntropyEvery = 300 * time.Millisecond; c.RefreshInterval = time.Hour }
	a := startNode(t, "a", addr(41, 1), fast)
	b := startNode(t, "b", addr(41, 2), func(c *Config) { fast(c); c.Join = []string{gossip(a.ip)} })
	c := startNode(t, "c", addr(41, 3), func(c *Config) { fast(c); c.Join = []string{gossip(a.ip)} })
	waitFor(t, 15*time.Second, "every node has every digest", func() bool {
		return hasDigest(a.m, "b") && hasDigest(a.m, "c") && hasDigest(b.m, "a") && hasDigest(b.m, "c") && hasDigest(c.m, "a") && hasDigest(c.m, "b")
	})
	healthy := func() Digest {
		c.m.mu.Lock()
		defer c.m.mu.Unlock()
		return c.m.digests["b"].d
	}()
	bad := healthyStatus("b", 3)
	bad.Status = health.Degraded
	bad.Probes[1].Status = checks.StatusCritical
	b.setStatus(bad)
	waitFor(t, 10*time.Second, "c has b's degraded digest", func() bool {
		c.m.mu.Lock()
		defer c.m.mu.Unlock()
		return c.m.digests["b"].d.Status == health.Degraded
	})
	time.Sleep(time.Second) // the gossip of b's change dies down
	c.m.mu.Lock()
	want := c.m.digests["b"].d
	c.m.mu.Unlock()
	// Lose it on c: c holds b's healthy digest again, as if the degraded
	// one had never arrived. Serf never delivers an event twice, so only
	// anti-entropy can bring that very digest back.
	repairedBefore := c.m.Stats().DigestsRepaired
	c.m.mu.Lock()
	c.m.digests["b"] = received{d: healthy, at: time.Now()}
	c.m.mu.Unlock()
	var got Digest
	waitFor(t, 10*time.Second, "anti-entropy brings b's degraded digest back to c", func() bool {
		c.m.mu.Lock()
		defer c.m.mu.Unlock()
		got = c.m.digests["b"].d
		return got.Status == health.Degraded
	})
	if got.Boot != want.Boot || got.Seq != want.Seq {
		t.Errorf("c has b's digest (boot %d, seq %d), want the one it lost (boot %d, seq %d)", got.Boot, got.Seq, want.Boot, want.Seq)
	}
	if n := c.m.Stats().DigestsRepaired; n <= repairedBefore {
		t.Errorf("DigestsRepaired = %d after a repair, was %d", n, repairedBefore)
	}
	// Nothing else changed: with no loss, reads find nothing newer.
	for _, n := range []*testNode{a, b} {
		if _, err := n.m.syncFrom(context.Background(), watchTarget{name: "c", host: c.ip, port: 7947}, false); err != nil {
			t.Errorf("%s reading c's recent digests: %v", n.name, err)
		}
	}
}

// The recent-digests resource holds the node's own digest and the ones it
// stored lately, in the gossiped format; it is read-only.
func TestAntiEntropyResource(t *testing.T) {
	t.Parallel()
	a := startNode(t, "a", addr(42, 1), nil)
	b := startNode(t, "b", addr(42, 2), func(c *Config) { c.Join = []string{gossip(a.ip)} })
	waitFor(t, 10*time.Second, "a has b's digest", func() bool { return hasDigest(a.m, "b") })
	waitFor(t, 10*time.Second, "a has published", func() bool {
		a.m.mu.Lock()
		defer a.m.mu.Unlock()
		return a.m.own != nil
	})
	u := "http://" + net.JoinHostPort(a.ip, "7947") + DigestsPath
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	var set digestSet
	err = json.NewDecoder(resp.Body).Decode(&set)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %v", u, resp.StatusCode, err)
	}
	nodes := map[string]bool{}
	for _, raw := range set.Digests {
		d, err := decodeDigest(append([]byte{byte(set.Format)}, raw...))
		if err != nil {
			t.Fatalf("digest %s: %v", raw, err)
		}
		nodes[d.Node] = true
	}
	if set.Format != digestFormat || !nodes["a"] || !nodes["b"] {
		t.Errorf("recent digests: format %d, nodes %v; want format %d with a and b", set.Format, nodes, digestFormat)
	}
	req, _ := http.NewRequest(http.MethodPut, u, strings.NewReader("{}"))
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("PUT %s: %d, want 405", u, resp.StatusCode)
	}
	_ = b
}

// A hostile or broken peer's answer changes nothing: a digest claiming a
// member with a boot its tags never announced is held, not applied;
// malformed, oversized and newer-format answers are errors, never panics.
func TestAntiEntropyHostileAnswers(t *testing.T) {
	t.Parallel()
	a := startNode(t, "a", addr(43, 1), nil)
	b := startNode(t, "b", addr(43, 2), func(c *Config) { c.Join = []string{gossip(a.ip)} })
	waitFor(t, 10*time.Second, "a has b's digest", func() bool { return hasDigest(a.m, "b") })
	forged, _ := json.Marshal(Digest{Node: "b", Boot: math.MaxUint64, Seq: 1, Status: health.Degraded})
	many := make([]json.RawMessage, maxSyncDigests+1)
	for i := range many {
		many[i] = json.RawMessage(fmt.Sprintf(`{"n":"x%d","b":1,"q":1}`, i))
	}
	answers := map[string]any{
		"/forged":    digestSet{Format: digestFormat, Digests: []json.RawMessage{forged}},
		"/malformed": "{not json",
		"/newer":     digestSet{Format: digestFormat + 1, Digests: []json.RawMessage{}},
		"/many":      digestSet{Format: digestFormat, Digests: many},
		"/huge":      strings.Repeat(" ", maxSyncBody+1),
		"/baddigest": `{"format":1,"digests":[{"n":""},"str",42,null]}`,
	}
	var path atomic.Value // the answer the server gives now
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch v := answers[path.Load().(string)].(type) {
		case string:
			_, _ = w.Write([]byte(v))
		default:
			_ = json.NewEncoder(w).Encode(v)
		}
	}))
	defer srv.Close()
	host, ps, _ := net.SplitHostPort(srv.Listener.Addr().String())
	port, _ := strconv.Atoi(ps)
	tg := watchTarget{name: "evil", host: host, port: port}
	for _, tc := range []struct {
		path    string
		wantErr bool
	}{{"/forged", false}, {"/malformed", true}, {"/newer", true}, {"/many", true}, {"/huge", true}, {"/baddigest", false}} {
		path.Store(tc.path)
		n, err := a.m.syncFrom(context.Background(), tg, false)
		if (err != nil) != tc.wantErr || n != 0 {
			t.Errorf("%s: repaired %d, error %v; want 0 repaired, error %v", tc.path, n, err, tc.wantErr)
		}
	}
	a.m.mu.Lock()
	got := a.m.digests["b"].d
	a.m.mu.Unlock()
	if got.Boot != b.m.Boot() || got.Status != health.Healthy {
		t.Errorf("b's digest on a after hostile answers: boot %d status %s; want b's boot %d, healthy", got.Boot, got.Status, b.m.Boot())
	}
}

// A joiner reads one peer's whole digest set at once (the window of the
// periodic reads holds only the last seconds): here the digests of a, b and
// c are minutes older than the window, refreshes and periodic reads are
// off, and d still has them all right after joining, by one full read.
func TestJoinerReadsFullDigestSet(t *testing.T) {
	t.Parallel()
	// A window of 150 ms: older digests are in full answers only.
	quiet := func(c *Config) { c.antiEntropyEvery = 50 * time.Millisecond; c.RefreshInterval = time.Hour }
	a := startNode(t, "a", addr(44, 1), quiet)
	b := startNode(t, "b", addr(44, 2), func(c *Config) { quiet(c); c.Join = []string{gossip(a.ip)} })
	c := startNode(t, "c", addr(44, 3), func(c *Config) { quiet(c); c.Join = []string{gossip(a.ip)} })
	waitFor(t, 15*time.Second, "a has b's and c's digests", func() bool { return hasDigest(a.m, "b") && hasDigest(a.m, "c") })
	time.Sleep(500 * time.Millisecond) // past the window

	read := func(query string) map[string]bool {
		t.Helper()
		u := "http://" + net.JoinHostPort(a.ip, "7947") + DigestsPath + query
		resp, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var set digestSet
		if err := json.NewDecoder(resp.Body).Decode(&set); err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d %v", u, resp.StatusCode, err)
		}
		nodes := map[string]bool{}
		for _, raw := range set.Digests {
			d, err := decodeDigest(append([]byte{byte(set.Format)}, raw...))
			if err != nil {
				t.Fatalf("GET %s: digest %s: %v", u, raw, err)
			}
			nodes[d.Node] = true
		}
		return nodes
	}
	if got := read(""); len(got) != 1 || !got["a"] {
		t.Errorf("recent digests past the window: %v, want a's own only", got)
	}
	if got := read("?all=1"); len(got) != 3 || !got["a"] || !got["b"] || !got["c"] {
		t.Errorf("all digests: %v, want a, b and c", got)
	}

	d := startNode(t, "d", addr(44, 4), func(c *Config) { quiet(c); c.Join = []string{gossip(b.ip)} })
	waitFor(t, 10*time.Second, "d has a's, b's and c's digests", func() bool {
		return hasDigest(d.m, "a") && hasDigest(d.m, "b") && hasDigest(d.m, "c")
	})
	waitFor(t, 5*time.Second, "d counts its full read", func() bool { return d.m.Stats().FullSyncs == 1 })
	_ = c
}

// A member that comes back from failed with the boot it had was apart (a
// partition healed, or serf failed it falsely): what its side gossiped
// meanwhile never came, and one full read of its digests is asked for. A
// member back with a new boot restarted: it pushes its boot digest, and
// nothing more is read.
func TestHealAsksForFullRead(t *testing.T) {
	t.Parallel()
	a := startNode(t, "a", addr(44, 11), nil)
	b := startNode(t, "b", addr(44, 12), func(c *Config) { c.Join = []string{gossip(a.ip)} })
	waitFor(t, 10*time.Second, "a knows b", func() bool {
		a.m.mu.Lock()
		defer a.m.mu.Unlock()
		return a.m.known["b"].boot == b.m.Boot()
	})
	var mem serf.Member
	for _, x := range a.m.getSerf().Members() {
		if x.Name == "b" {
			mem = x
		}
	}
	event := func(kind serf.EventType, boot uint64) {
		x := mem
		x.Tags = maps.Clone(mem.Tags)
		x.Tags[tagBoot] = strconv.FormatUint(boot, 36)
		a.m.memberEvent(serf.MemberEvent{Type: kind, Members: []serf.Member{x}})
	}
	// The loop takes the request at once: what it did shows in FullSyncs.
	// Failed, then back with a new boot: nothing is read.
	event(serf.EventMemberFailed, b.m.Boot())
	event(serf.EventMemberJoin, b.m.Boot()+1)
	time.Sleep(time.Second)
	if n := a.m.Stats().FullSyncs; n != 0 {
		t.Errorf("after a restart (a new boot): %d full reads, want none", n)
	}
	// Failed, then back with the same boot: one full read.
	event(serf.EventMemberFailed, b.m.Boot())
	event(serf.EventMemberJoin, b.m.Boot())
	waitFor(t, 5*time.Second, "a reads b's digests in full", func() bool { return a.m.Stats().FullSyncs == 1 })
}

// Unreachability notices are gossiped once per change: a node that missed
// one gets it from a peer's anti-entropy answer, "down" and then "back",
// ordered by their Lamport times; a notice about a boot the member's tags
// do not announce changes nothing.
func TestAntiEntropyRepairsNotices(t *testing.T) {
	t.Parallel()
	a := startNode(t, "a", addr(44, 21), nil)
	b := startNode(t, "b", addr(44, 22), func(c *Config) { c.Join = []string{gossip(a.ip)} })
	c := startNode(t, "c", addr(44, 23), func(c *Config) { c.Join = []string{gossip(a.ip)} })
	waitFor(t, 10*time.Second, "a and b know c's boot", func() bool {
		for _, n := range []*testNode{a, b} {
			n.m.mu.Lock()
			k := n.m.known["c"]
			n.m.mu.Unlock()
			if k.boot != c.m.Boot() {
				return false
			}
		}
		return true
	})
	downOnA := func() bool {
		a.m.mu.Lock()
		defer a.m.mu.Unlock()
		return a.m.reportedDownLocked("c", c.m.Boot())
	}
	bTarget := watchTarget{name: "b", host: b.ip, port: 7947}
	sync := func(want int) {
		t.Helper()
		n, err := a.m.syncFrom(context.Background(), bTarget, false)
		if err != nil || n < want {
			t.Fatalf("a reading b's digests: %d repaired, %v; want at least %d", n, err, want)
		}
	}
	// Only b heard that c is down.
	if !b.m.considerNotice(noticeMsg{Node: "c", Boot: c.m.Boot(), Down: true, By: "x"}, 1<<40) {
		t.Fatal("b did not take a notice about c's boot")
	}
	// A forged one about a boot c never had, and one about no member.
	b.m.mu.Lock()
	b.m.downs["nosuch"] = notice{down: true, boot: 7, ltime: 1 << 40, at: time.Now()}
	b.m.mu.Unlock()
	if downOnA() {
		t.Fatal("a holds c down before any read")
	}
	sync(1)
	if !downOnA() {
		t.Error("a's read of b did not bring the notice that c is down")
	}
	a.m.mu.Lock()
	_, forged := a.m.downs["nosuch"]
	a.m.mu.Unlock()
	if forged {
		t.Error("a took a notice about a name that is no member")
	}
	// Then only b heard that c is back.
	if !b.m.considerNotice(noticeMsg{Node: "c", Boot: c.m.Boot(), Down: false, By: "x"}, 1<<40+1) {
		t.Fatal("b did not take the newer notice that c is back")
	}
	sync(1)
	if downOnA() {
		t.Error("a's read of b did not bring the notice that c is back")
	}
	// An older "down" (a replay) does not undo it.
	if a.m.considerNotice(noticeMsg{Node: "c", Boot: c.m.Boot(), Down: true, By: "x"}, 1<<40) || downOnA() {
		t.Error("a replayed older notice marked c down again")
	}
}

// A node that lacks an alive member's digest (it joined while the mesh
// formed, from a peer that knew few) makes its next periodic read a full
// one, and has the digest again, however old.
func TestMissingDigestMakesTheReadFull(t *testing.T) {
	t.Parallel()
	quiet := func(c *Config) { c.antiEntropyEvery = 300 * time.Millisecond; c.RefreshInterval = time.Hour }
	a := startNode(t, "a", addr(44, 31), quiet)
	startNode(t, "b", addr(44, 32), func(c *Config) { quiet(c); c.Join = []string{gossip(a.ip)} })
	startNode(t, "c", addr(44, 33), func(c *Config) { quiet(c); c.Join = []string{gossip(a.ip)} })
	waitFor(t, 15*time.Second, "a has b's and c's digests", func() bool { return hasDigest(a.m, "b") && hasDigest(a.m, "c") })
	if n := a.m.Stats().FullSyncs; n != 0 {
		t.Fatalf("a, which joined nobody and lacks nothing, made %d full reads", n)
	}
	time.Sleep(1500 * time.Millisecond) // b's digest is older than the window everywhere
	a.m.mu.Lock()
	delete(a.m.digests, "b")
	a.m.mu.Unlock()
	waitFor(t, 10*time.Second, "a has b's digest again", func() bool { return hasDigest(a.m, "b") })
	if n := a.m.Stats().FullSyncs; n != 1 {
		t.Errorf("a made %d full reads, want 1", n)
	}
}
