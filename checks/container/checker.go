package containercheck

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	eventsapi "github.com/containerd/containerd/api/events"
	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/contrib/seccomp"
	"github.com/containerd/containerd/v2/core/leases"
	"github.com/containerd/containerd/v2/core/snapshots"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/containerd/v2/pkg/oci"
	"github.com/containerd/errdefs"
	"github.com/containerd/typeurl/v2"
	"github.com/dustin/go-humanize"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/zclconf/go-cty/cty"

	"github.com/satellite-hq/satellite/checks"
)

// Labels put on everything a run creates, so that cleanup touches nothing
// else in the namespace.
const (
	// LabelManaged marks what satellite created ("true").
	LabelManaged = "io.satellite.managed"
	// LabelOwner is the InstanceID of the process that created it.
	LabelOwner = "io.satellite.owner"
	// LabelRun ties the containers, snapshots and lease of one run together.
	LabelRun = "io.satellite.run"
	// LabelContainer is the container's name in the check.
	LabelContainer = "io.satellite.container"
)

// InstanceID identifies this process as the owner of what its runs create;
// anything managed with another owner was left behind by an earlier agent.
var InstanceID = func() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}()

// MaxOutput is how much of a container's stdout and stderr (together) is
// kept, the tail; expect_output matches against it.
const MaxOutput = 64 << 10

// dialTimeout bounds the connection check made before each run, so that a
// dead containerd gives a clear error at once rather than a hung run.
const dialTimeout = 2 * time.Second

// cleanupTimeout bounds removing what a run created, which goes on after
// the run's own deadline.
const cleanupTimeout = 30 * time.Second

// pullTimeout bounds one pull or import, which runs outside any run's
// timeout (see prepare).
const pullTimeout = 15 * time.Minute

// oomGrace is how long a run waits, after a container was killed by
// SIGKILL, for containerd's OOM event, which travels apart from the exit.
const oomGrace = time.Second

var errExitedBeforeReady = errors.New("exited before its ready address accepted")

// runSeq numbers runs within the process, for unique container IDs.
var runSeq atomic.Uint64

// Checker runs one container group per run. It is safe for concurrent use;
// Close ends the pulls in flight and the cleanups after timeouts, and closes
// its containerd connection.
type Checker struct {
	socket, namespace, network string
	group                      []containerSpec

	life context.Context // ends at Close: pulls and background cleanups
	stop context.CancelFunc
	bg   sync.WaitGroup

	mu       sync.Mutex
	client   *containerd.Client
	preps    map[string]*prep
	archives map[string]archiveID

	// imports and pulls count the images fetched, for tests.
	imports, pulls atomic.Int64
}

func (c *Checker) init() {
	c.life, c.stop = context.WithCancel(context.Background())
	c.preps = map[string]*prep{}
	c.archives = map[string]archiveID{}
}

// Close ends the checker's pulls and background cleanups, waits for them,
// and closes its connection to containerd.
func (c *Checker) Close() error {
	c.stop()
	c.bg.Wait()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.client != nil {
		err := c.client.Close()
		c.client = nil
		return err
	}
	return nil
}

// connect checks that containerd answers on its socket and returns the
// checker's client, made on first use.
func (c *Checker) connect(ctx context.Context) (*containerd.Client, error) {
	dctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(dctx, "unix", c.socket)
	if err != nil {
		return nil, fmt.Errorf("containerd at %s: %s", c.socket, dialReason(err))
	}
	_ = conn.Close()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.client == nil {
		cl, err := containerd.New(c.socket, containerd.WithDefaultNamespace(c.namespace), containerd.WithTimeout(dialTimeout))
		if err != nil {
			return nil, fmt.Errorf("containerd at %s: %w", c.socket, err)
		}
		c.client = cl
	}
	return c.client, nil
}

// dialReason is the bare cause of a failed dial ("connection refused").
func dialReason(err error) string {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return errno.Error()
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "no answer within " + dialTimeout.String()
	}
	return err.Error()
}

// outcome is what one container of a run did.
type outcome struct {
	spec   *containerSpec
	id     string
	output *tailBuffer
	oom    bool
	// cgroupOOM is the cgroup's own count of OOM kills, read when the task
	// exited: the shim watches for OOM events only once the process runs,
	// and misses a kill in its first milliseconds.
	cgroupOOM bool
	cgroup    string
	// done is closed when the task has exited (exitCode is then set) or
	// when waiting for it failed (waitErr).
	done     chan struct{}
	exitCode int
	waitErr  error
}

// Check runs the group once.
func (c *Checker) Check(ctx context.Context) checks.Result {
	start := time.Now()
	cl, err := c.connect(ctx)
	if err != nil {
		return checks.Result{Status: checks.StatusCritical, Error: err.Error()}
	}
	if err := sweepOnce(ctx, cl, c.socket, c.namespace); err != nil {
		return checks.Result{Status: checks.StatusCritical, Error: fmt.Sprintf("containerd at %s: remove what an earlier agent left: %v", c.socket, err)}
	}
	images := make([]containerd.Image, len(c.group))
	for i := range c.group {
		img, err := c.prepare(ctx, cl, &c.group[i])
		if err != nil {
			return checks.Result{Status: checks.StatusCritical, Error: err.Error()}
		}
		images[i] = img
	}
	return c.runGroup(ctx, cl, images, start)
}

// run is the state of one run: what to remove at its end.
type run struct {
	id       string
	cl       *containerd.Client
	lease    leases.Lease
	netns    string
	outs     []*outcome
	ctrs     []containerd.Container
	tasks    []containerd.Task
	oomMu    sync.Mutex
	oomIDs   map[string]bool
	watching sync.WaitGroup  // the goroutines waiting for tasks
	waitCtx  context.Context // theirs; cleanup cancels it once the tasks are gone
	stopWait context.CancelFunc
	stopSub  context.CancelFunc
	subDone  chan struct{}
	// phase says what the run was doing, for the error at a timeout.
	phase string
}

func (c *Checker) runGroup(ctx context.Context, cl *containerd.Client, images []containerd.Image, start time.Time) checks.Result {
	r := &run{id: InstanceID[:8] + "-" + strconv.FormatUint(runSeq.Add(1), 10), cl: cl, oomIDs: map[string]bool{}, phase: "while preparing the run"}
	labels := map[string]string{LabelManaged: "true", LabelOwner: InstanceID, LabelRun: r.id}
	res, err := c.execute(ctx, r, labels, images)
	// Remove everything, inline while the run still has time, else after
	// it returns: a run past its deadline must not keep the scheduler.
	cleanup := func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
		defer cancel()
		_ = r.cleanup(cctx)
	}
	if ctx.Err() != nil {
		c.bg.Add(1)
		go func() {
			defer c.bg.Done()
			cleanup()
		}()
	} else {
		cleanup()
	}
	if err != nil {
		if ctx.Err() != nil {
			return checks.Result{Status: checks.StatusCritical, Error: fmt.Sprintf("%s %s (the run's containers were killed and removed)", checks.Interrupted(ctx, start), r.phase)}
		}
		return checks.Result{Status: checks.StatusCritical, Error: err.Error()}
	}
	return res
}

// execute creates and starts the containers in order and judges them.
func (c *Checker) execute(ctx context.Context, r *run, labels map[string]string, images []containerd.Image) (checks.Result, error) {
	lctx, err := r.startLease(ctx, labels)
	if err != nil {
		return checks.Result{}, err
	}
	if c.network == NetworkIsolated {
		ns, err := newNetns(InstanceID + "-" + r.id)
		if err != nil {
			return checks.Result{}, fmt.Errorf("create the isolated network: %w", err)
		}
		r.netns = ns
	}
	r.waitCtx, r.stopWait = context.WithCancel(lctx)
	r.subscribeOOM(lctx)
	begin := time.Now()
	for i := range c.group {
		cs := &c.group[i]
		r.phase = fmt.Sprintf("while starting container %q", cs.name)
		if err := r.start(lctx, cs, images[i], labels); err != nil {
			return checks.Result{}, err
		}
		if cs.ready != "" && i < len(c.group)-1 {
			o := r.outs[i]
			r.phase = fmt.Sprintf("while waiting for container %q to accept on tcp://%s", cs.name, cs.ready)
			if err := waitReady(lctx, r.netns, cs.ready, o.done); err != nil {
				if errors.Is(err, errExitedBeforeReady) {
					return checks.Result{}, fmt.Errorf("container %q exited with %d before tcp://%s accepted%s", cs.name, o.exitCode, cs.ready, excerpt(r.output(lctx, i)))
				}
				return checks.Result{}, fmt.Errorf("waiting for container %q to accept on tcp://%s: %w", cs.name, cs.ready, err)
			}
		}
	}
	// Wait for the judged containers; the others are stopped after.
	for _, o := range r.outs {
		if !o.spec.judged {
			continue
		}
		r.phase = fmt.Sprintf("while waiting for container %q to exit", o.spec.name)
		select {
		case <-o.done:
		case <-lctx.Done():
			return checks.Result{}, fmt.Errorf("waiting for container %q: %w", o.spec.name, lctx.Err())
		}
		if o.waitErr != nil {
			return checks.Result{}, fmt.Errorf("waiting for container %q: %w", o.spec.name, o.waitErr)
		}
	}
	took := time.Since(begin)
	return r.judge(lctx, took), nil
}

func (r *run) startLease(ctx context.Context, labels map[string]string) (context.Context, error) {
	l, err := r.cl.LeasesService().Create(ctx, leases.WithID("satellite-"+InstanceID+"-"+r.id), leases.WithLabels(labels), leases.WithExpiration(24*time.Hour))
	if err != nil {
		return nil, fmt.Errorf("containerd: create a lease: %w", err)
	}
	r.lease = l
	return leases.WithLease(ctx, l.ID), nil
}

// subscribeOOM listens for containerd's OOM events before any task starts:
// an OOM kill looks like any SIGKILL in the exit status.
func (r *run) subscribeOOM(ctx context.Context) {
	sctx, cancel := context.WithCancel(ctx)
	ch, errs := r.cl.Subscribe(sctx, `topic=="/tasks/oom"`)
	r.stopSub, r.subDone = cancel, make(chan struct{})
	go func() { // owned by the run: cleanup cancels sctx and waits
		defer close(r.subDone)
		for {
			select {
			case env := <-ch:
				if env == nil {
					return
				}
				v, err := typeurl.UnmarshalAny(env.Event)
				if err != nil {
					continue
				}
				if e, ok := v.(*eventsapi.TaskOOM); ok {
					r.oomMu.Lock()
					r.oomIDs[e.ContainerID] = true
					r.oomMu.Unlock()
				}
			case <-errs:
				return
			case <-sctx.Done():
				return
			}
		}
	}()
}

func (r *run) oomKilled(id string) bool {
	r.oomMu.Lock()
	defer r.oomMu.Unlock()
	return r.oomIDs[id]
}

// start creates one container and starts its task.
func (r *run) start(ctx context.Context, cs *containerSpec, img containerd.Image, labels map[string]string) error {
	id := "sat-" + r.id + "-" + cs.name
	specOpts := []oci.SpecOpts{
		oci.WithImageConfig(img),
		oci.WithHostname(cs.name),
		oci.WithUIDGID(cs.uid, cs.gid),
		oci.WithCapabilities(nil),
		oci.WithNoNewPrivileges,
		seccomp.WithDefaultProfile(),
		// A small writable /tmp in memory: many programs need one, and the
		// root file system is read-only.
		oci.WithMounts([]specs.Mount{{Destination: "/tmp", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "nodev", "noexec", "size=16m"}}}),
	}
	if len(cs.command) > 0 {
		specOpts = append(specOpts, oci.WithProcessArgs(cs.command...))
	}
	if len(cs.env) > 0 {
		specOpts = append(specOpts, oci.WithEnv(cs.env))
	}
	if cs.readOnly {
		specOpts = append(specOpts, oci.WithRootFSReadonly())
	}
	if cs.memory > 0 {
		specOpts = append(specOpts, oci.WithMemoryLimit(cs.memory))
		if swapLimitWanted() {
			// Memory plus swap as large as the limit: with swap to spare
			// the cgroup would page rather than meet its limit.
			specOpts = append(specOpts, oci.WithMemorySwap(int64(cs.memory)))
		}
	}
	if cs.cpus > 0 {
		const period = 100000
		specOpts = append(specOpts, oci.WithCPUCFS(int64(cs.cpus*period), period))
	}
	if r.netns != "" {
		specOpts = append(specOpts, oci.WithLinuxNamespace(specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: r.netns}))
	} else {
		specOpts = append(specOpts, oci.WithHostNamespace(specs.NetworkNamespace))
	}
	ctrLabels := map[string]string{LabelContainer: cs.name}
	for k, v := range labels {
		ctrLabels[k] = v
	}
	ctr, err := r.cl.NewContainer(ctx, id,
		containerd.WithContainerLabels(ctrLabels),
		containerd.WithImage(img),
		containerd.WithNewSnapshot(id, img, snapshots.WithLabels(ctrLabels)),
		containerd.WithNewSpec(specOpts...),
	)
	if err != nil {
		return fmt.Errorf("create container %q: %w", cs.name, err)
	}
	r.ctrs = append(r.ctrs, ctr)
	out := &outcome{spec: cs, id: id, output: newTailBuffer(MaxOutput)}
	if spec, err := ctr.Spec(ctx); err == nil && spec.Linux != nil {
		out.cgroup = spec.Linux.CgroupsPath
	}
	r.outs = append(r.outs, out)
	task, err := ctr.NewTask(ctx, cio.NewCreator(cio.WithStreams(nil, out.output, out.output)))
	if err != nil {
		return fmt.Errorf("create the task of container %q: %w", cs.name, err)
	}
	r.tasks = append(r.tasks, task)
	wait, err := task.Wait(r.waitCtx)
	if err != nil {
		return fmt.Errorf("wait for container %q: %w", cs.name, err)
	}
	out.done = make(chan struct{})
	r.watching.Add(1)
	go func() { // owned by the run: ends when the task exits or ctx ends; cleanup waits for it
		defer r.watching.Done()
		defer close(out.done)
		st := <-wait
		code, _, err := st.Result()
		out.exitCode, out.waitErr = int(code), err
		if code == 128+uint32(syscall.SIGKILL) && cs.memory > 0 {
			// Before the task is deleted, which removes its cgroup.
			out.cgroupOOM = cgroupOOMKilled(out.cgroup)
		}
	}()
	if err := task.Start(ctx); err != nil {
		return fmt.Errorf("start container %q: %w", cs.name, err)
	}
	return nil
}

// output stops container i's task (when still running) and returns its
// complete output: deleting the task waits until its streams are copied.
func (r *run) output(ctx context.Context, i int) string {
	if r.tasks[i] != nil {
		_ = r.tasks[i].Kill(ctx, syscall.SIGKILL)
		_, _ = r.tasks[i].Delete(ctx, containerd.WithProcessKill)
		r.tasks[i] = nil
	}
	return r.outs[i].output.String()
}

// judge decides the run from the judged containers, after stopping every
// task so that their outputs are complete.
func (r *run) judge(ctx context.Context, took time.Duration) checks.Result {
	var decider *outcome
	var failure string
	for i, o := range r.outs {
		out := r.output(ctx, i)
		if !o.spec.judged {
			continue
		}
		if o.exitCode == 128+int(syscall.SIGKILL) && o.spec.memory > 0 {
			o.oom = o.cgroupOOM || r.waitOOM(ctx, o.id)
		}
		if failure != "" {
			continue
		}
		decider = o
		switch {
		case o.oom:
			failure = fmt.Sprintf("container %q was killed by the OOM killer (memory limit %s)", o.spec.name, humanize.IBytes(o.spec.memory))
		case o.exitCode != o.spec.expectExit:
			failure = fmt.Sprintf("container %q exited with %d, expected %d", o.spec.name, o.exitCode, o.spec.expectExit)
		case o.spec.expectOutput != nil && !o.spec.expectOutput.MatchString(out):
			failure = fmt.Sprintf("container %q: output does not match %q", o.spec.name, o.spec.expectOutput.String())
		}
	}
	out := decider.output.String()
	res := checks.Result{
		Metrics: map[string]float64{
			MetricDuration: float64(took) / float64(time.Millisecond),
			MetricExitCode: float64(decider.exitCode),
		},
		Attrs: map[string]cty.Value{
			"exit_code":  cty.NumberIntVal(int64(decider.exitCode)),
			"output":     cty.StringVal(strings.ToValidUTF8(out, "\uFFFD")),
			"oom_killed": cty.BoolVal(decider.oom),
		},
		Detail: lastLines(out, 20, 2048),
	}
	if failure != "" {
		res.Status, res.Error = checks.StatusCritical, failure
	}
	return res
}

func (r *run) waitOOM(ctx context.Context, id string) bool {
	deadline := time.NewTimer(oomGrace)
	defer deadline.Stop()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		if r.oomKilled(id) {
			return true
		}
		select {
		case <-deadline.C:
			return r.oomKilled(id)
		case <-ctx.Done():
			return r.oomKilled(id)
		case <-tick.C:
		}
	}
}

// cleanup kills and removes every task, container and snapshot of the run,
// its lease and its network namespace, whatever state the run ended in.
func (r *run) cleanup(ctx context.Context) error {
	var errs []error
	for i := len(r.ctrs) - 1; i >= 0; i-- {
		if i < len(r.tasks) && r.tasks[i] != nil {
			_ = r.tasks[i].Kill(ctx, syscall.SIGKILL)
			if _, err := r.tasks[i].Delete(ctx, containerd.WithProcessKill); err != nil && !errdefs.IsNotFound(err) {
				errs = append(errs, fmt.Errorf("delete task %s: %w", r.ctrs[i].ID(), err))
			}
		}
		if err := r.ctrs[i].Delete(ctx, containerd.WithSnapshotCleanup); err != nil && !errdefs.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("delete container %s: %w", r.ctrs[i].ID(), err))
		}
	}
	if r.stopWait != nil {
		r.stopWait()
	}
	r.watching.Wait()
	if r.stopSub != nil {
		r.stopSub()
		<-r.subDone
	}
	if r.lease.ID != "" {
		if err := r.cl.LeasesService().Delete(ctx, r.lease); err != nil && !errdefs.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("delete lease %s: %w", r.lease.ID, err))
		}
	}
	if r.netns != "" {
		if err := removeNetns(r.netns); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// excerpt is ": " and the last lines of out, or nothing when out is empty.
func excerpt(out string) string {
	if s := lastLines(out, 5, 512); s != "" {
		return ": " + strings.ReplaceAll(s, "\n", " | ")
	}
	return ""
}

// lastLines is the tail of s: at most n lines and max bytes.
func lastLines(s string, n, max int) string {
	s = strings.TrimRight(s, "\n")
	if len(s) > max {
		s = s[len(s)-max:]
	}
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.ToValidUTF8(strings.Join(lines, "\n"), "\uFFFD")
}
