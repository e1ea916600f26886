package engine

import (
	"context"
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

// RunOnce runs each check once through a one-shot Scheduler, the same run
// loop the agent uses: dependencies first and otherwise in parallel up to
// the cap, each under its timeout with the same abandon path, and returns
// an event per check in the order given. A check whose dependency (among
// cs) ends critical or blocked is blocked, not run; a dependency that is
// not among cs is ignored. Statuses are each run's own: no hysteresis.
// When ctx ends first, the checks that did not run are critical with "not
// run: interrupted".
func RunOnce(ctx context.Context, cs []*Check, opts OnceOptions) []Event {
	byAddr := make(map[string]int, len(cs))
	for i, c := range cs {
		byAddr[c.Address] = i
	}
	events := make([]Event, len(cs))
	got := make([]bool, len(cs))
	var mu sync.Mutex
	// The scheduler runs what a plan's node runs; a check picked by
	// --check that this node would not run is run all the same, as a copy.
	plan := &Plan{Checks: make([]*Check, 0, len(cs))}
	for _, c := range cs {
		if !c.Runs {
			one := *c
			one.Runs = true
			c = &one
		}
		plan.Checks = append(plan.Checks, c)
	}
	s := NewScheduler(plan, SchedulerOptions{
		MaxConcurrent: opts.MaxConcurrent,
		Logger:        opts.Logger,
		once:          true,
		OnEvent: func(e Event) {
			i := byAddr[e.Check.Address]
			e.Check = cs[i] // the caller's check, not a copy
			mu.Lock()
			first := !got[i]
			if first {
				events[i], got[i] = e, true
			}
			mu.Unlock()
			if first && opts.OnEvent != nil {
				opts.OnEvent(e)
			}
		},
	})
	s.Run(ctx)
	mu.Lock()
	defer mu.Unlock()
	for i, c := range cs {
		if got[i] {
			continue
		}
		now := time.Now()
		res := checks.Result{Status: checks.StatusCritical, Error: "not run: interrupted"}
		v := Verdict{Status: checks.StatusCritical, Error: res.Error}
		st, _ := NewState(now).Apply(c, v, res, now, 0)
		events[i] = Event{Check: c, State: st, Previous: checks.StatusUnknown, Changed: true, Result: res, Verdict: v, Scheduled: now, Started: now}
	}
	return events
}
