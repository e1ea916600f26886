package events_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/satellite-hq/satellite/checks"
	"github.com/satellite-hq/satellite/engine"
	"github.com/satellite-hq/satellite/events"
	"github.com/satellite-hq/satellite/health"
)

func run(addr string, i int) *events.Event {
	return &events.Event{Kind: events.CheckRun, Time: time.Unix(int64(i), 0), Node: "n", Check: events.Check{Address: addr, Type: "tcp"}, Status: health.Passing, RunStatus: health.Passing}
}

// collector is a subscriber that keeps what it gets.
type collector struct {
	mu  sync.Mutex
	evs []*events.Event
}

func (c *collector) handle(_ context.Context, e *events.Event) {
	c.mu.Lock()
	c.evs = append(c.evs, e)
	c.mu.Unlock()
}

func (c *collector) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.evs)
}

// A subscriber that blocks does not hold up Publish nor the others; what it
// cannot queue is counted as dropped, exactly.
func TestBlockedSubscriberDropsAreCounted(t *testing.T) {
	b := events.New(nil)
	entered := make(chan struct{})
	var once sync.Once
	blocked := b.Subscribe("stuck", events.SubscribeOptions{Queue: 16}, func(ctx context.Context, e *events.Event) {
		once.Do(func() { close(entered) })
		<-ctx.Done() // blocks until its subscription is closed
	})
	var fine collector
	b.Subscribe("fine", events.SubscribeOptions{}, fine.handle)

	b.Publish(run("tcp.a", 0))
	<-entered // the stuck handler holds the first event
	const n = 1000
	start := time.Now()
	for i := 1; i <= n; i++ {
		b.Publish(run("tcp.a", i))
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("publishing %d events took %s with a stuck subscriber", n, d)
	}
	deadline := time.Now().Add(5 * time.Second)
	for fine.len() < n+1 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if got := fine.len(); got != n+1 {
		t.Fatalf("the other subscriber got %d events, want %d", got, n+1)
	}
	published, stats := b.Stats()
	if published != n+1 {
		t.Errorf("published %d, want %d", published, n+1)
	}
	for _, s := range stats {
		switch s.Name {
		case "stuck":
			// One in the handler, 16 queued, the rest dropped.
			if s.Queued != 16 || s.Dropped != n-16 || s.Delivered != 0 {
				t.Errorf("stuck: %+v, want 16 queued, %d dropped, 0 delivered", s, n-16)
			}
		case "fine":
			if s.Dropped != 0 || s.Delivered != n+1 {
				t.Errorf("fine: %+v", s)
			}
		default:
			t.Errorf("unknown subscriber %q", s.Name)
		}
	}
	// Closing with an expired context cancels the handler's context, so
	// Close returns rather than wait for a handler that blocks forever.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	done := make(chan struct{})
	go func() { blocked.Close(ctx); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return for a blocked handler")
	}
	if _, stats := b.Stats(); len(stats) != 1 || stats[0].Name != "fine" {
		t.Fatalf("after Close: %+v", stats)
	}
}

// Close lets a subscriber handle everything queued before it returns, and a
// filter keeps what it refuses out of the queue and out of the drops.
func TestCloseDrainsAndFilterSkips(t *testing.T) {
	b := events.New(nil)
	release := make(chan struct{})
	var got collector
	b.Subscribe("slow", events.SubscribeOptions{Queue: 100, Filter: func(e *events.Event) bool { return e.Changed }},
		func(ctx context.Context, e *events.Event) {
			<-release
			got.handle(ctx, e)
		})
	for i := range 200 {
		e := run("tcp.a", i)
		e.Changed = i%2 == 0
		b.Publish(e)
	}
	close(release)
	b.Close(context.Background())
	if n := got.len(); n != 100 {
		t.Fatalf("handled %d events, want the 100 changes", n)
	}
	if _, stats := b.Stats(); len(stats) != 0 {
		t.Fatalf("subscribers left after Close: %+v", stats)
	}
	b.Publish(run("tcp.a", 999)) // after Close: ignored, no panic
	if n := got.len(); n != 100 {
		t.Fatalf("an event published after Close was handled")
	}
	s := b.Subscribe("late", events.SubscribeOptions{}, got.handle)
	s.Close(context.Background()) // a subscription to a closed bus is closed
}

// The scheduler's events reach every subscriber in the order of each
// check's runs, with many checks running concurrently.
func TestSchedulerEventsInOrderPerCheck(t *testing.T) {
	const nChecks = 100
	var cs []*engine.Check
	for i := range nChecks {
		addr := fmt.Sprintf("tcp.c%03d", i)
		cs = append(cs, &engine.Check{
			Address: addr, Type: "tcp", Name: addr[4:], Interval: 5 * time.Millisecond, Timeout: 5 * time.Millisecond, Runs: true,
			Checker: checks.CheckerFunc(func(context.Context) checks.Result {
				if time.Now().UnixNano()%3 == 0 {
					return checks.Result{Error: "flip"}
				}
				return checks.Result{}
			}),
			Fingerprint: addr, FailuresBeforeCritical: 1, SuccessesBeforePassing: 1,
		})
	}
	b := events.New(nil)
	var subs [3]collector
	for i := range subs {
		b.Subscribe(fmt.Sprintf("s%d", i), events.SubscribeOptions{Queue: 1 << 16}, subs[i].handle)
	}
	s := engine.NewScheduler(&engine.Plan{Checks: cs}, engine.SchedulerOptions{
		MaxConcurrent: 8, FirstRound: time.Millisecond,
		OnEvent: func(e engine.Event) { b.Publish(e.ToBus("n", nil)) },
	})
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	s.Run(ctx)
	b.Close(context.Background())
	for i := range subs {
		last := map[string]time.Time{}
		status := map[string]health.Status{}
		runs := 0
		for _, e := range subs[i].evs {
			addr := e.Check.Address
			if prev, ok := last[addr]; ok && !e.Time.After(prev) {
				t.Fatalf("subscriber %d: %s run at %v after one at %v", i, addr, e.Time, prev)
			}
			if st, ok := status[addr]; ok && e.Previous != st {
				t.Fatalf("subscriber %d: %s went %s -> %s, but its last event said %s", i, addr, e.Previous, e.Status, st)
			}
			last[addr], status[addr] = e.Time, e.Status
			runs++
		}
		if len(last) != nChecks || runs < 5*nChecks {
			t.Fatalf("subscriber %d saw %d checks and %d runs", i, len(last), runs)
		}
	}
	if _, stats := b.Stats(); len(stats) != 0 {
		t.Fatal("subscribers left")
	}
}
