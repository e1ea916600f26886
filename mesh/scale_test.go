package mesh

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/memberlist"

	"github.com/satellite-hq/satellite/health"
)

// BenchmarkMeshScale runs MESH_SCALE_NODES (default 500) satellite
// meshes in this process on memberlist's in-memory transport (a dropping
// packet queue per agent, memnet_test.go), each with its peer endpoint on
// loopback TCP, LAN profile and production periods, and measures, on that
// one cluster:
//
//   - propagate: the time from a state change on one node until every
//     other node has its digest (p50, p99 of b.N changes), and the gossip
//     bytes each node sends per second, idle and meanwhile;
//   - churn: the same while 5% of the nodes are restarting at any moment
//     (half leave, half crash), counting only receivers that stayed up;
//   - hung: three agents hang (their status never returns, so their peer
//     endpoint and digests stop while serf answers): the time until every
//     other node marks each one stale;
//   - status: one node's whole cluster view with every member, encoded as
//     /v1/status sends it (time and allocations per call, with the other
//     999 agents running on the same two cores).
//
// Run with -benchtime=10x; see BENCHMARKS.md. It takes 15 minutes or more,
// so `make bench` (-bench .) leaves it out: name it.
func BenchmarkMeshScale(b *testing.B) {
	skipUnlessNamed(b)
	installByteSink(b)
	n := 500
	if v := os.Getenv("MESH_SCALE_NODES"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 10 {
			b.Fatalf("MESH_SCALE_NODES=%q: want a number of nodes ≥ 10", v)
		}
	}
	var c *scaleCluster
	defer func() {
		if c != nil {
			c.stopAll()
		}
	}()
	phases := []struct {
		name string
		run  func(*testing.B, *scaleCluster)
	}{
		{"propagate", func(b *testing.B, c *scaleCluster) { c.propagate(b, false) }},
		{"churn", func(b *testing.B, c *scaleCluster) { c.propagate(b, true) }},
		{"hung", func(b *testing.B, c *scaleCluster) { c.hung(b) }},
		{"status", func(b *testing.B, c *scaleCluster) { c.status(b) }},
	}
	failed := false
	for _, ph := range phases {
		b.Run(fmt.Sprintf("nodes=%d/%s", n, ph.name), func(b *testing.B) {
			if failed {
				b.Fatal("the cluster did not form")
			}
			if c == nil {
				failed = true
				c = formScale(b, n)
				failed = false
			}
			ph.run(b, c)
		})
	}
}

// scaleSlot is one agent of the scale cluster, across its restarts.
type scaleSlot struct {
	i      int
	name   string
	tr     *memTransport
	status atomic.Pointer[health.Node]
	// frozen, when set, makes Local block until the channel is closed:
	// the agent hangs as a deadlocked one does, its serf still answering.
	frozen atomic.Pointer[chan struct{}]
	// busy marks a slot the churn or the hung phase has taken.
	busy atomic.Bool

	mu      sync.Mutex
	m       *Mesh
	cancel  context.CancelFunc
	done    chan struct{}
	up      bool
	upSince time.Time
}

func (s *scaleSlot) local() health.Node {
	if ch := s.frozen.Load(); ch != nil {
		<-*ch
	}
	return *s.status.Load()
}

// mesh is the slot's current mesh, and whether it runs (not stopping).
func (s *scaleSlot) mesh() (*Mesh, bool, time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.m, s.up, s.upSince
}

type scaleCluster struct {
	n        int
	slots    []*scaleSlot
	log      hclog.Logger
	peerBase int
	// antiEntropy is the anti-entropy period; MESH_SCALE_ANTIENTROPY=off
	// sets it to a day, to measure what gossip alone loses.
	antiEntropy time.Duration
	// k dilates time (MESH_SCALE_DILATE, default 4): every period and
	// timeout of memberlist, serf and the mesh is k times longer, so the
	// 1,000 agents need 1/k of the CPU that two cores cannot give them at
	// full speed; durations measured are divided by k, rates multiplied.
	k time.Duration

	arrivals
}

func formScale(b *testing.B, n int) *scaleCluster {
	c := &scaleCluster{n: n, peerBase: 21000,
		log: hclog.New(&hclog.LoggerOptions{Level: benchLogLevel, Output: os.Stderr})}
	if benchLogLevel == hclog.NoLevel {
		c.log = hclog.NewNullLogger()
	}
	c.k = time.Duration(1)
	if v := os.Getenv("MESH_SCALE_DILATE"); v != "" {
		k, err := strconv.Atoi(v)
		if err != nil || k < 1 {
			b.Fatalf("MESH_SCALE_DILATE=%q: want a factor ≥ 1", v)
		}
		c.k = time.Duration(k)
	} else if n >= 500 {
		c.k = 4
	}
	if v := os.Getenv("MESH_SCALE_REFRESH_RATE"); v != "" {
		r, err := strconv.ParseFloat(v, 64)
		if err != nil || r <= 0 {
			b.Fatalf("MESH_SCALE_REFRESH_RATE=%q: want refresh digests per second for the mesh, > 0", v)
		}
		maxRefreshRate = r // before any agent starts: read without a lock
	}
	c.antiEntropy = antiEntropyInterval * c.k
	if os.Getenv("MESH_SCALE_ANTIENTROPY") == "off" {
		c.antiEntropy = 24 * time.Hour
	}
	name := func(i int) string { return fmt.Sprintf("s%04d", i) }
	trs := newMemNet(n, name)
	for i := range n {
		s := &scaleSlot{i: i, name: name(i), tr: trs[i]}
		st := healthyStatus(s.name, 20)
		s.status.Store(&st)
		c.slots = append(c.slots, s)
	}
	formed := false
	defer func() {
		if !formed {
			c.stopAll()
		}
	}()
	start := time.Now()
	for i, s := range c.slots {
		var join []string
		if i > 0 {
			// A random earlier node: joins spread over the mesh instead of
			// queueing push-pulls on one seed.
			join = []string{c.slots[rand.IntN(i)].tr.addr}
		}
		c.start(b, s, join)
		time.Sleep(2 * time.Millisecond)
	}
	last := time.Now()
	waitFor(b, 15*time.Minute, "the cluster forms", func() bool {
		min, fewest := n, ""
		for _, s := range c.slots {
			m, _, _ := s.mesh()
			if k := m.getSerf().NumNodes(); k < min {
				min, fewest = k, s.name
			}
		}
		if time.Since(last) > 15*time.Second {
			// On stderr: b.Logf shows only once the benchmark is over.
			fmt.Fprintf(os.Stderr, "forming: %v, the node that knows fewest (%s) knows %d of %d%s\n",
				time.Since(start).Round(time.Second), fewest, min, n, c.unknownTo(fewest))
			last = time.Now()
		}
		// A member that one node never heard of waits for a push-pull
		// (a quarter of an hour at 1,000): past two minutes, 99% is formed enough,
		// and the measurements count what that costs.
		return min == n || time.Since(start) > 2*time.Minute && min >= n*99/100
	})
	formedIn := time.Since(start)
	formed = true
	b.Logf("%d nodes formed in %v (%d of %d node-to-node digests not there yet); refresh period %v",
		n, formedIn.Round(time.Second), c.missingPairs(), n*(n-1), c.slots[0].m.refreshPeriod())
	fmt.Fprintf(os.Stderr, "%d nodes formed in %v\n", n, formedIn.Round(time.Second))
	// MESH_SCALE_SETTLE (real time, default 10s) lets the join's
	// membership backlog drain before the idle window: memberlist sends
	// every alive message about 4·log10(N+1) times from every node.
	// MESH_SCALE_SETTLE=drain waits instead until serf's queues (join
	// intents, user events, queries) of every node together hold fewer
	// than one message per node, at most 40 minutes: the steady state.
	settle := 10 * time.Second
	switch v := os.Getenv("MESH_SCALE_SETTLE"); v {
	case "":
	case "drain":
		settle = -1
	default:
		d, err := time.ParseDuration(v)
		if err != nil {
			b.Fatalf("MESH_SCALE_SETTLE=%q: %v", v, err)
		}
		settle = d
	}
	if settle >= 0 {
		time.Sleep(settle)
	} else {
		// MESH_SCALE_DRAIN_MAX (real time, default 40m) bounds the wait.
		drainMax := 40 * time.Minute
		if v := os.Getenv("MESH_SCALE_DRAIN_MAX"); v != "" {
			d, err := time.ParseDuration(v)
			if err != nil || d <= 0 {
				b.Fatalf("MESH_SCALE_DRAIN_MAX=%q: want a duration > 0", v)
			}
			drainMax = d
		}
		drainStart, last, prev := time.Now(), time.Now(), sent.membership()
		for {
			q := c.serfQueued()
			now := sent.membership()
			// Per node per second undilated: the membership news each
			// node took (each queued for rebroadcast), and memberlist's
			// own queue as the nodes sampled it since the last line.
			per := float64(c.k) / time.Since(last).Seconds() / float64(n)
			mlq := 0.0
			if k := now.queueSamples - prev.queueSamples; k > 0 {
				mlq = float64(now.queueSum-prev.queueSum) / float64(k)
			}
			fmt.Fprintf(os.Stderr, "draining: %v, serf's queues %d (intents %d, events %d, queries %d); memberlist's queue %.0f per node; news per node per s: alive %.2f, suspect %.2f, dead %.2f\n",
				time.Since(drainStart).Round(time.Second), q.total(), q.intents, q.events, q.queries, mlq,
				float64(now.alive-prev.alive)*per, float64(now.suspect-prev.suspect)*per, float64(now.dead-prev.dead)*per)
			prev, last = now, time.Now()
			if q.total() < n || time.Since(drainStart) > drainMax {
				break
			}
			time.Sleep(30 * time.Second)
		}
		b.Logf("serf's queues drained in %v (%d of %d node-to-node digests not there yet)",
			time.Since(drainStart).Round(time.Second), c.missingPairs(), n*(n-1))
	}
	// MESH_SCALE_WINDOW (real time, default 1m) is the idle window: the
	// refresh digests come at random points of the period, so a longer
	// window averages more of them.
	window := time.Minute
	if testing.Short() {
		window = 5 * time.Second
	}
	if v := os.Getenv("MESH_SCALE_WINDOW"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			b.Fatalf("MESH_SCALE_WINDOW=%q: want a duration > 0", v)
		}
		window = d
	}
	before, reads, gossip0, t0 := sent.read(), c.reads(), c.gossipCounts(), time.Now()
	time.Sleep(window)
	secs := time.Since(t0).Seconds()
	idle, tcp, serfMsgs := sent.rates(before, secs, n, c.k)
	// What the mesh sent by gossip in the window, per second undilated:
	// digests published (refreshes and changes), notices, and digests
	// received by each node (every copy, replays included).
	g := c.gossipCounts().minus(gossip0)
	per := float64(c.k) / secs
	gossipLine := fmt.Sprintf("idle gossip events: %.2f digests published per s in the mesh, %.2f notices per s, %.1f digest copies received per node per s; a digest is %d bytes",
		float64(g.published)*per, float64(g.notices)*per, float64(g.received)*per/float64(n), c.digestSize())
	b.Log(gossipLine)
	fmt.Fprintln(os.Stderr, gossipLine)
	readRate := float64(c.reads()-reads) / secs / float64(n) * float64(c.k)
	idleLine := fmt.Sprintf("idle gossip: %.0f B/node/s over %v (push-pull over TCP %.0f, serf's messages in UDP gossip %.0f); peer endpoint reads (background, watches, anti-entropy): %.2f per node per s", idle, window, tcp, serfMsgs, readRate)
	b.Log(idleLine)
	fmt.Fprintln(os.Stderr, idleLine) // now: b.Log shows only once the benchmark is over
	b.ReportMetric(formedIn.Seconds(), "form-s")
	b.ReportMetric(idle, "idle-B/node/s")
	b.ReportMetric(tcp, "idle-tcp-B/node/s")
	b.ReportMetric(serfMsgs, "idle-serf-B/node/s")
	b.ReportMetric(readRate, "idle-reads/node/s")
	return c
}

// unknownTo names, when few, the nodes the slot called name does not
// know, and how the others see them.
func (c *scaleCluster) unknownTo(name string) string {
	var m *Mesh
	for _, s := range c.slots {
		if s.name == name {
			m, _, _ = s.mesh()
		}
	}
	if m == nil {
		return ""
	}
	knows := map[string]bool{}
	for _, mem := range m.getSerf().Members() {
		knows[mem.Name] = true
	}
	var out []string
	for _, s := range c.slots {
		if !knows[s.name] && len(out) < 5 {
			sm, _, _ := s.mesh()
			out = append(out, fmt.Sprintf("%s (knows %d)", s.name, sm.getSerf().NumNodes()))
		}
	}
	if len(out) == 0 {
		return ""
	}
	return "; it does not know " + strings.Join(out, ", ")
}

// describe tells what the slot called receiver holds of node, to see why
// a digest did not arrive.
func (c *scaleCluster) describe(receiver, node string) string {
	for _, s := range c.slots {
		if s.name != receiver {
			continue
		}
		m, up, since := s.mesh()
		m.mu.Lock()
		r, had := m.digests[node]
		k, known := m.known[node]
		m.mu.Unlock()
		member := ""
		for _, mem := range m.getSerf().Members() {
			if mem.Name == node {
				member = mem.Status.String()
			}
		}
		st := m.Stats()
		return fmt.Sprintf("up %v since %v ago; member %q; known %v (boot %d apart %v); digest %v (boot %d seq %d, %v ago); drops %v; repaired %d; full %d",
			up, time.Since(since).Round(time.Second), member, known, k.boot, k.apart, had, r.d.Boot, r.d.Seq, time.Since(r.at).Round(time.Second), st.DigestsDropped, st.DigestsRepaired, st.FullSyncs)
	}
	return "no such slot"
}

// gossipCount is what the meshes sent and received by gossip, summed.
type gossipCount struct{ published, notices, received uint64 }

func (g gossipCount) minus(o gossipCount) gossipCount {
	return gossipCount{g.published - o.published, g.notices - o.notices, g.received - o.received}
}

// gossipCounts sums the current meshes' published digests (their
// sequence numbers), notices sent and digests received.
func (c *scaleCluster) gossipCounts() gossipCount {
	var g gossipCount
	for _, s := range c.slots {
		m, _, _ := s.mesh()
		m.mu.Lock()
		g.published += m.seq
		m.mu.Unlock()
		st := m.Stats()
		g.notices += st.NoticesSent
		g.received += st.DigestsReceived
	}
	return g
}

// serfQueues is what waits in serf's three queues, every node together.
type serfQueues struct{ intents, events, queries int }

func (q serfQueues) total() int { return q.intents + q.events + q.queries }

// serfQueued is the messages waiting in every node's serf queues.
func (c *scaleCluster) serfQueued() serfQueues {
	var q serfQueues
	for _, s := range c.slots {
		m, _, _ := s.mesh()
		st := m.getSerf().Stats()
		for k, into := range map[string]*int{"intent_queue": &q.intents, "event_queue": &q.events, "query_queue": &q.queries} {
			v, _ := strconv.Atoi(st[k])
			*into += v
		}
	}
	return q
}

// digestSize is the encoded size of the first slot's digest.
func (c *scaleCluster) digestSize() int {
	m, _, _ := c.slots[0].mesh()
	d, names := digestOf(m.local(), m.boot, 1, time.Now())
	b, err := encodeDigest(d, names)
	if err != nil {
		return -1
	}
	return len(b)
}

// reads is how many peer endpoint reads the current meshes made.
func (c *scaleCluster) reads() uint64 {
	var n uint64
	for _, s := range c.slots {
		m, _, _ := s.mesh()
		n += m.Stats().Reads
	}
	return n
}

// start runs a new mesh in slot s, joining join.
func (c *scaleCluster) start(b *testing.B, s *scaleSlot, join []string) {
	m, err := New(Config{
		NodeName: s.name, Bind: "127.0.0.1:0", Transport: s.tr, PeerPort: c.peerBase + s.i,
		Join: join, Local: s.local, Profile: ProfileLAN, Logger: c.log,
		// Every agent's background fetcher would read all 999 others at
		// formation and on every change, a million HTTP reads for two
		// cores: it is off here, and the status phase fills one node's
		// cache as the fetcher would have. Watches and anti-entropy run.
		noFetch:          true,
		antiEntropyEvery: c.antiEntropy,
		Debounce:         DefaultDebounce * c.k,
		WatchInterval:    DefaultWatchInterval * c.k,
		PeerTimeout:      DefaultPeerTimeout * c.k,
		// The refresh period at this size, dilated (the rate cap is not).
		RefreshInterval: max(DefaultRefreshInterval, time.Duration(float64(c.n)/maxRefreshRate*float64(time.Second))) * c.k,
		Tune: func(mc *memberlist.Config) {
			mc.ProbeInterval *= c.k
			mc.ProbeTimeout *= c.k
			mc.GossipInterval *= c.k
			mc.GossipToTheDeadTime *= c.k
			mc.PushPullInterval *= c.k
			mc.TCPTimeout *= c.k
		},
	})
	if err != nil {
		b.Fatal(err)
	}
	// One process holds both ends of every peer connection of the mesh:
	// two idle ones per agent keep the descriptors under the limit.
	m.client.Transport.(*http.Transport).MaxIdleConns = 2
	receiver := s.name
	m.onDigest = func(d Digest, at time.Time) { c.record(d.Node, d.Seq, receiver, at) }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := m.Run(ctx); err != nil {
			c.log.Error("mesh stopped", "node", s.name, "error", err)
		}
	}()
	for m.getSerf() == nil {
		select {
		case <-done:
			b.Fatalf("%s did not start", s.name)
		case <-time.After(time.Millisecond):
		}
	}
	s.mu.Lock()
	s.m, s.cancel, s.done, s.up, s.upSince = m, cancel, done, true, time.Now()
	s.mu.Unlock()
}

// stop ends the slot's mesh: leaving, or crashed (serf shut down first).
func (s *scaleSlot) stop(crash bool) {
	s.mu.Lock()
	m, cancel, done := s.m, s.cancel, s.done
	s.up = false
	s.mu.Unlock()
	if m == nil {
		return // never started (the cluster failed to form)
	}
	if crash {
		m.kill()
	}
	cancel()
	<-done
}

func (c *scaleCluster) stopAll() {
	var wg sync.WaitGroup
	for _, s := range c.slots {
		if ch := s.frozen.Swap(nil); ch != nil {
			close(*ch)
		}
		wg.Add(1)
		go func() { defer wg.Done(); s.stop(true) }()
	}
	wg.Wait()
}

// missingPairs counts the (node, member) pairs of which the node holds
// no digest.
func (c *scaleCluster) missingPairs() int {
	missing := 0
	for _, s := range c.slots {
		s.m.mu.Lock()
		missing += c.n - 1 - len(s.m.digests)
		s.m.mu.Unlock()
	}
	return missing
}

// churn keeps n/20 nodes restarting until ctx is done: each worker stops a
// random idle node (leaving or crashing, in turn), keeps it down 5 s, starts
// it again joining a random up node, and waits until it has joined.
func (c *scaleCluster) churn(ctx context.Context, b *testing.B, restarts *atomic.Int64) *sync.WaitGroup {
	var wg sync.WaitGroup
	for w := range max(1, c.n/20) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 0; ctx.Err() == nil; k++ {
				s := c.slots[rand.IntN(c.n)]
				if !s.busy.CompareAndSwap(false, true) {
					continue
				}
				s.stop((w+k)%2 == 1)
				select {
				case <-ctx.Done():
				case <-time.After(5 * time.Second * c.k):
				}
				seed := c.slots[rand.IntN(c.n)]
				c.start(b, s, []string{seed.tr.addr})
				for ctx.Err() == nil && s.m.getSerf().NumNodes() < c.n/2 {
					time.Sleep(100 * time.Millisecond)
				}
				restarts.Add(1)
				s.busy.Store(false)
			}
		}()
	}
	return &wg
}

// propagate makes b.N state changes on random nodes, one at a time, and
// measures how long each takes to reach every other node that stayed up.
func (c *scaleCluster) propagate(b *testing.B, churning bool) {
	var restarts atomic.Int64
	if churning {
		ctx, cancel := context.WithCancel(context.Background())
		wg := c.churn(ctx, b, &restarts)
		defer func() { cancel(); wg.Wait() }()
		time.Sleep(10 * time.Second * c.k) // the first restarts under way
	}
	var lat []time.Duration
	misses, missedPairs, pairs := 0, 0, 0
	type miss struct {
		node      string
		receivers []string
	}
	var missed []miss
	start, before := time.Now(), sent.read()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var s *scaleSlot
		for s == nil || !s.busy.CompareAndSwap(false, true) {
			s = c.slots[rand.IntN(c.n)]
		}
		m, _, _ := s.mesh()
		st := flipped(*s.status.Load())
		m.mu.Lock()
		next := m.seq + 1
		m.mu.Unlock()
		c.expect(s.name, next)
		changed := time.Now()
		s.status.Store(&st)
		m.Notify()
		// The receivers that count: up since before the change and still
		// up. A change that has not reached them all after 10 s is a miss
		// (an infinite latency in the quantiles).
		deadline := changed.Add(10 * time.Second * c.k)
		for {
			var last time.Time
			want, got := 0, 0
			expired := time.Now().After(deadline)
			c.mu.Lock()
			arr := c.arrived[s.name]
			for _, r := range c.slots {
				if r == s {
					continue
				}
				_, up, since := r.mesh()
				if !up || since.After(changed) {
					continue
				}
				want++
				if at, ok := arr[r.name]; ok {
					got++
					if at.After(last) {
						last = at
					}
				} else if expired {
					if len(missed) == 0 || missed[len(missed)-1].node != s.name+"#"+strconv.Itoa(i) {
						missed = append(missed, miss{node: s.name + "#" + strconv.Itoa(i)})
					}
					missed[len(missed)-1].receivers = append(missed[len(missed)-1].receivers, r.name)
				}
			}
			c.mu.Unlock()
			if got == want {
				lat = append(lat, last.Sub(changed)/c.k)
				pairs += want
				break
			}
			if expired {
				misses++
				pairs += want
				missedPairs += want - got
				fmt.Fprintf(os.Stderr, "change %d on %s reached %d of %d nodes in %v\n", i, s.name, got, want, 10*time.Second*c.k)
				lat = append(lat, time.Duration(math.MaxInt64))
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		s.busy.Store(false)
		fmt.Fprintf(os.Stderr, "change %d of %d (churn %v): %v\n", i+1, b.N, churning, lat[len(lat)-1])
		time.Sleep(500 * time.Millisecond * c.k)
	}
	b.StopTimer()
	secs := time.Since(start).Seconds()
	busy, busyTCP, busySerf := sent.rates(before, secs, c.n, c.k)
	// What the 10 s missed: still missing 40 s later is lost (the next
	// refresh is minutes away at this size), else late.
	lost := 0
	if missedPairs > 0 {
		time.Sleep(40 * time.Second * c.k)
		c.mu.Lock()
		for _, ms := range missed {
			name, _, _ := strings.Cut(ms.node, "#")
			for _, r := range ms.receivers {
				if _, ok := c.arrived[name][r]; !ok {
					lost++
					if lost <= 5 {
						fmt.Fprintf(os.Stderr, "lost: %s's change on %s: %s\n", name, r, c.describe(r, name))
					}
				}
			}
		}
		c.mu.Unlock()
	}
	p50, p99 := quantiles(lat)
	b.ReportMetric(p50, "p50-ms")
	b.ReportMetric(p99, "p99-ms")
	b.ReportMetric(busy, "busy-B/node/s")
	b.ReportMetric(busyTCP, "busy-tcp-B/node/s")
	b.ReportMetric(busySerf, "busy-serf-B/node/s")
	b.ReportMetric(float64(misses), "misses")
	b.ReportMetric(float64(missedPairs)/float64(max(1, pairs))*100, "missed-%")
	b.ReportMetric(float64(lost)/float64(max(1, pairs))*100, "lost-%")
	b.ReportMetric(0, "ns/op")
	if churning {
		b.ReportMetric(float64(restarts.Load())/secs, "restarts/s")
	}
	b.Logf("n=%d (time dilated %d×, figures in undilated time) churn=%v: %d changes in %.0fs, p50 %.0fms p99 %.0fms, %d misses (%d of %d node pairs not in 10 s, %d still not 40 s later), %.0f B/node/s, %d restarts",
		c.n, c.k, churning, len(lat), secs, p50, p99, misses, missedPairs, pairs, lost, busy, restarts.Load())
}

// hung hangs three nodes at once and measures, for each, the time until
// every other node marks it stale (an unreachability notice about its
// boot), then thaws them.
func (c *scaleCluster) hung(b *testing.B) {
	const k = 3
	var frozen []*scaleSlot
	for len(frozen) < k {
		s := c.slots[rand.IntN(c.n)]
		if s.busy.CompareAndSwap(false, true) {
			frozen = append(frozen, s)
		}
	}
	thaw := make(chan struct{})
	froze := time.Now()
	for _, s := range frozen {
		s.frozen.Store(&thaw)
	}
	b.ResetTimer()
	var first, all []time.Duration
	for _, s := range frozen {
		fm, _, _ := s.mesh()
		var firstAt time.Duration
		waitFor(b, 5*time.Minute*c.k, "every node marks "+s.name+" stale", func() bool {
			seen, want := 0, 0
			for _, r := range c.slots {
				if r.frozen.Load() != nil {
					continue
				}
				m, _, _ := r.mesh()
				want++
				m.mu.Lock()
				if m.reportedDownLocked(s.name, fm.Boot()) {
					seen++
				}
				m.mu.Unlock()
			}
			if seen > 0 && firstAt == 0 {
				firstAt = time.Since(froze)
			}
			return seen == want
		})
		first = append(first, firstAt/c.k)
		all = append(all, time.Since(froze)/c.k)
	}
	b.StopTimer()
	for _, s := range frozen {
		s.frozen.Store(nil)
	}
	close(thaw)
	for _, s := range frozen {
		s.busy.Store(false)
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	sort.Slice(first, func(i, j int) bool { return first[i] < first[j] })
	b.ReportMetric(first[0].Seconds(), "first-s")
	b.ReportMetric(all[len(all)-1].Seconds(), "all-s")
	b.ReportMetric(0, "ns/op")
	b.Logf("n=%d: %d hung nodes: first node marks one stale after %v, every node marks all of them after %v",
		c.n, k, first[0].Round(100*time.Millisecond), all[len(all)-1].Round(100*time.Millisecond))
}

// status measures one node's whole cluster view, encoded as JSON, with
// every peer's full status (20 probes) in its cache, as the background
// fetcher keeps it.
func (c *scaleCluster) status(b *testing.B) {
	m, _, _ := c.slots[0].mesh()
	ctx := context.Background()
	now := time.Now()
	m.mu.Lock()
	for _, s := range c.slots[1:] {
		full := healthyStatus(s.name, 20)
		m.peer(s.name).noteRead(&full, m.digestKeyLocked(s.name), nil, now)
	}
	m.mu.Unlock()
	b.ReportAllocs()
	b.ResetTimer()
	size := 0
	for i := 0; i < b.N; i++ {
		cs := m.ClusterView(ctx)
		out, err := json.Marshal(cs)
		if err != nil {
			b.Fatal(err)
		}
		if len(cs.Nodes) != c.n {
			b.Fatalf("the view has %d nodes, want %d", len(cs.Nodes), c.n)
		}
		size = len(out)
	}
	b.ReportMetric(float64(size), "json-B")
}

// skipUnlessNamed skips the long mesh runs under -bench . (make bench):
// they run when -bench names them.
func skipUnlessNamed(b *testing.B) {
	if f := flag.Lookup("test.bench"); f != nil && (f.Value.String() == "." || f.Value.String() == ".*") {
		b.Skip("takes 15 minutes or more: run it by name, e.g. go test -run '^$' -bench 'MeshScale$' -benchtime=10x ./mesh/")
	}
}
