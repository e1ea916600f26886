package main

// A real 2-versus-1 partition for cluster alerts: three `satellite run`
// processes, each in its own network namespace on one bridge, and a
// webhook receiver in a fourth; nftables cuts c from a and b (not from the
// receiver), as the mesh's partition tests do.

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/satellite-hq/satellite/health"
	"github.com/satellite-hq/satellite/internal/netns"
	"github.com/satellite-hq/satellite/internal/testenv"
	"github.com/satellite-hq/satellite/notify"
	"github.com/satellite-hq/satellite/notify/notifytest"
)

// receiverEnv starts TestHelperReceiver: "LISTEN SOCKET".
const receiverEnv = "SATELLITE_TEST_RECEIVER"

// TestHelperReceiver is not a test: it is the partition test's webhook
// receiver, serving the hook on LISTEN and what it took on the unix socket
// SOCKET (GET /messages), and returns at once unless started by that test.
func TestHelperReceiver(t *testing.T) {
	listen, sock, ok := strings.Cut(os.Getenv(receiverEnv), " ")
	if !ok {
		return
	}
	r := notifytest.NewHandler()
	l, err := net.Listen("tcp", listen)
	if err != nil {
		t.Fatal(err)
	}
	u, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = http.Serve(l, r) }()
	_ = http.Serve(u, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(r.Messages())
	}))
}

func partIP(i int) string { return fmt.Sprintf("10.81.0.%d", i) }

func TestClusterAlertsPartition(t *testing.T) {
	testenv.NeedRoot(t, "the partition test builds network namespaces, which")
	for _, tool := range []string{"ip", "nft"} {
		if _, err := exec.LookPath(tool); err != nil {
			testenv.Unavailable(t, tool+" is not installed")
		}
	}
	bin := agentBinary(t)
	ctx := context.Background()
	nl, err := netns.New(ctx, "satca-")
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
	names := []string{"a", "b", "c"}
	must(nl.Add(ctx, "br"))
	must(nl.Bridge(ctx, "br", "br0"))
	for i, n := range append(names, "r") {
		ip := partIP(i + 1)
		if n == "r" {
			ip = partIP(10)
		}
		must(nl.Add(ctx, n))
		must(nl.Plug(ctx, n, "eth0", ip+"/24", "br", "br0", "p-"+n))
	}
	dir := t.TempDir()
	start := func(ns string, args []string, env ...string) {
		cmd := nl.Command(ctx, ns, args[0], args[1:]...)
		cmd.Env = append(os.Environ(), env...)
		logf, err := os.Create(filepath.Join(dir, ns+".log"))
		must(err)
		cmd.Stdout, cmd.Stderr = logf, logf
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		must(cmd.Start())
		t.Cleanup(func() {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			select {
			case <-done:
			case <-time.After(15 * time.Second):
				_ = cmd.Process.Kill()
				<-done
			}
			logf.Close()
			if t.Failed() {
				b, _ := os.ReadFile(logf.Name())
				t.Logf("%s log:\n%s", ns, b)
			}
		})
	}
	sock := filepath.Join(dir, "receiver.sock")
	start("r", []string{os.Args[0], "-test.run=^TestHelperReceiver$"}, receiverEnv+"="+partIP(10)+":8080 "+sock)
	recv := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}}
	messages := func() []notify.Message {
		resp, err := recv.Get("http://receiver/messages")
		if err != nil {
			return nil
		}
		defer resp.Body.Close()
		var ms []notify.Message
		_ = json.NewDecoder(resp.Body).Decode(&ms)
		return ms
	}
	for i, n := range names {
		cfg := filepath.Join(dir, n)
		must(os.MkdirAll(cfg, 0o750))
		var join []string
		for j := range names {
			if j != i {
				join = append(join, fmt.Sprintf("%q", partIP(j+1)+":7946"))
			}
		}
		writeFile(t, cfg, "node.hcl", fmt.Sprintf(`agent {
  name     = %q
  data_dir = %q
}

mesh {
  bind           = "%s:7946"
  retry_join     = [%s]
  retry_interval = "1s"
  notify         = [notifier.webhook.ops]
}
`, n, filepath.Join(cfg, "data"), partIP(i+1), strings.Join(join, ", ")))
		writeFile(t, cfg, "checks.hcl", fmt.Sprintf(`
notifier "webhook" "ops" {
  url        = "http://%s:8080/hook"
  group_wait = "1s"
}

check "file" "root" {
  path     = "/"
  interval = "1s"
}
`, partIP(10)))
		start(n, []string{bin, "run", "--api-listen", "127.0.0.1:7575", cfg})
	}
	// statuses is how node n sees the others, through its own CLI in its
	// namespace.
	statuses := func(n string) map[string]string {
		out, err := nl.Command(ctx, n, bin, "members", "--addr", "127.0.0.1:7575", "--format", "json").Output()
		if err != nil {
			return nil
		}
		var ms []health.Member
		_ = json.Unmarshal(out, &ms)
		st := map[string]string{}
		for _, m := range ms {
			st[m.Name] = m.Status
		}
		return st
	}
	views := func(sameSide func(x, y string) bool) string {
		for _, n := range names {
			st := statuses(n)
			for _, o := range names {
				want := "alive"
				if !sameSide(n, o) {
					want = "failed"
				}
				if st[o] != want {
					return fmt.Sprintf("%s sees %v", n, st)
				}
			}
		}
		return ""
	}
	counts := func() string {
		n := map[string]int{}
		for _, m := range messages() {
			for _, a := range m.Alerts {
				n[a.Key+":"+a.State+" by "+m.Sender]++
			}
		}
		var out []string
		for k, v := range n {
			out = append(out, fmt.Sprintf("%s=%d", k, v))
		}
		return strings.Join(out, "; ")
	}
	// has is whether the receiver got exactly these key:state counts,
	// whoever sent them.
	has := func(want map[string]int) string {
		got := map[string]int{}
		for _, m := range messages() {
			for _, a := range m.Alerts {
				got[a.Key+":"+a.State]++
			}
		}
		for k, v := range want {
			if got[k] != v {
				return "got [" + counts() + "]"
			}
		}
		for k := range got {
			if _, ok := want[k]; !ok {
				return "got [" + counts() + "]"
			}
		}
		return ""
	}
	expect(t, time.Minute, "the three agents form", func() string { return views(func(_, _ string) bool { return true }) })
	time.Sleep(notify.DefaultClusterStartGrace) // past every node's start grace

	cSplit := func(x, y string) bool { return (x == "c") == (y == "c") }
	must(nl.Drop(ctx, "c", "cut", partIP(1), partIP(2)))
	must(nl.Drop(ctx, "a", "cut", partIP(3)))
	must(nl.Drop(ctx, "b", "cut", partIP(3)))
	expect(t, 2*time.Minute, "both sides see the other failed", func() string { return views(cSplit) })
	during := map[string]int{"cluster/member/c:problem": 1, "cluster/partition:problem": 1}
	if !expect(t, 2*time.Minute, "the majority tells of c, the minority it is partitioned", func() string { return has(during) }) {
		return
	}
	for _, m := range messages() {
		for _, a := range m.Alerts {
			if a.Key == "cluster/partition" && m.Sender != "c" {
				t.Errorf("the partitioned alert came from %s, not the minority side", m.Sender)
			}
			if a.Key == "cluster/member/c" && m.Sender == "c" {
				t.Errorf("c told of itself")
			}
		}
	}
	t.Logf("during the partition: %s", counts())

	must(nl.Undrop(ctx, "c", "cut"))
	must(nl.Undrop(ctx, "a", "cut"))
	must(nl.Undrop(ctx, "b", "cut"))
	expect(t, 2*time.Minute, "the mesh heals", func() string { return views(func(_, _ string) bool { return true }) })
	healed := map[string]int{"cluster/member/c:problem": 1, "cluster/partition:problem": 1,
		"cluster/member/c:resolved": 1, "cluster/partition:resolved": 1}
	expect(t, 2*time.Minute, "the recoveries, once each", func() string { return has(healed) })
	time.Sleep(25 * time.Second) // the backups' waits: nothing more comes
	if why := has(healed); why != "" {
		t.Fatalf("after the heal: %s", why)
	}
	t.Logf("in all: %s", counts())
}
