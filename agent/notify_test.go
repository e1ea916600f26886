package agent_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/satellite-hq/satellite/notify"
	"github.com/satellite-hq/satellite/notify/notifytest"
)

// A real agent, a real HTTP check against a loopback server, a dependent
// check and a real webhook receiver: the server failing is one message
// naming the check it blocks; back up, one recovery; /metrics counts them.
func TestNotifyWebhook(t *testing.T) {
	t.Parallel()
	var failing atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if failing.Load() {
			w.WriteHeader(http.StatusInternalServerError)
		}
	}))
	defer srv.Close()
	recv := notifytest.NewReceiver(t)
	recv.Secret = []byte("hook-s3cret")
	dir, data := t.TempDir(), t.TempDir()
	writeFile(t, dir+"/hook.secret", "hook-s3cret\n")
	writeConfig(t, dir, nodeHCL(data, ""), fmt.Sprintf(`
notifier "webhook" "ops" {
  url         = "%s/hook"
  secret_file = "hook.secret"
  group_wait  = "1s"
}

defaults {
  notify = [notifier.webhook.ops]
}

check "http" "api" {
  url      = "%s/api"
  interval = "1s"
}

check "http" "behind" {
  url        = "%s/behind"
  interval   = "1s"
  depends_on = [check.http.api]
}
`, recv.URL, srv.URL, srv.URL))
	ta := startAgent(t, dir, data)
	ta.waitProbe(t, "http.api", status("passing"))
	ta.waitProbe(t, "http.behind", status("passing"))
	failing.Store(true)
	recv.WaitMessages(t, 1, 20*time.Second)
	ta.waitProbe(t, "http.behind", status("blocked"))
	failing.Store(false)
	recv.WaitMessages(t, 2, 20*time.Second)
	time.Sleep(2500 * time.Millisecond) // group_wait and two more runs: nothing else comes
	ms := recv.Messages()
	var got []string
	for _, m := range ms {
		for _, a := range m.Alerts {
			got = append(got, a.Check+":"+a.State)
		}
	}
	if strings.Join(got, ",") != "http.api:problem,http.api:resolved" {
		t.Fatalf("the receiver got %v, want one problem and one recovery of http.api", got)
	}
	if p := ms[0].Alerts[0]; p.Node != "n1" || p.Severity != notify.SeverityCritical || !strings.Contains(p.Error, "500") {
		t.Errorf("problem: %+v", p)
	}
	if bad := recv.Problems(); len(bad) > 0 {
		t.Errorf("requests broke the contract: %v", bad)
	}
	_, body := get(t, http.MethodGet, ta.base+"/metrics", "")
	if !strings.Contains(string(body), `satellite_notifications_total{notifier="webhook.ops",result="sent"} 2`) {
		t.Errorf("/metrics does not count 2 sent notifications")
	}
	if strings.Contains(ta.logs.String(), "hook-s3cret") {
		t.Error("the secret is in the log")
	}
}
