package engine

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/satellite-hq/satellite/checks"
)

// A hung checker abandoned, then a reload that changes its body: the new
// entry's run is in flight when the old checker finally returns. The old
// run must release its own entry only; clearing the new entry's running
// flag would let a second run of the new checker start beside the first.
func TestSchedulerAbandonedOldCheckerReleasesOnlyItsEntry(t *testing.T) {
	release := make(chan struct{})
	released := false
	defer func() {
		if !released {
			close(release)
		}
	}()
	old := testCheck("exec.job", 100*time.Millisecond, func(ctx context.Context) checks.Result {
		<-release // ignores ctx
		return checks.Result{}
	})
	s, rec, stop := start(t, &Plan{Checks: []*Check{old}}, SchedulerOptions{})
	defer stop()
	rec.waitFor(t, "the old checker abandoned", func(evs []Event) bool {
		return count(evs, "exec.job", checks.StatusCritical) >= 1 && s.Abandoned() == 1
	})

	var inFlight, maxInFlight, calls atomic.Int32
	started := make(chan struct{}, 16)
	// The new body: a run that lasts longer than the interval (its timeout
	// is 1 s), so that it is still in flight at the next slots.
	changed := testCheck("exec.job", 100*time.Millisecond, func(ctx context.Context) checks.Result {
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		for {
			m := maxInFlight.Load()
			if n <= m || maxInFlight.CompareAndSwap(m, n) {
				break
			}
		}
		calls.Add(1)
		started <- struct{}{}
		<-ctx.Done()
		return checks.Result{Error: "done"}
	})
	changed.Timeout = time.Second
	changed.Fingerprint = "a changed body"
	s.Update(&Plan{Checks: []*Check{changed}})
	select {
	case <-started:
	case <-time.After(5 * time.Second):
		t.Fatal("the new checker did not start")
	}
	// The old checker returns while the new one's run is in flight.
	close(release)
	released = true
	// Several slots pass within the new run's 1 s timeout.
	time.Sleep(500 * time.Millisecond)
	if m := maxInFlight.Load(); m != 1 {
		t.Fatalf("%d runs of the new checker in flight at once (of %d calls), want 1", m, calls.Load())
	}
	if s.Abandoned() != 0 {
		t.Fatalf("abandoned = %d after the old checker returned", s.Abandoned())
	}
}
