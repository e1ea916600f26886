package mesh

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-metrics"

	"github.com/satellite-hq/satellite/checks"
	"github.com/satellite-hq/satellite/health"
)

// byteSink counts what memberlist reports as sent (UDP packets and TCP
// streams, every node of the process together), and of it the TCP
// streams (push-pull) and serf's messages in the gossip (user events such
// as digests, member intents, queries).
//
// It also keeps what explains a backlog: the alive, suspect and dead
// messages memberlist took as news (each one queued for rebroadcast), and
// memberlist's own broadcast queue as each node samples it (every
// QueueCheckInterval), summed with the number of samples.
type byteSink struct {
	sent, tcp, serfMsgs        atomic.Uint64
	alive, suspect, dead       atomic.Uint64
	mlQueueSum, mlQueueSamples atomic.Uint64
}

func (s *byteSink) count(key []string, val float32) {
	if len(key) == 3 && key[0] == "memberlist" && key[1] == "msg" {
		switch key[2] {
		case "alive":
			s.alive.Add(uint64(val))
		case "suspect":
			s.suspect.Add(uint64(val))
		case "dead":
			s.dead.Add(uint64(val))
		}
	}
	if len(key) == 3 && key[0] == "memberlist" && key[2] == "sent" {
		s.sent.Add(uint64(val))
		if key[1] == "tcp" {
			s.tcp.Add(uint64(val))
		}
	}
}

func (s *byteSink) sample(key []string, val float32) {
	if len(key) == 3 && key[0] == "serf" && key[1] == "msgs" && key[2] == "sent" {
		s.serfMsgs.Add(uint64(val))
	}
	if len(key) == 3 && key[0] == "memberlist" && key[1] == "queue" && key[2] == "broadcasts" {
		s.mlQueueSum.Add(uint64(val))
		s.mlQueueSamples.Add(1)
	}
}

// membership is a reading of what memberlist took as news and queued.
type membership struct{ alive, suspect, dead, queueSum, queueSamples uint64 }

func (s *byteSink) membership() membership {
	return membership{s.alive.Load(), s.suspect.Load(), s.dead.Load(), s.mlQueueSum.Load(), s.mlQueueSamples.Load()}
}

// byteCount is a reading of the sink.
type byteCount struct{ all, tcp, serf uint64 }

func (s *byteSink) read() byteCount {
	return byteCount{s.sent.Load(), s.tcp.Load(), s.serfMsgs.Load()}
}

// rates is what was sent since c, per node per second, scaled by k (the
// time dilation): all, and of it TCP and serf's messages.
func (s *byteSink) rates(c byteCount, secs float64, n int, k time.Duration) (all, tcp, serfMsgs float64) {
	now := s.read()
	f := float64(k) / secs / float64(n)
	return float64(now.all-c.all) * f, float64(now.tcp-c.tcp) * f, float64(now.serf-c.serf) * f
}
func (s *byteSink) SetGauge([]string, float32)                            {}
func (s *byteSink) SetGaugeWithLabels([]string, float32, []metrics.Label) {}
func (s *byteSink) EmitKey([]string, float32)                             {}
func (s *byteSink) IncrCounter(k []string, v float32)                     { s.count(k, v) }
func (s *byteSink) IncrCounterWithLabels(k []string, v float32, _ []metrics.Label) {
	s.count(k, v)
}
func (s *byteSink) AddSample(k []string, v float32) { s.sample(k, v) }
func (s *byteSink) AddSampleWithLabels(k []string, v float32, _ []metrics.Label) {
	s.sample(k, v)
}

// benchLogLevel is raised to warn to see why a digest went missing.
var benchLogLevel = hclog.LevelFromString(os.Getenv("MESH_BENCH_LOG"))

var (
	sinkOnce sync.Once
	sent     = &byteSink{}
)

// benchCluster is n meshes in this process.
type benchCluster struct {
	key    string
	idle   float64 // bytes per node per second with no changes
	nodes  []*Mesh
	status []atomic.Pointer[health.Node]
	cancel context.CancelFunc
	wg     sync.WaitGroup

	arrivals
}

// BenchmarkDigestPropagation measures, for clusters of 50, 100 and 200
// serf agents in this process, the time from a state change on one node
// (Notify) until every other node has its digest, and the gossip bytes
// each node sends per second meanwhile. "udp" runs every agent on its own
// loopback address; "mem" uses memberlist's in-memory transport, which
// takes the kernel out but still runs every agent's goroutines on the
// same two cores. Run with -benchtime=40x: each iteration is one change.
func BenchmarkDigestPropagation(b *testing.B) {
	installByteSink(b)
	// The testing package calls each sub-benchmark twice (b.N = 1, then
	// the -benchtime count): the cluster formed for the first call is kept
	// for the second, and stopped before the next size forms.
	var c *benchCluster
	defer func() {
		if c != nil {
			c.stop()
		}
	}()
	for _, tr := range []string{"mem", "udp"} {
		for _, n := range []int{50, 100, 200} {
			b.Run(fmt.Sprintf("%s/nodes=%d", tr, n), func(b *testing.B) {
				if c == nil || c.key != fmt.Sprint(tr, n) {
					if c != nil {
						c.stop()
					}
					c = formCluster(b, tr, n)
				}
				benchPropagation(b, c)
			})
		}
	}
}

// installByteSink makes the global go-metrics sink count what memberlist
// sends (the benchmarks' gossip bytes).
func installByteSink(b testing.TB) {
	sinkOnce.Do(func() {
		conf := metrics.DefaultConfig("")
		conf.EnableHostname, conf.EnableRuntimeMetrics, conf.EnableServiceLabel = false, false, false
		if _, err := metrics.NewGlobal(conf, sent); err != nil {
			b.Fatal(err)
		}
	})
}

// arrivals records, for each node whose state a benchmark changed, when
// each receiver first stored a digest carrying the change.
type arrivals struct {
	mu      sync.Mutex
	arrived map[string]map[string]time.Time // changed node -> receiver -> arrival
	want    map[string]uint64               // changed node -> first sequence with the change
}

// expect starts counting the arrivals of node's digests from seq on.
func (a *arrivals) expect(node string, seq uint64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.want == nil {
		a.arrived, a.want = map[string]map[string]time.Time{}, map[string]uint64{}
	}
	delete(a.arrived, node)
	a.want[node] = seq
}

// record notes that receiver stored node's digest seq at at.
func (a *arrivals) record(node string, seq uint64, receiver string, at time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if w, ok := a.want[node]; ok && seq >= w {
		if a.arrived[node] == nil {
			a.arrived[node] = map[string]time.Time{}
		}
		if _, seen := a.arrived[node][receiver]; !seen {
			a.arrived[node][receiver] = at
		}
	}
}

// flipped is st turned degraded (a check critical), or healthy again.
func flipped(st health.Node) health.Node {
	if st.Status != health.Healthy {
		return healthyStatus(st.Name, 20)
	}
	st.Status = health.Degraded
	st.Probes = append([]health.Probe(nil), st.Probes...)
	st.Probes[0].Status = checks.StatusCritical
	return st
}

// quantiles sorts lat and returns its p50 and p99 in milliseconds.
func quantiles(lat []time.Duration) (p50, p99 float64) {
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	// Nearest rank: p99 of fewer than 100 samples is the largest.
	q := func(p float64) float64 {
		i := min(len(lat)-1, max(0, int(math.Ceil(p*float64(len(lat))))-1))
		return float64(lat[i].Microseconds()) / 1000
	}
	return q(0.5), q(0.99)
}

func formCluster(b *testing.B, transport string, n int) *benchCluster {
	c := &benchCluster{key: fmt.Sprint(transport, n), status: make([]atomic.Pointer[health.Node], n)}
	ctx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	var transports []*memTransport
	if transport == "mem" {
		transports = newMemNet(n, func(i int) string { return fmt.Sprintf("n%03d", i) })
	}
	seed := "127.79.0.1:7946"
	for i := range n {
		if transport == "udp" && i > 0 {
			// Joins one at a time would take minutes; a short stagger
			// keeps the 2 cores from drowning in push-pulls.
			time.Sleep(20 * time.Millisecond)
		}
		name := fmt.Sprintf("n%03d", i)
		st := healthyStatus(name, 20)
		c.status[i].Store(&st)
		cfg := Config{
			NodeName: name, Bind: fmt.Sprintf("127.79.%d.%d:7946", i/250, i%250+1),
			Local:   func() health.Node { return *c.status[i].Load() },
			Profile: ProfileLAN, RefreshInterval: DefaultRefreshInterval,
			Logger: hclog.New(&hclog.LoggerOptions{Level: benchLogLevel, Output: newTestWriter(b)}),
		}
		if transport == "mem" {
			cfg.Transport = transports[i]
			cfg.Bind = "127.0.0.1:0"
			seed = "127.0.0.1:1" // the first mock transport's address
		}
		if i > 0 {
			cfg.Join = []string{seed}
		}
		m, err := New(cfg)
		if err != nil {
			b.Fatal(err)
		}
		m.onDigest = func(d Digest, at time.Time) { c.record(d.Node, d.Seq, name, at) }
		c.nodes = append(c.nodes, m)
		c.wg.Add(1)
		go func() { defer c.wg.Done(); _ = m.Run(ctx) }()
		for m.getSerf() == nil {
			time.Sleep(time.Millisecond)
		}
	}
	// Formed: everyone sees everyone alive, and has everyone's digest.
	formed := time.Now()
	// Formed: every node sees every node. Digests need not be everywhere
	// yet: arrivals are counted by sequence number, not by status change.
	waitFor(b, 4*time.Minute, "the cluster forms", func() bool {
		for _, m := range c.nodes {
			if m.getSerf().NumNodes() != n {
				return false
			}
		}
		return true
	})
	missing := 0
	for _, m := range c.nodes {
		m.mu.Lock()
		missing += n - 1 - len(m.digests)
		m.mu.Unlock()
	}
	b.Logf("at formation, %d of %d node-to-node digests not there yet", missing, n*(n-1))
	b.Logf("%d nodes formed in %v; refresh period %v", n, time.Since(formed).Round(time.Millisecond), c.nodes[0].refreshPeriod())
	time.Sleep(5 * time.Second) // let the join burst drain

	// Steady state: no changes, only refreshes and memberlist's own
	// traffic, over more than one refresh period.
	window := c.nodes[0].refreshPeriod() * 6 / 5
	if testing.Short() {
		window = time.Second
	}
	before, start := sent.sent.Load(), time.Now()
	time.Sleep(window)
	c.idle = float64(sent.sent.Load()-before) / time.Since(start).Seconds() / float64(n)
	return c
}

func benchPropagation(b *testing.B, c *benchCluster) {
	n := len(c.nodes)
	transport := c.key[:3]
	var lat []time.Duration
	misses := 0
	start, before := time.Now(), sent.sent.Load()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		k := rand.IntN(n)
		name := c.nodes[k].cfg.NodeName
		st := flipped(*c.status[k].Load())
		changed := time.Now()
		c.status[k].Store(&st)
		// Any digest numbered after this point carries the new state.
		c.nodes[k].mu.Lock()
		next := c.nodes[k].seq + 1
		c.nodes[k].mu.Unlock()
		c.expect(name, next)
		c.nodes[k].Notify()
		// A change that has not reached every node after 10 s counts as a
		// miss, and as an infinite latency in the quantiles.
		var last time.Time
		deadline := changed.Add(10 * time.Second)
		for {
			c.mu.Lock()
			got := len(c.arrived[name])
			if got >= n-1 {
				for _, at := range c.arrived[name] {
					if at.After(last) {
						last = at
					}
				}
			}
			c.mu.Unlock()
			if got >= n-1 {
				lat = append(lat, last.Sub(changed))
				break
			}
			if time.Now().After(deadline) {
				misses++
				b.Logf("change %d on %s reached %d of %d nodes in 10s", i, name, got, n-1)
				lat = append(lat, time.Duration(math.MaxInt64))
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		// Changes are spaced so that each is measured alone, at a rate a
		// bad day could have.
		time.Sleep(500 * time.Millisecond)
	}
	b.StopTimer()
	secs := time.Since(start).Seconds()
	bytes := float64(sent.sent.Load() - before)
	p50, p99 := quantiles(lat)
	b.ReportMetric(p50, "p50-ms")
	b.ReportMetric(p99, "p99-ms")
	b.ReportMetric(bytes/secs/float64(n), "busy-B/node/s")
	b.ReportMetric(c.idle, "idle-B/node/s")
	b.ReportMetric(float64(misses), "misses")
	b.ReportMetric(0, "ns/op")
	b.Logf("%s n=%d: %d changes in %.0fs, p50 %.0fms p99 %.0fms max %v, busy %.0f B/node/s, idle %.0f B/node/s",
		transport, n, len(lat), secs, p50, p99, lat[len(lat)-1], bytes/secs/float64(n), c.idle)
}

func (c *benchCluster) stop() {
	c.cancel()
	c.wg.Wait()
}
