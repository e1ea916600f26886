package mesh

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/satellite-hq/satellite/health"
)

// BenchmarkMeshScaleUDP runs MESH_SCALE_PROCS processes (default 4) of
// MESH_SCALE_PER agents each (default 50), every agent on its own loopback
// address with real UDP and TCP sockets and its peer endpoint, LAN profile
// and production periods, and measures, as BenchmarkDigestPropagation does,
// the time from a state change on one agent until every other agent, in
// every process, has its digest, and the gossip bytes per agent per second.
// The processes are this test binary run again as TestMeshScaleChild; they
// report over a pipe, and share the host's clock. Run with -benchtime=30x.
func BenchmarkMeshScaleUDP(b *testing.B) {
	skipUnlessNamed(b)
	procs, per := envInt(b, "MESH_SCALE_PROCS", 4), envInt(b, "MESH_SCALE_PER", 50)
	var u *udpScale
	defer func() {
		if u != nil {
			u.stop()
		}
	}()
	b.Run(fmt.Sprintf("procs=%d/nodes=%d", procs, procs*per), func(b *testing.B) {
		if u == nil {
			u = formUDPScale(b, procs, per)
		}
		u.propagate(b)
	})
}

func envInt(b *testing.B, key string, def int) int {
	v := os.Getenv(key)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		b.Fatalf("%s=%q: want a positive number", key, v)
	}
	return n
}

// udpScale is the parent's side: the children and what they reported.
type udpScale struct {
	n, per   int
	children []*udpChild

	arrivals
	started chan udpStart
}

type udpChild struct {
	cmd   *exec.Cmd
	in    io.WriteCloser
	known atomic.Int64 // the fewest members any of its agents sees
	sent  atomic.Uint64
	done  chan struct{}
}

type udpStart struct {
	node string
	seq  uint64
	at   time.Time
}

func formUDPScale(b *testing.B, procs, per int) *udpScale {
	u := &udpScale{n: procs * per, per: per, started: make(chan udpStart, 1)}
	for p := range procs {
		cmd := exec.Command(os.Args[0], "-test.run=^TestMeshScaleChild$", "-test.bench=^$")
		cmd.Env = append(os.Environ(), "MESH_SCALE_CHILD="+strconv.Itoa(p), "MESH_SCALE_PER="+strconv.Itoa(per))
		cmd.Stderr = os.Stderr
		in, err := cmd.StdinPipe()
		if err != nil {
			b.Fatal(err)
		}
		out, err := cmd.StdoutPipe()
		if err != nil {
			b.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		c := &udpChild{cmd: cmd, in: in, done: make(chan struct{})}
		u.children = append(u.children, c)
		go func() { defer close(c.done); u.read(c, out) }()
		time.Sleep(time.Second) // the first process's seed is up first
	}
	start, last := time.Now(), time.Now()
	waitFor(b, 10*time.Minute, "the processes' agents form one mesh", func() bool {
		least := int64(u.n)
		for _, c := range u.children {
			least = min(least, c.known.Load())
		}
		if time.Since(last) > 15*time.Second {
			fmt.Fprintf(os.Stderr, "forming: %v, the agent that knows fewest knows %d of %d\n", time.Since(start).Round(time.Second), least, u.n)
			last = time.Now()
		}
		return least == int64(u.n)
	})
	b.Logf("%d agents in %d processes formed in %v", u.n, procs, time.Since(start).Round(time.Second))
	time.Sleep(10 * time.Second)
	before, t0 := u.sent(), time.Now()
	time.Sleep(time.Minute)
	idle := float64(u.sent()-before) / time.Since(t0).Seconds() / float64(u.n)
	b.Logf("idle gossip: %.0f B/node/s", idle)
	b.ReportMetric(idle, "idle-B/node/s")
	return u
}

func (u *udpScale) sent() uint64 {
	var n uint64
	for _, c := range u.children {
		n += c.sent.Load()
	}
	return n
}

// read handles a child's lines: "A node seq receiver unixnano" (a digest
// stored), "N fewest" (members), "B bytes" (sent), "S node seq unixnano" (a
// change made).
func (u *udpScale) read(c *udpChild, out io.Reader) {
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		switch {
		case f[0] == "A" && len(f) == 5:
			seq, _ := strconv.ParseUint(f[2], 10, 64)
			ns, _ := strconv.ParseInt(f[4], 10, 64)
			u.record(f[1], seq, f[3], time.Unix(0, ns))
		case f[0] == "N" && len(f) == 2:
			k, _ := strconv.ParseInt(f[1], 10, 64)
			c.known.Store(k)
		case f[0] == "B" && len(f) == 2:
			k, _ := strconv.ParseUint(f[1], 10, 64)
			c.sent.Store(k)
		case f[0] == "S" && len(f) == 4:
			seq, _ := strconv.ParseUint(f[2], 10, 64)
			ns, _ := strconv.ParseInt(f[3], 10, 64)
			u.started <- udpStart{f[1], seq, time.Unix(0, ns)}
		}
	}
}

func (u *udpScale) propagate(b *testing.B) {
	var lat []time.Duration
	misses := 0
	start, before := time.Now(), u.sent()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		p, k := rand.IntN(len(u.children)), rand.IntN(u.per)
		name := udpName(p, k)
		u.expect(name, math.MaxUint64) // nothing counts until the child says which sequence
		if _, err := fmt.Fprintf(u.children[p].in, "F %s\n", name); err != nil {
			b.Fatal(err)
		}
		var st udpStart
		select {
		case st = <-u.started:
		case <-time.After(10 * time.Second):
			b.Fatalf("process %d did not change %s", p, name)
		}
		u.expect(name, st.seq)
		deadline := st.at.Add(10 * time.Second)
		for {
			u.mu.Lock()
			got := len(u.arrived[name])
			var last time.Time
			for _, at := range u.arrived[name] {
				if at.After(last) {
					last = at
				}
			}
			u.mu.Unlock()
			if got >= u.n-1 {
				lat = append(lat, last.Sub(st.at))
				break
			}
			if time.Now().After(deadline) {
				misses++
				b.Logf("change %d on %s reached %d of %d agents in 10s", i, name, got, u.n-1)
				lat = append(lat, time.Duration(math.MaxInt64))
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		time.Sleep(500 * time.Millisecond)
	}
	b.StopTimer()
	secs := time.Since(start).Seconds()
	busy := float64(u.sent()-before) / secs / float64(u.n)
	p50, p99 := quantiles(lat)
	b.ReportMetric(p50, "p50-ms")
	b.ReportMetric(p99, "p99-ms")
	b.ReportMetric(busy, "busy-B/node/s")
	b.ReportMetric(float64(misses), "misses")
	b.ReportMetric(0, "ns/op")
	b.Logf("udp n=%d in %d processes: %d changes, p50 %.0fms p99 %.0fms, %d misses, %.0f B/node/s",
		u.n, len(u.children), len(lat), p50, p99, misses, busy)
}

func (u *udpScale) stop() {
	for _, c := range u.children {
		_, _ = fmt.Fprintln(c.in, "Q")
		_ = c.in.Close()
	}
	for _, c := range u.children {
		select {
		case <-c.done:
		case <-time.After(30 * time.Second):
			_ = c.cmd.Process.Kill()
			<-c.done
		}
		_ = c.cmd.Wait()
	}
}

func udpName(p, k int) string { return fmt.Sprintf("u%d-%03d", p, k) }

// TestMeshScaleChild is BenchmarkMeshScaleUDP's child process; run
// otherwise, it returns at once.
func TestMeshScaleChild(t *testing.T) {
	ps := os.Getenv("MESH_SCALE_CHILD")
	if ps == "" {
		return // not a child: nothing to do
	}
	p, _ := strconv.Atoi(ps)
	per, _ := strconv.Atoi(os.Getenv("MESH_SCALE_PER"))
	installByteSink(t)
	var outMu sync.Mutex
	say := func(format string, args ...any) {
		outMu.Lock()
		defer outMu.Unlock()
		fmt.Printf(format+"\n", args...)
	}
	type agent struct {
		m      *Mesh
		status atomic.Pointer[health.Node]
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	agents := map[string]*agent{}
	var order []*agent
	for k := range per {
		name := udpName(p, k)
		a := &agent{}
		st := healthyStatus(name, 20)
		a.status.Store(&st)
		ip := fmt.Sprintf("127.80.%d.%d", p, k+1)
		cfg := Config{NodeName: name, Bind: ip + ":7946", PeerPort: 7947, Profile: ProfileLAN,
			Local:  func() health.Node { return *a.status.Load() },
			Logger: hclog.New(&hclog.LoggerOptions{Level: benchLogLevel, Output: os.Stderr})}
		if p > 0 || k > 0 {
			cfg.Join = []string{"127.80.0.1:7946"}
		}
		m, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		m.onDigest = func(d Digest, at time.Time) { say("A %s %d %s %d", d.Node, d.Seq, name, at.UnixNano()) }
		a.m = m
		agents[name], order = a, append(order, a)
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := m.Run(ctx); err != nil {
				t.Error(err)
			}
		}()
		time.Sleep(20 * time.Millisecond)
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(2 * time.Second)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			least := math.MaxInt
			for _, a := range order {
				if s := a.m.getSerf(); s != nil {
					least = min(least, s.NumNodes())
				} else {
					least = 0
				}
			}
			say("N %d", least)
			say("B %d", sent.sent.Load())
		}
	}()
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 || f[0] == "Q" {
			break
		}
		a, ok := agents[f[len(f)-1]]
		if f[0] != "F" || !ok {
			continue
		}
		st := flipped(*a.status.Load())
		a.m.mu.Lock()
		next := a.m.seq + 1
		a.m.mu.Unlock()
		// Said before the digest can go, so that the parent counts every
		// arrival.
		now := time.Now()
		a.status.Store(&st)
		say("S %s %d %d", st.Name, next, now.UnixNano())
		a.m.Notify()
	}
	cancel()
	wg.Wait()
}
