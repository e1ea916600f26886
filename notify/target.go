package notify

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
)

// queueSize bounds the alerts waiting for a notifier's goroutine; what
// comes over it is dropped and counted.
const queueSize = 4096

// target is one notifier's goroutine: it groups the alerts that come
// within group_wait, keeps to max_per_minute, and delivers each message,
// retrying with backoff until it is accepted or rejected.
type target struct {
	cfg  Target
	node string
	log  hclog.Logger
	in   chan Alert
	// open are the problems delivered and not resolved (reminders, and no
	// recovery for a problem never sent); the goroutine's own.
	open map[string]Alert

	sent, retried, dead, dropped, suppressed atomic.Uint64
}

func newTarget(cfg Target, node string, log hclog.Logger) *target {
	return &target{cfg: cfg, node: node, log: log, in: make(chan Alert, queueSize), open: map[string]Alert{}}
}

func (t *target) stats() Stats {
	return Stats{Sent: t.sent.Load(), Retried: t.retried.Load(), DeadLettered: t.dead.Load(),
		Dropped: t.dropped.Load(), Suppressed: t.suppressed.Load()}
}

// enqueue hands an alert to the goroutine; it never blocks.
func (t *target) enqueue(a Alert) {
	select {
	case t.in <- a:
	default:
		t.dropped.Add(1)
		t.log.Warn("notifier queue full: alert dropped", "check", a.Check, "state", a.State)
	}
}

// stateWithdraw takes back a problem not sent yet: its check became
// blocked within group_wait, so its root cause's alert tells of it.
const stateWithdraw = "withdraw"

// merge adds a to the pending alerts: a recovery or a withdrawal cancels
// its unsent problem (neither is sent), a newer alert replaces an unsent
// one of the same key.
func (t *target) merge(pending []Alert, a Alert) []Alert {
	for i, p := range pending {
		if p.Key != a.Key {
			continue
		}
		if (a.State == StateResolved || a.State == stateWithdraw) && p.State != StateResolved {
			t.suppressed.Add(1)
			if a.State == StateResolved {
				t.suppressed.Add(1)
			}
			return append(pending[:i], pending[i+1:]...)
		}
		t.suppressed.Add(1)
		pending[i] = a
		return pending
	}
	if a.State == stateWithdraw {
		return pending // sent already: its recovery will come
	}
	return append(pending, a)
}

// sendable drops the recoveries of problems that were never delivered
// (withdrawn, dead-lettered, or from before a restart).
func (t *target) sendable(pending []Alert) []Alert {
	out := pending[:0]
	for _, a := range pending {
		if _, open := t.open[a.Key]; a.State == StateResolved && !open {
			t.suppressed.Add(1)
			continue
		}
		out = append(out, a)
	}
	return out
}

func (t *target) run(ctx context.Context) {
	var (
		pending []Alert
		flush   <-chan time.Time
		// window holds the times of the last MaxPerMinute messages.
		window   []time.Time
		lastSent = map[string]time.Time{}
		remind   <-chan time.Time
	)
	every := t.cfg.RemindEvery
	if r := t.cfg.Resend; r > 0 && (every == 0 || r < every) {
		every = r
	}
	if every > 0 {
		tk := time.NewTicker(min(every/4, time.Minute))
		defer tk.Stop()
		remind = tk.C
	}
	arm := func(d time.Duration) {
		tm := time.NewTimer(d)
		flush = tm.C
	}
	for {
		select {
		case <-ctx.Done():
			if n := len(pending) + len(t.in); n > 0 {
				t.dropped.Add(uint64(n))
				t.log.Warn("agent stopping: alerts not delivered", "alerts", n)
			}
			return
		case a := <-t.in:
			pending = t.merge(pending, a)
			if flush == nil && len(pending) > 0 {
				arm(t.cfg.GroupWait)
			}
		case now := <-remind:
			for k, a := range t.open {
				if now.Sub(lastSent[k]) >= every {
					pending = t.merge(pending, a)
				}
			}
			if flush == nil && len(pending) > 0 {
				arm(0)
			}
		case <-flush:
			flush = nil
			if pending = t.sendable(pending); len(pending) == 0 {
				continue
			}
			now := time.Now()
			if len(window) >= t.cfg.MaxPerMinute {
				if wait := window[0].Add(time.Minute).Sub(now); wait > 0 {
					arm(wait) // over the rate: keep gathering
					continue
				}
				window = window[1:]
			}
			m := t.message(pending, now)
			pending = nil
			if t.deliver(ctx, m) {
				window = append(window, time.Now())
				for _, a := range m.Alerts {
					if a.State == StateResolved {
						delete(t.open, a.Key)
						delete(lastSent, a.Key)
					} else {
						t.open[a.Key], lastSent[a.Key] = a, now
					}
				}
			}
		}
	}
}

// message is one message of the pending alerts, the ones over
// MaxAlertsPerMessage counted in More.
func (t *target) message(pending []Alert, now time.Time) *Message {
	alerts, more := pending, 0
	if len(alerts) > MaxAlertsPerMessage {
		alerts, more = alerts[:MaxAlertsPerMessage], len(alerts)-MaxAlertsPerMessage
		t.suppressed.Add(uint64(more))
	}
	return &Message{Version: PayloadVersion, ID: newID(), Notifier: t.cfg.Address, Sender: t.node,
		Time: now.UTC(), Title: title(t.node, alerts, more), Alerts: alerts, More: more}
}

// deliver sends m until it is accepted (true), rejected or ctx is done.
func (t *target) deliver(ctx context.Context, m *Message) bool {
	backoff := retryFirst
	for attempt := 1; ; attempt++ {
		_, err := t.cfg.Notifier.Send(ctx, m)
		switch {
		case err == nil:
			t.sent.Add(1)
			return true
		case IsRejected(err):
			t.dead.Add(1)
			t.log.Error("notification rejected by the receiver: dead-lettered", "id", m.ID, "title", m.Title, "error", err)
			return false
		case ctx.Err() != nil:
			t.dropped.Add(1)
			return false
		}
		t.retried.Add(1)
		t.log.Warn("notification failed; retrying", "id", m.ID, "attempt", attempt, "in", backoff, "error", err)
		tm := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			tm.Stop()
			t.dropped.Add(1)
			return false
		case <-tm.C:
		}
		backoff = min(backoff*2, retryMax)
	}
}
