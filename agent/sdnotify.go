package agent

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
	"github.com/hashicorp/go-hclog"
	"golang.org/x/sys/unix"

	"github.com/satellite-hq/satellite/checks"
	"github.com/satellite-hq/satellite/dsl"
	"github.com/satellite-hq/satellite/engine"
)

// The systemd integration (Type=notify): READY=1 once the API listens and
// the scheduler has started its first round, RELOADING=1/READY=1 around a
// SIGHUP reload, STOPPING=1 at shutdown, STATUS= lines, and WATCHDOG=1 pings
// while the run loop makes progress. Without NOTIFY_SOCKET nothing is sent.

// sdNotify sends state to the service manager; a failure is logged, never
// fatal (systemd then times the start out, which is its own report).
func sdNotify(log hclog.Logger, state string) {
	if _, err := daemon.SdNotify(false, state); err != nil {
		log.Warn("sd_notify failed", "error", err)
	}
}

// monotonicUsec is CLOCK_MONOTONIC in microseconds, what systemd wants with
// RELOADING=1 (MONOTONIC_USEC=).
func monotonicUsec() int64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return 0
	}
	return ts.Nano() / 1e3
}

// Loop phases, for the watchdog pinger.
const (
	phaseStarting int32 = iota // Run is opening things: bounded by TimeoutStartSec
	phaseRunning               // the run loop must show progress
	phaseStopping              // draining and flushing: bounded by TimeoutStopSec
)

// liveness is what the run loop records and the watchdog pinger reads.
type liveness struct {
	phase atomic.Int32
	last  atomic.Int64 // UnixNano of the loop's latest turn
}

func (l *liveness) mark(now time.Time) { l.last.Store(now.UnixNano()) }

// fresh reports whether the loop is to be trusted now: it made a turn less
// than within ago, or it is starting or stopping (not the loop's business).
func (l *liveness) fresh(now time.Time, within time.Duration) bool {
	if l.phase.Load() != phaseRunning {
		return true
	}
	return now.Sub(time.Unix(0, l.last.Load())) < within
}

// watchdogInterval is WATCHDOG_USEC when systemd asks for pings (and
// WATCHDOG_PID, when set, is this process), else 0.
func watchdogInterval(log hclog.Logger) time.Duration {
	d, err := daemon.SdWatchdogEnabled(false)
	if err != nil {
		log.Warn("ignoring the systemd watchdog settings", "error", err)
		return 0
	}
	return d
}

// pingWatchdog sends WATCHDOG=1 every interval/2 while the loop is fresh,
// until ctx is done. A loop that stops turning stops the pings, and systemd
// restarts the agent once interval has passed without one.
func (a *Agent) pingWatchdog(ctx context.Context, interval time.Duration) error {
	every := interval / 2
	t := time.NewTicker(every)
	defer t.Stop()
	sdNotify(a.log, daemon.SdNotifyWatchdog)
	stale := false
	for {
		select {
		case <-ctx.Done():
			return nil
		case now := <-t.C:
			if a.live.fresh(now, every) {
				if stale {
					a.log.Info("the run loop makes progress again; pinging the systemd watchdog")
					stale = false
				}
				sdNotify(a.log, daemon.SdNotifyWatchdog)
				continue
			}
			if !stale {
				a.log.Error("the run loop has made no progress; no longer pinging the systemd watchdog, which will restart the agent",
					"since", time.Unix(0, a.live.last.Load()).UTC().Format(time.RFC3339Nano), "watchdog", interval)
				stale = true
			}
		}
	}
}

// loopPeriod is how often loop turns: four times per watchdog interval,
// once a second without a watchdog (for readiness and STATUS).
func loopPeriod(watchdog time.Duration) time.Duration {
	if watchdog > 0 {
		return max(watchdog/4, time.Millisecond)
	}
	return time.Second
}

// schedulerTurn bounds the scheduler loop's sleep under a watchdog: a
// turn at least four times per interval, so that each ping (every half
// interval) finds a recent one; no bound without a watchdog.
func schedulerTurn(watchdog time.Duration) time.Duration {
	if watchdog > 0 {
		return max(watchdog/4, time.Millisecond)
	}
	return 0
}

// statusEvery bounds how often the run loop refreshes STATUS= once ready.
const statusEvery = 10 * time.Second

// loop waits for the end (ctx, or the API or the mesh failing) and, on
// each turn, latches readiness and keeps STATUS= current. The watchdog's
// liveness is the scheduler's own loop (SchedulerOptions.OnTurn), not
// this one.
func (a *Agent) loop(ctx context.Context, watchdog time.Duration, apiErr, meshErr <-chan error) error {
	t := time.NewTicker(loopPeriod(watchdog))
	defer t.Stop()
	a.live.phase.Store(phaseRunning)
	var lastStatus string
	var statusAt time.Time
	seenReady := false
	notifying := os.Getenv("NOTIFY_SOCKET") != "" // else STATUS= is not worth a snapshot
	for {
		now := time.Now()
		ready, _ := a.Readiness()
		if ready && notifying && (!seenReady || now.Sub(statusAt) >= statusEvery) {
			seenReady = true
			if s := a.statusLine(); s != lastStatus {
				sdNotify(a.log, "STATUS="+s)
				lastStatus = s
			}
			statusAt = now
		}
		select {
		case <-ctx.Done():
			return nil
		case err := <-apiErr:
			if err != nil {
				return fmt.Errorf("API: %w", err)
			}
			return nil
		case err := <-meshErr:
			// The mesh ends before it is stopped only on an error (its ports).
			return fmt.Errorf("mesh: %w", err)
		case <-t.C:
		}
	}
}

// Readiness reports whether the first round of checks has finished: every
// running check has settled once (ran, or was blocked by a dependency).
// Once true it stays true, reloads included. pending counts the checks not
// settled yet. It backs GET /readyz.
func (a *Agent) Readiness() (ready bool, pending int) {
	if a.ready.Load() {
		return true, 0
	}
	select {
	case <-a.started:
	default:
		return false, -1
	}
	for _, s := range a.sched.Snapshot() {
		if runsOf(s) == 0 {
			pending++
		}
	}
	if pending == 0 {
		if a.ready.CompareAndSwap(false, true) {
			a.log.Info("the first round of checks has finished: ready")
		}
		return true, 0
	}
	return false, pending
}

func runsOf(s engine.CheckSnapshot) uint64 {
	var n uint64
	for _, c := range s.Runs {
		n += c
	}
	return n
}

// statusLine is the STATUS= text: the checks by status, and the API.
func (a *Agent) statusLine() string {
	counts := map[checks.Status]int{}
	snap := a.sched.Snapshot()
	for _, s := range snap {
		counts[s.State.Status]++
	}
	var b strings.Builder
	if len(snap) == 1 {
		b.WriteString("1 check")
	} else {
		fmt.Fprintf(&b, "%d checks", len(snap))
	}
	sep := ": "
	for _, st := range []checks.Status{checks.StatusPassing, checks.StatusWarning, checks.StatusCritical, checks.StatusBlocked, checks.StatusUnknown} {
		if counts[st] > 0 {
			fmt.Fprintf(&b, "%s%d %s", sep, counts[st], st)
			sep = ", "
		}
	}
	if !a.ready.Load() {
		b.WriteString("; first round in progress")
	}
	fmt.Fprintf(&b, "; API on %s", a.server.Addr())
	return b.String()
}

// sdStarted tells systemd the agent is up: the API listens, the scheduler
// has begun its first round.
func (a *Agent) sdStarted() {
	sdNotify(a.log, daemon.SdNotifyReady+"\nSTATUS="+a.statusLine())
}

// sdStopping tells systemd the agent is stopping.
func (a *Agent) sdStopping() {
	a.live.phase.Store(phaseStopping)
	sdNotify(a.log, daemon.SdNotifyStopping+"\nSTATUS=stopping: letting runs in flight finish, flushing the history and sinks")
}

// SignalReload is Reload for a SIGHUP from systemd (ExecReload): RELOADING=1
// with the monotonic time before it, READY=1 and a STATUS= line saying how
// it went after it.
func (a *Agent) SignalReload(ctx context.Context) {
	sdNotify(a.log, fmt.Sprintf("%s\nMONOTONIC_USEC=%d\nSTATUS=reloading the config", daemon.SdNotifyReloading, monotonicUsec()))
	hash, diags, err := a.Reload(ctx)
	status := "reloaded, config " + hash
	switch {
	case err != nil:
		status = "reload failed: " + err.Error()
	case hasErrors(diags):
		status = "reload refused (the config is invalid; see the log); still running config " + hash
	}
	select {
	case <-a.started:
		status += "; " + a.statusLine()
	default:
	}
	// Under applyMu, which Run holds while it sends STOPPING=1: READY=1
	// never follows STOPPING=1.
	a.applyMu.Lock()
	defer a.applyMu.Unlock()
	if !a.stopping {
		sdNotify(a.log, daemon.SdNotifyReady+"\nSTATUS="+status)
	}
}

func hasErrors(diags []dsl.JSONDiagnostic) bool {
	for _, d := range diags {
		if d.Severity == "error" {
			return true
		}
	}
	return false
}
