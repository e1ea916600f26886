package engine

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/satellite-hq/satellite/checks"
)

// run --once goes through the scheduler: the cap holds, dependencies run
// first, a hung checker is abandoned at its timeout by the same path as in
// the agent, there is no hysteresis, and an interrupted run says so.
func TestRunOnceThroughTheScheduler(t *testing.T) {
	t.Run("cap", func(t *testing.T) {
		var inFlight, peak atomic.Int32
		slow := func(context.Context) checks.Result {
			n := inFlight.Add(1)
			defer inFlight.Add(-1)
			for m := peak.Load(); n > m && !peak.CompareAndSwap(m, n); m = peak.Load() {
			}
			time.Sleep(20 * time.Millisecond)
			return checks.Result{}
		}
		var cs []*Check
		for i := range 12 {
			cs = append(cs, testCheck("tcp.c"+string(rune('a'+i)), time.Second, slow))
		}
		evs := RunOnce(context.Background(), cs, OnceOptions{MaxConcurrent: 3})
		if p := peak.Load(); p != 3 {
			t.Fatalf("peak concurrency %d, want the cap of 3", p)
		}
		for i, e := range evs {
			if e.Check != cs[i] || e.State.Status != checks.StatusPassing || e.Duration < 20*time.Millisecond {
				t.Fatalf("event %d: %s %s after %s", i, e.Check.Address, e.State.Status, e.Duration)
			}
		}
	})
	t.Run("dependencies first", func(t *testing.T) {
		var order []string
		var mu sync.Mutex
		rec := func(addr string) func(context.Context) checks.Result {
			return func(context.Context) checks.Result {
				mu.Lock()
				order = append(order, addr)
				mu.Unlock()
				return checks.Result{}
			}
		}
		cs := []*Check{
			testCheck("http.top", time.Second, rec("http.top"), "http.mid"),
			testCheck("http.mid", time.Second, rec("http.mid"), "tcp.base"),
			testCheck("tcp.base", time.Second, rec("tcp.base")),
		}
		evs := RunOnce(context.Background(), cs, OnceOptions{})
		if strings.Join(order, ",") != "tcp.base,http.mid,http.top" {
			t.Fatalf("ran in order %v", order)
		}
		if evs[0].Check.Address != "http.top" || evs[0].State.Status != checks.StatusPassing {
			t.Fatalf("events in the given order: %v", summarize(evs))
		}
	})
	t.Run("hung checker abandoned at its timeout", func(t *testing.T) {
		release := make(chan struct{})
		defer close(release)
		hang := testCheck("exec.hang", time.Second, func(context.Context) checks.Result { <-release; return checks.Result{} })
		hang.Timeout = 100 * time.Millisecond
		behind := testCheck("http.behind", time.Second, ok, "exec.hang")
		start := time.Now()
		evs := RunOnce(context.Background(), []*Check{hang, behind}, OnceOptions{})
		if d := time.Since(start); d > 5*time.Second {
			t.Fatalf("RunOnce waited %s for a hung checker", d)
		}
		if e := evs[0]; e.State.Status != checks.StatusCritical || e.State.Error != "timed out after 100ms" {
			t.Fatalf("hung: %s %q", e.State.Status, e.State.Error)
		}
		if e := evs[1]; e.State.Status != checks.StatusBlocked || e.State.Error != "blocked by exec.hang (critical)" {
			t.Fatalf("behind: %s %q", e.State.Status, e.State.Error)
		}
	})
	t.Run("no hysteresis", func(t *testing.T) {
		c := testCheck("tcp.down", time.Second, fail("refused"))
		c.FailuresBeforeCritical = 3
		evs := RunOnce(context.Background(), []*Check{c}, OnceOptions{})
		if e := evs[0]; e.State.Status != checks.StatusCritical || !e.Changed || e.Previous != checks.StatusUnknown {
			t.Fatalf("one failing run: %s changed=%v from %s", e.State.Status, e.Changed, e.Previous)
		}
		if c.FailuresBeforeCritical != 3 {
			t.Fatal("RunOnce changed the caller's check")
		}
	})
	t.Run("interrupted", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		first := testCheck("tcp.first", time.Second, func(ctx context.Context) checks.Result {
			cancel()
			<-ctx.Done()
			return checks.Result{Error: checks.Interrupted(ctx, time.Now())}
		})
		later := testCheck("tcp.later", time.Second, ok, "tcp.first")
		evs := RunOnce(ctx, []*Check{first, later}, OnceOptions{MaxConcurrent: 1})
		if e := evs[0]; e.State.Status != checks.StatusCritical || e.State.Error != "canceled" {
			t.Fatalf("first: %s %q", e.State.Status, e.State.Error)
		}
		if e := evs[1]; e.State.Status == checks.StatusPassing {
			t.Fatalf("later ran after the interrupt: %s %q", e.State.Status, e.State.Error)
		}
	})
}
