package agent

import (
	"context"
	"fmt"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/satellite-hq/satellite/api"
	"github.com/satellite-hq/satellite/dsl"
	"github.com/satellite-hq/satellite/engine"
	"github.com/satellite-hq/satellite/events"
	"github.com/satellite-hq/satellite/health"
	"github.com/satellite-hq/satellite/notify"
	"github.com/satellite-hq/satellite/sinks"
	"github.com/satellite-hq/satellite/sinks/spool"
	"github.com/satellite-hq/satellite/sinks/sqlite"
)

// The bus's subscribers. Each has its own queue and goroutine (events.Bus):
//
//	history   check runs into the history's writer (its spool), cluster
//	          events into the history database as state changes
//	sink.ADDR one per sink: the runs the sink takes (engine.Sink.Takes)
//	metrics   run durations for /metrics
//	mesh      a state change makes the mesh publish a new digest
//	notify    the runs of routed checks, and blocked runs, into the
//	          notification dispatcher (notify.Dispatcher)
//	log       state changes and cluster events, at info
func (a *Agent) subscribe() {
	if a.histW != nil {
		a.bus.Subscribe("history", events.SubscribeOptions{Filter: func(e *events.Event) bool { return e.Kind != events.Digest }}, a.toHistory)
	}
	a.bus.Subscribe("metrics", events.SubscribeOptions{Filter: (*events.Event).Ran},
		func(_ context.Context, e *events.Event) { a.metrics.Observe(e) })
	if a.mesh != nil {
		// A digest tells only of changes; the mesh debounces Notify.
		a.bus.Subscribe("mesh", events.SubscribeOptions{Queue: 64, Filter: changedRun},
			func(context.Context, *events.Event) { a.mesh.Notify() })
	}
	if a.notify != nil {
		// Blocked runs too: a root cause's alert names what it blocks.
		a.bus.Subscribe("notify", events.SubscribeOptions{Queue: 4096, Filter: notifyRun}, a.notify.Handle)
	}
	a.bus.Subscribe("log", events.SubscribeOptions{Queue: 1024, Filter: func(e *events.Event) bool { return e.Kind.Cluster() || e.Changed }},
		a.toLog)
}

func changedRun(e *events.Event) bool { return e.Kind == events.CheckRun && e.Changed }

// notifyRun is what the notifications look at: the runs of routed checks
// and the runs that enter or leave blocked.
func notifyRun(e *events.Event) bool {
	return e.Kind == events.CheckRun && (len(e.Check.Notify) > 0 || e.Status == health.Blocked || e.Previous == health.Blocked)
}

// notifyTargets are the plan's notifiers as the dispatcher runs them.
func notifyTargets(plan *engine.Plan) []notify.Target {
	out := make([]notify.Target, 0, len(plan.Notifiers))
	for _, n := range plan.Notifiers {
		if n.Notifier == nil {
			continue
		}
		var resend time.Duration
		noFold := false
		if reg, ok := notify.Lookup(n.Type); ok {
			resend, noFold = reg.Resends, reg.NoFold
		}
		out = append(out, notify.Target{Address: n.Address, Notifier: n.Notifier, MinSeverity: n.MinSeverity, Resend: resend, NoFold: noFold,
			SendOnResolved: n.SendOnResolved, RemindEvery: n.RemindEvery, GroupWait: n.GroupWait, MaxPerMinute: n.MaxPerMinute})
	}
	return out
}

// toHistory stores an event in the local history: a run through the
// history's spooled writer, a cluster event as a state change.
func (a *Agent) toHistory(ctx context.Context, e *events.Event) {
	if e.Kind == events.CheckRun {
		a.histW.Enqueue(sinks.RecordOf(e))
		return
	}
	if err := a.history.AddEvent(ctx, clusterChange(e)); err != nil && ctx.Err() == nil {
		a.log.Error("storing a cluster event in the history", "error", err)
	}
}

// clusterChange is how a cluster event reads in the history (and so in
// `satellite history --node NAME`): a member's changes under the check name
// "mesh.member" (status alive, failed, left, reaped, updated), a node's
// status changes under "mesh.node", a config hash change under
// "mesh.config".
func clusterChange(e *events.Event) health.Change {
	c := health.Change{Time: e.Time, Node: e.Node, Type: "mesh", Error: e.Detail}
	switch e.Kind {
	case events.NodeStatus:
		c.Check, c.Previous, c.Status = "mesh.node", e.From, e.To
	case events.ConfigHash:
		c.Check, c.Previous, c.Status = "mesh.config", e.From, e.To
	case events.MemberJoined:
		c.Check, c.Status = "mesh.member", "alive"
	default:
		c.Check, c.Status = "mesh.member", e.Kind.String()
	}
	return c
}

func (a *Agent) toLog(_ context.Context, e *events.Event) {
	if e.Kind == events.CheckRun {
		a.log.Info("state changed", "check", e.Check.Address, "from", e.Previous, "to", e.Status, "error", e.Error)
		return
	}
	a.log.Info("cluster event", "node", e.Node, "event", e.Kind.String(), "from", e.From, "to", e.To, "detail", e.Detail)
}

// publishCluster publishes a cluster event of the mesh. It runs on the
// mesh's event goroutine and never blocks.
func (a *Agent) publishCluster(e *events.Event) {
	if a.bus != nil {
		a.bus.Publish(e)
	}
}

// openHistory opens the local history and its spooled writer; p stops them.
func (a *Agent) openHistory(ctx context.Context, cfg *dsl.Config, p *parts) error {
	path := filepath.Join(cfg.Agent.DataDir, sqlite.HistoryFile)
	db, err := sqlite.Open(ctx, path, cfg.Agent.HistoryRetention)
	if err != nil {
		return fmt.Errorf("opening the history: %w", err)
	}
	// The history is spooled like any sink, so that a kill -9 loses none
	// of the results accepted before it.
	dir := filepath.Join(cfg.Agent.DataDir, "spool", "history")
	log := a.log.Named("history")
	sp, err := spool.Open(spool.Options{Dir: dir, MaxBytes: engine.DefaultSpoolMax, Logger: a.log.Named("spool").With("sink", "history")})
	if err != nil {
		_ = db.Close()
		return fmt.Errorf("opening the history's spool: %w", err)
	}
	a.history = db
	a.histW = sinks.NewWriter(db, sinks.WriterOptions{Name: "history", BatchSize: 1000, FlushInterval: time.Second, Queue: sp, Logger: log})
	done := a.runWriter(a.histW, log)
	p.onStop(func() {
		a.closeWriter("history", a.histW, done) // closes db too
	})
	a.log.Info("history", "path", path)
	return nil
}

// runWriter runs w until it is closed; the returned channel is closed when
// its goroutine ends. The sink finds log in its context (sinks that open
// lazily, such as plugins, log through it).
func (a *Agent) runWriter(w *sinks.Writer, log hclog.Logger) <-chan struct{} {
	ctx := hclog.WithContext(a.writerCtx, log)
	done := make(chan struct{})
	go func() { // owned by the writer: Close ends it, closeWriter waits
		defer close(done)
		_ = w.Run(ctx)
	}()
	return done
}

// closeWriter flushes and closes a writer (what is not delivered stays in
// its spool) and waits for its goroutine.
func (a *Agent) closeWriter(name string, w *sinks.Writer, done <-chan struct{}) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := w.Close(ctx); err != nil {
		a.log.Error("closing sink", "sink", name, "error", err)
	}
	<-done
}

// sinkWriter is one sink: its writer over its spool, the writer's
// goroutine, and its subscription to the bus.
type sinkWriter struct {
	sink   *engine.Sink
	writer *sinks.Writer
	done   <-chan struct{}
	sub    *events.Subscription
}

// openSinks opens the plan's sinks that are not open yet, and closes the
// ones the plan no longer has or changed. Each sink gets a Writer over its
// own spool under agent.data_dir/spool/TYPE.NAME, so results are kept from
// the moment they are accepted, and a subscription to the bus that routes
// to it the runs it takes. A sink that fails to open is logged and opened
// again by its next write: its results wait in the spool meanwhile.
func (a *Agent) openSinks(ctx context.Context, plan *engine.Plan) {
	a.mu.Lock()
	defer a.mu.Unlock()
	keep := map[string]bool{}
	for _, s := range plan.Sinks {
		if old, ok := a.sinks[s.Address]; ok && sameSink(old.sink, s) {
			keep[s.Address] = true
			continue
		}
		if s.Opener == nil {
			continue
		}
		// The old writer holds the spool's lock: close it first.
		if old, ok := a.sinks[s.Address]; ok {
			a.closeSink(old)
			delete(a.sinks, s.Address)
		}
		w, err := a.newSinkWriter(ctx, s)
		if err != nil {
			a.log.Error("cannot start sink; its results are dropped until it is fixed and the config reloaded", "sink", s.Address, "error", a.cfg.Redact(err.Error()))
			continue
		}
		sw := &sinkWriter{sink: s, writer: w, done: a.runWriter(w, a.sinkLog(s))}
		sw.sub = a.bus.Subscribe("sink."+s.Address, events.SubscribeOptions{
			Filter: func(e *events.Event) bool { return e.Kind == events.CheckRun && s.Takes(e.Check.Sinks, e.Changed) },
		}, func(_ context.Context, e *events.Event) { w.Enqueue(sinks.RecordOf(e)) })
		a.sinks[s.Address] = sw
		keep[s.Address] = true
	}
	for addr, sw := range a.sinks {
		if !keep[addr] {
			a.closeSink(sw)
			delete(a.sinks, addr)
		}
	}
}

// closeSink unsubscribes a sink, lets it take what its queue holds, and
// closes its writer. a.mu is held.
func (a *Agent) closeSink(sw *sinkWriter) {
	ctx, cancel := context.WithTimeout(context.Background(), drainTimeout)
	sw.sub.Close(ctx)
	cancel()
	a.closeWriter(sw.sink.Address, sw.writer, sw.done)
}

// closeSinks closes every sink, at stop.
func (a *Agent) closeSinks() {
	a.mu.Lock()
	defer a.mu.Unlock()
	for addr, sw := range a.sinks {
		a.closeSink(sw)
		delete(a.sinks, addr)
	}
}

// sinkOpenTimeout bounds the first open of a sink at start or reload.
const sinkOpenTimeout = 10 * time.Second

func (a *Agent) newSinkWriter(ctx context.Context, s *engine.Sink) (*sinks.Writer, error) {
	dir := spool.Dir(a.cfg.Agent.DataDir, s.Type, s.Name)
	log := a.sinkLog(s)
	sp, err := spool.Open(spool.Options{Dir: dir, MaxBytes: s.SpoolMax, Logger: log.Named("spool")})
	if err != nil {
		return nil, err
	}
	sink := sinks.Lazy(s.Opener)
	octx, cancel := context.WithTimeout(hclog.WithContext(ctx, log), sinkOpenTimeout)
	defer cancel()
	if err := sink.Open(octx); err != nil {
		log.Error("cannot open sink; its results wait in its spool and it is opened again with backoff", "spool", dir, "error", a.cfg.Redact(err.Error()))
	}
	return sinks.NewWriter(sink, sinks.WriterOptions{
		Name: s.Address, BatchSize: s.BatchSize, FlushInterval: s.FlushInterval,
		Queue: sp, DeadLetter: filepath.Join(dir, spool.DeadLetterFile), Logger: log,
	}), nil
}

func (a *Agent) sinkLog(s *engine.Sink) hclog.Logger {
	return a.log.Named("sink").With("sink", s.Address)
}

// sameSink reports whether a reload left a sink's settings alone.
func sameSink(a, b *engine.Sink) bool {
	return a.Type == b.Type && a.Send == b.Send && a.BatchSize == b.BatchSize &&
		a.FlushInterval == b.FlushInterval && a.SpoolMax == b.SpoolMax && reflect.DeepEqual(a.Opener, b.Opener)
}

// TestNotifier sends a test message through a notifier (api.NotifyBackend).
func (a *Agent) TestNotifier(ctx context.Context, addr string) (api.NotifyTestAnswer, error) {
	addr = strings.TrimPrefix(addr, "notifier.")
	ans := api.NotifyTestAnswer{Notifier: addr}
	var d *notify.Dispatcher
	select {
	case <-a.started:
		d = a.notify
	default:
	}
	if d == nil || !slices.Contains(d.Addresses(), addr) {
		if d != nil {
			ans.Notifiers = d.Addresses()
		}
		if len(ans.Notifiers) == 0 {
			return ans, fmt.Errorf("%w: this agent's config declares no notifier", api.ErrNoNotifier)
		}
		return ans, fmt.Errorf("%w %s; the notifiers are %s", api.ErrNoNotifier, addr, strings.Join(ans.Notifiers, ", "))
	}
	rc, err := d.Test(ctx, addr)
	ans.Status, ans.Answer = rc.Status, rc.Body
	if err != nil {
		ans.Error = err.Error()
	} else {
		ans.Delivered = true
	}
	return ans, nil
}
