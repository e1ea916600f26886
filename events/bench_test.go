package events_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/satellite-hq/satellite/checks"
	"github.com/satellite-hq/satellite/engine"
	"github.com/satellite-hq/satellite/events"
)

// BenchmarkBusBlockedSubscriber runs 2,000 trivial checks at a 1 s interval
// (2,000 runs a second) for a 5 s window after the first round, publishing
// every event on a bus with two quick subscribers, and reports the run
// start drift (start minus slot) with no other subscriber ("free") and with
// a third one whose handler blocks for good ("blocked"): the drift must not
// tell them apart.
//
//	go test -run '^$' -bench BusBlockedSubscriber -benchtime 1x -count 3 ./events
func BenchmarkBusBlockedSubscriber(b *testing.B) {
	for _, blocked := range []bool{false, true} {
		name := "free"
		if blocked {
			name = "blocked"
		}
		b.Run(name, func(b *testing.B) {
			var drifts []int64
			var dropped uint64
			for range b.N {
				d, n := busDriftOnce(b, blocked)
				drifts = append(drifts, d...)
				dropped += n
			}
			slices.Sort(drifts)
			pct := func(p float64) float64 { return float64(drifts[min(int(p*float64(len(drifts))), len(drifts)-1)]) / 1e6 }
			b.ReportMetric(pct(0.5), "drift-p50-ms")
			b.ReportMetric(pct(0.99), "drift-p99-ms")
			b.ReportMetric(float64(drifts[len(drifts)-1])/1e6, "drift-max-ms")
			b.ReportMetric(float64(dropped)/float64(b.N), "dropped/op")
		})
	}
}

func busDriftOnce(b *testing.B, blocked bool) ([]int64, uint64) {
	const (
		n      = 2000
		warmup = 3 * time.Second
		window = 5 * time.Second
	)
	var cs []*engine.Check
	for i := range n {
		addr := fmt.Sprintf("tcp.c%04d", i)
		cs = append(cs, &engine.Check{Address: addr, Type: "tcp", Name: addr[4:], Interval: time.Second, Timeout: time.Second, Runs: true,
			Checker:     checks.CheckerFunc(func(context.Context) checks.Result { return checks.Result{} }),
			Fingerprint: addr, FailuresBeforeCritical: 1, SuccessesBeforePassing: 1})
	}
	bus := events.New(nil)
	var mu sync.Mutex
	var drifts []int64
	var t0, t1 time.Time
	bus.Subscribe("drift", events.SubscribeOptions{Queue: 1 << 14}, func(_ context.Context, e *events.Event) {
		mu.Lock()
		if !t0.IsZero() && e.Time.After(t0) && (t1.IsZero() || e.Time.Before(t1)) {
			drifts = append(drifts, e.Time.Sub(e.Scheduled).Nanoseconds())
		}
		mu.Unlock()
	})
	bus.Subscribe("quick", events.SubscribeOptions{}, func(context.Context, *events.Event) {})
	if blocked {
		bus.Subscribe("stuck", events.SubscribeOptions{}, func(ctx context.Context, _ *events.Event) { <-ctx.Done() })
	}
	s := engine.NewScheduler(&engine.Plan{Checks: cs}, engine.SchedulerOptions{MaxConcurrent: 16,
		OnEvent: func(e engine.Event) { bus.Publish(e.ToBus("n", nil)) }})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	time.Sleep(warmup)
	mu.Lock()
	t0 = time.Now()
	mu.Unlock()
	time.Sleep(window)
	mu.Lock()
	t1 = time.Now()
	mu.Unlock()
	cancel()
	<-done
	var dropped uint64
	_, stats := bus.Stats()
	for _, st := range stats {
		dropped += st.Dropped
	}
	cctx, ccancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer ccancel()
	bus.Close(cctx)
	if len(drifts) < n {
		b.Fatalf("%d runs in the window", len(drifts))
	}
	return drifts, dropped
}
