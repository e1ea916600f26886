package engine

import (
	"math/bits"
	"strconv"
	"time"

	"github.com/satellite-hq/satellite/checks"
)

// Flapping rule: a check is flapping when its state changed at least
// flapStart times within its last flapWindow runs, and stops flapping when
// fewer than flapStop changes remain in that window. The gap between the two
// keeps the flag itself from flapping.
const (
	flapWindow = 10
	flapStart  = 4
	flapStop   = 2
)

// State is a check's state after hysteresis: what the status document shows.
type State struct {
	Status checks.Status
	// Error explains a non-passing state (the latest run's error, or what
	// blocks the check).
	Error string
	// Detail is the latest run's detail.
	Detail string
	// Metrics are the latest run's metrics.
	Metrics map[string]float64
	// Since is when Status last changed.
	Since time.Time
	// LastRun is when the latest run started; zero before the first.
	LastRun  time.Time
	Duration time.Duration
	Flapping bool
	// RunStatus is the latest run's own status, before hysteresis.
	RunStatus checks.Status

	fails, passes int
	// changes has bit i set when the run i runs ago changed the state.
	changes uint32
}

// NewState is the state of a check with no result yet.
func NewState(now time.Time) State {
	return State{Status: checks.StatusUnknown, Since: now}
}

// Apply folds one run's verdict into the state, with the check's
// hysteresis, and reports whether the status changed.
//
//   - From unknown or blocked, the first verdict applies at once.
//   - From passing or warning, a critical verdict applies after
//     failures_before_critical consecutive critical runs; before that the
//     state stays and Error says how many of them have failed.
//   - From critical, a passing or warning verdict applies after
//     successes_before_passing consecutive such runs.
//   - Between passing and warning there is no hysteresis.
func (s State) Apply(c *Check, v Verdict, res checks.Result, started time.Time, took time.Duration) (State, bool) {
	next := s
	next.LastRun, next.Duration, next.Metrics, next.Detail = started, took, res.Metrics, res.Detail
	next.RunStatus = v.Status
	failing := v.Status == checks.StatusCritical
	if failing {
		next.fails, next.passes = next.fails+1, 0
	} else {
		next.passes, next.fails = next.passes+1, 0
	}
	status := v.Status
	switch s.Status {
	case checks.StatusUnknown, checks.StatusBlocked:
	case checks.StatusCritical:
		if !failing && next.passes < c.SuccessesBeforePassing {
			status = checks.StatusCritical
		}
	default:
		if failing && next.fails < c.FailuresBeforeCritical {
			status = s.Status
		}
	}
	next.Error = v.Error
	if failing && status != checks.StatusCritical {
		next.Error = v.Error + " (" + strconv.Itoa(next.fails) + " of " + strconv.Itoa(c.FailuresBeforeCritical) + " failures before critical)"
	}
	if status == checks.StatusCritical && !failing {
		next.Error = s.Error
	}
	return next.settle(status, started)
}

// Block marks the check blocked by a dependency; it is not run.
func (s State) Block(reason string, now time.Time) (State, bool) {
	next := s
	next.fails, next.passes = 0, 0
	next.Error, next.Detail, next.Metrics = reason, "", nil
	next.RunStatus = checks.StatusBlocked
	return next.settle(checks.StatusBlocked, now)
}

func (s State) settle(status checks.Status, now time.Time) (State, bool) {
	changed := status != s.Status
	// The first state a check reaches (from unknown, at start or after a
	// reload) is no flap.
	flap := changed && s.Status != checks.StatusUnknown && s.Status != ""
	if changed {
		s.Status, s.Since = status, now
	}
	s.changes <<= 1
	if flap {
		s.changes |= 1
	}
	s.changes &= 1<<flapWindow - 1
	n := bits.OnesCount32(s.changes)
	switch {
	case n >= flapStart:
		s.Flapping = true
	case n < flapStop:
		s.Flapping = false
	}
	return s, changed
}
