// Package agent runs satellite on one node: it loads and compiles the
// config, runs the scheduler, publishes what it reports on the events bus
// (whose subscribers are the local history, every sink, /metrics, the
// mesh's digest publisher and the log), serves the HTTP API, and reloads
// the config on request.
package agent

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/hcl/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/satellite-hq/satellite/api"
	"github.com/satellite-hq/satellite/checks"
	"github.com/satellite-hq/satellite/dsl"
	"github.com/satellite-hq/satellite/engine"
	"github.com/satellite-hq/satellite/events"
	"github.com/satellite-hq/satellite/mesh"
	"github.com/satellite-hq/satellite/notify"
	"github.com/satellite-hq/satellite/notify/silence"
	"github.com/satellite-hq/satellite/sinks"
	"github.com/satellite-hq/satellite/sinks/sqlite"
	"github.com/satellite-hq/satellite/ui"
)

// Options configure an agent.
type Options struct {
	// Paths are the config paths.
	Paths []string
	// Load are the variable and environment options.
	Load dsl.Options
	// Logger is the root logger.
	Logger hclog.Logger
	// Version is the agent's version, for the status document and metrics.
	Version string
	// Listen overrides api.listen (tests use 127.0.0.1:0).
	Listen string
	// MeshTune adjusts the mesh's config before it starts (tests shorten
	// its timings).
	MeshTune func(*mesh.Config)
	// ClusterTune adjusts the cluster alerts' options (tests shorten their
	// periods).
	ClusterTune func(*notify.ClusterOptions)
}

// ErrConfig marks a config that does not validate at start.
var ErrConfig = errors.New("invalid config")

// Agent is a running node.
type Agent struct {
	opts Options
	log  hclog.Logger

	reloadMu sync.Mutex // one reload at a time, its compile included
	applyMu  sync.Mutex // held while a reload applies a plan; guards stopping
	stopping bool       // Run is stopping: reloads are refused
	// load is Load; tests replace it to stand for a compile that hangs.
	load func(paths []string, opts dsl.Options) (*dsl.Config, *engine.Plan, hcl.Diagnostics)

	mu    sync.RWMutex
	cfg   *dsl.Config
	plan  *engine.Plan
	sinks map[string]*sinkWriter // by sink address; guarded by mu

	// Set by Run before started is closed, never changed after: whoever
	// has seen started closed may read them.
	bus     *events.Bus
	sched   *engine.Scheduler
	mesh    *mesh.Mesh // nil without a mesh block
	history *sqlite.DB // nil with agent.history = false
	histW   *sinks.Writer
	notify  *notify.Dispatcher // nil without notifiers
	// silences are this node's copy of the mesh's silences.
	silences *silence.Store
	// heartbeats are the heartbeat checks running, for the API's
	// POST /v1/heartbeat/NAME; nil until the scheduler exists.
	heartbeats atomic.Pointer[heartbeatIndex]
	// clusterAlerts, once set, takes the notification log the mesh
	// gossips.
	clusterAlerts atomic.Pointer[notify.Cluster]
	metrics       *api.Metrics
	server        *api.Server
	reg           *prometheus.Registry
	// pubCfg is the config events are published with (node name,
	// redaction), read without a.mu so that a reload closing a sink never
	// holds up the scheduler's events.
	pubCfg atomic.Pointer[dsl.Config]
	// writerCtx is the context the sink writers run under; cancelled once
	// they are closed.
	writerCtx context.Context

	// started is closed by Run once the API listens and the scheduler,
	// history, bus and sinks exist; stopped when Run returns.
	started, stopped chan struct{}
	runOnce          sync.Once

	// live is the run loop's liveness, for the systemd watchdog; ready is
	// latched once the first round of checks has finished (GET /readyz).
	live  liveness
	ready atomic.Bool
}

// New loads and compiles the config. Diagnostics are returned for printing;
// with errors among them the agent is nil and err wraps ErrConfig.
func New(opts Options) (*Agent, *dsl.Config, hcl.Diagnostics, error) {
	if opts.Logger == nil {
		opts.Logger = hclog.NewNullLogger()
	}
	// Checks get named sub-loggers of the agent's (checks.Env.Logger).
	opts.Load.Logger = opts.Logger
	cfg, plan, diags := Load(opts.Paths, opts.Load)
	if diags.HasErrors() || plan == nil {
		return nil, cfg, diags, fmt.Errorf("%w: %d error(s)", ErrConfig, countErrors(diags))
	}
	a := &Agent{opts: opts, log: opts.Logger, cfg: cfg, plan: plan, sinks: map[string]*sinkWriter{},
		started: make(chan struct{}), stopped: make(chan struct{}), load: Load}
	a.pubCfg.Store(cfg)
	return a, cfg, diags, nil
}

func countErrors(diags hcl.Diagnostics) int {
	n := 0
	for _, d := range diags {
		if d.Severity == hcl.DiagError {
			n++
		}
	}
	return n
}

// Run starts everything and blocks until ctx is done or the API or the mesh
// fails; then it stops the API, lets runs in flight finish (each within its
// timeout), lets the mesh publish the last results and leave, drains the
// bus into the history and the sinks, flushes them, and returns.
func (a *Agent) Run(ctx context.Context) (err error) {
	first := false
	a.runOnce.Do(func() { first = true })
	if !first {
		return errors.New("agent: Run called twice")
	}
	defer close(a.stopped)
	var p parts
	defer p.stop() // also on a failure while starting
	// The watchdog pinger runs from the start (Run is starting: pinged
	// unconditionally) to the end; from READY=1 on it pings only while the
	// run loop turns.
	a.live.mark(time.Now())
	watchdog := watchdogInterval(a.log)
	if watchdog > 0 {
		p.goRun(context.Background(), func(ctx context.Context) error { return a.pingWatchdog(ctx, watchdog) })
	}
	cfg, plan := a.config()
	a.log.Info("starting", "node", cfg.Agent.Name, "config_hash", plan.Hash, "checks", len(plan.Running()), "sinks", len(plan.Sinks), "version", a.opts.Version)

	// What can refuse to start comes first: the API's options and port,
	// the data dir; no check runs before they are settled.
	a.reg = prometheus.NewRegistry()
	a.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	writerCtx, stopWriters := context.WithCancel(context.Background())
	p.onStop(stopWriters) // after every writer closed
	a.writerCtx = writerCtx
	if cfg.Agent.History {
		if err := a.openHistory(ctx, cfg, &p); err != nil {
			return err
		}
	}
	a.warnPermissions(cfg)
	a.warnHeartbeatTokens(plan)
	// The bus comes before the API, whose event streams subscribe to it;
	// it is stopped further down, once what it feeds exists.
	a.bus = events.New(a.log.Named("events"))
	apiOpts, err := a.apiOptions(cfg)
	if err != nil {
		return err
	}
	apiOpts.Events = a.bus
	apiOpts.Ready = a.Readiness
	if a.server, err = api.New(a, apiOpts); err != nil {
		return err
	}
	if err := a.server.Mount("/ui/", ui.Handler(), api.Public); err != nil {
		return fmt.Errorf("dashboard: %w", err)
	}
	p.onStop(a.closeSinks)
	if err := a.openSilences(cfg); err != nil {
		return fmt.Errorf("silences: %w", err)
	}
	if len(plan.Notifiers) > 0 {
		// Stopped after the bus has drained into it.
		if a.notify, err = notify.New(notify.Options{Node: cfg.Agent.Name, Targets: notifyTargets(plan), DataDir: cfg.Agent.DataDir,
			Hold: a.hold, Logger: a.log.Named("notify")}); err != nil {
			return fmt.Errorf("notifiers: %w", err)
		}
		p.goRun(context.Background(), func(ctx context.Context) error { a.notify.Run(ctx); return nil })
	}
	// Stopping the bus drains every queue into the writers before they close.
	p.onStop(func() {
		dctx, cancel := context.WithTimeout(context.Background(), drainTimeout)
		defer cancel()
		a.bus.Close(dctx)
	})
	if err := a.server.Listen(); err != nil {
		return err
	}
	p.onStop(func() { _ = a.server.Close() })
	a.openSinks(ctx, plan)
	if a.mesh, err = a.newMesh(cfg, plan, a.server.Addr().String()); err != nil {
		return fmt.Errorf("mesh: %w", err)
	}
	if err := a.startClusterAlerts(cfg, plan, &p); err != nil {
		return err
	}
	if a.mesh != nil {
		p.goRun(context.Background(), a.fetchSilences)
	}
	a.sched = engine.NewScheduler(plan, engine.SchedulerOptions{
		MaxConcurrent: cfg.Agent.MaxConcurrent,
		OnEvent:       a.publish,
		Logger:        a.log.Named("scheduler"),
		// The watchdog is fed by the scheduler's own loop: a loop that is
		// stuck (or a test build's hook blocking it) stops the pings.
		OnTurn: func(ctx context.Context, now time.Time) {
			a.live.mark(now)
			testLoopHook(ctx, a.log)
		},
		Turn: schedulerTurn(watchdog),
	})
	a.indexHeartbeats(plan)
	a.metrics = api.NewMetrics(a.sched.Snapshot)
	a.reg.MustRegister(a.metrics, api.NewBuildInfo(a.opts.Version), &sinkCollector{a: a}, &busCollector{bus: a.bus})
	if a.mesh != nil {
		a.reg.MustRegister(&meshCollector{m: a.mesh})
	}
	if a.notify != nil {
		a.reg.MustRegister(&notifyCollector{d: a.notify})
	}
	a.subscribe()
	close(a.started)

	// The mesh runs until the scheduler has stopped: the last results are
	// published, then the node leaves. It stops with its own context, not
	// ctx, so that it outlives the scheduler.
	var meshErr <-chan error
	if a.mesh != nil {
		meshErr = p.goRun(context.Background(), a.mesh.Run)
	}
	// Checks that look at the cluster (peers, clock) find the mesh in
	// their context.
	schedCtx := ctx
	if a.mesh != nil {
		schedCtx = checks.WithMesh(ctx, a.mesh)
	}
	p.goRun(schedCtx, func(ctx context.Context) error { a.sched.Run(ctx); return nil })
	apiErr := p.goRun(ctx, a.server.Serve)

	a.sdStarted()
	runErr := a.loop(ctx, watchdog, apiErr, meshErr)
	// No reload from now on (SIGHUP, the API); this waits for a reload
	// that is applying a plan, never for one that is still compiling.
	a.applyMu.Lock()
	a.stopping = true
	a.sdStopping() // under applyMu: no READY=1 of a reload comes after it
	a.applyMu.Unlock()
	a.log.Info("stopping: the API, then runs in flight, the mesh, the bus, the sinks and the history")
	p.stop()
	a.log.Info("stopped")
	return runErr
}

// drainTimeout bounds the wait, at stop, for the bus's subscribers to
// handle what is queued (the writers only push it to their spools).
const drainTimeout = 10 * time.Second

// Addr is the API's address once Run has started the agent (it listens,
// and the scheduler exists); "" before. Safe to call while Run starts.
func (a *Agent) Addr() string {
	select {
	case <-a.started:
	default:
		return ""
	}
	if a.server == nil || a.server.Addr() == nil {
		return ""
	}
	return a.server.Addr().String()
}

func (a *Agent) config() (*dsl.Config, *engine.Plan) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.cfg, a.plan
}

func (a *Agent) apiOptions(cfg *dsl.Config) (api.Options, error) {
	o := api.Options{Listen: cfg.API.Listen, Logger: a.log.Named("api"), Registry: a.reg}
	if a.history != nil {
		o.History, o.Results = a.history, a.history
	}
	if a.opts.Listen != "" {
		o.Listen = a.opts.Listen
	}
	var err error
	if o.Token, err = readToken(cfg.API.TokenFile); err != nil {
		return o, err
	}
	if o.ReadToken, err = readToken(cfg.API.ReadTokenFile); err != nil {
		return o, err
	}
	if t := cfg.API.TLS; t != nil {
		o.TLS = &api.TLSFiles{CertFile: t.CertFile, KeyFile: t.KeyFile, ClientCAFile: t.ClientCAFile}
	}
	return o, nil
}

func readToken(path string) (string, error) {
	if path == "" {
		return "", nil
	}
	b, err := dsl.ReadRegularFile(path, 4<<10, "the API token file")
	if err != nil {
		return "", fmt.Errorf("reading the API token: %w", err)
	}
	t := strings.TrimSpace(string(b))
	if t == "" {
		return "", fmt.Errorf("the API token file %s is empty", path)
	}
	return t, nil
}

// publish hands a scheduler event to the bus, redacted once for every
// subscriber. It runs on scheduler goroutines and never blocks.
func (a *Agent) publish(e engine.Event) {
	cfg := a.pubCfg.Load()
	a.bus.Publish(e.ToBus(cfg.Agent.Name, cfg.Redact))
}
