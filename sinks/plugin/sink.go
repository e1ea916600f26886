package plugin

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	goplugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/satellite-hq/satellite/sinkplugin"
	"github.com/satellite-hq/satellite/sinkplugin/pb"
	"github.com/satellite-hq/satellite/sinks"
)

// Bounds of the pause before a crashed plugin is started again: it doubles
// with every crash or failed start in a row and is back to the minimum after
// a batch is delivered.
const (
	MinRestartBackoff = time.Second
	MaxRestartBackoff = time.Minute
)

// ErrClosed is returned by Write after Close.
var ErrClosed = errors.New("plugin sink is closed")

// Open starts the plugin and configures it. The plugin's logs, and those of
// its management, go to the hclog logger in ctx (hclog.WithContext), or to
// hclog's default logger. The process outlives ctx: Close stops it.
func (c *Config) Open(ctx context.Context) (sinks.Sink, error) {
	s := &Sink{
		cfg:        *c,
		name:       filepath.Base(c.Command),
		log:        hclog.FromContext(ctx).Named("plugin"),
		minBackoff: MinRestartBackoff,
		maxBackoff: MaxRestartBackoff,
	}
	p, err := s.start(ctx)
	if err != nil {
		return nil, err
	}
	s.proc = p
	return s, nil
}

// Sink is an open plugin sink: the plugin process, restarted when it dies.
type Sink struct {
	cfg                    Config
	name                   string // for messages
	log                    hclog.Logger
	minBackoff, maxBackoff time.Duration

	// writeMu makes Writes, and the restarts they do, one at a time; it
	// guards the fields below it.
	writeMu  sync.Mutex
	failures int       // crashes and failed starts since the last delivered batch
	retryAt  time.Time // no restart before this
	downErr  error     // why the plugin is not running

	mu     sync.Mutex // guards proc and closed; never held across a call to the plugin
	proc   *process   // nil while the plugin is down
	closed bool
}

var _ sinks.Sink = (*Sink)(nil)

// process is one run of the plugin program.
type process struct {
	client *goplugin.Client
	sink   *sinkplugin.Client
	pid    int
	// kill sends SIGKILL through exec.CommandContext: the one way to stop
	// the process that go-plugin's Start, which takes no context, allows.
	kill context.CancelFunc
}

// stop ends the process and waits for go-plugin's goroutines. Graceful asks
// the plugin to exit first (go-plugin waits up to 2 s, then kills); a hung
// or broken plugin is killed at once.
func (p *process) stop(graceful bool) {
	if !graceful {
		p.kill()
	}
	p.client.Kill()
	p.kill()
}

// PID returns the process ID of the running plugin, or 0 while it is down.
func (s *Sink) PID() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil {
		return 0
	}
	return s.proc.pid
}

// Write sends a batch to the plugin. When the plugin is down, Write starts
// it again, unless the pause after its last crash is not over: then it
// returns an error at once and the Writer keeps the batch for later. A
// batch the plugin rejects comes back as a sinks.Reject error.
func (s *Sink) Write(ctx context.Context, batch []sinks.Record) error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	p, err := s.running(ctx)
	if err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, s.cfg.WriteTimeout)
	err = p.sink.Write(wctx, toProto(batch))
	// gRPC passes the deadline on to the plugin's side, whose end of the
	// call may report it before our own timer has fired.
	timedOut := ctx.Err() == nil &&
		(errors.Is(wctx.Err(), context.DeadlineExceeded) || status.Code(err) == codes.DeadlineExceeded)
	cancel()

	var (
		rej  *sinkplugin.RejectedError
		perr *sinkplugin.PluginError
	)
	switch {
	case err == nil:
		s.failures = 0
		return nil
	case errors.As(err, &rej):
		// The plugin answered, so it is healthy; the batch is what is wrong.
		s.failures = 0
		return sinks.Reject(fmt.Errorf("plugin %s: %w", s.name, rej.Err))
	case errors.As(err, &perr):
		// The plugin's own failure (its server is down ...): the Writer
		// retries the batch with its backoff; the process is fine.
		return fmt.Errorf("plugin %s: %w", s.name, err)
	case ctx.Err() != nil:
		return fmt.Errorf("plugin %s: %w", s.name, ctx.Err())
	case timedOut:
		err = fmt.Errorf("no answer within write_timeout (%s): %w", s.cfg.WriteTimeout, err)
		s.lost(p, err)
		return fmt.Errorf("plugin %s: %w", s.name, err)
	default:
		// Anything else is gRPC failing to reach the plugin: it crashed, was
		// killed, or its connection broke.
		s.lost(p, err)
		return fmt.Errorf("plugin %s: %w", s.name, err)
	}
}

// Close stops the plugin: it asks it to exit, kills it after 2 s, and waits
// for a Write in flight to return. The process is gone when Close returns.
func (s *Sink) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	p := s.proc
	s.proc = nil
	s.mu.Unlock()
	if p != nil {
		p.stop(true)
	}
	// A Write in flight fails now that the process is gone; waiting for it
	// means nothing it started outlives Close.
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	return nil
}

// running returns the live process, starting it again when it is down and
// the pause after its last failure is over. writeMu is held.
func (s *Sink) running(ctx context.Context) (*process, error) {
	s.mu.Lock()
	closed, p := s.closed, s.proc
	s.mu.Unlock()
	if closed {
		return nil, ErrClosed
	}
	if p != nil {
		select {
		case <-p.sink.Exited():
			s.lost(p, errors.New("the plugin process exited"))
		default:
			return p, nil
		}
	}
	if wait := time.Until(s.retryAt); wait > 0 {
		return nil, fmt.Errorf("plugin %s is down, restarting in %s: %w", s.name, wait.Round(time.Millisecond), s.downErr)
	}
	p, err := s.start(ctx)
	if err != nil {
		s.down(err)
		return nil, err
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		p.stop(true)
		return nil, ErrClosed
	}
	s.proc = p
	s.mu.Unlock()
	s.log.Info("plugin restarted", "plugin", s.name, "pid", p.pid, "failures", s.failures)
	return p, nil
}

// lost stops a process that crashed or hung and schedules its restart.
// writeMu is held.
func (s *Sink) lost(p *process, cause error) {
	s.mu.Lock()
	if s.proc == p {
		s.proc = nil
	}
	s.mu.Unlock()
	p.stop(false)
	s.down(cause)
}

// down records a failure and when to try again: never at once, so that a
// plugin that crashes on every batch is not restarted in a tight loop.
// writeMu is held.
func (s *Sink) down(cause error) {
	s.failures++
	wait := s.maxBackoff
	if n := s.failures - 1; n < 32 {
		if d := s.minBackoff << n; d > 0 && d < wait {
			wait = d
		}
	}
	s.retryAt = time.Now().Add(wait)
	s.downErr = cause
	s.log.Error("plugin is down; it is started again after a pause", "plugin", s.name, "error", cause, "failures", s.failures, "restart_in", wait)
}

// start runs the plugin program, waits for its handshake and configures it.
func (s *Sink) start(ctx context.Context) (*process, error) {
	timeout := s.cfg.StartTimeout
	if dl, ok := ctx.Deadline(); ok {
		timeout = min(timeout, time.Until(dl))
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("starting plugin %s: %w", s.cfg.Command, err)
	}
	if timeout <= 0 {
		return nil, fmt.Errorf("starting plugin %s: %w", s.cfg.Command, context.DeadlineExceeded)
	}

	// Absolute, because the plugin runs in Dir while a relative Command
	// (from a relative config folder) is relative to ours, and because exec
	// would search $PATH for a name without a slash.
	path, err := filepath.Abs(s.cfg.Command)
	if err != nil {
		return nil, fmt.Errorf("starting plugin %s: %w", s.cfg.Command, err)
	}
	procCtx, kill := context.WithCancel(context.Background())
	cmd := exec.CommandContext(procCtx, path, s.cfg.Args...)
	cmd.Dir = s.cfg.Dir
	// What the plugin prints after its handshake (go-plugin redirects its
	// os.Stdout and os.Stderr) ends up in our log too.
	stdio := s.log.Named(s.name).StandardWriter(&hclog.StandardLoggerOptions{InferLevels: true})
	client := goplugin.NewClient(&goplugin.ClientConfig{
		HandshakeConfig:  sinkplugin.Handshake,
		Plugins:          sinkplugin.PluginSet(nil),
		Cmd:              cmd,
		AllowedProtocols: []goplugin.Protocol{goplugin.ProtocolGRPC},
		Logger:           s.log,
		Managed:          false, // Close, not a process-wide cleanup, stops it
		AutoMTLS:         true,
		StartTimeout:     timeout,
		SyncStdout:       stdio,
		SyncStderr:       stdio,
	})
	p := &process{client: client, kill: kill}
	fail := func(err error) (*process, error) {
		if cmd.Process != nil {
			p.stop(false)
		} else {
			// It never ran (no such file ...): there is nothing for
			// go-plugin to stop, and it would log that it had to.
			kill()
		}
		return nil, fmt.Errorf("starting plugin %s: %w", s.cfg.Command, err)
	}

	// go-plugin's Start takes no context: a ctx that ends kills the
	// process, which ends the wait for its handshake at once.
	began := time.Now()
	started := make(chan struct{})
	var watch sync.WaitGroup
	watch.Go(func() {
		select {
		case <-ctx.Done():
			kill()
		case <-started:
		}
	})
	rpc, err := client.Client()
	close(started)
	watch.Wait()
	switch {
	case ctx.Err() != nil:
		return fail(ctx.Err())
	case err != nil && time.Since(began) >= timeout:
		return fail(fmt.Errorf("no handshake within start_timeout (%s); is it a satellite sink plugin? %w", timeout, err))
	case err != nil:
		return fail(err)
	}
	if rc := client.ReattachConfig(); rc != nil {
		p.pid = rc.Pid
	}
	raw, err := rpc.Dispense(sinkplugin.PluginName)
	if err != nil {
		return fail(err)
	}
	sc, ok := raw.(*sinkplugin.Client)
	if !ok {
		return fail(fmt.Errorf("dispensed %T, not a sink", raw))
	}
	p.sink = sc

	cctx, cancel := context.WithTimeout(ctx, timeout)
	err = sc.Configure(cctx, s.cfg.Config)
	cancel()
	if err != nil {
		p.stop(false)
		// Not "starting": the plugin runs, its config is what it refused.
		return nil, fmt.Errorf("configuring plugin %s: %w", s.cfg.Command, err)
	}
	s.log.Debug("plugin started", "plugin", s.name, "pid", p.pid)
	return p, nil
}

// toProto converts a batch in three allocations for the messages and their
// times, rather than three per record.
func toProto(batch []sinks.Record) []*pb.Record {
	msgs := make([]pb.Record, len(batch))
	times := make([]timestamppb.Timestamp, len(batch))
	durs := make([]durationpb.Duration, len(batch))
	out := make([]*pb.Record, len(batch))
	for i := range batch {
		r := &batch[i]
		ts, d := &times[i], &durs[i]
		ts.Seconds, ts.Nanos = r.Time.Unix(), int32(r.Time.Nanosecond())
		d.Seconds, d.Nanos = int64(r.Duration/time.Second), int32(r.Duration%time.Second)
		m := &msgs[i]
		m.Id = r.ID()
		m.Time = ts
		m.Node = r.Node
		m.Check = r.Check
		m.Type = r.Type
		m.Status = string(r.Status)
		m.RunStatus = string(r.RunStatus)
		m.Changed = r.Changed
		m.Previous = string(r.Previous)
		m.Duration = d
		// The Writer's records are not changed once queued, so the maps
		// are shared, not copied.
		m.Metrics = r.Metrics
		m.Error = r.Error
		m.Labels = r.Labels
		out[i] = m
	}
	return out
}
