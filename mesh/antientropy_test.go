package mesh

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

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
		if _, err := n.m.syncFrom(context.Background(), watchTarget{name: "c", host: c.ip, port: 7947}); err != nil {
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
	resp, err = http.Post(u, "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST %s: %d, want 405", u, resp.StatusCode)
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
		n, err := a.m.syncFrom(context.Background(), tg)
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
