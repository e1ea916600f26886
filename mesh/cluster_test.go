package mesh

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/satellite-hq/satellite/checks"
	"github.com/satellite-hq/satellite/events"
	"github.com/satellite-hq/satellite/health"
)

func viewNode(cs health.Cluster, name string) (health.Node, bool) {
	for _, n := range cs.Nodes {
		if n.Name == name {
			return n, true
		}
	}
	return health.Node{}, false
}

func TestClusterLifecycle(t *testing.T) {
	ctx := context.Background()
	a := startNode(t, "node-a", addr(1, 1), nil)
	dirB := t.TempDir()
	b := startNode(t, "node-b", addr(1, 2), func(c *Config) { c.Join = []string{gossip(addr(1, 1))}; c.DataDir = dirB })
	dirC := t.TempDir()
	c := startNode(t, "node-c", addr(1, 3), func(c *Config) { c.Join = []string{gossip(addr(1, 1))}; c.DataDir = dirC })

	for _, n := range []*testNode{a, b, c} {
		waitFor(t, 10*time.Second, n.name+" sees 3 alive", func() bool { return n.aliveCount() == 3 })
	}
	waitFresh(t, a, 3, "node-b", "node-c")
	cs := a.m.ClusterView(ctx)
	if cs.Status != health.Healthy || len(cs.Nodes) != 3 {
		t.Fatalf("formed cluster: status %s, %d nodes, summary %q", cs.Status, len(cs.Nodes), cs.Summary)
	}
	for _, n := range cs.Nodes {
		if n.Stale || len(n.Probes) != 3 || n.MemberStatus == nil || n.MemberStatus.Tags["zone"] != "z1" {
			t.Fatalf("node %s in the view: stale %v, %d probes, member %+v", n.Name, n.Stale, len(n.Probes), n.MemberStatus)
		}
	}
	waitFor(t, 5*time.Second, "a joined event for node-b", func() bool { return a.sawEvent("node-b", events.MemberJoined) })

	// Peers and clocks, for the peers and clock check types.
	waitFor(t, 10*time.Second, "RTT to both peers", func() bool {
		ps := a.m.Peers()
		return len(ps) == 2 && ps[0].HasRTT && ps[1].HasRTT
	})
	qctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	samples, err := a.m.Clocks(qctx)
	cancel()
	if err != nil || len(samples) != 2 {
		t.Fatalf("Clocks: %v, %+v", err, samples)
	}
	for _, s := range samples {
		// One machine, one clock: the offset is only measurement error.
		if s.Offset.Abs() >= 5*time.Millisecond || s.RTT <= 0 {
			t.Errorf("clock sample %+v", s)
		}
	}

	// A state change on node-b reaches node-a by gossip, and is an event.
	bad := healthyStatus("node-b", 3)
	bad.Status = health.Degraded
	bad.Probes[1].Status = checks.StatusCritical
	b.setStatus(bad)
	waitFor(t, 5*time.Second, "node-a gets node-b's degraded digest", func() bool {
		a.m.mu.Lock()
		defer a.m.mu.Unlock()
		return a.m.digests["node-b"].d.Status == health.Degraded
	})
	if !a.sawEvent("node-b", events.NodeStatus) {
		t.Errorf("node-a has no status event for node-b")
	}
	cs = a.m.ClusterView(ctx)
	if cs.Status != health.Degraded || !strings.Contains(cs.Summary, "node-b: tcp.port_1 critical") {
		t.Fatalf("degraded node-b: status %s, summary %q", cs.Status, cs.Summary)
	}

	// A config change on node-c shows in Members and the summary.
	if err := c.m.SetConfigHash("hash2"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "node-a sees node-c's new hash", func() bool {
		for _, mem := range a.m.Members() {
			if mem.Name == "node-c" {
				return mem.Tags[tagHash] == "hash2"
			}
		}
		return false
	})
	cs = a.m.ClusterView(ctx)
	if !strings.Contains(cs.Summary, "members run 2 config hashes (hash1: node-a, node-b; hash2: node-c)") {
		t.Fatalf("summary without the hash split: %q", cs.Summary)
	}

	// node-b stopped cleanly: left. (Before node-c fails: serf's leave
	// intent is gossiped a fixed number of times, and with one of two peers
	// dead many of those go to the dead one, so node-a may see node-b
	// failed instead, as it would in a real three-node mesh.)
	b.stop()
	waitFor(t, 20*time.Second, "node-b left on node-a (now "+a.memberStatus("node-b")+")", func() bool { return a.memberStatus("node-b") == "left" })
	cs = a.m.ClusterView(ctx)
	if !strings.Contains(cs.Summary, "node-b:") || !strings.Contains(cs.Summary, "left") {
		t.Errorf("summary does not name node-b as left: %q", cs.Summary)
	}

	// node-c killed without a leave: failed, within failure detection.
	killed := time.Now()
	c.crash()
	// node-a is now alone: no indirect probes, and Lifeguard stretches its
	// probe timeouts as its own probes go unanswered, so this takes longer
	// than with a third member (docs/mesh.md, failure detection).
	waitFor(t, 45*time.Second, "node-c failed on node-a", func() bool { return a.memberStatus("node-c") == "failed" })
	t.Logf("node-c failed after %v", time.Since(killed).Round(10*time.Millisecond))
	cs = a.m.ClusterView(ctx)
	nc, _ := viewNode(cs, "node-c")
	if cs.Status != health.Degraded || !strings.Contains(cs.Summary, "node-c: stale data; failed") || !nc.Stale || len(nc.Probes) != 3 {
		t.Fatalf("after node-c crashed: %s %q; node-c stale %v probes %d", cs.Status, cs.Summary, nc.Stale, len(nc.Probes))
	}
	// Member events come after serf's coalescing period.
	waitFor(t, 5*time.Second, "a failed event for node-c", func() bool { return a.sawEvent("node-c", events.MemberFailed) })

	// node-a alone still answers, with the last known probes of both.
	cs = a.m.ClusterView(ctx)
	nb, _ := viewNode(cs, "node-b")
	nc, _ = viewNode(cs, "node-c")
	if len(cs.Nodes) != 3 || !nb.Stale || !nc.Stale || len(nb.Probes) != 3 || nb.Probes[1].Status != checks.StatusCritical {
		t.Fatalf("node-a alone: %+v", cs)
	}

	// node-c restarts from its snapshot, without join addresses.
	c2 := startNode(t, "node-c", addr(1, 3), func(c *Config) { c.DataDir = dirC })
	waitFor(t, 15*time.Second, "node-c rejoined from its snapshot", func() bool { return a.memberStatus("node-c") == "alive" })
	// Its new boot's first digest (seq 1) replaces the old boot's.
	waitFor(t, 5*time.Second, "node-a has node-c's new boot digest", func() bool {
		a.m.mu.Lock()
		defer a.m.mu.Unlock()
		return a.m.digests["node-c"].d.Boot == c2.m.Boot()
	})
	// node-b rejoins after its clean leave too (RejoinAfterLeave).
	startNode(t, "node-b", addr(1, 2), func(c *Config) { c.DataDir = dirB })
	waitFor(t, 15*time.Second, "node-b rejoined after leaving", func() bool { return a.memberStatus("node-b") == "alive" })
}
