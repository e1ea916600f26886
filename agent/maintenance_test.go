package agent_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/satellite-hq/satellite/notify/notifytest"
)

// A maintenance window (every minute, 25 s long) holds the alerts of the
// checks it names on the nodes it names: a check failing during it is told
// once the window ends, a check failing and recovering during it never,
// and a check the window does not name is told at once.
func TestMaintenanceWindowHoldsThenTells(t *testing.T) {
	t.Parallel()
	var down, blip atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/down" && down.Load() || r.URL.Path == "/blip" && blip.Load() || r.URL.Path == "/other" && down.Load() {
			w.WriteHeader(http.StatusInternalServerError)
		}
	}))
	defer srv.Close()
	recv := notifytest.NewReceiver(t)
	dir, data := t.TempDir(), t.TempDir()
	writeConfig(t, dir, nodeHCL(data, ""), fmt.Sprintf(`
notifier "webhook" "ops" {
  url        = "%s/hook"
  group_wait = "0s"
}

defaults {
  notify   = [notifier.webhook.ops]
  interval = "1s"
}

maintenance "minutely" {
  schedule = "* * * * *"
  duration = "25s"
  checks   = ["http.down", "http.blip"]
}

check "http" "down" {
  url = "%s/down"
}

check "http" "blip" {
  url = "%s/blip"
}

check "http" "other" {
  url = "%s/other"
}
`, recv.URL, srv.URL, srv.URL, srv.URL))
	ta := startAgent(t, dir, data)
	ta.waitProbe(t, "http.down", status("passing"))
	// Into a window, early enough to see it hold.
	for s := time.Now().UTC().Second(); s < 1 || s > 8; s = time.Now().UTC().Second() {
		time.Sleep(200 * time.Millisecond)
	}
	windowEnd := time.Now().UTC().Truncate(time.Minute).Add(25 * time.Second)
	down.Store(true)
	blip.Store(true)
	ta.waitProbe(t, "http.down", status("critical"))
	ta.waitProbe(t, "http.blip", status("critical"))
	blip.Store(false)
	ta.waitProbe(t, "http.blip", status("passing"))
	eventually(t, "http.other told at once", func() string {
		if got := alertsOf(recv, "n1"); got != "http.other:problem" {
			return "told [" + got + "]"
		}
		return ""
	})
	if time.Now().After(windowEnd) {
		t.Fatalf("the test ran past the window (%s) before it could look", windowEnd)
	}
	time.Sleep(time.Until(windowEnd) - time.Second)
	if got := alertsOf(recv, "n1"); got != "http.other:problem" {
		t.Fatalf("during the window the receiver got [%s]", got)
	}
	eventually(t, "http.down told once the window ended", func() string {
		if got := alertsOf(recv, "n1"); got != "http.other:problem,http.down:problem" {
			return "told [" + got + "]"
		}
		return ""
	})
	time.Sleep(3 * time.Second)
	if got := alertsOf(recv, "n1"); got != "http.other:problem,http.down:problem" {
		t.Fatalf("after the window the receiver got [%s]", got)
	}
}
