package engine

import (
	"testing"
	"time"

	"github.com/satellite-hq/satellite/checks"
)

func TestStateHysteresis(t *testing.T) {
	c := &Check{FailuresBeforeCritical: 3, SuccessesBeforePassing: 2}
	t0 := time.Unix(1000, 0)
	s := NewState(t0)
	step := 0
	run := func(st checks.Status, wantStatus checks.Status, wantChanged bool) {
		t.Helper()
		step++
		now := t0.Add(time.Duration(step) * time.Second)
		var changed bool
		s, changed = s.Apply(c, Verdict{Status: st, Error: map[bool]string{true: "boom"}[st == checks.StatusCritical]}, checks.Result{}, now, 0)
		if s.Status != wantStatus || changed != wantChanged {
			t.Fatalf("step %d: run %s gave %s (changed %v), want %s (changed %v)", step, st, s.Status, changed, wantStatus, wantChanged)
		}
		if changed && !s.Since.Equal(now) {
			t.Fatalf("step %d: since not updated", step)
		}
	}
	run(checks.StatusPassing, checks.StatusPassing, true) // from unknown: at once
	run(checks.StatusCritical, checks.StatusPassing, false)
	if s.Error != "boom (1 of 3 failures before critical)" {
		t.Fatalf("soft failure error: %q", s.Error)
	}
	run(checks.StatusCritical, checks.StatusPassing, false)
	run(checks.StatusCritical, checks.StatusCritical, true)
	run(checks.StatusPassing, checks.StatusCritical, false)
	if s.Error != "boom" {
		t.Fatalf("a critical state keeps its error while recovering: %q", s.Error)
	}
	run(checks.StatusCritical, checks.StatusCritical, false) // resets the passes
	run(checks.StatusPassing, checks.StatusCritical, false)
	run(checks.StatusWarning, checks.StatusWarning, true) // warning counts as recovered
	run(checks.StatusPassing, checks.StatusPassing, true) // no hysteresis between passing and warning
	if s.Error != "" {
		t.Fatalf("passing with an error: %q", s.Error)
	}
}

func TestStateBlockedAndFlapping(t *testing.T) {
	c := &Check{FailuresBeforeCritical: 2, SuccessesBeforePassing: 1}
	now := time.Unix(0, 0)
	s := NewState(now)
	s, _ = s.Apply(c, Verdict{Status: checks.StatusPassing}, checks.Result{}, now, 0)
	s, changed := s.Block("blocked by tcp.etcd (critical)", now)
	if s.Status != checks.StatusBlocked || !changed || s.Error != "blocked by tcp.etcd (critical)" {
		t.Fatalf("blocked: %+v", s)
	}
	// Leaving blocked: the verdict applies at once, even a critical one.
	s, _ = s.Apply(c, Verdict{Status: checks.StatusCritical, Error: "x"}, checks.Result{}, now, 0)
	if s.Status != checks.StatusCritical {
		t.Fatalf("after blocked: %s", s.Status)
	}
	// Alternate: every run changes the state.
	flips := []checks.Status{checks.StatusPassing, checks.StatusCritical, checks.StatusPassing, checks.StatusCritical}
	c.FailuresBeforeCritical = 1
	for _, st := range flips {
		s, _ = s.Apply(c, Verdict{Status: st}, checks.Result{}, now, 0)
	}
	if !s.Flapping {
		t.Fatal("4 changes in the last 10 runs must be flapping")
	}
	for i := 0; i < 7; i++ {
		s, _ = s.Apply(c, Verdict{Status: checks.StatusCritical}, checks.Result{}, now, 0)
	}
	if !s.Flapping {
		t.Fatal("the flag must hold while 2 or more changes are in the window")
	}
	for i := 0; i < 3; i++ {
		s, _ = s.Apply(c, Verdict{Status: checks.StatusCritical}, checks.Result{}, now, 0)
	}
	if s.Flapping {
		t.Fatal("a steady state must stop flapping")
	}
}
