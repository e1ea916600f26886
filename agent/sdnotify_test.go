package agent

import (
	"testing"
	"time"
)

// The watchdog trusts a running loop only while its latest turn is recent;
// starting and stopping are bounded by systemd's start and stop timeouts.
func TestLivenessFresh(t *testing.T) {
	var l liveness
	t0 := time.Unix(1000, 0)
	l.mark(t0)
	within := 500 * time.Millisecond
	if !l.fresh(t0.Add(time.Hour), within) {
		t.Error("a starting loop is not trusted")
	}
	l.phase.Store(phaseRunning)
	if !l.fresh(t0.Add(within-time.Millisecond), within) {
		t.Error("a turn just under the limit ago is not fresh")
	}
	if l.fresh(t0.Add(within), within) {
		t.Error("a turn as old as the limit is fresh")
	}
	l.mark(t0.Add(time.Second))
	if !l.fresh(t0.Add(time.Second+within/2), within) {
		t.Error("a new turn does not make the loop fresh again")
	}
	l.phase.Store(phaseStopping)
	if !l.fresh(t0.Add(time.Hour), within) {
		t.Error("a stopping agent is not trusted")
	}
	// The loop turns four times per watchdog interval, the pinger twice.
	if got := loopPeriod(30 * time.Second); got != 7500*time.Millisecond {
		t.Errorf("loopPeriod(30s) = %s, want 7.5s", got)
	}
	if got := loopPeriod(0); got != time.Second {
		t.Errorf("loopPeriod(0) = %s, want 1s", got)
	}
}
