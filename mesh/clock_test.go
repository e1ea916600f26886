package mesh

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/satellite-hq/satellite/checks"
	"github.com/satellite-hq/satellite/health"
	"github.com/satellite-hq/satellite/internal/testpki"
)

// maxDrift is what two agents on one host may read: one clock, so the
// offset is only measurement error.
const maxDrift = 5 * time.Millisecond

// sameClock tells whether s is what a peer on this host may read: within
// maxDrift, or within half its round trip, the bound of the measurement
// itself (a busy machine stretched one trip to 13 ms in CI and read
// -5.7 ms).
func sameClock(s checks.ClockSample) bool {
	return s.Offset.Abs() < maxDrift || s.Offset.Abs() <= s.RTT/2
}

// startTrio starts node-a, node-b and node-c on subnet (node-b and node-c
// join node-a) and waits until each sees the three alive.
func startTrio(t *testing.T, subnet int, edit func(c *Config)) []*testNode {
	t.Helper()
	var nodes []*testNode
	for i, name := range []string{"node-a", "node-b", "node-c"} {
		nodes = append(nodes, startNode(t, name, addr(subnet, i+1), func(c *Config) {
			if i > 0 {
				c.Join = []string{gossip(addr(subnet, 1))}
			}
			if edit != nil {
				edit(c)
			}
		}))
	}
	for _, n := range nodes {
		waitFor(t, 15*time.Second, n.name+" sees 3 alive", func() bool { return n.aliveCount() == 3 })
	}
	return nodes
}

// busyGossip keeps digests flowing: n changes state as fast as its
// Debounce lets it publish, until the test ends.
func busyGossip(t *testing.T, n *testNode) {
	t.Helper()
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-done:
				return
			case <-time.After(5 * time.Millisecond):
			}
			ns := healthyStatus(n.name, 3)
			if i%2 == 1 {
				ns.Status = health.Degraded
				ns.Probes[i%3].Status = checks.StatusWarning
			}
			n.setStatus(ns)
		}
	}()
	t.Cleanup(func() { close(done); wg.Wait() })
}

// fastDigests makes a node publish a digest every 10ms when busy.
func fastDigests(c *Config) { c.Debounce = 10 * time.Millisecond }

// wantClocks runs Clocks on n rounds times and checks that it reads every
// peer named, each within maxDrift and with a delay.
func wantClocks(t *testing.T, n *testNode, rounds int, peers ...string) {
	t.Helper()
	for round := range rounds {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		samples, err := n.m.Clocks(ctx)
		cancel()
		if err != nil || len(samples) != len(peers) {
			t.Fatalf("round %d: Clocks: %v, %+v", round, err, samples)
		}
		for i, s := range samples {
			t.Logf("round %d: %s: offset %v, delay %v", round, s.Peer, s.Offset, s.RTT)
			if s.Peer != peers[i] || !sameClock(s) || s.RTT <= 0 {
				t.Errorf("round %d: sample %+v, want %s within %v with a delay", round, s, peers[i], maxDrift)
			}
		}
	}
}

// clockGet asks a clock endpoint directly.
func clockGet(t *testing.T, c *http.Client, method, url, auth string) (int, clockAnswer) {
	t.Helper()
	req, _ := http.NewRequest(method, url, nil)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var a clockAnswer
	if resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(b, &a); err != nil || resp.Header.Get("Content-Type") != "application/json" {
			t.Fatalf("%s %s: %v, %q", method, url, err, b)
		}
	}
	return resp.StatusCode, a
}

// startForeign runs a plain serf agent (no satellite tags) that joins join.
func TestClocks(t *testing.T) {
	nodes := startTrio(t, 90, fastDigests)
	a, b := nodes[0], nodes[1]
	busyGossip(t, b)
	busyGossip(t, nodes[2])
	// A plain serf agent in the pool is ignored, never waited for.
	startForeign(t, "foreign", addr(90, 9), nil, gossip(addr(90, 1)))
	waitFor(t, 10*time.Second, "node-a sees the foreign member", func() bool { return a.aliveCount() == 4 })

	wantClocks(t, a, 5, "node-b", "node-c")
	wantClocks(t, b, 1, "node-a", "node-c")

	// The endpoint itself: GET only; on an open mesh no token is needed.
	url := "http://" + addr(90, 2) + ":7947" + ClockPath
	before := time.Now().UnixNano()
	code, ans := clockGet(t, http.DefaultClient, http.MethodGet, url, "")
	if code != http.StatusOK || ans.Receive < before || ans.Transmit < ans.Receive || ans.Transmit > time.Now().UnixNano() {
		t.Errorf("GET: %d %+v (asked at %d)", code, ans, before)
	}
	for _, method := range []string{http.MethodPost, http.MethodHead, http.MethodPut} {
		if code, _ := clockGet(t, http.DefaultClient, method, url, ""); code != http.StatusMethodNotAllowed {
			t.Errorf("%s: %d", method, code)
		}
	}

	// Older agents still ask by serf query, and get an answer.
	params := a.m.getSerf().DefaultQueryParams()
	params.FilterNodes = []string{"node-b"}
	// The default timeout, a few gossip rounds for three nodes, is too
	// short for a loaded CI machine: the query then ends unanswered.
	params.Timeout = 10 * time.Second
	sent := time.Now()
	resp, err := a.m.getSerf().Query(clockQuery, nil, params)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Close()
	select {
	case r, ok := <-resp.ResponseCh():
		if !ok {
			t.Fatalf("the clock query ended after %v without an answer", time.Since(sent))
		}
		ns, err := strconv.ParseInt(string(r.Payload), 10, 64)
		if r.From != "node-b" || err != nil {
			t.Fatalf("clock query answer %+v", r)
		}
		// For comparison only: the old estimate, the query's way out by
		// gossip and its answer's way back direct.
		rtt := time.Since(sent)
		t.Logf("the serf query's estimate of node-b: offset %v, rtt %v", time.Unix(0, ns).Sub(sent.Add(rtt/2)), rtt)
	case <-time.After(15 * time.Second):
		t.Fatal("no answer to the clock query")
	}
}

func TestClocksEncrypted(t *testing.T) {
	_, key := mustKey(t)
	nodes := startTrio(t, 91, func(c *Config) { c.EncryptKey = key; fastDigests(c) })
	busyGossip(t, nodes[1])
	wantClocks(t, nodes[0], 3, "node-b", "node-c")

	url := "http://" + addr(91, 2) + ":7947" + ClockPath
	tok := func(method, path, node string) string {
		s, err := PeerToken(key, method, path, node, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	good := tok(http.MethodGet, ClockPath, "node-b")
	_, other := mustKey(t)
	otherTok, err := PeerToken(other, http.MethodGet, ClockPath, "node-b", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if code, ans := clockGet(t, http.DefaultClient, http.MethodGet, url, good); code != http.StatusOK || ans.Receive == 0 {
		t.Errorf("token for the clock: %d %+v", code, ans)
	}
	for name, auth := range map[string]string{
		"no token":             "",
		"the same token again": good,
		"a token for /status":  tok(http.MethodGet, PeerPath, "node-b"),
		"a token for node-c":   tok(http.MethodGet, ClockPath, "node-c"),
		"another key's token":  otherTok,
	} {
		if code, _ := clockGet(t, http.DefaultClient, http.MethodGet, url, auth); code != http.StatusUnauthorized {
			t.Errorf("%s: %d", name, code)
		}
	}
	// The method is judged first, as on /v1/peer/status.
	if code, _ := clockGet(t, http.DefaultClient, http.MethodPost, url, ""); code != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d", code)
	}
}

func TestClocksTLS(t *testing.T) {
	_, key := mustKey(t)
	ca := testpki.NewCA(t, "mesh CA")
	files := map[string]*TLSFiles{}
	for _, n := range []string{"node-a", "node-b", "node-c"} {
		files[n] = issue(t, ca, n)
	}
	nodes := startTrio(t, 92, func(c *Config) { c.TLS = files[c.NodeName]; c.EncryptKey = key; fastDigests(c) })
	busyGossip(t, nodes[1])
	wantClocks(t, nodes[0], 3, "node-b", "node-c")
	wantClocks(t, nodes[2], 1, "node-a", "node-b")

	// Without a client certificate, no answer.
	c := &http.Client{Timeout: 3 * time.Second, Transport: &http.Transport{Proxy: nil}}
	if resp, err := c.Get("https://" + addr(92, 2) + ":7947" + ClockPath); err == nil {
		resp.Body.Close()
		t.Errorf("no client certificate: %s", resp.Status)
	}
}

// joinPointingTo makes n, not yet in the mesh, advertise another peer
// port, then join: the joins' state exchange carries its tags, whereas a
// tag change of a member is only gossiped and may take a push-pull period
// to reach everyone.
func joinPointingTo(t *testing.T, n *testNode, port int, join string) {
	t.Helper()
	s := n.m.getSerf()
	tags := map[string]string{}
	for k, v := range s.LocalMember().Tags {
		tags[k] = v
	}
	tags[tagPeer] = strconv.Itoa(port)
	if err := s.SetTags(tags); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Join([]string{join}, false); err != nil {
		t.Fatal(err)
	}
}

// memberTag is a tag of member name as n sees it.
func (n *testNode) memberTag(name, tag string) string {
	for _, mem := range n.m.Members() {
		if mem.Name == name {
			return mem.Tags[tag]
		}
	}
	return ""
}

// serveOn serves h on a new port of ip until the test ends.
func serveOn(t *testing.T, ip string, h http.Handler) int {
	t.Helper()
	ln, err := net.Listen("tcp", ip+":0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().(*net.TCPAddr).Port
}

// blackHole accepts connections on a new port of ip and never answers.
func blackHole(t *testing.T, ip string) int {
	t.Helper()
	ln, err := net.Listen("tcp", ip+":0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
	})
	return ln.Addr().(*net.TCPAddr).Port
}

// Peers that give no sample: one whose endpoint never answers, one of an
// older version (no clock endpoint), one whose clock is outside the token
// window (it refuses our tokens). Clocks returns by ctx's end with the
// others, and says why the rest are missing.
func TestClocksPeersThatDoNotAnswer(t *testing.T) {
	const subnet = 93
	// node-a's own request timeout is long: only ctx bounds Clocks.
	a := startNode(t, "node-a", addr(subnet, 1), func(c *Config) { c.PeerTimeout = time.Minute })
	join := gossip(addr(subnet, 1))
	startNode(t, "node-b", addr(subnet, 2), func(c *Config) { c.Join = []string{join} })
	silent := startNode(t, "node-c", addr(subnet, 3), nil)
	joinPointingTo(t, silent, blackHole(t, silent.ip), join)
	// An older agent's endpoint: only the status.
	older := startNode(t, "node-d", addr(subnet, 4), nil)
	oldMux := http.NewServeMux()
	oldMux.HandleFunc(PeerPath, func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, `{"name":"node-d"}`) })
	joinPointingTo(t, older, serveOn(t, older.ip, oldMux), join)
	// A peer 45s ahead refuses every token, as its endpoint would (Date
	// is its clock, in whole seconds).
	const skew = 45 * time.Second
	skewed := startNode(t, "node-e", addr(subnet, 5), nil)
	joinPointingTo(t, skewed, serveOn(t, skewed.ip, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Date", time.Now().Add(skew).UTC().Format(http.TimeFormat))
		http.Error(w, "unauthorized: "+errTokenTime.Error(), http.StatusUnauthorized)
	})), join)
	waitFor(t, 15*time.Second, "node-a sees 5 alive", func() bool { return a.aliveCount() == 5 })
	for _, n := range []*testNode{silent, older, skewed} {
		if p := n.m.getSerf().LocalMember().Tags[tagPeer]; a.memberTag(n.name, tagPeer) != p {
			t.Fatalf("node-a sees %s's peer port %q, not %q", n.name, a.memberTag(n.name, tagPeer), p)
		}
	}

	const timeout = 2 * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	start := time.Now()
	samples, err := a.m.Clocks(ctx)
	took := time.Since(start)
	t.Logf("Clocks took %v: %+v; %v", took, samples, err)
	// Generous: it must end by ctx, not by the minute-long request timeout.
	if took > timeout+3*time.Second {
		t.Errorf("Clocks took %v with a %v context", took, timeout)
	}
	if len(samples) != 2 || samples[0].Peer != "node-b" || !sameClock(samples[0]) || samples[0].RTT <= 0 ||
		samples[1].Peer != "node-e" || (samples[1].Offset-skew).Abs() > 1500*time.Millisecond {
		t.Errorf("samples %+v", samples)
	}
	want := fmt.Sprintf("node-c: no answer before the check's timeout; node-d: no %s (404): an older satellite version, measured once upgraded", ClockPath)
	if err == nil || err.Error() != want {
		t.Errorf("error %v\nwant  %s", err, want)
	}
}
