package engine

import (
	"context"
	"fmt"
	"hash/fnv"
	"io"
	"reflect"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/satellite-hq/satellite/checks"
	"github.com/satellite-hq/satellite/health"
)

// SchedulerOptions configure a Scheduler.
type SchedulerOptions struct {
	// MaxConcurrent caps the runs in flight on this node (agent.max_concurrent).
	MaxConcurrent int
	// FirstRound is the window over which the first round is spread at
	// start, so that not every check fires at once. Default 2s, and never
	// more than the shortest interval.
	FirstRound time.Duration
	// OnEvent receives every run and block, on a scheduler goroutine and
	// without the scheduler's lock held, one event at a time and in the
	// order the states changed: the events of one check always arrive in
	// the order of its runs. It must not block (hand the event to a queue,
	// such as the events bus) and must not call the scheduler back.
	OnEvent func(Event)
	// Logger is a named sub-logger; default a null logger.
	Logger hclog.Logger
	// Now is the clock; default time.Now.
	Now func() time.Time
	// OnTurn, when set, is called by the run loop on every turn, without
	// the lock, and Turn (when > 0) bounds the loop's sleep, so that it
	// turns at least that often with nothing due: the systemd watchdog is
	// fed from here, and a loop that is stuck stops feeding it.
	OnTurn func(ctx context.Context, now time.Time)
	Turn   time.Duration

	// once makes a one-shot scheduler (RunOnce): every check due at once,
	// no hysteresis, and Run returns when each check has settled once.
	once bool
}

// Scheduler is the only run loop: it runs each check of a plan on its
// interval, with a deterministic phase per check, a timeout per run, a cap
// on concurrent runs, dependencies before dependents, and the state machine.
type Scheduler struct {
	opts SchedulerOptions
	log  hclog.Logger
	sem  chan struct{}
	wake chan struct{}

	mu      sync.Mutex
	entries map[string]*entry
	order   []*entry // plan order: dependencies first
	queue   entryHeap
	started bool
	// abandoned counts checkers that ignored their context and are still alive.
	abandoned int
	// dependents maps an address to the entries that depend on it.
	dependents map[string][]*entry
	// pending are events to hand to OnEvent once s.mu is released.
	pending []Event
	// emitMu orders the calls of OnEvent: it is taken before s.mu is
	// released, so events reach OnEvent in the order they were settled.
	emitMu sync.Mutex
	ctx    context.Context
	// unsettled counts, in a one-shot scheduler, the checks that have
	// not settled yet; settled is closed when none is left.
	unsettled int
	settled   chan struct{}

	// runs counts the goroutines that run checks, busy or idle (workers);
	// Run waits for them. A worker whose checker was abandoned is counted
	// out when it is abandoned.
	runs sync.WaitGroup
	// jobs hands a run to an idle worker; idle counts those waiting on it.
	jobs chan job
	idle atomic.Int32
}

// job is one run for a worker.
type job struct {
	e         *entry
	c         *Check
	scheduled time.Time
}

type entry struct {
	check *Check
	state State
	runs  map[checks.Status]uint64
	// next is when the check is due; the queue holds it as Unix nanoseconds.
	next  time.Time
	phase time.Duration
	// running is true while a run is in flight, and while an abandoned
	// checker is still alive.
	running bool
	// aliveSince is when an abandoned checker started.
	aliveSince time.Time
	// waiting is true when the check is due but waits for a dependency's
	// run to finish; scheduled is when it was due.
	waiting   bool
	scheduled time.Time
	removed   bool
	// closed is true once the checker of a removed entry was closed.
	closed bool
	// settledOnce is true, in a one-shot scheduler, once the check ran or
	// was blocked.
	settledOnce bool
}

// NewScheduler makes a scheduler for a plan; Run starts it.
func NewScheduler(plan *Plan, opts SchedulerOptions) *Scheduler {
	if opts.MaxConcurrent <= 0 {
		opts.MaxConcurrent = 16
	}
	if opts.FirstRound <= 0 {
		opts.FirstRound = 2 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = hclog.NewNullLogger()
	}
	if opts.OnEvent == nil {
		opts.OnEvent = func(Event) {}
	}
	s := &Scheduler{
		opts:    opts,
		log:     opts.Logger,
		sem:     make(chan struct{}, opts.MaxConcurrent),
		wake:    make(chan struct{}, 1),
		jobs:    make(chan job),
		entries: map[string]*entry{},
		ctx:     context.Background(),
		settled: make(chan struct{}),
	}
	s.load(plan, nil)
	if opts.once {
		s.unsettled = len(s.order)
		for _, e := range s.order {
			e.next = opts.Now() // all at once, not spread over a first round
		}
		s.queue = s.queue[:0]
		for _, e := range s.order {
			s.queue.push(e)
		}
		if s.unsettled == 0 {
			close(s.settled)
		}
	}
	return s
}

// phaseOf spreads checks with the same interval across it, the same way on
// every node: a hash of the address.
func phaseOf(addr string, interval time.Duration) time.Duration {
	h := fnv.New64a()
	h.Write([]byte(addr))
	return time.Duration(h.Sum64() % uint64(interval))
}

// nextSlot is the first time after t at phase within the interval, counted
// from the Unix epoch so that slots are the same across restarts and nodes.
func nextSlot(t time.Time, interval, phase time.Duration) time.Time {
	n := t.UnixNano() - int64(phase)
	k := n/int64(interval) + 1
	return time.Unix(0, k*int64(interval)+int64(phase))
}

// load replaces the plan. Checks whose address and fingerprint did not
// change keep their entry: state, counters and schedule.
func (s *Scheduler) load(plan *Plan, old map[string]*entry) {
	now := s.opts.Now()
	running := plan.Running()
	first := s.opts.FirstRound
	for _, c := range running {
		if c.Interval < first {
			first = c.Interval
		}
	}
	s.entries = make(map[string]*entry, len(running))
	s.order = s.order[:0]
	s.queue = s.queue[:0]
	for _, c := range running {
		e, kept := old[c.Address]
		if kept && e.check.Fingerprint == c.Fingerprint && c.Fingerprint != "" {
			// Same check: keep the checker that has been running (it may hold
			// a connection) and drop the new, unused one.
			if !samePointer(c.Checker, e.check.Checker) {
				closeChecker(c.Checker)
			}
			c.Checker = e.check.Checker
			e.check = c
			delete(old, c.Address)
		} else {
			e = &entry{check: c, state: NewState(now)}
			if !s.opts.once { // a one-shot run has no Snapshot to count for
				e.runs = map[checks.Status]uint64{}
			}
			e.phase = phaseOf(c.Address, c.Interval)
			// The first round: soon, spread over the window by the phase.
			e.next = now.Add(time.Duration(float64(first) * float64(e.phase) / float64(c.Interval)))
		}
		s.entries[c.Address] = e
		s.order = append(s.order, e)
		e.waiting = false
		s.queue.push(e)
	}
	s.dependents = map[string][]*entry{}
	for _, e := range s.order {
		for _, dep := range e.check.DependsOn {
			s.dependents[dep] = append(s.dependents[dep], e)
		}
	}
	for _, e := range old {
		e.removed = true
		s.release(e)
	}
}

// release closes the checker of a removed entry once no run uses it. s.mu
// is held.
func (s *Scheduler) release(e *entry) {
	if e.removed && !e.running && !e.closed {
		e.closed = true
		closeChecker(e.check.Checker)
	}
}

// samePointer reports whether two checkers are one pointer. Checkers may be
// of types that == cannot compare (a CheckerFunc), so it does not use ==.
func samePointer(a, b checks.Checker) bool {
	va, vb := reflect.ValueOf(a), reflect.ValueOf(b)
	return va.IsValid() && vb.IsValid() && va.Kind() == reflect.Pointer && vb.Kind() == reflect.Pointer && va.Pointer() == vb.Pointer()
}

// closeChecker closes a checker that holds resources (a D-Bus connection, a
// containerd client); most hold none.
func closeChecker(c checks.Checker) {
	if cl, ok := c.(io.Closer); ok {
		_ = cl.Close()
	}
}

// Update swaps in a new plan (a reload). Unchanged checks keep their state
// and schedule; runs in flight of removed checks finish and are dropped.
func (s *Scheduler) Update(plan *Plan) {
	s.mu.Lock()
	s.load(plan, s.entries)
	s.unlockAndEmit()
	s.poke()
}

func (s *Scheduler) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Run runs checks until ctx is done, then waits for the runs in flight
// (each bounded by its timeout). Checkers that ignore their context are
// abandoned, not waited for.
func (s *Scheduler) Run(ctx context.Context) {
	s.mu.Lock()
	if s.started {
		s.mu.Unlock()
		panic("engine: Scheduler.Run called twice")
	}
	s.started = true
	// Workers idle on this context: cancelling it when Run returns ends
	// them also when a one-shot scheduler finishes before ctx is done.
	ctx, cancel := context.WithCancel(ctx)
	s.ctx = ctx
	s.mu.Unlock()
	defer func() {
		cancel()
		s.runs.Wait()
		if s.opts.once {
			return // RunOnce's caller owns the checkers
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, e := range s.order {
			if !e.running { // an abandoned checker may still use it
				e.removed = true
				s.release(e)
			}
		}
	}()

	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		s.mu.Lock()
		now := s.opts.Now()
		for nowNS := now.UnixNano(); len(s.queue) > 0 && s.queue[0].at <= nowNS; {
			e := s.queue.pop()
			s.dispatch(ctx, e, e.next, now)
			if !e.waiting && !s.opts.once {
				e.next = nextSlot(now, e.check.Interval, e.phase)
				s.queue.push(e)
			}
		}
		wait := time.Hour
		if len(s.queue) > 0 {
			// Sleep at least minSleep: with many checks, slots are often
			// less than that apart, and each wake-up costs more CPU (timer,
			// thread wake-ups) than the run it starts. Runs start at most
			// minSleep after their slot; sparse ones start on time.
			wait = max(time.Duration(s.queue[0].at-now.UnixNano()), minSleep)
		}
		if s.opts.Turn > 0 {
			wait = min(wait, s.opts.Turn)
		}
		s.unlockAndEmit()
		if s.opts.OnTurn != nil {
			s.opts.OnTurn(ctx, now)
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case <-s.settled:
			return
		case <-timer.C:
		case <-s.wake:
			if !timer.Stop() {
				select {
				case <-timer.C:
				default:
				}
			}
		}
	}
}

// dispatch decides what a due check does: nothing (its previous run is
// still in flight), wait (a dependency's run is in flight or has no result
// yet), block (a dependency is critical or blocked), or run. s.mu is held.
func (s *Scheduler) dispatch(ctx context.Context, e *entry, scheduled, now time.Time) {
	if e.running {
		if !e.aliveSince.IsZero() {
			v := Verdict{Status: checks.StatusCritical, Error: fmt.Sprintf("still running since %s (timed out after %s; the checker ignores its timeout)", e.aliveSince.UTC().Format(time.RFC3339), e.check.Timeout)}
			s.settle(e, v, checks.Result{}, scheduled, now, now.Sub(e.aliveSince), false)
		}
		return
	}
	for _, dep := range e.check.DependsOn {
		d, ok := s.entries[dep]
		if !ok || d == e {
			continue // not run on this node: ignored here
		}
		switch d.state.Status {
		case checks.StatusCritical:
			s.block(e, fmt.Sprintf("blocked by %s (critical)", dep), scheduled, now)
			return
		case checks.StatusBlocked:
			reason := d.state.Error
			if reason == "" {
				reason = fmt.Sprintf("blocked by %s (blocked)", dep)
			}
			s.block(e, reason, scheduled, now)
			return
		}
		if d.running || d.state.Status == checks.StatusUnknown {
			e.waiting, e.scheduled = true, scheduled
			return
		}
	}
	e.running = true
	e.aliveSince = time.Time{}
	j := job{e: e, c: e.check, scheduled: scheduled}
	select {
	case s.jobs <- j: // an idle worker takes it
	default:
		s.runs.Add(1)
		go s.worker(ctx, j)
	}
}

// worker runs the job it was started with, then the ones handed to it while
// it idles, so that a run does not pay for a new goroutine and for growing
// its stack again (OnEvent runs on it too). At most MaxConcurrent workers
// idle; the rest end, and the idle ones end when ctx is done. A worker whose
// checker was abandoned ends when (if ever) the checker returns.
func (s *Scheduler) worker(ctx context.Context, j job) {
	for {
		if !s.run(ctx, j.e, j.c, j.scheduled) {
			return // abandoned: the watchdog counted this worker out
		}
		if s.idle.Add(1) > int32(cap(s.sem)) {
			s.idle.Add(-1)
			s.runs.Done()
			return
		}
		select {
		case j = <-s.jobs:
			s.idle.Add(-1)
		case <-ctx.Done():
			s.idle.Add(-1)
			s.runs.Done()
			return
		}
	}
}

func (s *Scheduler) block(e *entry, reason string, scheduled, now time.Time) {
	prev := e.state.Status
	st, changed := e.state.Block(reason, now)
	e.state = st
	if e.runs != nil {
		e.runs[checks.StatusBlocked]++
	}
	ev := Event{Check: e.check, State: st, Previous: prev, Changed: changed,
		Verdict: Verdict{Status: checks.StatusBlocked, Error: reason}, Scheduled: scheduled, Started: now}
	s.wakeDependents(e)
	s.pending = append(s.pending, ev)
	s.settleOnce(e)
}

// unlockAndEmit releases s.mu and hands the pending events to OnEvent. It
// takes emitMu before it releases s.mu, so that OnEvent sees events in the
// order they were settled under s.mu, whichever goroutine settled them.
func (s *Scheduler) unlockAndEmit() {
	switch len(s.pending) {
	case 0:
		s.mu.Unlock()
	case 1:
		// The usual case, once per run: copy the event out and keep the
		// slice, rather than allocate a new one for every run.
		ev := s.pending[0]
		s.pending[0] = Event{}
		s.pending = s.pending[:0]
		s.emitMu.Lock()
		s.mu.Unlock()
		s.opts.OnEvent(ev)
		s.emitMu.Unlock()
	default:
		evs := s.pending
		s.pending = nil
		s.emitMu.Lock()
		s.mu.Unlock()
		for _, ev := range evs {
			s.opts.OnEvent(ev)
		}
		s.emitMu.Unlock()
	}
}

// minSleep is the shortest the run loop sleeps when a check is due soon: it
// then starts every check due by the time it wakes, so that with thousands of
// checks it wakes at most 1/minSleep times a second.
const minSleep = 10 * time.Millisecond

// abandonGrace is how long a checker may take past its timeout to return
// its own result (it usually says more than "timed out") before the run is
// reported and the checker abandoned.
const abandonGrace = 50 * time.Millisecond

// Who finishes a run: the run's goroutine when the checker returns, or the
// watchdog when the checker ignores its timeout.
const (
	runPending int32 = iota
	runReturned
	runAbandoned
)

// run executes one run of c on the worker's goroutine, checker included: no
// second goroutine per run. A watchdog starts only when the run's context is
// done (timeout or shutdown); if the checker has not returned abandonGrace
// later, the watchdog reports the run as timed out, frees the concurrency
// slot, counts the worker out of s.runs, and the checker is abandoned: run
// then only clears the entry when (if ever) the checker returns, and returns
// false so that the worker ends.
func (s *Scheduler) run(ctx context.Context, e *entry, c *Check, scheduled time.Time) bool {
	select {
	case s.sem <- struct{}{}:
	case <-ctx.Done():
		s.mu.Lock()
		e.running = false
		s.mu.Unlock()
		return true
	}
	started := s.opts.Now()
	if c.Checker == nil {
		s.finish(e, c, checks.Result{Status: checks.StatusCritical, Error: "the check could not be built"}, scheduled, started, false)
		return true
	}
	rctx, cancel := checks.WithTimeout(ctx, c.Timeout)
	var state atomic.Int32
	stop := context.AfterFunc(rctx, func() {
		time.Sleep(abandonGrace)
		// Under s.mu, so that a checker returning now finds the entry
		// already marked abandoned.
		s.mu.Lock()
		if !state.CompareAndSwap(runPending, runAbandoned) {
			s.mu.Unlock()
			return // the checker returned in time
		}
		s.abandoned++
		e.aliveSince = started
		s.mu.Unlock()
		s.log.Warn("checker ignores its timeout; abandoned until it returns", "check", c.Address, "timeout", c.Timeout)
		res := checks.Result{Status: checks.StatusCritical, Error: fmt.Sprintf("timed out after %s", c.Timeout)}
		s.finish(e, c, res, scheduled, started, true)
		s.runs.Done() // the worker's: Run does not wait for a hung checker
	})
	res := checkSafely(rctx, c, s.log)
	if !state.CompareAndSwap(runPending, runReturned) {
		// Abandoned: the watchdog reported the run. The checker is done now.
		cancel()
		s.mu.Lock()
		if ctx.Err() == nil { // shutting down: nobody waits for a hung checker
			s.abandoned--
			// This run's own entry, which a reload may have replaced: a
			// new entry at the same address has runs of its own.
			e.running, e.aliveSince = false, time.Time{}
			s.release(e)
		}
		s.mu.Unlock()
		return false
	}
	stop()
	if rctx.Err() != nil && res.Error == "" && res.Status != checks.StatusCritical {
		res.Status, res.Error = checks.StatusCritical, fmt.Sprintf("timed out after %s", c.Timeout)
	}
	cancel()
	s.finish(e, c, res, scheduled, started, false)
	return true
}

// finish frees the run's concurrency slot and settles its result. abandoned
// is true when the checker is still running: the entry then stays running
// (the watchdog has set aliveSince).
func (s *Scheduler) finish(e *entry, c *Check, res checks.Result, scheduled, started time.Time, abandoned bool) {
	<-s.sem
	took := s.opts.Now().Sub(started)
	v := c.Evaluate(res, took)

	s.mu.Lock()
	if !abandoned {
		e.running = false
	}
	s.settle(e, v, res, scheduled, started, took, true)
	s.release(e)
	s.unlockAndEmit()
}

// checkSafely runs c's checker, turning a panic into a critical result.
func checkSafely(ctx context.Context, c *Check, log hclog.Logger) (res checks.Result) {
	defer func() {
		if p := recover(); p != nil {
			log.Error("checker panicked", "check", c.Address, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			res = checks.Result{Status: checks.StatusCritical, Error: fmt.Sprintf("the checker panicked: %v", p)}
		}
	}()
	return c.Checker.Check(ctx)
}

// settle applies a verdict to the entry's state and emits the event. s.mu is held.
func (s *Scheduler) settle(e *entry, v Verdict, res checks.Result, scheduled, started time.Time, took time.Duration, ran bool) {
	if e.removed {
		return
	}
	prev := e.state.Status
	// In a one-shot scheduler every check settles once, from unknown, where
	// the first verdict applies at once: each run's own status, with no
	// hysteresis and nothing to copy.
	st, changed := e.state.Apply(e.check, v, res, started, took)
	e.state = st
	if e.runs != nil {
		e.runs[v.Status]++
	}
	ev := Event{Check: e.check, State: st, Previous: prev, Changed: changed, Result: res, Verdict: v, Scheduled: scheduled, Started: started, Duration: took}
	if ran {
		s.wakeDependents(e)
	}
	s.pending = append(s.pending, ev)
	s.settleOnce(e)
}

// settleOnce counts, in a one-shot scheduler, the entry's first settling,
// and ends Run once every entry has settled. s.mu is held.
func (s *Scheduler) settleOnce(e *entry) {
	if !s.opts.once || e.settledOnce {
		return
	}
	e.settledOnce = true
	if s.unsettled--; s.unsettled == 0 {
		close(s.settled)
	}
}

// wakeDependents dispatches the checks that waited for e. s.mu is held.
func (s *Scheduler) wakeDependents(e *entry) {
	for _, d := range s.dependents[e.check.Address] {
		if !d.waiting || d.removed {
			continue
		}
		d.waiting = false
		now := s.opts.Now()
		s.dispatch(s.ctx, d, d.scheduled, now)
		if !d.waiting && !s.opts.once {
			d.next = nextSlot(now, d.check.Interval, d.phase)
			s.queue.push(d)
			s.poke()
		}
	}
}

// Snapshot returns every running check's state, in plan order.
func (s *Scheduler) Snapshot() []CheckSnapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]CheckSnapshot, len(s.order))
	for i, e := range s.order {
		runs := make(map[checks.Status]uint64, len(e.runs))
		for k, v := range e.runs {
			runs[k] = v
		}
		out[i] = CheckSnapshot{Check: e.check, State: e.state, Runs: runs}
	}
	return out
}

// Probes returns the status document's probes for this node.
func (s *Scheduler) Probes() []health.Probe {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]health.Probe, len(s.order))
	for i, e := range s.order {
		out[i] = ProbeOf(e.check, e.state)
	}
	return out
}

// Abandoned returns how many checkers ignored their timeout and still run.
func (s *Scheduler) Abandoned() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.abandoned
}

// entryHeap is a binary min-heap of entries by when they are due. The key
// sits next to the pointer, so that sifting compares integers in one array
// rather than chasing pointers to the entries (10,000 of them do not fit in
// cache).
type entryHeap []queued

type queued struct {
	at int64 // e.next in Unix nanoseconds
	e  *entry
}

func (h *entryHeap) push(e *entry) {
	q := *h
	q = append(q, queued{at: e.next.UnixNano(), e: e})
	i := len(q) - 1
	for i > 0 {
		p := (i - 1) / 2
		if q[p].at <= q[i].at {
			break
		}
		q[p], q[i] = q[i], q[p]
		i = p
	}
	*h = q
}

// pop removes and returns the entry due first; the heap must not be empty.
func (h *entryHeap) pop() *entry {
	q := *h
	top := q[0].e
	n := len(q) - 1
	q[0] = q[n]
	q[n] = queued{}
	q = q[:n]
	for i := 0; ; {
		l := 2*i + 1
		if l >= n {
			break
		}
		m := l
		if r := l + 1; r < n && q[r].at < q[l].at {
			m = r
		}
		if q[i].at <= q[m].at {
			break
		}
		q[i], q[m] = q[m], q[i]
		i = m
	}
	*h = q
	return top
}
