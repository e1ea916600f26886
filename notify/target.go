package notify

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
)

// readBatch is how many new alerts the goroutine takes from its queue at
// a time.
const readBatch = 4096

// target is one notifier's goroutine: it takes the alerts from its queue
// (a write-ahead spool), groups those that come within group_wait, keeps to
// max_per_minute, and delivers each message, retrying with backoff until
// it is accepted or rejected. Only then are the alerts it holds
// acknowledged in the queue, so that a kill -9 loses none (and may send
// one message again, with the same ID).
type target struct {
	cfg   Target
	node  string
	log   hclog.Logger
	q     alertQueue
	store *store
	kick  chan struct{}
	// open are the problems delivered and not resolved (reminders, no
	// recovery for a problem never sent, open.json); the goroutine's own
	// once Run starts.
	open map[string]Alert

	sent, retried, dead, dropped, suppressed atomic.Uint64
}

func newTarget(cfg Target, node, dir string, log hclog.Logger) (*target, error) {
	st, q, open, err := openStore(dir, log)
	if err != nil {
		return nil, err
	}
	return &target{cfg: cfg, node: node, log: log, q: q, store: st, kick: make(chan struct{}, 1), open: open}, nil
}

func (t *target) stats() Stats {
	return Stats{Sent: t.sent.Load(), Retried: t.retried.Load(), DeadLettered: t.dead.Load(),
		Dropped: t.dropped.Load(), Suppressed: t.suppressed.Load()}
}

// enqueue writes an alert ahead into the queue and wakes the goroutine; it
// never waits for a delivery.
func (t *target) enqueue(a Alert) {
	if err := t.q.Push(a); err != nil {
		t.dropped.Add(1)
		t.log.Error("alert lost: the notifier's spool refused it", "check", a.Check, "state", a.State, "error", err)
		return
	}
	t.wake()
}

// wake makes the goroutine read its queue; it never blocks.
func (t *target) wake() {
	select {
	case t.kick <- struct{}{}:
	default:
	}
}

// decided is what the queue and open.json say was decided per key before
// this start: the dispatcher starts from it.
func (t *target) decided() map[string]string {
	out := map[string]string{}
	for k, a := range t.open {
		out[k] = sentState(a)
	}
	held, err := t.q.Peek(t.q.Len())
	if err != nil {
		t.log.Error("reading the notifier's spool", "error", err)
	}
	for _, a := range held {
		switch a.State {
		case StateResolved:
			delete(out, a.Key)
		case stateWithdraw:
		default:
			out[a.Key] = sentState(a)
		}
	}
	return out
}

// sentState is what the dispatcher keeps of an alert it decided.
func sentState(a Alert) string {
	if a.State == StateFlapping {
		return StateFlapping
	}
	return a.Severity
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
// (withdrawn, dead-lettered), and problems already delivered as they are.
func (t *target) sendable(pending []Alert, reminders map[string]bool) []Alert {
	out := pending[:0]
	for _, a := range pending {
		o, open := t.open[a.Key]
		switch {
		case a.Cluster:
			// Decided for the whole cluster by its owner (Cluster), which
			// may not be the member that sent the problem.
		case a.State == StateResolved && !open,
			a.State != StateResolved && open && sentState(o) == sentState(a) && !reminders[a.Key]:
			t.suppressed.Add(1)
			continue
		}
		out = append(out, a)
	}
	return out
}

func (t *target) run(ctx context.Context) {
	defer func() {
		if err := t.q.Close(); err != nil {
			t.log.Error("closing the notifier's spool", "error", err)
		}
		t.store.close()
	}()
	var (
		pending []Alert
		// taken counts the queue's alerts merged into pending: they are
		// acknowledged once what they make is delivered.
		taken int
		flush <-chan time.Time
		// window holds the times of the last MaxPerMinute messages.
		window    []time.Time
		lastSent  = map[string]time.Time{}
		reminders = map[string]bool{}
		remind    <-chan time.Time
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
	for k := range t.open {
		lastSent[k] = time.Now()
	}
	arm := func(d time.Duration) {
		if flush == nil {
			flush = time.NewTimer(d).C
		}
	}
	ack := func() {
		if taken > 0 {
			if err := t.q.Ack(taken); err != nil {
				t.log.Error("acknowledging alerts in the notifier's spool", "error", err)
			}
			taken = 0
		}
	}
	if t.q.Len() > 0 {
		t.wake() // what the last run left
	}
	for {
		select {
		case <-ctx.Done():
			if n := t.q.Len(); n > 0 {
				if _, mem := t.q.(*memQueue); mem {
					t.dropped.Add(uint64(n))
				}
				t.log.Info("stopping: alerts kept for the next start", "alerts", n)
			}
			return
		case <-t.kick:
			held, err := t.q.Peek(taken + readBatch)
			if err != nil {
				t.log.Error("reading the notifier's spool", "error", err)
				continue
			}
			if len(held) > taken {
				for _, a := range held[taken:] {
					pending = t.merge(pending, a)
				}
				taken = len(held)
				arm(t.cfg.GroupWait)
			}
			if len(held) == taken+readBatch {
				t.wake() // more to read
			}
		case now := <-remind:
			for k, a := range t.open {
				if now.Sub(lastSent[k]) >= every {
					reminders[k] = true
					pending = t.merge(pending, a)
				}
			}
			if len(pending) > 0 {
				arm(0)
			}
		case <-flush:
			flush = nil
			if pending = t.sendable(pending, reminders); len(pending) == 0 {
				ack()
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
			told := pending // listed, or counted in "more": told either way
			pending = nil
			clear(reminders)
			if t.deliver(ctx, m) {
				window = append(window, time.Now())
				for _, a := range told {
					if a.Cluster {
						continue // the notification log keeps them
					}
					if a.State == StateResolved {
						delete(t.open, a.Key)
						delete(lastSent, a.Key)
					} else {
						t.open[a.Key], lastSent[a.Key] = a, now
					}
				}
				if err := t.store.saveOpen(t.open); err != nil {
					t.log.Error("saving the problems open", "error", err)
				}
			} else if ctx.Err() != nil {
				return // not acknowledged: sent at the next start
			}
			ack()
		}
	}
}

// message is one message of the pending alerts, the ones over
// MaxAlertsPerMessage counted in More. Its ID is derived from its alerts,
// so that the same message sent again after a crash has the same ID.
func (t *target) message(pending []Alert, now time.Time) *Message {
	alerts, more := pending, 0
	if len(alerts) > MaxAlertsPerMessage && !t.cfg.NoFold {
		alerts, more = alerts[:MaxAlertsPerMessage], len(alerts)-MaxAlertsPerMessage
		t.suppressed.Add(uint64(more))
	}
	h := sha256.New()
	h.Write([]byte(t.node + "\x00" + t.cfg.Address))
	for _, a := range pending {
		h.Write([]byte("\x00" + a.Key + "\x00" + a.State + "\x00" + a.Severity + "\x00" + a.Since.String()))
	}
	return &Message{Version: PayloadVersion, ID: hex.EncodeToString(h.Sum(nil)[:12]), Notifier: t.cfg.Address, Sender: t.node,
		Time: now.UTC(), Title: title(t.node, alerts, more), Alerts: alerts, More: more}
}

// deliver sends m until it is accepted (true), rejected (dead-lettered) or
// ctx is done.
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
			if derr := t.store.deadLetter(m, err); derr != nil {
				t.log.Error("writing the dead letter", "error", derr)
			}
			return false
		case ctx.Err() != nil:
			return false
		}
		t.retried.Add(1)
		t.log.Warn("notification failed; retrying", "id", m.ID, "attempt", attempt, "in", backoff, "error", err)
		tm := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			tm.Stop()
			return false
		case <-tm.C:
		}
		backoff = min(backoff*2, retryMax)
	}
}
