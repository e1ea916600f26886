package engine

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/satellite-hq/satellite/checks"
)

// OnceOptions configure RunOnce.
type OnceOptions struct {
	// MaxConcurrent caps the runs in flight.
	MaxConcurrent int
	// OnEvent is called after each check finishes (or is blocked), from the
	// goroutine that ran it.
	OnEvent func(Event)
	Logger  hclog.Logger
}

// WithDependencies returns the checks and everything they depend on (among
// the given plan's running checks), in plan order.
func WithDependencies(plan *Plan, selected []*Check) []*Check {
	want := map[string]bool{}
	byAddr := map[string]*Check{}
	for _, c := range plan.Running() {
		byAddr[c.Address] = c
	}
	var add func(c *Check)
	add = func(c *Check) {
		if want[c.Address] {
			return
		}
		want[c.Address] = true
		for _, d := range c.DependsOn {
			if dc, ok := byAddr[d]; ok {
				add(dc)
			}
		}
	}
	for _, c := range selected {
		add(c)
	}
	var out []*Check
	for _, c := range plan.Checks {
		if want[c.Address] {
			out = append(out, c)
		}
	}
	return out
}

// RunOnce runs each check once, dependencies first and otherwise in
// parallel up to the cap, and returns an event per check in the order
// given. A check whose dependency (among cs) ends critical or blocked is
// blocked, not run. Statuses are each run's own: no hysteresis.
func RunOnce(ctx context.Context, cs []*Check, opts OnceOptions) []Event {
	if opts.MaxConcurrent <= 0 {
		opts.MaxConcurrent = 16
	}
	if opts.Logger == nil {
		opts.Logger = hclog.NewNullLogger()
	}
	done := make(map[string]chan struct{}, len(cs))
	for _, c := range cs {
		done[c.Address] = make(chan struct{})
	}
	events := make([]Event, len(cs))
	sem := make(chan struct{}, opts.MaxConcurrent)
	var wg sync.WaitGroup
	for i, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer close(done[c.Address])
			// Dependencies first: wait for each one in this run.
			var reason string
			for _, d := range c.DependsOn {
				ch, ok := done[d]
				if !ok {
					continue
				}
				select {
				case <-ch:
				case <-ctx.Done():
				}
				if reason != "" {
					continue
				}
				for j := range cs {
					if cs[j].Address != d {
						continue
					}
					switch dep := events[j].State; dep.Status {
					case checks.StatusCritical:
						reason = fmt.Sprintf("blocked by %s (critical)", d)
					case checks.StatusBlocked:
						reason = dep.Error
					}
				}
			}
			now := time.Now()
			st := NewState(now)
			var ev Event
			if reason != "" {
				st, _ = st.Block(reason, now)
				ev = Event{Check: c, State: st, Previous: checks.StatusUnknown, Changed: true,
					Verdict: Verdict{Status: checks.StatusBlocked, Error: reason}, Scheduled: now, Started: now}
			} else {
				started := time.Now()
				var res checks.Result
				var took time.Duration
				select {
				case sem <- struct{}{}:
					started = time.Now()
					res, _ = callChecker(ctx, c, opts.Logger)
					took = time.Since(started)
					<-sem
				case <-ctx.Done():
					res = checks.Result{Status: checks.StatusCritical, Error: "not run: interrupted"}
				}
				v := c.Evaluate(res, took)
				once := *c
				once.FailuresBeforeCritical, once.SuccessesBeforePassing = 1, 1
				st, _ = st.Apply(&once, v, res, started, took)
				ev = Event{Check: c, State: st, Previous: checks.StatusUnknown, Changed: true, Result: res, Verdict: v, Scheduled: now, Started: started}
			}
			events[i] = ev
			if opts.OnEvent != nil {
				opts.OnEvent(ev)
			}
		}()
	}
	wg.Wait()
	return events
}
