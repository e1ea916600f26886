package mesh

import (
	"bytes"
	"encoding/json"
	"math"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/satellite-hq/satellite/checks"
	"github.com/satellite-hq/satellite/health"
)

// A changed digest reaches every member by the fan-out alone: here the
// nodes ignore gossiped digests, and anti-entropy and refreshes are off.
// A refresh (the same state again) is not pushed.
func TestFanoutCarriesChangesWithoutGossip(t *testing.T) {
	t.Parallel()
	deaf := func(c *Config) {
		c.noDigestEvents = true
		c.antiEntropyEvery = time.Hour
		c.RefreshInterval = time.Hour
	}
	a := startNode(t, "a", addr(45, 1), deaf)
	b := startNode(t, "b", addr(45, 2), func(c *Config) { deaf(c); c.Join = []string{gossip(a.ip)} })
	c := startNode(t, "c", addr(45, 3), func(c *Config) { deaf(c); c.Join = []string{gossip(a.ip)} })
	waitFor(t, 10*time.Second, "every node knows the others' boots", func() bool {
		for _, n := range []*testNode{a, b, c} {
			n.m.mu.Lock()
			k := len(n.m.known)
			n.m.mu.Unlock()
			if k < 2 {
				return false
			}
		}
		return true
	})
	bad := healthyStatus("b", 3)
	bad.Status = health.Degraded
	bad.Probes[1].Status = checks.StatusCritical
	b.setStatus(bad)
	b.m.Notify()
	for _, n := range []*testNode{a, c} {
		waitFor(t, 5*time.Second, n.name+" has b's degraded digest by push", func() bool {
			n.m.mu.Lock()
			defer n.m.mu.Unlock()
			return n.m.digests["b"].d.Status == health.Degraded
		})
	}
	pushed := b.m.Stats().DigestsPushed
	if pushed < 2 {
		t.Errorf("b pushed %d digests, want at least one to each of a and c", pushed)
	}
	// The same state again: a refresh, not pushed.
	if err := b.m.publish(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	if n := b.m.Stats().DigestsPushed; n != pushed {
		t.Errorf("a refresh pushed %d more digests, want none", n-pushed)
	}
}

// What a push may carry is what gossip may: a forged digest (a boot b's
// tags never announced) is held, not applied; malformed, oversized,
// too-many and newer-format pushes are refused with a status, never a
// panic.
func TestFanoutHostilePushes(t *testing.T) {
	t.Parallel()
	a := startNode(t, "a", addr(45, 11), nil)
	b := startNode(t, "b", addr(45, 12), func(c *Config) { c.Join = []string{gossip(a.ip)} })
	waitFor(t, 10*time.Second, "a has b's digest", func() bool { return hasDigest(a.m, "b") })
	u := "http://" + net.JoinHostPort(a.ip, "7947") + DigestsPath
	post := func(body []byte) int {
		t.Helper()
		resp, err := http.Post(u, "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	set := func(ds ...Digest) []byte {
		s := digestSet{Format: digestFormat}
		for _, d := range ds {
			raw, _ := json.Marshal(d)
			s.Digests = append(s.Digests, raw)
		}
		out, _ := json.Marshal(s)
		return out
	}
	forged := Digest{Node: "b", Boot: math.MaxUint64, Seq: 1, Status: health.Degraded}
	for _, tc := range []struct {
		name string
		body []byte
		want int
	}{
		{"forged", set(forged), http.StatusNoContent},
		{"not a member", set(Digest{Node: "nosuch", Boot: 1, Seq: 1}), http.StatusNoContent},
		{"malformed", []byte("{not json"), http.StatusBadRequest},
		{"oversized", []byte(`{"format":1,"digests":["` + strings.Repeat("x", maxPushBody) + `"]}`), http.StatusBadRequest},
		{"too many", set(forged, forged, forged, forged, forged), http.StatusRequestEntityTooLarge},
		{"newer format", []byte(`{"format":99,"digests":[]}`), http.StatusUnprocessableEntity},
	} {
		if got := post(tc.body); got != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, got, tc.want)
		}
	}
	a.m.mu.Lock()
	got := a.m.digests["b"].d
	_, stored := a.m.digests["nosuch"]
	a.m.mu.Unlock()
	if got.Boot != b.m.Boot() || got.Status != health.Healthy || stored {
		t.Errorf("after hostile pushes a holds b at boot %d, %s (want %d, healthy), and a digest for no member: %v", got.Boot, got.Status, b.m.Boot(), stored)
	}
}

// A watcher's unreachability notice reaches every node by the fan-out
// alone, the nodes that do not watch the hung one too: here the nodes
// ignore the digests and notices others gossip, and anti-entropy is off.
func TestFanoutCarriesNotices(t *testing.T) {
	t.Parallel()
	hang := make(chan struct{})
	var hung atomic.Bool
	deaf := func(c *Config) {
		c.noDigestEvents = true
		c.antiEntropyEvery = time.Hour
		c.WatchInterval = 300 * time.Millisecond
	}
	names := []string{"a", "b", "c", "d", "e"}
	var nodes []*testNode
	for i, name := range names {
		nodes = append(nodes, startNode(t, name, addr(45, 21+i), func(c *Config) {
			deaf(c)
			if i > 0 {
				c.Join = []string{gossip(nodes[0].ip)}
			}
			if name == "e" {
				local := c.Local
				c.Local = func() health.Node {
					if hung.Load() {
						<-hang
					}
					return local()
				}
			}
		}))
	}
	t.Cleanup(func() { close(hang) })
	e := nodes[4]
	waitFor(t, 30*time.Second, "every node knows e's boot", func() bool { // 5 joins, under the suite's load
		for _, n := range nodes[:4] {
			n.m.mu.Lock()
			k := n.m.known["e"]
			n.m.mu.Unlock()
			if k.boot != e.m.Boot() {
				return false
			}
		}
		return true
	})
	hung.Store(true)
	for _, n := range nodes[:4] {
		waitFor(t, 15*time.Second, n.name+" holds e unreachable", func() bool {
			n.m.mu.Lock()
			defer n.m.mu.Unlock()
			return n.m.reportedDownLocked("e", e.m.Boot())
		})
	}
	// e has three watchers among the four: the fourth heard by push.
	watchers := 0
	for _, n := range nodes[:4] {
		for _, tg := range n.m.watchTargets() {
			if tg.name == "e" {
				watchers++
			}
		}
	}
	if watchers != 3 {
		t.Errorf("e has %d watchers, want 3 (the test needs one node that does not watch it)", watchers)
	}
}

// A node alone (here: at start, before anyone joined) gossips nothing:
// serf would hold the digest and send it once members come, and at a
// mass join every node re-gossiped every other's boot digest. The digests
// still meet: the joiner reads the seed's set, and pushes its own. Gossip
// is ignored here, so only those two paths can carry them. A digest of
// an older life than the member's tags announce counts as lacking.
func TestAloneDigestNotGossiped(t *testing.T) {
	t.Parallel()
	deaf := func(c *Config) {
		c.noDigestEvents = true
		c.antiEntropyEvery = time.Hour
		c.RefreshInterval = time.Hour
	}
	a := startNode(t, "a", addr(45, 31), deaf)
	waitFor(t, 5*time.Second, "a published its boot digest", func() bool {
		a.m.mu.Lock()
		defer a.m.mu.Unlock()
		return a.m.own != nil
	})
	st := a.m.getSerf().Stats()
	if st["event_time"] != "1" || st["event_queue"] != "0" {
		t.Errorf("alone, a's serf has event time %s and %s user events queued; want 1 and 0 (no user event)", st["event_time"], st["event_queue"])
	}
	b := startNode(t, "b", addr(45, 32), func(c *Config) { deaf(c); c.Join = []string{gossip(a.ip)} })
	waitFor(t, 10*time.Second, "a has b's digest (pushed) and b has a's (read)", func() bool {
		return hasDigest(a.m, "b") && hasDigest(b.m, "a")
	})
	waitFor(t, 10*time.Second, "a's member events told b", func() bool {
		a.m.mu.Lock()
		defer a.m.mu.Unlock()
		return a.m.known["b"].boot == b.m.Boot()
	})
	if a.m.missingDigests() || b.m.missingDigests() {
		t.Fatal("a or b lacks a digest it holds")
	}
	a.m.mu.Lock()
	r := a.m.digests["b"]
	r.d.Boot--
	a.m.digests["b"] = r
	a.m.mu.Unlock()
	if a.m.missingDigests() {
		t.Error("a counts b's digest as lacking within the window after b was told")
	}
	a.m.mu.Lock()
	k := a.m.known["b"]
	k.since = k.since.Add(-4 * time.Hour) // the window is 3 anti-entropy periods of an hour
	a.m.known["b"] = k
	a.m.mu.Unlock()
	if !a.m.missingDigests() {
		t.Error("a holds b's digest of an older boot than b's tags, and does not count it as lacking")
	}
}
