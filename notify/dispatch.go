package notify

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/satellite-hq/satellite/events"
	"github.com/satellite-hq/satellite/health"
)

// Target is a notifier with the engine's routing and timing settings
// (engine.Notifier), as the dispatcher runs it.
type Target struct {
	// Address is TYPE.NAME.
	Address  string
	Notifier Notifier
	// MinSeverity is SeverityCritical or SeverityWarning.
	MinSeverity    string
	SendOnResolved bool
	// RemindEvery resends open problems this often; 0 never.
	RemindEvery time.Duration
	// Resend is the type's Registration.Resends: open problems are sent
	// again this often, as the receiver expects (Alertmanager), whatever
	// RemindEvery says; 0 never.
	Resend time.Duration
	// NoFold is the type's Registration.NoFold: a message lists every
	// alert, however many.
	NoFold bool
	// GroupWait gathers the alerts that fire within it into one message.
	GroupWait time.Duration
	// MaxPerMinute bounds the messages per minute; alerts that come over
	// it wait and are folded into the next message.
	MaxPerMinute int
}

// ReviewInterval is how often held checks are looked at again: a silence
// or a window that ends is acted on within it.
const ReviewInterval = 2 * time.Second

// MaxAlertsPerMessage is how many alerts one message lists; the rest are
// counted in Message.More ("and 37 more").
const MaxAlertsPerMessage = 20

// Retry backoff of a failed delivery: doubling from the first to the cap.
const (
	retryFirst = time.Second
	retryMax   = time.Minute
)

// Options configure a Dispatcher.
type Options struct {
	// Node is this node's name: the sender of every message.
	Node string
	// Targets are the notifiers.
	Targets []Target
	// Hold says whether a check's alerts are held now (a silence, a
	// maintenance window), and why; nil holds nothing. It must be cheap:
	// it is asked on every run of a routed check.
	Hold func(node, check string, now time.Time) (why string, held bool)
	// DataDir is agent.data_dir: each notifier keeps its spool and its
	// open problems under DataDir/notify/ADDR (Dir). Empty keeps them in
	// memory only (tests).
	DataDir string
	Logger  hclog.Logger
}

// Dispatcher turns the check runs of the bus into alerts and hands them to
// each routed notifier (Handle is its bus handler). It owns one goroutine
// per notifier, started by Run.
type Dispatcher struct {
	node    string
	log     hclog.Logger
	targets map[string]*target
	order   []string

	hold func(node, check string, now time.Time) (string, bool)

	mu sync.Mutex
	// checks is what was last decided per check and notifier.
	checks map[string]*checkState
	// blocked are the checks blocked now, with their dependencies.
	blocked map[string][]string
}

// checkState is what the dispatcher last decided for one check.
type checkState struct {
	// sent is, per notifier, the severity of the open problem sent, or
	// StateFlapping; "" when nothing is open.
	sent  map[string]string
	since time.Time
	// held is the last run while a silence or a maintenance window held
	// the check's alerts; nil when none does.
	held *events.Event
}

// New returns a dispatcher, with what each notifier's spool and open
// problems say was decided before; Run starts its notifiers' goroutines
// and closes their spools when it returns (call Run once, or Close).
func New(opts Options) (*Dispatcher, error) {
	log := opts.Logger
	if log == nil {
		log = hclog.NewNullLogger()
	}
	d := &Dispatcher{node: opts.Node, log: log, targets: map[string]*target{}, hold: opts.Hold,
		checks: map[string]*checkState{}, blocked: map[string][]string{}}
	for _, t := range opts.Targets {
		if t.MaxPerMinute <= 0 {
			t.MaxPerMinute = 10
		}
		dir := ""
		if opts.DataDir != "" {
			dir = Dir(opts.DataDir, t.Address)
		}
		tg, err := newTarget(t, opts.Node, dir, log.With("notifier", t.Address))
		if err != nil {
			d.Close()
			return nil, fmt.Errorf("notifier %s: %w", t.Address, err)
		}
		d.targets[t.Address] = tg
		d.order = append(d.order, t.Address)
		prefix := opts.Node + "/"
		for key, sent := range tg.decided() {
			check, ok := strings.CutPrefix(key, prefix)
			if !ok {
				continue
			}
			st := d.checks[check]
			if st == nil {
				st = &checkState{sent: map[string]string{}}
				d.checks[check] = st
			}
			st.sent[t.Address] = sent
		}
	}
	sort.Strings(d.order)
	return d, nil
}

// Close releases the notifiers' spools of a dispatcher that never ran.
func (d *Dispatcher) Close() {
	for _, t := range d.targets {
		_ = t.q.Close()
		t.store.close()
	}
}

// Run delivers until ctx is done, then returns once every notifier's
// goroutine has; what was not delivered by then is dropped and counted.
func (d *Dispatcher) Run(ctx context.Context) {
	var wg sync.WaitGroup
	if d.hold != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tk := time.NewTicker(ReviewInterval)
			defer tk.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case now := <-tk.C:
					d.Review(now)
				}
			}
		}()
	}
	for _, a := range d.order {
		t := d.targets[a]
		wg.Add(1)
		go func() {
			defer wg.Done()
			t.run(ctx)
		}()
	}
	wg.Wait()
}

// Handle is the dispatcher's bus handler: it decides, for each check run,
// what fires on which notifier.
func (d *Dispatcher) Handle(_ context.Context, e *events.Event) {
	if e.Kind != events.CheckRun {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	addr := e.Check.Address
	if e.Status == health.Blocked {
		d.blocked[addr] = e.Check.DependsOn
	} else {
		delete(d.blocked, addr)
	}
	if len(e.Check.Notify) == 0 {
		return
	}
	st := d.checks[addr]
	if st == nil {
		st = &checkState{sent: map[string]string{}}
		d.checks[addr] = st
	}
	if e.Changed || st.since.IsZero() {
		st.since = e.Time
	}
	if d.hold != nil {
		if _, held := d.hold(d.node, addr, time.Now()); held {
			// Run and recorded, not told: the last run is judged again when
			// the silence or the window ends (Review).
			st.held = e
			return
		}
	}
	st.held = nil
	d.decideAll(st, e)
}

// decideAll judges a run for every notifier of its check; d.mu held.
func (d *Dispatcher) decideAll(st *checkState, e *events.Event) {
	for _, na := range e.Check.Notify {
		t := d.targets[na]
		if t == nil {
			continue
		}
		if a, ok := d.decide(st, t, e); ok {
			t.enqueue(a)
		}
	}
}

// Review judges again the last run of every check whose hold (a silence,
// a maintenance window) has ended: what still fails is sent now, what
// recovered meanwhile only if its problem had been sent before.
func (d *Dispatcher) Review(now time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for addr, st := range d.checks {
		if st.held == nil {
			continue
		}
		if _, held := d.hold(d.node, addr, now); held {
			continue
		}
		e := st.held
		st.held = nil
		d.decideAll(st, e)
	}
}

// decide is what a run means for one notifier: an alert to send, or none.
func (d *Dispatcher) decide(st *checkState, t *target, e *events.Event) (Alert, bool) {
	last := st.sent[t.cfg.Address]
	alert := func(state, sev string) Alert {
		a := Alert{Key: d.node + "/" + e.Check.Address, State: state, Severity: sev, Node: d.node,
			Check: e.Check.Address, Type: e.Check.Type, Status: string(e.Status), Previous: string(e.Previous),
			Error: e.Error, Since: st.since.UTC(), Labels: e.Check.Labels}
		if state == StateProblem {
			a.Blocking = d.blockedBy(e.Check.Address)
		}
		return a
	}
	sev := severityOf(e.Status, t.cfg.MinSeverity, "")
	switch {
	case e.Status == health.Blocked:
		// Told of in its root cause's alert: a problem of its own that is
		// not sent yet is taken back (it failed first, before the root
		// cause did); one sent already stays open until it recovers.
		if last != "" && last != StateFlapping {
			return Alert{Key: d.node + "/" + e.Check.Address, State: stateWithdraw}, true
		}
		return Alert{}, false
	case e.Status == health.Unknown:
		return Alert{}, false // says nothing new
	case e.Flapping && last != StateFlapping && (sev != "" || last != ""):
		// One message once it flaps with a problem in it, then quiet.
		st.sent[t.cfg.Address] = StateFlapping
		return alert(StateFlapping, cmp.Or(sev, last, SeverityCritical)), true
	case e.Flapping:
		return Alert{}, false
	}
	switch {
	case sev != "" && sev != last:
		st.sent[t.cfg.Address] = sev
		return alert(StateProblem, sev), true
	case sev == "" && last != "":
		delete(st.sent, t.cfg.Address)
		if !t.cfg.SendOnResolved {
			return Alert{}, false
		}
		a := alert(StateResolved, last)
		if last == StateFlapping {
			a.Severity = SeverityCritical
		}
		return a, true
	}
	return Alert{}, false
}

// severityOf is the severity a status has for a notifier that takes
// minimum and up, "" when it is no problem to it; def when passing.
func severityOf(s health.Status, minimum, def string) string {
	switch {
	case s == health.Critical:
		return SeverityCritical
	case s == health.Warning && minimum == SeverityWarning:
		return SeverityWarning
	case s == health.Passing || s == health.Warning:
		return def
	}
	return def
}

// blockedBy names the checks blocked now that depend on addr; d.mu held.
func (d *Dispatcher) blockedBy(addr string) []string {
	var out []string
	for b, deps := range d.blocked {
		if slices.Contains(deps, addr) {
			out = append(out, b)
		}
	}
	sort.Strings(out)
	return out
}

// Test sends a test message through the notifier at addr, at once, and
// returns what its receiver answered.
func (d *Dispatcher) Test(ctx context.Context, addr string) (Receipt, error) {
	t := d.targets[addr]
	if t == nil {
		return Receipt{}, fmt.Errorf("no notifier %s", addr)
	}
	m := &Message{Version: PayloadVersion, ID: newID(), Notifier: addr, Sender: d.node, Time: time.Now().UTC(),
		Title: "Test message from satellite on " + d.node, Test: true, Alerts: []Alert{}}
	rc, err := t.cfg.Notifier.Send(ctx, m)
	if err == nil {
		t.sent.Add(1)
	}
	return rc, err
}

// SendCluster hands a cluster alert (decided by Cluster) to the notifiers
// at addrs.
func (d *Dispatcher) SendCluster(a Alert, addrs []string) {
	for _, addr := range addrs {
		if t := d.targets[addr]; t != nil {
			t.enqueue(a)
		}
	}
}

// Addresses are the notifiers' addresses, sorted.
func (d *Dispatcher) Addresses() []string { return append([]string(nil), d.order...) }

// Stats are a notifier's counters.
type Stats struct {
	// Sent counts messages delivered, Retried failed attempts retried,
	// DeadLettered messages the receiver rejected, Dropped messages not
	// delivered when the agent stopped, Suppressed alerts not sent (a
	// recovery that cancelled its unsent problem, alerts folded into
	// "and N more").
	Sent, Retried, DeadLettered, Dropped, Suppressed uint64
}

// Stats returns every notifier's counters, by address.
func (d *Dispatcher) Stats() map[string]Stats {
	out := make(map[string]Stats, len(d.targets))
	for a, t := range d.targets {
		out[a] = t.stats()
	}
	return out
}

func newID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// title is the one line for people of a message.
func title(node string, alerts []Alert, more int) string {
	if len(alerts) == 1 && more == 0 {
		a := alerts[0]
		switch a.State {
		case StateResolved:
			return fmt.Sprintf("%s recovered on %s", a.Check, a.Node)
		case StateFlapping:
			return fmt.Sprintf("%s is flapping on %s", a.Check, a.Node)
		}
		s := fmt.Sprintf("%s %s on %s", a.Check, a.Severity, a.Node)
		if a.Error != "" {
			s += ": " + a.Error
		}
		return s
	}
	by := map[string]int{}
	for _, a := range alerts {
		k := a.Severity
		if a.State != StateProblem {
			k = a.State
		}
		by[k]++
	}
	by[""] = 0
	var parts []string
	for _, k := range []string{SeverityCritical, SeverityWarning, StateFlapping, StateResolved} {
		if n := by[k]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, k))
		}
	}
	s := fmt.Sprintf("%d checks on %s: %s", len(alerts)+more, node, strings.Join(parts, ", "))
	if more > 0 {
		s += fmt.Sprintf(" (and %d more)", more)
	}
	return s
}
