package mesh

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/satellite-hq/satellite/health"
	"github.com/satellite-hq/satellite/internal/netns"
	"github.com/satellite-hq/satellite/internal/testenv"
)

// The partition tests run each agent in its own network namespace, as a
// child process (this test binary, re-executed inside `ip netns exec`),
// so that serf really binds 10.x addresses that a link or a firewall rule
// can cut. The parent talks to each child over a unix socket, which
// crosses network namespaces.

const helperEnv = "SATELLITE_MESH_HELPER"

// helperConfig is what a child agent gets from its parent.
type helperConfig struct {
	Name             string
	Bind             string
	RetryJoin        []string
	Socket           string
	DataDir          string
	ReconnectTimeout time.Duration
}

// TestHelperAgent is not a test: it is the child agent of the partition
// tests, and returns at once unless started by one.
func TestHelperAgent(t *testing.T) {
	raw := os.Getenv(helperEnv)
	if raw == "" {
		return
	}
	var hc helperConfig
	if err := json.Unmarshal([]byte(raw), &hc); err != nil {
		t.Fatal(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	m, err := New(Config{
		NodeName: hc.Name, Bind: hc.Bind, PeerPort: 7947, RetryJoin: hc.RetryJoin,
		RetryInterval: time.Second, ReconnectTimeout: hc.ReconnectTimeout, DataDir: hc.DataDir,
		Profile: ProfileLocal, RefreshInterval: 2 * time.Second, PeerTimeout: 500 * time.Millisecond,
		ConfigHash: "h", Version: "test",
		Local:  func() health.Node { return healthyStatus(hc.Name, 2) },
		Logger: hclog.New(&hclog.LoggerOptions{Name: hc.Name, Level: hclog.Warn, Output: os.Stderr}),
	})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("unix", hc.Socket)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/members", func(w http.ResponseWriter, r *http.Request) { _ = json.NewEncoder(w).Encode(m.Members()) })
	mux.HandleFunc("/view", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(m.ClusterView(r.Context()))
	})
	mux.HandleFunc("/digests", func(w http.ResponseWriter, r *http.Request) {
		m.mu.Lock()
		defer m.mu.Unlock()
		out := map[string]Digest{}
		for k, v := range m.digests {
			out[k] = v.d
		}
		_ = json.NewEncoder(w).Encode(out)
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	if err := m.Run(ctx); err != nil {
		t.Fatal(err)
	}
}

// child is one agent process in a namespace.
type child struct {
	name   string
	client *http.Client
	cmd    *exec.Cmd
}

func (c *child) get(path string, v any) error {
	resp, err := c.client.Get("http://agent" + path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return json.NewDecoder(resp.Body).Decode(v)
}

// statuses maps member names to their status as this child sees them.
func (c *child) statuses() map[string]string {
	var ms []health.Member
	if err := c.get("/members", &ms); err != nil {
		return nil
	}
	out := map[string]string{}
	for _, m := range ms {
		out[m.Name] = m.Status
	}
	return out
}

func (c *child) view() health.Cluster {
	var cs health.Cluster
	_ = c.get("/view", &cs)
	return cs
}

// lab is three agents, a, b and c, on 10.78.0.1-3, each in a namespace
// plugged into one bridge.
type lab struct {
	net      *netns.Lab
	children map[string]*child
}

var labNodes = []string{"a", "b", "c"}

func labIP(i int) string { return fmt.Sprintf("10.78.0.%d", i+1) }

func newLab(t *testing.T, reconnect time.Duration) *lab {
	testenv.NeedRoot(t, "the partition test builds network namespaces, which")
	for _, tool := range []string{"ip", "nft"} {
		if _, err := exec.LookPath(tool); err != nil {
			testenv.Unavailable(t, tool+" is not installed")
		}
	}
	ctx := context.Background()
	nl, err := netns.New(ctx, "satmesh-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := nl.Close(); err != nil {
			t.Errorf("removing the namespaces: %v", err)
		}
	})
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(nl.Add(ctx, "br"))
	must(nl.Bridge(ctx, "br", "br0"))
	for i, n := range labNodes {
		must(nl.Add(ctx, n))
		must(nl.Plug(ctx, n, "eth0", labIP(i)+"/24", "br", "br0", "p-"+n))
	}
	l := &lab{net: nl, children: map[string]*child{}}
	dir := t.TempDir()
	var all []string
	for i := range labNodes {
		all = append(all, labIP(i)+":7946")
	}
	for i, n := range labNodes {
		sock := filepath.Join(dir, n+".sock")
		hc := helperConfig{Name: n, Bind: labIP(i) + ":7946", Socket: sock, DataDir: filepath.Join(dir, n), ReconnectTimeout: reconnect}
		for j, a := range all {
			if j != i {
				hc.RetryJoin = append(hc.RetryJoin, a)
			}
		}
		raw, _ := json.Marshal(hc)
		cmd := nl.Command(ctx, n, os.Args[0], "-test.run=^TestHelperAgent$", "-test.v")
		cmd.Env = append(os.Environ(), helperEnv+"="+string(raw))
		logf, err := os.Create(filepath.Join(dir, n+".log"))
		must(err)
		cmd.Stdout, cmd.Stderr = logf, logf
		// The child dies with the test process, even if the test crashes.
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		must(cmd.Start())
		c := &child{name: n, cmd: cmd, client: &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				return (&net.Dialer{}).DialContext(ctx, "unix", sock)
			}}}}
		l.children[n] = c
		t.Cleanup(func() {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				_ = cmd.Process.Kill()
				<-done
			}
			logf.Close()
			if t.Failed() {
				b, _ := os.ReadFile(logf.Name())
				t.Logf("agent %s log:\n%s", n, b)
			}
		})
	}
	l.waitAll(t, 20*time.Second, "the three agents form", func(a, b string) bool { return true })
	return l
}

// waitAll waits until, on every child, every other member's status is
// "alive" when sameSide says the two are connected and "failed" otherwise.
func (l *lab) waitAll(t *testing.T, d time.Duration, what string, sameSide func(a, b string) bool) {
	t.Helper()
	defer func() {
		if t.Failed() {
			for _, n := range labNodes {
				t.Logf("%s sees %v", n, l.children[n].statuses())
			}
		}
	}()
	waitFor(t, d, what, func() bool {
		for _, n := range labNodes {
			st := l.children[n].statuses()
			for _, o := range labNodes {
				want := "alive"
				if !sameSide(n, o) {
					want = "failed"
				}
				if st[o] != want {
					return false
				}
			}
		}
		return true
	})
}

// cSplit is the partition {a, b} | {c}.
func cSplit(x, y string) bool { return (x == "c") == (y == "c") }

func TestPartitionHeals(t *testing.T) {
	l := newLab(t, time.Hour)
	ctx := context.Background()

	// Every node has the others' digests before the cut.
	waitFor(t, 10*time.Second, "digests everywhere", func() bool {
		for _, n := range labNodes {
			var d map[string]Digest
			if err := l.children[n].get("/digests", &d); err != nil || len(d) != 2 {
				return false
			}
		}
		return true
	})
	// Cut c's link: both sides see the other failed, and say degraded.
	if err := l.net.SetLink(ctx, "br", "p-c", false); err != nil {
		t.Fatal(err)
	}
	// The isolated side is slower: Lifeguard backs its probes off up to 8x.
	l.waitAll(t, 60*time.Second, "both sides see the other failed", cSplit)
	for _, n := range labNodes {
		cs := l.children[n].view()
		if cs.Status != health.Degraded || len(cs.Nodes) != 3 {
			t.Fatalf("%s during the partition: %s %q", n, cs.Status, cs.Summary)
		}
		t.Logf("%s sees: %s", n, cs.Summary)
	}
	if cs := l.children["a"].view(); !strings.Contains(cs.Summary, "c: stale data; failed") {
		t.Errorf("a's summary does not name c: %q", cs.Summary)
	}
	if cs := l.children["c"].view(); !strings.Contains(cs.Summary, "a: stale data; failed; b: stale data; failed") {
		t.Errorf("c's summary does not name a and b: %q", cs.Summary)
	}

	// Restore: one view again.
	if err := l.net.SetLink(ctx, "br", "p-c", true); err != nil {
		t.Fatal(err)
	}
	l.waitAll(t, 30*time.Second, "the mesh heals", func(a, b string) bool { return true })
	waitFor(t, 10*time.Second, "every view healthy", func() bool {
		for _, n := range labNodes {
			if cs := l.children[n].view(); cs.Status != health.Healthy {
				return false
			}
		}
		return true
	})
}

func TestPartitionLongerThanReconnectTimeoutHeals(t *testing.T) {
	// A short reconnect timeout: both sides reap each other during the
	// partition, so only retry_join can bring them back together.
	l := newLab(t, 3*time.Second)
	ctx := context.Background()

	// This time the cut is a firewall rule inside c's namespace.
	if err := l.net.Drop(ctx, "c", "partition", labIP(0), labIP(1)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 60*time.Second, "both sides reap the other", func() bool {
		a, c := l.children["a"].statuses(), l.children["c"].statuses()
		_, aHasC := a["c"]
		_, cHasA := c["a"]
		_, cHasB := c["b"]
		return a != nil && c != nil && !aHasC && !cHasA && !cHasB
	})
	if err := l.net.Undrop(ctx, "c", "partition"); err != nil {
		t.Fatal(err)
	}
	l.waitAll(t, 30*time.Second, "retry_join heals the mesh", func(a, b string) bool { return true })
	// The members are back; their digests follow within a few seconds
	// (the digest a node sends when members join, and anti-entropy).
	var last string
	waitForLast(t, 15*time.Second, "every view healthy with 3 nodes after healing", &last, func() bool {
		for _, n := range labNodes {
			if cs := l.children[n].view(); cs.Status != health.Healthy || len(cs.Nodes) != 3 {
				last = fmt.Sprintf("%s: %s %q", n, cs.Status, cs.Summary)
				return false
			}
		}
		return true
	})
}
