package agent_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/satellite-hq/satellite/agent"
	"github.com/satellite-hq/satellite/api"
	"github.com/satellite-hq/satellite/health"
	"github.com/satellite-hq/satellite/mesh"
)

// meshNode is one agent of a test mesh: its gossip address and its agent.
type meshNode struct {
	name, gossip string
	*testAgent
}

// freeLoopbackPorts returns n loopback TCP ports free a moment ago (serf
// binds TCP and UDP on the gossip port, the peer endpoint TCP on the next).
func freeLoopbackPort(t *testing.T) int {
	t.Helper()
	for {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if port < 65000 {
			if p, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
				p.Close()
				if l2, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port+1)); err == nil {
					l2.Close()
					return port
				}
			}
		}
	}
}

// startMeshAgent starts an agent named name with a mesh block joining join,
// with memberlist's loopback timings so that failures show in a second or two.
func startMeshAgent(t *testing.T, name string, join []string, checks string) *meshNode {
	t.Helper()
	return startMeshAgentKey(t, name, join, "", checks)
}

// startMeshAgentKey is startMeshAgent with a gossip key file ("" for none).
func startMeshAgentKey(t *testing.T, name string, join []string, keyFile, checks string) *meshNode {
	t.Helper()
	encrypt := ""
	if keyFile != "" {
		encrypt = fmt.Sprintf("  encrypt_key_file = %q\n", keyFile)
	}
	dir, data := t.TempDir(), t.TempDir()
	port := freeLoopbackPort(t)
	gossip := fmt.Sprintf("127.0.0.1:%d", port)
	joinHCL, _ := json.Marshal(join)
	writeConfig(t, dir, fmt.Sprintf(`agent {
  name     = %q
  data_dir = %q
  tags     = { role = "worker" }
}
mesh {
  bind           = %q
  retry_join     = %s
  retry_interval = "1s"
%s}
`, name, data, gossip, joinHCL, encrypt), checks)
	ta := startAgentWith(t, dir, data, func(o *agent.Options) {
		o.MeshTune = func(c *mesh.Config) {
			c.Profile = mesh.ProfileLocal
			c.RefreshInterval = 2 * time.Second
			c.PeerTimeout = 500 * time.Millisecond
		}
	})
	return &meshNode{name: name, gossip: gossip, testAgent: ta}
}

func (n *meshNode) cluster(t *testing.T) health.Cluster {
	t.Helper()
	code, body := get(t, "GET", n.base+"/v1/status", "")
	if code != 200 {
		t.Fatalf("GET /v1/status on %s: %d %s", n.name, code, body)
	}
	var cs health.Cluster
	if err := json.Unmarshal(body, &cs); err != nil {
		t.Fatal(err)
	}
	return cs
}

func nodeOf(cs health.Cluster, name string) (health.Node, bool) {
	for _, n := range cs.Nodes {
		if n.Name == name {
			return n, true
		}
	}
	return health.Node{}, false
}

// Three real agents on loopback form a mesh: each answers /v1/status for
// all three with their probes, the peers and clock checks pass against the
// real mesh, and when two agents stop, the third still answers with their
// last known probes, marked stale, and the cluster degraded; its history
// tells what happened to them.
func TestMeshAgents(t *testing.T) {
	t.Parallel()
	checksHCL := `
check "peers" "mesh" {
  interval  = "1s"
  min_alive = 2
}
check "clock" "drift" {
  interval = "1s"
}
check "file" "root" {
  interval = "1s"
  path     = "/"
}
`
	a := startMeshAgent(t, "node-a", nil, checksHCL)
	b := startMeshAgent(t, "node-b", []string{a.gossip}, checksHCL)
	c := startMeshAgent(t, "node-c", []string{a.gossip}, checksHCL)
	// With a mesh, /metrics tells what the mesh refused.
	if _, body := get(t, http.MethodGet, a.base+"/metrics", ""); !strings.Contains(string(body), `satellite_mesh_digests_dropped_total{reason="not a member"} 0`) ||
		!strings.Contains(string(body), "satellite_mesh_peer_requests_refused_total 0") {
		t.Errorf("/metrics lacks the mesh's counters:\n%s", body)
	}

	// Each node's view holds every node's full probe list, fetched from
	// the peers' endpoints; the mesh keeps the last one it fetched.
	eventually(t, "a cluster of 3 healthy nodes seen from every node", func() string {
		for _, from := range []*meshNode{a, b, c} {
			cs := from.cluster(t)
			if cs.Status != health.Healthy || len(cs.Nodes) != 3 {
				return fmt.Sprintf("from %s: %s, %d nodes: %s", from.name, cs.Status, len(cs.Nodes), cs.Summary)
			}
			for _, n := range cs.Nodes {
				if len(n.Probes) != 3 || n.Stale {
					return fmt.Sprintf("from %s: %s: %d probes, stale %v", from.name, n.Name, len(n.Probes), n.Stale)
				}
			}
		}
		return ""
	})
	for _, n := range []*meshNode{a, b, c} {
		n.waitProbe(t, "peers.mesh", status("passing"))
		p := n.waitProbe(t, "clock.drift", status("passing"))
		if _, ok := p.Metrics["drift_ms_max"]; !ok {
			t.Errorf("%s: clock.drift has no drift_ms_max: %+v", n.name, p)
		}
	}
	// The mesh's metrics, once it formed (issue 13).
	eventually(t, "the mesh's metrics on /metrics", func() string {
		_, body := get(t, http.MethodGet, a.base+"/metrics", "")
		for _, want := range []string{`satellite_mesh_members{status="alive"} 3`, `satellite_mesh_members{status="foreign"} 0`,
			"satellite_mesh_digests_accepted_total", "satellite_mesh_digests_repaired_total", "satellite_mesh_peer_read_seconds_count", "satellite_mesh_oldest_data_age_seconds",
			`satellite_mesh_gossip_bytes_total{direction="in"}`, `satellite_mesh_gossip_bytes_total{direction="out"}`} {
			if !strings.Contains(string(body), want) {
				return "no " + want
			}
		}
		for _, zero := range []string{"satellite_mesh_digests_accepted_total 0\n", "satellite_mesh_peer_read_seconds_count 0\n", `satellite_mesh_gossip_bytes_total{direction="out"} 0` + "\n"} {
			if strings.Contains(string(body), zero) {
				return "still " + zero
			}
		}
		return ""
	})
	// /v1/status/local has the shape of nodes[], member_status included.
	var local health.Node
	if code, body := get(t, http.MethodGet, a.base+"/v1/status/local", ""); code != 200 || json.Unmarshal(body, &local) != nil ||
		local.MemberStatus == nil || local.MemberStatus.Status != "alive" || local.MemberStatus.Name != "node-a" {
		t.Errorf("GET /v1/status/local: %d %s", code, body)
	}
	// ?node= reads one member; an unknown one is a 404, a stray parameter a 400.
	var one health.Cluster
	if code, body := get(t, http.MethodGet, a.base+"/v1/status?node=node-b", ""); code != 200 || json.Unmarshal(body, &one) != nil ||
		len(one.Nodes) != 1 || one.Nodes[0].Name != "node-b" || one.Nodes[0].Stale {
		t.Errorf("GET /v1/status?node=node-b: %d %s", code, body)
	}
	if code, body := get(t, http.MethodGet, a.base+"/v1/status?node=nobody", ""); code != 404 {
		t.Errorf("GET /v1/status?node=nobody: %d %s", code, body)
	}
	if code, body := get(t, http.MethodGet, a.base+"/v1/status?nod=node-b", ""); code != 400 {
		t.Errorf("GET /v1/status?nod=node-b: %d %s", code, body)
	}

	code, body := get(t, "GET", a.base+"/v1/members", "")
	var members []health.Member
	if code != 200 || json.Unmarshal(body, &members) != nil || len(members) != 3 {
		t.Fatalf("GET /v1/members: %d %s", code, body)
	}
	for _, m := range members {
		if m.Status != "alive" || m.Tags["role"] != "worker" {
			t.Errorf("member %+v: want alive with role worker", m)
		}
	}

	// node-b leaves first, while node-c is up: serf's leave intent is a
	// broadcast that may have gone only to node-c before node-b's memberlist
	// said goodbye, and then it reaches node-a only through node-c. Two nodes
	// of three leaving at once can be seen as failed, as serf would say.
	b.stop()
	eventually(t, "node-b's story in node-a's history", func() string {
		for _, c := range a.history(t, "node=node-b") {
			if c.Check == "mesh.member" && c.Status == "left" {
				return ""
			}
		}
		return fmt.Sprintf("%+v", a.history(t, "node=node-b"))
	})
	c.stop()
	eventually(t, "node-a sees node-b and node-c gone, with their last probes, stale", func() string {
		cs := a.cluster(t)
		if cs.Status != health.Degraded {
			return "cluster " + string(cs.Status)
		}
		for _, name := range []string{"node-b", "node-c"} {
			n, ok := nodeOf(cs, name)
			if !ok {
				return name + " missing from the status document"
			}
			if !n.Stale || len(n.Probes) != 3 {
				return fmt.Sprintf("%s: stale %v, %d probes", name, n.Stale, len(n.Probes))
			}
			if n.MemberStatus == nil || n.MemberStatus.Status == "alive" {
				return fmt.Sprintf("%s: member status %+v", name, n.MemberStatus)
			}
		}
		if !strings.Contains(cs.Summary, "node-b") || !strings.Contains(cs.Summary, "node-c") {
			return "summary does not name them: " + cs.Summary
		}
		return ""
	})
	// The peers check on node-a now finds too few peers alive.
	a.waitProbe(t, "peers.mesh", status("critical"))
	if _, err := filepath.Glob(filepath.Join(a.data, "mesh", "*")); err != nil {
		t.Fatal(err)
	}
}

// The gossip key is rotated through the API of one agent (what `satellite
// keyring` does) across a real encrypted mesh of two.
func TestMeshKeyringThroughAPI(t *testing.T) {
	t.Parallel()
	oldKey, err := mesh.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(t.TempDir(), "gossip.key")
	writeFile(t, keyFile, oldKey+"\n")
	a := startMeshAgentKey(t, "key-a", nil, keyFile, "")
	b := startMeshAgentKey(t, "key-b", []string{a.gossip}, keyFile, "")
	eventually(t, "two members", func() string {
		if cs := b.cluster(t); len(cs.Nodes) != 2 {
			return cs.Summary
		}
		return ""
	})
	newKey, err := mesh.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	keyring := func(method, body string) api.KeyringAnswer {
		t.Helper()
		req, err := http.NewRequest(method, a.base+"/v1/keyring", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var ans api.KeyringAnswer
		raw, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK || json.Unmarshal(raw, &ans) != nil {
			t.Fatalf("%s /v1/keyring %s: %d %s", method, body, resp.StatusCode, raw)
		}
		return ans
	}
	for _, op := range []string{"install", "use", "remove"} {
		k := newKey
		if op == "remove" {
			k = oldKey
		}
		ans := keyring("POST", fmt.Sprintf(`{"op":%q,"key":%q}`, op, k))
		if ans.Error != "" || ans.NumNodes != 2 || ans.NumResp != 2 {
			t.Fatalf("keyring %s: %+v", op, ans)
		}
	}
	ans := keyring("GET", "")
	if len(ans.Keys) != 1 || ans.Keys[newKey] != 2 || ans.PrimaryKeys[newKey] != 2 {
		t.Fatalf("after the rotation: keys %v, primary %v; want only the new key on both nodes", ans.Keys, ans.PrimaryKeys)
	}
	// The mesh still works on the new key.
	b.stop()
	eventually(t, "key-b seen leaving over the new key", func() string {
		n, ok := nodeOf(a.cluster(t), "key-b")
		if !ok || n.MemberStatus == nil || n.MemberStatus.Status != "left" {
			return fmt.Sprintf("%+v", n.MemberStatus)
		}
		return ""
	})
}
