package notify_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	_ "github.com/satellite-hq/satellite/checks/all"
	"github.com/satellite-hq/satellite/dsl"
	"github.com/satellite-hq/satellite/engine"
	"github.com/satellite-hq/satellite/events"
	"github.com/satellite-hq/satellite/notify"
	"github.com/satellite-hq/satellite/notify/notifytest"
	_ "github.com/satellite-hq/satellite/notify/webhook"
)

// BenchmarkStorm1000: 1,000 HTTP checks (a real scheduler, interval 1s,
// against one loopback server) turn critical at once on one node; the
// notifications go through the events bus and the dispatcher, as in the
// agent, to a real webhook receiver on loopback (group_wait 1s,
// max_per_minute 10). Per storm it reports the time from the server
// failing until the receiver has been told of all 1,000 alerts (listed or
// counted in "more"), the messages that took, and the scheduler's
// run-start drift (Started − Scheduled) while it happened; then the server
// recovers and the recoveries are awaited the same way.
func BenchmarkStorm1000(b *testing.B) {
	const n = 1000
	var failing atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if failing.Load() {
			w.WriteHeader(http.StatusInternalServerError)
		}
	}))
	defer srv.Close()
	recv := notifytest.NewReceiver(b)
	dir := b.TempDir()
	src := fmt.Sprintf(`
agent {
  name           = "storm"
  data_dir       = %q
  max_concurrent = 64
}

notifier "webhook" "ops" {
  url            = "%s/hook"
  group_wait     = "1s"
  max_per_minute = 10
}

check "http" "svc" {
  for_each = toset([for i in range(%d) : tostring(i)])
  url      = "%s/${each.key}"
  interval = "1s"
  timeout  = "900ms"
  notify   = [notifier.webhook.ops]
}
`, dir, recv.URL, n, srv.URL)
	path := filepath.Join(dir, "storm.hcl")
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		b.Fatal(err)
	}
	_, plan, diags := engine.Load([]string{path}, dsl.Options{LookupEnv: func(string) (string, bool) { return "", false }})
	if diags.HasErrors() {
		b.Fatal(diags)
	}
	nt := plan.NotifierByAddress("webhook.ops")
	d, err := notify.New(notify.Options{Node: "storm", DataDir: dir, Targets: []notify.Target{{Address: nt.Address, Notifier: nt.Notifier,
		MinSeverity: nt.MinSeverity, SendOnResolved: true, GroupWait: nt.GroupWait, MaxPerMinute: nt.MaxPerMinute}}})
	if err != nil {
		b.Fatal(err)
	}
	bus := events.New(hclog.NewNullLogger())
	bus.Subscribe("notify", events.SubscribeOptions{Queue: 4096}, d.Handle)
	var mu sync.Mutex
	var drift []time.Duration
	sched := engine.NewScheduler(plan, engine.SchedulerOptions{MaxConcurrent: 64, OnEvent: func(e engine.Event) {
		mu.Lock()
		drift = append(drift, e.Started.Sub(e.Scheduled))
		mu.Unlock()
		bus.Publish(e.ToBus("storm", nil))
	}})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); d.Run(ctx) }()
	go func() { defer wg.Done(); sched.Run(ctx) }()
	defer func() {
		cancel()
		wg.Wait()
		bus.Close(context.Background())
	}()
	time.Sleep(3 * time.Second) // every check has run and passes

	told := func(state string, from int) (int, int) {
		alerts, msgs := 0, 0
		for _, m := range recv.Messages()[from:] {
			c := 0
			for _, a := range m.Alerts {
				if a.State == state {
					c++
				}
			}
			if c > 0 {
				msgs++
				alerts += c
				if state == notify.StateProblem {
					alerts += m.More
				}
			}
		}
		return alerts, msgs
	}
	wait := func(state string, from int) (time.Duration, int) {
		start := time.Now()
		for {
			a, m := told(state, from)
			// Recoveries are never folded into "more" away from the receiver:
			// a message lists 20 and counts the rest, so count messages'
			// alerts and more alike.
			if state == notify.StateResolved {
				a = 0
				for _, msg := range recv.Messages()[from:] {
					for _, al := range msg.Alerts {
						if al.State == state {
							a++
						}
					}
					a += msg.More
				}
			}
			if a >= n {
				return time.Since(start), m
			}
			if time.Since(start) > 2*time.Minute {
				b.Fatalf("after 2 min the receiver was told of %d of %d %s alerts", a, n, state)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	var toAll []time.Duration
	var msgs []int
	var drifts []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		from := len(recv.Messages())
		mu.Lock()
		drift = drift[:0]
		mu.Unlock()
		failing.Store(true)
		took, m := wait(notify.StateProblem, from)
		toAll, msgs = append(toAll, took), append(msgs, m)
		mu.Lock()
		drifts = append(drifts, drift...)
		mu.Unlock()
		b.StopTimer()
		from = len(recv.Messages())
		failing.Store(false)
		// The recoveries go out at max_per_minute: wait them out, untimed.
		wait(notify.StateResolved, from)
		time.Sleep(1100 * time.Millisecond)
		b.StartTimer()
	}
	b.StopTimer()
	sort.Slice(toAll, func(i, j int) bool { return toAll[i] < toAll[j] })
	sort.Slice(drifts, func(i, j int) bool { return drifts[i] < drifts[j] })
	sort.Ints(msgs)
	b.ReportMetric(float64(toAll[len(toAll)/2].Milliseconds()), "ms-to-all-1000")
	b.ReportMetric(float64(msgs[len(msgs)/2]), "messages/storm")
	if len(drifts) > 0 {
		b.ReportMetric(float64(drifts[len(drifts)/2].Microseconds())/1000, "drift-p50-ms")
		b.ReportMetric(float64(drifts[len(drifts)*99/100].Microseconds())/1000, "drift-p99-ms")
	}
	b.ReportMetric(0, "ns/op")
}
