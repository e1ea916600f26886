package engine

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/satellite-hq/satellite/checks"
)

func testCheck(addr string, interval time.Duration, fn func(ctx context.Context) checks.Result, deps ...string) *Check {
	typ, name, _ := strings.Cut(addr, ".")
	return &Check{
		Address: addr, Type: typ, Name: name, Interval: interval, Timeout: interval / 2, Runs: true,
		Checker: checks.CheckerFunc(fn), DependsOn: deps, Fingerprint: addr + interval.String(),
		FailuresBeforeCritical: 1, SuccessesBeforePassing: 1,
	}
}

func ok(context.Context) checks.Result { return checks.Result{} }

func fail(msg string) func(context.Context) checks.Result {
	return func(context.Context) checks.Result { return checks.Result{Error: msg} }
}

// recorder collects events and lets a test wait for a condition on them.
type recorder struct {
	mu     sync.Mutex
	events []Event
	cond   chan struct{}
}

func newRecorder() *recorder { return &recorder{cond: make(chan struct{}, 1)} }

func (r *recorder) on(e Event) {
	r.mu.Lock()
	r.events = append(r.events, e)
	r.mu.Unlock()
	select {
	case r.cond <- struct{}{}:
	default:
	}
}

func (r *recorder) waitFor(t *testing.T, what string, pred func([]Event) bool) []Event {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		r.mu.Lock()
		evs := append([]Event(nil), r.events...)
		r.mu.Unlock()
		if pred(evs) {
			return evs
		}
		select {
		case <-r.cond:
		case <-time.After(20 * time.Millisecond):
		case <-deadline:
			t.Fatalf("timed out waiting for %s; events: %v", what, summarize(evs))
		}
	}
}

func summarize(evs []Event) []string {
	var out []string
	for _, e := range evs {
		out = append(out, fmt.Sprintf("%s=%s(%s)", e.Check.Address, e.State.Status, e.State.Error))
	}
	return out
}

func count(evs []Event, addr string, st checks.Status) int {
	n := 0
	for _, e := range evs {
		if e.Check.Address == addr && e.State.Status == st {
			n++
		}
	}
	return n
}

func start(t *testing.T, plan *Plan, opts SchedulerOptions) (*Scheduler, *recorder, func()) {
	t.Helper()
	rec := newRecorder()
	opts.OnEvent = rec.on
	if opts.FirstRound == 0 {
		opts.FirstRound = 10 * time.Millisecond
	}
	s := NewScheduler(plan, opts)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	return s, rec, func() { cancel(); <-done }
}

func TestSchedulerBlocksWithRootCause(t *testing.T) {
	plan := &Plan{Checks: []*Check{
		testCheck("tcp.etcd", 200*time.Millisecond, fail("connection refused")),
		testCheck("http.api", 200*time.Millisecond, ok, "tcp.etcd"),
		testCheck("http.app", 200*time.Millisecond, ok, "http.api"),
	}}
	_, rec, stop := start(t, plan, SchedulerOptions{})
	defer stop()
	evs := rec.waitFor(t, "both dependents blocked", func(evs []Event) bool {
		return count(evs, "http.api", checks.StatusBlocked) > 0 && count(evs, "http.app", checks.StatusBlocked) > 0
	})
	for _, e := range evs {
		if e.Check.Address == "http.app" && e.State.Status == checks.StatusBlocked && e.State.Error != "blocked by tcp.etcd (critical)" {
			t.Fatalf("the root cause must be named: %q", e.State.Error)
		}
		if e.Check.Address != "tcp.etcd" && e.State.Status != checks.StatusBlocked {
			t.Fatalf("%s ran while its dependency was critical: %s", e.Check.Address, e.State.Status)
		}
	}
}

func TestSchedulerDependenciesFirst(t *testing.T) {
	var depDone atomic.Int64
	var sawDone atomic.Bool
	plan := &Plan{Checks: []*Check{
		testCheck("tcp.slow", time.Second, func(ctx context.Context) checks.Result {
			time.Sleep(100 * time.Millisecond)
			depDone.Store(1)
			return checks.Result{}
		}),
		testCheck("http.after", time.Second, func(context.Context) checks.Result {
			sawDone.Store(depDone.Load() == 1)
			return checks.Result{}
		}, "tcp.slow"),
	}}
	_, rec, stop := start(t, plan, SchedulerOptions{})
	defer stop()
	rec.waitFor(t, "the dependent's first run", func(evs []Event) bool { return count(evs, "http.after", checks.StatusPassing) > 0 })
	if !sawDone.Load() {
		t.Fatal("the dependent ran before its dependency's first run finished")
	}
}

func TestSchedulerHungCheckerIsAbandoned(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	var calls atomic.Int64
	plan := &Plan{Checks: []*Check{
		testCheck("exec.hang", 100*time.Millisecond, func(ctx context.Context) checks.Result {
			calls.Add(1)
			<-release // ignores ctx
			return checks.Result{}
		}),
		testCheck("tcp.fine", 100*time.Millisecond, ok),
	}}
	before := runtime.NumGoroutine()
	s, rec, stop := start(t, plan, SchedulerOptions{})
	defer stop()
	evs := rec.waitFor(t, "timed out, then still running", func(evs []Event) bool {
		stillRunning := false
		for _, e := range evs {
			if e.Check.Address == "exec.hang" && strings.HasPrefix(e.State.Error, "still running since") {
				stillRunning = true
			}
		}
		return stillRunning && count(evs, "tcp.fine", checks.StatusPassing) >= 5
	})
	first := ""
	for _, e := range evs {
		if e.Check.Address == "exec.hang" {
			first = e.State.Error
			break
		}
	}
	if first != "timed out after 50ms" {
		t.Fatalf("first hung run: %q", first)
	}
	time.Sleep(300 * time.Millisecond)
	if n := calls.Load(); n != 1 {
		t.Fatalf("a new run started while the abandoned one was alive: %d calls", n)
	}
	if s.Abandoned() != 1 {
		t.Fatalf("abandoned = %d", s.Abandoned())
	}
	if g := runtime.NumGoroutine(); g > before+10 {
		t.Fatalf("goroutines grew from %d to %d", before, g)
	}
}

func TestSchedulerPanicIsCritical(t *testing.T) {
	plan := &Plan{Checks: []*Check{
		testCheck("exec.boom", 100*time.Millisecond, func(context.Context) checks.Result { panic("kaboom") }),
		testCheck("tcp.fine", 100*time.Millisecond, ok),
	}}
	_, rec, stop := start(t, plan, SchedulerOptions{})
	defer stop()
	evs := rec.waitFor(t, "panics reported and others running", func(evs []Event) bool {
		return count(evs, "exec.boom", checks.StatusCritical) >= 2 && count(evs, "tcp.fine", checks.StatusPassing) >= 2
	})
	for _, e := range evs {
		if e.Check.Address == "exec.boom" && !strings.Contains(e.State.Error, "panicked: kaboom") {
			t.Fatalf("panic message: %q", e.State.Error)
		}
	}
}

func TestSchedulerConcurrencyCap(t *testing.T) {
	var cur, peak atomic.Int64
	var checksList []*Check
	for i := 0; i < 8; i++ {
		checksList = append(checksList, testCheck(fmt.Sprintf("tcp.c%d", i), 400*time.Millisecond, func(context.Context) checks.Result {
			n := cur.Add(1)
			for {
				p := peak.Load()
				if n <= p || peak.CompareAndSwap(p, n) {
					break
				}
			}
			time.Sleep(30 * time.Millisecond)
			cur.Add(-1)
			return checks.Result{}
		}))
	}
	_, rec, stop := start(t, &Plan{Checks: checksList}, SchedulerOptions{MaxConcurrent: 2})
	defer stop()
	rec.waitFor(t, "every check ran", func(evs []Event) bool { return len(evs) >= 16 })
	if p := peak.Load(); p > 2 || p < 1 {
		t.Fatalf("peak concurrency %d, cap 2", p)
	}
}

func TestSchedulerUpdateKeepsUnchangedState(t *testing.T) {
	keep := testCheck("tcp.keep", 100*time.Millisecond, fail("down"))
	change := testCheck("tcp.change", 100*time.Millisecond, fail("down"))
	gone := testCheck("tcp.gone", 100*time.Millisecond, ok)
	s, rec, stop := start(t, &Plan{Checks: []*Check{keep, change, gone}}, SchedulerOptions{})
	defer stop()
	rec.waitFor(t, "all critical", func(evs []Event) bool {
		return count(evs, "tcp.keep", checks.StatusCritical) > 0 && count(evs, "tcp.change", checks.StatusCritical) > 0
	})
	var since time.Time
	for _, sn := range s.Snapshot() {
		if sn.Check.Address == "tcp.keep" {
			since = sn.State.Since
		}
	}
	keep2 := testCheck("tcp.keep", 100*time.Millisecond, fail("down"))
	change2 := testCheck("tcp.change", 100*time.Millisecond, fail("down"))
	change2.Fingerprint = "different"
	s.Update(&Plan{Checks: []*Check{keep2, change2}})
	snap := s.Snapshot()
	if len(snap) != 2 {
		t.Fatalf("after reload: %d checks", len(snap))
	}
	for _, sn := range snap {
		switch sn.Check.Address {
		case "tcp.keep":
			if sn.State.Status != checks.StatusCritical || !sn.State.Since.Equal(since) || sn.Check != keep2 {
				t.Fatalf("unchanged check lost its state: %+v", sn.State)
			}
		case "tcp.change":
			if sn.State.Status != checks.StatusUnknown {
				t.Fatalf("changed check kept its state: %s", sn.State.Status)
			}
		default:
			t.Fatalf("removed check still scheduled: %s", sn.Check.Address)
		}
	}
}

func TestNextSlot(t *testing.T) {
	iv := 10 * time.Second
	ph := phaseOf("http.api", iv)
	if ph < 0 || ph >= iv || ph != phaseOf("http.api", iv) {
		t.Fatalf("phase %s", ph)
	}
	now := time.Unix(1_000_000, 123)
	n := nextSlot(now, iv, ph)
	if !n.After(now) || n.Sub(now) > iv || (n.UnixNano()-int64(ph))%int64(iv) != 0 {
		t.Fatalf("next slot %s after %s", n, now)
	}
	if nextSlot(n, iv, ph).Sub(n) != iv {
		t.Fatal("slots are an interval apart")
	}
}

func TestRunOnce(t *testing.T) {
	plan := &Plan{Checks: []*Check{
		testCheck("tcp.down", time.Second, fail("refused")),
		testCheck("http.behind", time.Second, ok, "tcp.down"),
		testCheck("http.up", time.Second, ok),
		testCheck("http.chain", time.Second, ok, "http.behind"),
	}}
	var mu sync.Mutex
	seen := 0
	evs := RunOnce(context.Background(), plan.Running(), OnceOptions{OnEvent: func(Event) { mu.Lock(); seen++; mu.Unlock() }})
	want := map[string]string{
		"tcp.down":    "critical refused",
		"http.behind": "blocked blocked by tcp.down (critical)",
		"http.up":     "passing ",
		"http.chain":  "blocked blocked by tcp.down (critical)",
	}
	if len(evs) != 4 || seen != 4 {
		t.Fatalf("%d events, %d callbacks", len(evs), seen)
	}
	for _, e := range evs {
		if got := string(e.State.Status) + " " + e.State.Error; got != want[e.Check.Address] {
			t.Errorf("%s: %q, want %q", e.Check.Address, got, want[e.Check.Address])
		}
	}
	sel := WithDependencies(plan, []*Check{plan.Checks[3]})
	if len(sel) != 3 || sel[0].Address != "tcp.down" {
		t.Fatalf("with dependencies: %v", sel)
	}
}

// closer is a checker holding a resource, like the systemd type's D-Bus
// connection.
type closer struct {
	checks.CheckerFunc
	closed atomic.Int32
}

func (c *closer) Close() error { c.closed.Add(1); return nil }

func TestSchedulerClosesCheckers(t *testing.T) {
	mk := func(addr string) (*Check, *closer) {
		cl := &closer{CheckerFunc: ok}
		c := testCheck(addr, 100*time.Millisecond, ok)
		c.Checker = cl
		return c, cl
	}
	keep, keepCl := mk("tcp.keep")
	gone, goneCl := mk("tcp.gone")
	s, rec, stop := start(t, &Plan{Checks: []*Check{keep, gone}}, SchedulerOptions{})
	rec.waitFor(t, "both ran", func(evs []Event) bool {
		return count(evs, "tcp.keep", checks.StatusPassing) > 0 && count(evs, "tcp.gone", checks.StatusPassing) > 0
	})
	keep2, keep2Cl := mk("tcp.keep")
	s.Update(&Plan{Checks: []*Check{keep2}})
	deadline := time.Now().Add(5 * time.Second)
	for goneCl.closed.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if goneCl.closed.Load() != 1 {
		t.Fatal("the checker of a removed check was not closed")
	}
	if keep2Cl.closed.Load() != 1 || keepCl.closed.Load() != 0 || keep2.Checker != checks.Checker(keepCl) {
		t.Fatalf("an unchanged check must keep its running checker: new closed %d, old closed %d", keep2Cl.closed.Load(), keepCl.closed.Load())
	}
	stop()
	if keepCl.closed.Load() != 1 || goneCl.closed.Load() != 1 {
		t.Fatalf("after Run: kept closed %d times, removed %d times", keepCl.closed.Load(), goneCl.closed.Load())
	}
}
