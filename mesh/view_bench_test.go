package mesh

import (
	"encoding/json"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/hashicorp/serf/serf"

	"github.com/satellite-hq/satellite/checks"
	"github.com/satellite-hq/satellite/health"
)

// BenchmarkClusterView measures what GET /v1/status costs one node with
// 10, 100 and 1,000 members: the cluster view from its local state (each
// peer's digest and a cached full status of 20 probes, 1% of the peers
// degraded), encoded as JSON. Only the member list is made up (serf's, as
// Members returns it); the view code is the one ClusterView runs.
func BenchmarkClusterView(b *testing.B) {
	for _, n := range []int{10, 100, 1000} {
		b.Run(fmt.Sprintf("members=%d", n), func(b *testing.B) {
			m, err := New(Config{NodeName: "v0000", Bind: "127.0.0.1:0"})
			if err != nil {
				b.Fatal(err)
			}
			now := time.Now()
			mems := make([]serf.Member, 0, n)
			m.mu.Lock()
			for i := range n {
				name := fmt.Sprintf("v%04d", i)
				boot := uint64(now.UnixNano()) + uint64(i)
				tags := MemberTags{Role: "node", PeerPort: 7947, ConfigHash: "9f2c1ab3", Version: "test", Boot: boot}
				mems = append(mems, serf.Member{Name: name, Addr: net.IPv4(10, 0, byte(i/250), byte(i%250+1)), Port: 7946,
					Tags: tags.encode(), Status: serf.StatusAlive})
				if i == 0 {
					continue
				}
				st := healthyStatus(name, 20)
				if i%100 == 1 {
					st.Status = health.Degraded
					st.Probes[3].Status = checks.StatusCritical
				}
				d, _ := digestOf(st, boot, 1, now)
				m.known[name] = knownMember{hash: "9f2c1ab3", boot: boot}
				m.digests[name] = received{d: d, at: now}
				m.peer(name).noteRead(&st, d.contentKey(), nil, now)
			}
			m.mu.Unlock()
			self := healthyStatus("v0000", 20)
			period := time.Minute
			size := 0
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				cs := m.viewOf(mems, self, period, now)
				out, err := json.Marshal(cs)
				if err != nil {
					b.Fatal(err)
				}
				size = len(out)
			}
			b.StopTimer()
			if cs := m.viewOf(mems, self, period, now); len(cs.Nodes) != n || cs.Status != health.Degraded || cs.Nodes[1].Stale {
				b.Fatalf("view of %d members: %d nodes, %s, node 1 stale %v (%s)", n, len(cs.Nodes), cs.Status, cs.Nodes[1].Stale, cs.Nodes[1].StaleReason)
			}
			b.ReportMetric(float64(size), "json-B")
		})
	}
}
