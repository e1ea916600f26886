package plugin

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/satellite-hq/satellite/sinks"
)

// Every record written through the host is in the file, in order, whole,
// with its ID.
func TestJSONLDeliversInOrder(t *testing.T) {
	ctx, _ := logContext(t)
	dir := t.TempDir()
	// A relative path in config is taken from the plugin's working folder,
	// the folder of the config file.
	s := open(t, ctx, &Config{Command: jsonlBin, Dir: dir, Config: map[string]string{"path": "out.jsonl"}})

	var want []sinks.Record
	for _, size := range []int{1, 7, 100, 3} {
		batch := make([]sinks.Record, size)
		for i := range batch {
			batch[i] = record(len(want) + i)
		}
		batch[0].Changed, batch[0].Previous, batch[0].Status, batch[0].Error = true, "passing", "critical", "connection refused"
		if err := s.Write(ctx, batch); err != nil {
			t.Fatalf("Write of %d: %v", size, err)
		}
		want = append(want, batch...)
	}

	got := readLines(t, filepath.Join(dir, "out.jsonl"))
	if len(got) != len(want) {
		t.Fatalf("%d lines, want %d", len(got), len(want))
	}
	for i, w := range want {
		g := got[i]
		if g.ID != w.ID() || g.Check != w.Check || !g.Time.Equal(w.Time) || g.Node != w.Node || g.Type != w.Type ||
			g.Status != string(w.Status) || g.RunStatus != string(w.RunStatus) || g.Changed != w.Changed || g.Previous != string(w.Previous) ||
			g.Error != w.Error || g.DurationSeconds != w.Duration.Seconds() ||
			g.Metrics["latency_ms"] != w.Metrics["latency_ms"] || g.Labels["team"] != "core" {
			t.Fatalf("line %d is %+v, want record %+v (id %s)", i+1, g, w, w.ID())
		}
	}
}

func TestConfigureErrorFailsOpen(t *testing.T) {
	ctx, _ := logContext(t)
	c := &Config{Command: jsonlBin, Dir: t.TempDir(), StartTimeout: 10 * time.Second, WriteTimeout: time.Second}
	s, err := c.Open(ctx)
	if err == nil {
		_ = s.Close()
		t.Fatal("Open succeeded without config \"path\"")
	}
	if msg := err.Error(); !strings.Contains(msg, "configuring plugin "+jsonlBin) || !strings.Contains(msg, `config "path" is required`) {
		t.Errorf("error %q does not say that config \"path\" is missing", msg)
	}
	if left := processesOf(t, jsonlBin); len(left) > 0 {
		t.Errorf("the plugin still runs after its Configure failed: %v", left)
	}
}

// A batch the plugin refuses with sinkplugin.Reject comes back as a
// sinks.Reject error, and the plugin goes on taking the next batches.
func TestRejectedBatch(t *testing.T) {
	ctx, _ := logContext(t)
	path := filepath.Join(t.TempDir(), "out.jsonl")
	s := open(t, ctx, &Config{Command: jsonlBin, Config: map[string]string{"path": path}})
	pid := s.PID()

	bad := []sinks.Record{record(1), record(2)}
	bad[1].Metrics = map[string]float64{"ratio": math.NaN()} // JSON has no NaN
	err := s.Write(ctx, bad)
	if !sinks.IsRejected(err) {
		t.Fatalf("Write of a batch with NaN: %v, want a rejection", err)
	}
	if !strings.Contains(err.Error(), "unsupported value: NaN") {
		t.Errorf("the rejection %q does not carry the plugin's reason", err)
	}
	if err := s.Write(ctx, []sinks.Record{record(3)}); err != nil {
		t.Fatalf("Write after a rejection: %v", err)
	}
	if s.PID() != pid {
		t.Errorf("the plugin was restarted (pid %d, then %d) after a rejection", pid, s.PID())
	}
	got := readLines(t, path)
	if len(got) != 1 || got[0].ID != record(3).ID() {
		t.Errorf("file holds %+v, want only record 3", got)
	}
}

// The plugin is killed with SIGKILL while a Writer feeds it at a steady
// rate: it is restarted after a pause, and every record ends up in the file.
func TestKilledPluginRestartsAndLosesNothing(t *testing.T) {
	ctx, logs := logContext(t)
	path := filepath.Join(t.TempDir(), "out.jsonl")
	s := open(t, ctx, &Config{Command: jsonlBin, Config: map[string]string{"path": path}})
	s.minBackoff = 300 * time.Millisecond

	w := sinks.NewWriter(s, sinks.WriterOptions{
		Name: "plugin.jsonl", BatchSize: 20, FlushInterval: 20 * time.Millisecond,
		QueueSize: 100000, MinBackoff: 50 * time.Millisecond, MaxBackoff: 200 * time.Millisecond,
	})
	runCtx, stopRun := context.WithCancel(ctx)
	defer stopRun()
	var run sync.WaitGroup
	run.Go(func() { _ = w.Run(runCtx) })

	// The producer: one record every millisecond for 2 s, the plugin killed
	// after 0.5 s.
	const total = 2000
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	oldPID := s.PID()
	var killedAt time.Time
	for i := range total {
		<-tick.C
		if !w.Enqueue(record(i)) {
			t.Fatalf("record %d dropped", i)
		}
		if i == total/4 {
			if err := syscall.Kill(oldPID, syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			killedAt = time.Now()
		}
	}
	// The restart waits for the backoff: the plugin is not back before it.
	waitFor(t, 10*time.Second, "the plugin was not restarted", func() bool {
		pid := s.PID()
		return pid != 0 && pid != oldPID
	})
	closeCtx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	stopRun()
	run.Wait()
	if err := w.Close(closeCtx); err != nil {
		t.Fatalf("Writer.Close: %v", err)
	}

	lines := readLines(t, path)
	seen := map[string]bool{}
	for _, l := range lines {
		seen[l.ID] = true
	}
	for i := range total {
		if !seen[record(i).ID()] {
			t.Fatalf("record %d (%s) is not in the file", i, record(i).ID())
		}
	}
	if len(seen) != total {
		t.Errorf("%d distinct IDs, want %d", len(seen), total)
	}
	st := w.Stats()
	t.Logf("%d records produced, %d lines, %d distinct IDs, %d duplicates; writer: %d failures, %d retries",
		total, len(lines), len(seen), len(lines)-len(seen), st.Failures, st.Retries)
	if dup := len(lines) - len(seen); dup > 20 {
		t.Errorf("%d duplicates: more than the one batch (20) in flight at the kill", dup)
	}
	if n := countLines(logs.String(), "plugin restarted"); n != 1 {
		t.Fatalf("%d restarts logged, want 1", n)
	}
	// The restart waited for the backoff after the crash was noticed.
	down, up := logTime(t, logs.String(), "plugin is down"), logTime(t, logs.String(), "plugin restarted")
	if down.Before(killedAt.Truncate(time.Millisecond)) || up.Sub(down) < s.minBackoff {
		t.Errorf("killed at %s, found down at %s, restarted at %s: not after a pause of %s",
			killedAt.Format(time.StampMilli), down.Format(time.StampMilli), up.Format(time.StampMilli), s.minBackoff)
	}
}

// A plugin that crashes on every batch is restarted with a growing pause,
// never in a tight loop, and a Write during the pause fails at once.
func TestCrashLoopBacksOff(t *testing.T) {
	ctx, logs := logContext(t)
	s := open(t, ctx, &Config{Command: testBin, Config: map[string]string{"mode": "crash"}})
	s.minBackoff = 100 * time.Millisecond

	batch := []sinks.Record{record(1)}
	if err := s.Write(ctx, batch); err == nil {
		t.Fatal("Write to a plugin that exits succeeded")
	}
	if s.PID() != 0 {
		t.Fatal("the plugin that crashed still counts as running")
	}
	err := s.Write(ctx, batch)
	if err == nil || !strings.Contains(err.Error(), "restarting in") {
		t.Fatalf("Write during the pause: %v, want an error saying when it restarts", err)
	}
	// Writes as fast as a broken Writer could for 1 s: the pauses of 100,
	// 200 and 400 ms (700 ms in all) allow 3 restarts, and the next waits
	// 800 ms.
	end := time.Now().Add(time.Second)
	for time.Now().Before(end) {
		_ = s.Write(ctx, batch)
		time.Sleep(time.Millisecond)
	}
	out := logs.String()
	restarts := countLines(out, "plugin restarted")
	if restarts < 1 || restarts > 3 {
		t.Errorf("%d restarts in 1 s, want at most 3 (after pauses of 100, 200, 400 ms)", restarts)
	}
	// Each failure doubles the pause.
	waits := regexp.MustCompile(`restart_in=(\S+)`).FindAllStringSubmatch(out, -1)
	if len(waits) != restarts+1 {
		t.Fatalf("%d failures logged after %d restarts, want one more", len(waits), restarts)
	}
	for i, w := range waits {
		if want := (100 * time.Millisecond << i).String(); w[1] != want {
			t.Errorf("pause %d is %s, want %s", i+1, w[1], want)
		}
	}
}

// The plugin's own error is returned and retried by the Writer; the process
// is left alone.
func TestPluginErrorKeepsProcess(t *testing.T) {
	ctx, logs := logContext(t)
	s := open(t, ctx, &Config{Command: testBin, Config: map[string]string{"mode": "fail"}})
	pid := s.PID()
	err := s.Write(ctx, []sinks.Record{record(1)})
	if err == nil || !strings.Contains(err.Error(), "backend down") || sinks.IsRejected(err) {
		t.Fatalf("Write: %v, want the plugin's error", err)
	}
	if s.PID() != pid || strings.Contains(logs.String(), "plugin is down") {
		t.Errorf("the plugin was stopped after an error of its own")
	}
}

// A plugin that does not answer within write_timeout is killed and
// restarted.
func TestHungPluginIsRestarted(t *testing.T) {
	ctx, logs := logContext(t)
	s := open(t, ctx, &Config{Command: testBin, Config: map[string]string{"mode": "hang"}, WriteTimeout: 300 * time.Millisecond})
	s.minBackoff = 10 * time.Millisecond
	pid := s.PID()
	err := s.Write(ctx, []sinks.Record{record(1)})
	if err == nil || !strings.Contains(err.Error(), "write_timeout") {
		t.Fatalf("Write to a hung plugin: %v, want a write_timeout error", err)
	}
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("the hung plugin (pid %d) still runs: %v", pid, err)
	}
	time.Sleep(20 * time.Millisecond)
	// It hangs again, but it was started again first.
	_ = s.Write(ctx, []sinks.Record{record(1)})
	if n := countLines(logs.String(), "plugin restarted"); n != 1 {
		t.Errorf("%d restarts, want 1", n)
	}
}

// A program that is not a plugin, or does not exist, fails Open with a
// clear error, without hanging past start_timeout.
func TestNotAPlugin(t *testing.T) {
	dir := t.TempDir()
	// A copy of sleep, so that its processes are told from anybody else's.
	sleep := filepath.Join(dir, "sleep")
	b, err := os.ReadFile("/bin/sleep")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(sleep, b, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		c    Config
		want string
	}{
		{"exits at once", Config{Command: "/bin/true"}, "starting plugin /bin/true"},
		{"never shakes hands", Config{Command: sleep, Args: []string{"60"}, StartTimeout: time.Second}, "start_timeout (1s)"},
		{"does not exist", Config{Command: filepath.Join(dir, "missing")}, "no such file or directory"},
		{"relative, not on PATH", Config{Command: "true", Dir: dir}, "no such file or directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, _ := logContext(t)
			if tc.c.StartTimeout == 0 {
				tc.c.StartTimeout = 10 * time.Second
			}
			s, err := tc.c.Open(ctx)
			if err == nil {
				_ = s.Close()
				t.Fatal("Open succeeded")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not contain %q", err, tc.want)
			}
			t.Logf("Open: %v", err)
			if left := processesOf(t, sleep); len(left) > 0 {
				t.Errorf("left running: %v", left)
			}
		})
	}
}

// A context that ends while the plugin starts ends the start, and the
// process, at once.
func TestOpenCancelled(t *testing.T) {
	ctx, _ := logContext(t)
	ctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	c := &Config{Command: "/bin/sleep", Args: []string{"60"}, StartTimeout: time.Minute}
	if _, err := c.Open(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Open: %v, want context.DeadlineExceeded", err)
	}
}

func TestCloseStopsTheProcess(t *testing.T) {
	ctx, _ := logContext(t)
	c := &Config{Command: jsonlBin, Config: map[string]string{"path": filepath.Join(t.TempDir(), "out.jsonl")},
		StartTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second}
	si, err := c.Open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	s := si.(*Sink)
	pid := s.PID()
	if err := syscall.Kill(pid, 0); err != nil {
		t.Fatalf("the plugin (pid %d) does not run: %v", pid, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("the plugin (pid %d) is still there after Close: %v", pid, err)
	}
	if err := s.Write(ctx, []sinks.Record{record(1)}); !errors.Is(err, ErrClosed) {
		t.Errorf("Write after Close: %v, want ErrClosed", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// Config values may be secrets: no log line of the host, at any level,
// through a start, writes, a crash and restart, and Close, holds one.
func TestNeverLogsConfig(t *testing.T) {
	ctx, logs := logContext(t)
	const secret = "s3cr3t-routing-key-0123456789"
	path := filepath.Join(t.TempDir(), "out.jsonl")
	s := open(t, ctx, &Config{Command: jsonlBin, Config: map[string]string{"path": path, "token": secret}})
	s.minBackoff = 10 * time.Millisecond
	if err := s.Write(ctx, []sinks.Record{record(1)}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(s.PID(), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "Write did not recover", func() bool {
		return s.Write(ctx, []sinks.Record{record(2)}) == nil
	})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// A failed Configure must not quote it either.
	bad := &Config{Command: jsonlBin, Config: map[string]string{"token": secret}, StartTimeout: 10 * time.Second}
	if _, err := bad.Open(ctx); err == nil || strings.Contains(err.Error(), secret) {
		t.Errorf("Open without path: %v", err)
	}
	out := logs.String()
	if !strings.Contains(out, "plugin restarted") {
		t.Fatalf("the logs do not show the restart; the test saw nothing:\n%s", out)
	}
	if strings.Contains(out, secret) {
		t.Errorf("a config value is in the logs:\n%s", out)
	}
}

// Everything the sink starts, go-plugin's goroutines and gRPC's included,
// is gone after Close, also after a crash and a restart.
func TestNoGoroutineLeft(t *testing.T) {
	ctx, _ := logContext(t)
	before := runtime.NumGoroutine()
	c := &Config{Command: jsonlBin, Config: map[string]string{"path": filepath.Join(t.TempDir(), "out.jsonl")},
		StartTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second}
	si, err := c.Open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	s := si.(*Sink)
	s.minBackoff = time.Millisecond
	if err := s.Write(ctx, []sinks.Record{record(1)}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(s.PID(), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "Write did not recover", func() bool {
		return s.Write(ctx, []sinks.Record{record(2)}) == nil
	})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// gRPC's connection goroutines end a moment after the connection closes.
	for deadline := time.Now().Add(5 * time.Second); runtime.NumGoroutine() > before; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines before Open, %d after Close:\n%s", before, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
		}
	}
}

// With a relative config folder (satellite run cfg), the command is
// relative to the agent's folder and the plugin runs in the config folder.
func TestRelativePaths(t *testing.T) {
	root := t.TempDir()
	t.Chdir(root)
	for _, d := range []string{"cfg", "bin"} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(jsonlBin, filepath.Join("bin", "jsonl-sink")); err != nil {
		t.Fatal(err)
	}
	op, diags := buildSrc(t, "command = \"../bin/jsonl-sink\"\nconfig = { path = \"out.jsonl\" }\n", "cfg")
	if len(diags) > 0 {
		t.Fatal(diags)
	}
	ctx, _ := logContext(t)
	c := op.(*Config)
	s := open(t, ctx, c)
	if err := s.Write(ctx, []sinks.Record{record(1)}); err != nil {
		t.Fatal(err)
	}
	if got := readLines(t, filepath.Join(root, "cfg", "out.jsonl")); len(got) != 1 {
		t.Errorf("%d lines in cfg/out.jsonl, want 1", len(got))
	}
}
