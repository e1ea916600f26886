// Package agent runs satellite on one node: it loads and compiles the
// config, runs the scheduler, writes results to the local history and the
// sinks, serves the HTTP API, and reloads the config on request.
package agent

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/hcl/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/satellite-hq/satellite/api"
	"github.com/satellite-hq/satellite/checks"
	"github.com/satellite-hq/satellite/dsl"
	"github.com/satellite-hq/satellite/engine"
	"github.com/satellite-hq/satellite/mesh"
	"github.com/satellite-hq/satellite/sinks"
	"github.com/satellite-hq/satellite/sinks/spool"
	"github.com/satellite-hq/satellite/sinks/sqlite"
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
}

// ErrConfig marks a config that does not validate at start.
var ErrConfig = errors.New("invalid config")

// Agent is a running node.
type Agent struct {
	opts Options
	log  hclog.Logger

	reloadMu sync.Mutex // one reload at a time
	stopping bool       // guarded by reloadMu: Run is stopping, reloads are refused

	mu      sync.RWMutex
	cfg     *dsl.Config
	plan    *engine.Plan
	writers map[string]*sinkWriter

	sched   *engine.Scheduler
	mesh    *mesh.Mesh // nil without a mesh block
	history *sqlite.DB
	histW   *sinks.Writer
	metrics *api.Metrics
	server  *api.Server
	reg     *prometheus.Registry

	// runCtx is the context the sink writers run under.
	runCtx context.Context
	// clusterEvents carries the mesh's events to the history.
	clusterEvents chan mesh.ClusterEvent
	wg            sync.WaitGroup

	// started is closed by Run once the API listens and the scheduler,
	// history and sinks exist: server, sched, history, histW, metrics and
	// runCtx are set before and never change after, so whoever has seen
	// it closed may read them. stopped is closed when Run returns.
	started, stopped chan struct{}
	runOnce          sync.Once
}

type sinkWriter struct {
	sink   *engine.Sink
	writer *sinks.Writer
}

// New loads and compiles the config. Diagnostics are returned for printing;
// with errors among them the agent is nil and err wraps ErrConfig.
func New(opts Options) (*Agent, *dsl.Config, hcl.Diagnostics, error) {
	if opts.Logger == nil {
		opts.Logger = hclog.NewNullLogger()
	}
	cfg, plan, diags := Load(opts.Paths, opts.Load)
	if diags.HasErrors() || plan == nil {
		return nil, cfg, diags, fmt.Errorf("%w: %d error(s)", ErrConfig, countErrors(diags))
	}
	a := &Agent{opts: opts, log: opts.Logger, cfg: cfg, plan: plan, writers: map[string]*sinkWriter{},
		started: make(chan struct{}), stopped: make(chan struct{})}
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

// Run starts everything and blocks until ctx is done; then it stops the
// API, lets runs in flight finish (each within its timeout), flushes the
// history and the sinks, and returns.
func (a *Agent) Run(ctx context.Context) error {
	first := false
	a.runOnce.Do(func() { first = true })
	if !first {
		return errors.New("agent: Run called twice")
	}
	defer close(a.stopped)
	cfg, plan := a.config()
	a.log.Info("starting", "node", cfg.Agent.Name, "config_hash", plan.Hash, "checks", len(plan.Running()), "sinks", len(plan.Sinks), "version", a.opts.Version)

	// The API and the history first: a port in use or an unreadable data_dir
	// stops the agent before any check runs.
	a.reg = prometheus.NewRegistry()
	a.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	apiOpts, err := a.apiOptions(cfg)
	if err != nil {
		return err
	}
	a.server, err = api.New(a, apiOpts)
	if err != nil {
		return err
	}
	runCtx, stopWriters := context.WithCancel(context.Background())
	defer stopWriters()
	a.runCtx = runCtx
	if cfg.Agent.History {
		if err := a.openHistory(ctx, cfg); err != nil {
			return err
		}
	}
	if err := a.server.Listen(); err != nil {
		if a.history != nil {
			stopWriters()
			cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			_ = a.histW.Close(cctx)
			cancel()
			a.wg.Wait()
		}
		return err
	}
	a.openSinks(ctx, plan)
	if a.mesh, err = a.newMesh(cfg, plan, a.server.Addr().String()); err != nil {
		_ = a.server.Close()
		a.closeWriters()
		if a.histW != nil {
			cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			_ = a.histW.Close(cctx)
			cancel()
		}
		stopWriters()
		a.wg.Wait()
		return fmt.Errorf("mesh: %w", err)
	}
	if a.mesh != nil && a.history != nil {
		a.clusterEvents = make(chan mesh.ClusterEvent, clusterEventBuffer)
		a.wg.Add(1)
		go func() {
			defer a.wg.Done()
			a.storeClusterEvents(runCtx)
		}()
	}

	a.sched = engine.NewScheduler(plan, engine.SchedulerOptions{
		MaxConcurrent: cfg.Agent.MaxConcurrent,
		OnEvent:       a.onEvent,
		Logger:        a.log.Named("scheduler"),
	})
	a.metrics = api.NewMetrics(a.sched.Snapshot)
	a.reg.MustRegister(a.metrics, api.NewBuildInfo(a.opts.Version), &sinkCollector{a: a})
	close(a.started)

	// The mesh runs until the scheduler has stopped: the last results
	// are published, then the node leaves.
	meshCtx, stopMesh := context.WithCancel(context.Background())
	defer stopMesh()
	meshErr := make(chan error, 1)
	if a.mesh != nil {
		go func() { meshErr <- a.mesh.Run(meshCtx) }()
	}

	// The scheduler stops with ctx, and also when the API or the mesh
	// fails: Run waits for it before it returns. Checks that look at the
	// cluster (peers, clock) find the mesh in their context.
	schedCtx, stopSched := context.WithCancel(ctx)
	defer stopSched()
	if a.mesh != nil {
		schedCtx = checks.WithMesh(schedCtx, a.mesh)
	}
	schedDone := make(chan struct{})
	go func() {
		defer close(schedDone)
		a.sched.Run(schedCtx)
	}()
	apiCtx, stopAPI := context.WithCancel(ctx)
	defer stopAPI()
	apiErr := make(chan error, 1)
	go func() { apiErr <- a.server.Serve(apiCtx) }()

	var runErr error
	select {
	case <-ctx.Done():
		// The API first, and wait for it: a reload it is answering must
		// not open sinks while they are being closed.
		stopAPI()
		if err := <-apiErr; err != nil {
			a.log.Error("stopping the API", "error", err)
		}
	case err := <-apiErr:
		if err != nil {
			runErr = fmt.Errorf("API: %w", err)
		}
	case err := <-meshErr:
		// The mesh ends only on an error before ctx is done (its ports).
		runErr = fmt.Errorf("mesh: %w", err)
		meshErr <- nil
		stopAPI()
		<-apiErr
	}
	a.reloadMu.Lock()
	a.stopping = true // no reload from now on (SIGHUP)
	a.reloadMu.Unlock()
	a.log.Info("stopping: waiting for runs in flight")
	stopSched()
	<-schedDone
	if a.mesh != nil {
		stopMesh()
		if err := <-meshErr; err != nil && runErr == nil {
			runErr = fmt.Errorf("mesh: %w", err)
		}
	}
	a.closeWriters()
	if a.history != nil {
		cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := a.histW.Close(cctx); err != nil {
			a.log.Error("closing the history", "error", err)
		}
		cancel()
	}
	stopWriters()
	a.wg.Wait()
	a.log.Info("stopped")
	return runErr
}

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
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("reading the API token: %w", err)
	}
	t := strings.TrimSpace(string(b))
	if t == "" {
		return "", fmt.Errorf("the API token file %s is empty", path)
	}
	return t, nil
}

func (a *Agent) openHistory(ctx context.Context, cfg *dsl.Config) error {
	path := filepath.Join(cfg.Agent.DataDir, sqlite.HistoryFile)
	db, err := sqlite.Open(ctx, path, cfg.Agent.HistoryRetention)
	if err != nil {
		return fmt.Errorf("opening the history: %w", err)
	}
	a.history = db
	// The history is spooled like any sink, so that a kill -9 loses none
	// of the results accepted before it.
	dir := filepath.Join(cfg.Agent.DataDir, "spool", "history")
	sp, err := spool.Open(spool.Options{Dir: dir, MaxBytes: engine.DefaultSpoolMax, Logger: a.log.Named("spool").With("sink", "history")})
	if err != nil {
		_ = db.Close()
		return fmt.Errorf("opening the history's spool: %w", err)
	}
	a.histW = sinks.NewWriter(db, sinks.WriterOptions{Name: "history", BatchSize: 1000, FlushInterval: time.Second, Queue: sp, Logger: a.log.Named("history")})
	a.start(a.histW, a.log.Named("history"))
	a.log.Info("history", "path", path)
	return nil
}

// start runs w until the agent stops; the sink finds log in its context
// (sinks that open lazily, such as plugins, log through it).
func (a *Agent) start(w *sinks.Writer, log hclog.Logger) {
	ctx := hclog.WithContext(a.runCtx, log)
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		_ = w.Run(ctx)
	}()
}

// openSinks opens the plan's sinks that are not open yet, and closes the
// ones the plan no longer has or changed. Each sink gets a Writer over its
// own spool under agent.data_dir/spool/TYPE.NAME, so results are kept from
// the moment they are accepted. A sink that fails to open is logged and
// opened again by its next write: its results wait in the spool meanwhile.
func (a *Agent) openSinks(ctx context.Context, plan *engine.Plan) {
	a.mu.Lock()
	defer a.mu.Unlock()
	keep := map[string]bool{}
	for _, s := range plan.Sinks {
		if old, ok := a.writers[s.Address]; ok && sameSink(old.sink, s) {
			old.sink = s
			keep[s.Address] = true
			continue
		}
		if s.Opener == nil {
			continue
		}
		// The old writer holds the spool's lock: close it first.
		if old, ok := a.writers[s.Address]; ok {
			a.closeWriter(old)
			delete(a.writers, s.Address)
		}
		w, err := a.newSinkWriter(ctx, s)
		if err != nil {
			a.log.Error("cannot start sink; its results are dropped until it is fixed and the config reloaded", "sink", s.Address, "error", a.cfg.Redact(err.Error()))
			continue
		}
		a.writers[s.Address] = &sinkWriter{sink: s, writer: w}
		keep[s.Address] = true
		a.start(w, a.sinkLog(s))
	}
	for addr, w := range a.writers {
		if !keep[addr] {
			a.closeWriter(w)
			delete(a.writers, addr)
		}
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

func (a *Agent) closeWriter(w *sinkWriter) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := w.writer.Close(ctx); err != nil {
		a.log.Error("closing sink", "sink", w.sink.Address, "error", err)
	}
}

func (a *Agent) closeWriters() {
	a.mu.Lock()
	defer a.mu.Unlock()
	for addr, w := range a.writers {
		a.closeWriter(w)
		delete(a.writers, addr)
	}
}

// onEvent fans a run out to the metrics, the history and the sinks. It is
// called on scheduler goroutines and never blocks: writers queue.
func (a *Agent) onEvent(e engine.Event) {
	if a.metrics != nil {
		a.metrics.Observe(e)
	}
	a.mu.RLock()
	defer a.mu.RUnlock()
	rec := e.Record(a.cfg.Agent.Name, a.cfg.Redact)
	if a.histW != nil {
		a.histW.Enqueue(rec)
	}
	for _, addr := range sinkTargets(e.Check, a.writers) {
		w, ok := a.writers[addr]
		if !ok || (w.sink.Send == "changes" && !e.Changed) {
			continue
		}
		w.writer.Enqueue(rec)
	}
	if e.Changed && a.mesh != nil {
		a.mesh.Notify()
	}
	if e.Changed {
		a.log.Info("state changed", "check", e.Check.Address, "from", e.Previous, "to", e.State.Status, "error", a.cfg.Redact(e.State.Error))
	}
}

func sinkTargets(c *engine.Check, writers map[string]*sinkWriter) []string {
	if c.Sinks != nil {
		return c.Sinks
	}
	out := make([]string, 0, len(writers))
	for addr := range writers {
		out = append(out, addr)
	}
	return out
}
