package browsertest_test

import (
	"context"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/satellite-hq/satellite/api"
	"github.com/satellite-hq/satellite/dsl"
	"github.com/satellite-hq/satellite/health"
	"github.com/satellite-hq/satellite/internal/browsertest"
	"github.com/satellite-hq/satellite/ui"
)

// bigCluster is a status document of nodes × probes, a few of them
// failing, as a large cluster's would be.
type bigCluster struct{ cs health.Cluster }

func newBigCluster(nodes, probes int) *bigCluster {
	now := time.Now().UTC()
	var ns []health.Node
	for i := range nodes {
		name := fmt.Sprintf("node-%03d", i)
		var ps []health.Probe
		for j := range probes {
			st := health.Status("passing")
			errText := ""
			if (i+j)%97 == 0 {
				st, errText = "critical", "dial tcp 127.0.0.1:6443: connect: connection refused"
			}
			last := now.Add(-time.Duration(j) * time.Second)
			ps = append(ps, health.Probe{Checker: fmt.Sprintf("http.svc_%02d", j), Type: "http", Status: st, Error: errText,
				Metrics: map[string]float64{"latency_ms": float64(j) / 3}, LastRun: &last, DurationMS: 1.5})
		}
		role := "worker"
		if i < 3 {
			role = "master"
		}
		hash := "9f2c1ab3"
		if i%50 == 7 {
			hash = "77aa0011" // a rollout in progress
		}
		ns = append(ns, health.Node{Name: name, Status: health.NodeStateOf(ps), ConfigHash: hash, Version: "0.1.0", ObservedAt: now,
			MemberStatus:   &health.Member{Name: name, Addr: "10.0.0.1:7946", Status: "alive", Tags: map[string]string{"role": role}},
			DataAgeSeconds: float64(i % 30), Probes: ps})
	}
	sort.Slice(ns, func(i, j int) bool { return ns[i].Name < ns[j].Name })
	return &bigCluster{cs: health.ClusterOf(ns, now)}
}

func (c *bigCluster) LocalStatus() health.Node                     { return c.cs.Nodes[0] }
func (c *bigCluster) ClusterStatus(context.Context) health.Cluster { return c.cs }
func (c *bigCluster) NodeStatus(_ context.Context, name string) (health.Cluster, bool) {
	for _, n := range c.cs.Nodes {
		if n.Name == name {
			return health.ClusterOf([]health.Node{n}, c.cs.Timestamp), true
		}
	}
	return health.Cluster{}, false
}
func (c *bigCluster) Members() []health.Member { return nil }
func (c *bigCluster) Reload(context.Context) (string, []dsl.JSONDiagnostic, error) {
	return "", nil, nil
}

// BenchmarkClusterPage is the cluster page's first render in headless
// Chromium with 200 nodes × 50 checks (the target), and with 500
// nodes × 20 (a large cluster): from navigation to every tile drawn, the
// status document fetched and parsed included.
//
//	go test -run '^$' -bench ClusterPage -benchtime 10x ./internal/browsertest
func BenchmarkClusterPage(b *testing.B) {
	for _, c := range []struct{ nodes, probes int }{{200, 50}, {500, 20}} {
		b.Run(fmt.Sprintf("nodes=%d/checks=%d", c.nodes, c.probes), func(b *testing.B) { benchClusterPage(b, c.nodes, c.probes) })
	}
}

func benchClusterPage(b *testing.B, nodes, probes int) {
	srv, err := api.New(newBigCluster(nodes, probes), api.Options{Listen: "127.0.0.1:0"})
	if err != nil {
		b.Fatal(err)
	}
	if err := srv.Mount("/ui/", ui.Handler(), api.Public); err != nil {
		b.Fatal(err)
	}
	if err := srv.Listen(); err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	defer func() { cancel(); <-done }()
	base := "http://" + srv.Addr().String()

	br := browsertest.New(b)
	br.Do(b, time.Minute, chromedp.Navigate(base+"/ui/"))
	br.Eventually(b, time.Minute, "the first render", fmt.Sprintf(`document.querySelectorAll('[data-testid="node-tile"]').length === %d ? '' : 'not yet'`, nodes))
	var total time.Duration
	b.ResetTimer()
	for range b.N {
		// From a blank page, so that every iteration loads and renders.
		br.Do(b, time.Minute, chromedp.Navigate("about:blank"))
		start := time.Now()
		br.Do(b, time.Minute, chromedp.Navigate(base+"/ui/"))
		br.Eventually(b, time.Minute, "the cluster page", fmt.Sprintf(`document.querySelectorAll('[data-testid="node-tile"]').length === %d ? '' : 'not yet'`, nodes))
		total += time.Since(start)
	}
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms/render")
	if off := br.OffLoopback(); len(off) > 0 {
		b.Errorf("requests off loopback: %v", off)
	}
}
