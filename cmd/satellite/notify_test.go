package main

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/satellite-hq/satellite/health"
	"github.com/satellite-hq/satellite/notify/notifytest"
)

// failSet is a loopback server whose paths fail (500) while listed.
type failSet struct {
	mu   sync.Mutex
	fail map[string]bool
}

func (f *failSet) set(path string, failing bool) {
	f.mu.Lock()
	f.fail[path] = failing
	f.mu.Unlock()
}

func (f *failSet) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	bad := f.fail[r.URL.Path]
	f.mu.Unlock()
	if bad {
		w.WriteHeader(http.StatusInternalServerError)
	}
}

// The webhook receiver is down while checks fail, the agent is killed
// with SIGKILL and started again, more changes happen, then the receiver
// comes back: every notification arrives exactly once.
func TestNotifyReceiverDownAcrossKill9(t *testing.T) {
	t.Parallel()
	fs := &failSet{fail: map[string]bool{}}
	srv := httptest.NewServer(fs)
	defer srv.Close()
	recv := notifytest.NewReceiver(t)
	dir, data := t.TempDir(), t.TempDir()
	writeFile(t, dir, "node.hcl", fmt.Sprintf("agent {\n  name     = \"pager\"\n  data_dir = %q\n}\n", data))
	writeFile(t, dir, "checks.hcl", fmt.Sprintf(`
notifier "webhook" "ops" {
  url        = "%s/hook"
  group_wait = "500ms"
}

defaults {
  notify   = [notifier.webhook.ops]
  interval = "1s"
}

check "http" "svc" {
  for_each = toset(["a", "b", "c"])
  url      = "%s/${each.key}"
}
`, recv.URL, srv.URL))
	p := startProc(t, dir)
	eventually(t, "the checks pass", func() string {
		var n health.Node
		p.getJSON(t, "/v1/status/local", &n)
		passing := 0
		for _, pr := range n.Probes {
			if pr.Status == health.Passing {
				passing++
			}
		}
		if passing != 3 {
			return fmt.Sprintf("%d of %d passing", passing, len(n.Probes))
		}
		return ""
	})
	recv.SetStatus(http.StatusServiceUnavailable)
	fs.set("/a", true)
	fs.set("/b", true)
	eventually(t, "the agent retrying the receiver", func() string {
		if n := recv.Requests(); n < 2 {
			return fmt.Sprintf("%d requests", n)
		}
		return ""
	})
	p.signal(t, syscall.SIGKILL)
	p.wait(t)

	p = startProc(t, dir) // the receiver still down
	// The problems the spool kept are being sent again (and refused)...
	eventually(t, "the spooled problems retried", func() string {
		n := p.metricLabels(t, `satellite_notifications_total{notifier="webhook.ops",result="retried"}`)
		if n < 1 {
			return fmt.Sprintf("%v retries since the restart", n)
		}
		return ""
	})
	// ... when b recovers and c fails.
	fs.set("/b", false)
	fs.set("/c", true)
	time.Sleep(2 * time.Second) // b's recovery and c's problem are decided
	recv.SetStatus(http.StatusOK)
	eventually(t, "every notification delivered", func() string {
		if got := alertCounts(recv); got != `svc["a"]:problem=1 svc["b"]:problem=1 svc["b"]:resolved=1 svc["c"]:problem=1` {
			return "got [" + got + "]"
		}
		return ""
	})
	time.Sleep(3 * time.Second) // and nothing more comes
	if got := alertCounts(recv); got != `svc["a"]:problem=1 svc["b"]:problem=1 svc["b"]:resolved=1 svc["c"]:problem=1` {
		t.Fatalf("the receiver got %s", got)
	}
	if bad := recv.Problems(); len(bad) > 0 {
		t.Errorf("requests broke the contract: %v", bad)
	}
	p.signal(t, syscall.SIGTERM)
	if code := p.wait(t); code != 0 {
		t.Fatalf("exit code %d after SIGTERM", code)
	}
}

// alertCounts is how often the receiver got each check's each state, a
// message sent twice (same ID) counted once, as a receiver that keeps the
// IDs would.
func alertCounts(r *notifytest.Receiver) string {
	seen := map[string]bool{}
	n := map[string]int{}
	for _, m := range r.Messages() {
		if seen[m.ID] {
			continue
		}
		seen[m.ID] = true
		for _, a := range m.Alerts {
			n[strings.TrimPrefix(a.Check, "http.")+":"+a.State]++
		}
	}
	var out []string
	for k, v := range n {
		out = append(out, fmt.Sprintf("%s=%d", k, v))
	}
	sort.Strings(out)
	return strings.Join(out, " ")
}

// metricLabels is the value of one series of /metrics, written as
// name{labels} exactly as the exposition has it; -1 when absent.
func (p *agentProc) metricLabels(t *testing.T, series string) float64 {
	t.Helper()
	resp, err := http.Get(p.base + "/metrics")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return f
		}
	}
	return -1
}

func TestNotifyTestCommand(t *testing.T) {
	t.Parallel()
	recv := notifytest.NewReceiver(t)
	dir, data := t.TempDir(), t.TempDir()
	writeFile(t, dir, "node.hcl", fmt.Sprintf("agent {\n  name     = \"tester\"\n  data_dir = %q\n}\n", data))
	writeFile(t, dir, "checks.hcl", fmt.Sprintf(`
notifier "webhook" "ops" {
  url = "%s/hook"
}

check "file" "root" {
  path   = "/"
  notify = [notifier.webhook.ops]
}
`, recv.URL))
	p := startProc(t, dir)

	r := satellite(t, "notify", "test", "--addr", p.base, "notifier.webhook.ops").want(t, 0)
	if !strings.Contains(r.stdout, "Sent a test message through notifier.webhook.ops: the receiver answered 204 No Content.") {
		t.Errorf("stdout: %q", r.stdout)
	}
	if ms := recv.Messages(); len(ms) != 1 || !ms[0].Test || ms[0].Sender != "tester" {
		t.Fatalf("the receiver got %+v", ms)
	}

	r = satellite(t, "notify", "test", "--addr", p.base, "webhook.nope").want(t, 2)
	if !strings.Contains(r.stderr, "no such notifier webhook.nope; the notifiers are webhook.ops") {
		t.Errorf("stderr: %q", r.stderr)
	}

	recv.SetStatus(http.StatusForbidden)
	r = satellite(t, "notify", "test", "--addr", p.base, "--format", "json", "webhook.ops").want(t, 1)
	if !strings.Contains(r.stdout, `"status": 403`) || !strings.Contains(r.stdout, `"delivered": false`) {
		t.Errorf("stdout: %q", r.stdout)
	}

	satellite(t, "notify", "test", "--addr", closedPort(t), "webhook.ops").want(t, 3)
	satellite(t, "notify", "test").want(t, 2)
}
