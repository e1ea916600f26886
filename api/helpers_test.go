package api

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/satellite-hq/satellite/checks"
	"github.com/satellite-hq/satellite/dsl"
	"github.com/satellite-hq/satellite/health"
)

// stubBackend is a Backend of our own interface: the agent that implements
// it for real is written elsewhere.
type stubBackend struct {
	mu sync.Mutex

	local      health.Node
	members    []health.Member
	history    []health.Change
	historyErr error
	queries    []health.Query

	reloadHash  string
	reloadDiags []dsl.JSONDiagnostic
	reloadErr   error
	reloadDelay time.Duration
	reloads     int
	inReload    int
	maxInReload int
}

func (b *stubBackend) LocalStatus() health.Node {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.local
}

func (b *stubBackend) ClusterStatus(context.Context) health.Cluster {
	return health.ClusterOf([]health.Node{b.LocalStatus()}, time.Now())
}

func (b *stubBackend) NodeStatus(ctx context.Context, name string) (health.Cluster, bool) {
	cs := b.ClusterStatus(ctx)
	for _, n := range cs.Nodes {
		if n.Name == name {
			return health.ClusterOf([]health.Node{n}, cs.Timestamp), true
		}
	}
	return health.Cluster{}, false
}

func (b *stubBackend) Members() []health.Member {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.members
}

func (b *stubBackend) StateChanges(_ context.Context, q health.Query) ([]health.Change, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.queries = append(b.queries, q)
	return b.history, b.historyErr
}

func (b *stubBackend) Reload(ctx context.Context) (string, []dsl.JSONDiagnostic, error) {
	b.mu.Lock()
	b.reloads++
	b.inReload++
	b.maxInReload = max(b.maxInReload, b.inReload)
	delay := b.reloadDelay
	b.mu.Unlock()
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-ctx.Done():
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.inReload--
	return b.reloadHash, b.reloadDiags, b.reloadErr
}

func (b *stubBackend) lastQuery() health.Query {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.queries[len(b.queries)-1]
}

// set changes the stub under its lock: the server's goroutines read it.
func (b *stubBackend) set(f func(b *stubBackend)) {
	b.mu.Lock()
	defer b.mu.Unlock()
	f(b)
}

// reloadCounts returns how many reloads ran, and the most at once.
func (b *stubBackend) reloadCounts() (total, most int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.reloads, b.maxInReload
}

func (b *stubBackend) reloading() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.inReload > 0
}

var testTime = time.Date(2026, 11, 25, 11, 58, 10, 0, time.UTC)

// sampleNode is node-b of API.md's example.
func sampleNode() health.Node {
	since := testTime
	probes := []health.Probe{
		{
			Checker: "http.apiserver", Type: "http", Status: checks.StatusCritical,
			Error:   `Get "https://127.0.0.1:6443/healthz": dial tcp 127.0.0.1:6443: connect: connection refused`,
			Metrics: map[string]float64{"latency_ms": 0.4}, Since: &since,
		},
		{Checker: "container.pod_to_pod", Type: "container", Status: checks.StatusBlocked, Error: "blocked by systemd.core (critical)"},
		{Checker: "tcp.etcd", Type: "tcp", Status: checks.StatusPassing, Metrics: map[string]float64{"latency_ms": 1.5}, Detail: "<b>ok</b> & more"},
	}
	return health.Node{
		Name: "node-b",
		MemberStatus: &health.Member{
			Name: "node-b", Addr: "10.0.0.2:7946", Status: "alive", Tags: map[string]string{"role": "master"},
		},
		Status: health.NodeStateOf(probes), ConfigHash: "9f2c1ab3", Version: "0.1.0",
		ObservedAt: testTime.Add(108 * time.Second), Probes: probes,
	}
}

// startServer serves s on its listener until the test ends, and checks
// that Serve then returns nil.
func startServer(t testing.TB, s *Server) {
	t.Helper()
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Serve: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Serve did not return after its context was done")
		}
	})
}

// newServer builds and starts a server on 127.0.0.1:0 and returns its base URL.
func newServer(t testing.TB, b Backend, opts Options) (*Server, string) {
	t.Helper()
	if opts.Listen == "" {
		opts.Listen = "127.0.0.1:0"
	}
	if h, ok := b.(health.HistoryStore); ok && opts.History == nil {
		opts.History = h // the stub is the history too
	}
	s, err := New(b, opts)
	if err != nil {
		t.Fatal(err)
	}
	startServer(t, s)
	scheme := "http"
	if opts.TLS != nil {
		scheme = "https"
	}
	return s, scheme + "://" + s.Addr().String()
}

type answer struct {
	code   int
	header http.Header
	body   string
}

// do sends one request; token "" sends no Authorization header.
func do(t testing.TB, client *http.Client, method, url, token string) answer {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return answer{code: resp.StatusCode, header: resp.Header, body: string(body)}
}

// tlsClient trusts roots and presents certs.
func tlsClient(cfg *tls.Config) *http.Client {
	return &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}, Timeout: 10 * time.Second}
}

var errBoom = errors.New("boom")

func mustContain(t *testing.T, s string, subs ...string) {
	t.Helper()
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			t.Errorf("missing %q in:\n%s", sub, s)
		}
	}
}
