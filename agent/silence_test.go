package agent_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/satellite-hq/satellite/health"
	"github.com/satellite-hq/satellite/notify/notifytest"
	"github.com/satellite-hq/satellite/notify/silence"
)

// A silence made on one agent holds on another (gossiped): the silenced
// check still runs and shows silenced in the status document, nothing is
// sent; when the silence is expired (on the first agent) and the check
// still fails, the problem is sent then, once.
func TestSilenceHoldsAcrossTheMesh(t *testing.T) {
	t.Parallel()
	var failing atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if failing.Load() {
			w.WriteHeader(http.StatusInternalServerError)
		}
	}))
	defer srv.Close()
	recv := notifytest.NewReceiver(t)
	checks := fmt.Sprintf(`
notifier "webhook" "ops" {
  url        = "%s/hook"
  group_wait = "0s"
}

check "http" "api" {
  url      = "%s/api"
  interval = "1s"
  notify   = [notifier.webhook.ops]
}
`, recv.URL, srv.URL)
	a := startMeshAgent(t, "sil-a", nil, checks)
	b := startMeshAgent(t, "sil-b", []string{a.gossip}, checks)
	eventually(t, "two members", func() string {
		if n := len(a.cluster(t).Nodes); n != 2 {
			return fmt.Sprintf("%d nodes", n)
		}
		return ""
	})

	body, _ := json.Marshal(map[string]string{"node": "sil-b", "check": "http.*", "duration": "1h", "author": "test", "reason": "deploying sil-b"})
	resp, err := http.Post(a.base+"/v1/silences", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var s silence.Silence
	_ = json.NewDecoder(resp.Body).Decode(&s)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated || s.ID == "" {
		t.Fatalf("POST /v1/silences: %d %+v", resp.StatusCode, s)
	}
	eventually(t, "the silence on sil-b", func() string {
		code, out := get(t, http.MethodGet, b.base+"/v1/silences", "")
		if code != http.StatusOK || !strings.Contains(string(out), s.ID) {
			return fmt.Sprintf("%d %s", code, out)
		}
		return ""
	})
	failing.Store(true)
	p := b.waitProbe(t, "http.api", status("critical"))
	eventually(t, "the probe marked silenced", func() string {
		p, _ = probe(b.local(t), "http.api")
		if !p.Silenced || p.SilenceID != s.ID {
			return fmt.Sprintf("%+v", p)
		}
		return ""
	})
	time.Sleep(3 * time.Second)
	for _, m := range recv.Messages() {
		for _, al := range m.Alerts {
			if al.Node == "sil-b" {
				t.Fatalf("sil-b's silenced check was told: %+v", al)
			}
		}
	}
	// sil-a's own http.api is not silenced: it fails and is told.
	if got := alertsOf(recv, "sil-a"); got != "http.api:problem" {
		t.Errorf("sil-a: [%s]", got)
	}

	req, _ := http.NewRequest(http.MethodDelete, a.base+"/v1/silences/"+s.ID, nil)
	resp, err = http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("DELETE: %v %v", resp, err)
	}
	resp.Body.Close()
	eventually(t, "sil-b's problem told once the silence ended", func() string {
		if got := alertsOf(recv, "sil-b"); got != "http.api:problem" {
			return "told: [" + got + "]"
		}
		return ""
	})
	if p, _ := probe(b.local(t), "http.api"); p.Silenced || p.Status != health.Critical {
		_, out := get(t, http.MethodGet, b.base+"/v1/silences?expired=1", "")
		t.Errorf("after the silence: %+v; sil-b's silences: %s; messages: %+v", p, out, recv.Messages())
	}
}

// alertsOf lists what the receiver was told of node's checks.
func alertsOf(r *notifytest.Receiver, node string) string {
	var out []string
	for _, a := range r.Alerts() {
		if a.Node == node {
			out = append(out, a.Check+":"+a.State)
		}
	}
	return strings.Join(out, ",")
}
