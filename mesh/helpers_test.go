package mesh

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/satellite-hq/satellite/checks"
	"github.com/satellite-hq/satellite/events"
	"github.com/satellite-hq/satellite/health"
)

// testNode is one real serf agent on a loopback address.
type testNode struct {
	name   string
	ip     string
	m      *Mesh
	cancel context.CancelFunc
	done   chan error
	status atomic.Pointer[health.Node]

	mu     sync.Mutex
	events []*events.Event
}

// Each test uses its own 127.77.T.0/24 so tests never share addresses.
func addr(subnet, host int) string { return fmt.Sprintf("127.77.%d.%d", subnet, host) }

func gossip(ip string) string { return ip + ":7946" }

func healthyStatus(name string, n int) health.Node {
	ns := health.Node{Name: name, Status: health.Healthy}
	for i := range n {
		ns.Probes = append(ns.Probes, health.Probe{Checker: fmt.Sprintf("tcp.port_%d", i), Type: "tcp", Status: checks.StatusPassing})
	}
	return ns
}

// startNode builds and runs a mesh; edit adjusts the config first.
func startNode(t *testing.T, name, ip string, edit func(*Config)) *testNode {
	t.Helper()
	return startNodeWith(t, name, ip, edit, nil)
}

// startNodeWith is startNode; before, when set, sees the mesh before Run.
func startNodeWith(t *testing.T, name, ip string, edit func(*Config), before func(*Mesh)) *testNode {
	t.Helper()
	n := &testNode{name: name, ip: ip, done: make(chan error, 1)}
	st := healthyStatus(name, 3)
	n.status.Store(&st)
	cfg := Config{
		NodeName: name, Bind: gossip(ip), PeerPort: 7947,
		ConfigHash: "hash1", Version: "test", Role: "node",
		Tags:          map[string]string{"zone": "z1"},
		Local:         func() health.Node { return *n.status.Load() },
		Profile:       ProfileLocal,
		DataDir:       t.TempDir(),
		Logger:        hclog.New(&hclog.LoggerOptions{Name: name, Level: hclog.Warn, Output: newTestWriter(t)}),
		RetryInterval: 500 * time.Millisecond, RefreshInterval: 2 * time.Second, PeerTimeout: 500 * time.Millisecond,
		OnEvent: func(e *events.Event) { n.mu.Lock(); n.events = append(n.events, e); n.mu.Unlock() },
	}
	if edit != nil {
		edit(&cfg)
	}
	m, err := New(cfg)
	if err != nil {
		t.Fatalf("New(%s): %v", name, err)
	}
	n.m = m
	if before != nil {
		before(m)
	}
	ctx, cancel := context.WithCancel(context.Background())
	n.cancel = cancel
	go func() { n.done <- m.Run(ctx) }()
	waitFor(t, 5*time.Second, name+" serf started", func() bool { return m.getSerf() != nil })
	t.Cleanup(n.stop)
	return n
}

// stop leaves the mesh cleanly and waits for Run to return.
func (n *testNode) stop() {
	if n.cancel == nil {
		return
	}
	n.cancel()
	n.cancel = nil
	select {
	case <-n.done:
	case <-time.After(15 * time.Second):
		panic("mesh " + n.name + " did not stop")
	}
}

// crash stops serf without a leave, as a killed process would.
func (n *testNode) crash() {
	n.m.kill()
	n.stop()
}

func (n *testNode) setStatus(ns health.Node) {
	n.status.Store(&ns)
	n.m.Notify()
}

func (n *testNode) memberStatus(name string) string {
	for _, mem := range n.m.Members() {
		if mem.Name == name {
			return mem.Status
		}
	}
	return ""
}

func (n *testNode) sawEvent(node string, kind events.Kind) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, e := range n.events {
		if e.Node == node && e.Kind == kind {
			return true
		}
	}
	return false
}

func (n *testNode) aliveCount() int {
	c := 0
	for _, mem := range n.m.Members() {
		if mem.Status == "alive" {
			c++
		}
	}
	return c
}

func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	waitForLast(t, d, what, nil, cond)
}

// waitForLast is waitFor that names, when it times out, what cond last
// wrote to *last.
func waitForLast(t testing.TB, d time.Duration, what string, last *string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			if last != nil {
				t.Fatalf("timed out after %v waiting for %s (last: %s)", d, what, *last)
			}
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// testWriter sends logs to the test's log, so they show only on failure;
// it goes quiet once the test is over (serf may log while shutting down).
type testWriter struct {
	t      testing.TB
	closed *atomic.Bool
}

func newTestWriter(t testing.TB) testWriter {
	w := testWriter{t: t, closed: new(atomic.Bool)}
	t.Cleanup(func() { w.closed.Store(true) })
	return w
}

func (w testWriter) Write(p []byte) (int, error) {
	if !w.closed.Load() {
		w.t.Log(string(p))
	}
	return len(p), nil
}

// hasDigest reports whether m stores a digest of name.
func hasDigest(m *Mesh, name string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, ok := m.digests[name]
	return ok
}

// kill stops serf without leaving, as a crash would; Run returns when its
// ctx is cancelled afterwards.
func (m *Mesh) kill() {
	if s := m.getSerf(); s != nil {
		_ = s.Shutdown()
	}
}

// waitFresh waits until n's cluster view shows each of peers fresh, with
// the probes count its endpoint serves (the background fetcher read it).
func waitFresh(t testing.TB, n *testNode, probes int, peers ...string) {
	t.Helper()
	var last string
	waitForLast(t, 15*time.Second, n.name+" reads "+fmt.Sprint(peers), &last, func() bool {
		cs := n.m.ClusterView(context.Background())
		for _, name := range peers {
			nd, ok := viewNode(cs, name)
			if !ok || nd.Stale || len(nd.Probes) != probes || nd.PeerAnswered == nil || !*nd.PeerAnswered {
				last = fmt.Sprintf("%s: found %v stale %v (%s) probes %d answered %v", name, ok, nd.Stale, nd.StaleReason, len(nd.Probes), nd.PeerAnswered)
				return false
			}
		}
		return true
	})
}
