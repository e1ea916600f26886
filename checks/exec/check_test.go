package execcheck

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/zclconf/go-cty/cty"
	"golang.org/x/sys/unix"

	"github.com/satellite-hq/satellite/checks"
)

func TestExitCodes(t *testing.T) {
	tests := []struct {
		name, body string
		status     checks.Status
		code       int
		err        string
	}{
		{"ok", "echo 'OK - all fine'\nexit 0", checks.StatusPassing, 0, ""},
		{"warning", "echo 'WARNING - load 5.1|load=5.1'\necho 'second line'\nexit 1", checks.StatusWarning, 1, "WARNING - load 5.1|load=5.1"},
		{"critical", "echo 'CRITICAL - /var 97% full'\nexit 2", checks.StatusCritical, 2, "CRITICAL - /var 97% full"},
		{"unknown is critical", "exit 3", checks.StatusCritical, 3, "exit status 3"},
		{"stderr counts", "echo '  broken pipe somewhere' >&2\nexit 2", checks.StatusCritical, 2, "broken pipe somewhere"},
		{"leading blank lines", "echo\necho\necho 'late status'\nexit 1", checks.StatusWarning, 1, "late status"},
		{"high code", "exit 255", checks.StatusCritical, 255, "exit status 255"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := run(commandOf(t, "", script(t, tt.body)), 10*time.Second)
			want(t, res, tt.status)
			if res.Error != tt.err {
				t.Errorf("error %q, want %q", res.Error, tt.err)
			}
			if got, ok := res.Metrics[MetricExitCode]; !ok || got != float64(tt.code) {
				t.Errorf("exit_code metric %v (%v), want %d", got, ok, tt.code)
			}
			if d, ok := res.Metrics[MetricDuration]; !ok || d <= 0 {
				t.Errorf("duration_ms %v (%v)", d, ok)
			}
			if v := res.Attrs["exit_code"]; v.IsNull() || !v.RawEquals(cty.NumberIntVal(int64(tt.code))) {
				t.Errorf("result.exit_code %#v", v)
			}
			if out := res.Attrs["output"].AsString(); out != res.Detail {
				t.Errorf("output %q, detail %q", out, res.Detail)
			}
		})
	}
}

func TestOutputOrderAndAttrs(t *testing.T) {
	res := run(commandOf(t, "", script(t, "echo a\necho b >&2\necho c\nprintf 'd'")), 10*time.Second)
	want(t, res, checks.StatusPassing)
	if got := res.Attrs["output"].AsString(); got != "a\nb\nc\nd" {
		t.Errorf("output %q", got)
	}
	// The result object assert sees.
	obj := registration(t).ResultValue(res, time.Hour)
	if obj.GetAttr("exit_code").AsBigFloat().String() != "0" || obj.GetAttr("output").AsString() != "a\nb\nc\nd" {
		t.Errorf("result %#v", obj)
	}
	// The type's duration_ms metric, the command's own run time, is what
	// result.duration_ms holds, not the scheduler's time for the whole run.
	if got, _ := obj.GetAttr("duration_ms").AsBigFloat().Float64(); got != res.Metrics[MetricDuration] {
		t.Errorf("result.duration_ms %v, want the metric %v", got, res.Metrics[MetricDuration])
	}
}

func TestKilledBySignal(t *testing.T) {
	res := run(commandOf(t, "", script(t, "echo 'about to die'\nkill -USR1 $$\nsleep 5")), 10*time.Second)
	want(t, res, checks.StatusCritical)
	if res.Error != "killed by signal SIGUSR1 (user defined signal 1): about to die" {
		t.Errorf("error %q", res.Error)
	}
	if _, ok := res.Metrics[MetricExitCode]; ok {
		t.Error("exit_code reported for a process killed by a signal")
	}
	if _, ok := res.Metrics[MetricDuration]; !ok {
		t.Error("no duration_ms")
	}
	if v, ok := res.Attrs["exit_code"]; ok {
		t.Errorf("result.exit_code %#v, want it unset (null)", v)
	}
	if obj := registration(t).ResultValue(res, 0); !obj.GetAttr("exit_code").IsNull() {
		t.Error("result.exit_code is not null")
	}

	res = run(commandOf(t, "", script(t, "kill -KILL $$")), 10*time.Second)
	want(t, res, checks.StatusCritical)
	if res.Error != "killed by signal SIGKILL (killed)" {
		t.Errorf("error %q", res.Error)
	}
}

func TestOutputCap(t *testing.T) {
	// 1.8 MB of output: the command must not block on a full pipe, and only
	// the first 4 KiB is kept.
	res := run(commandOf(t, "", script(t, "yes abcdefgh | head -n 200000\nexit 2")), 20*time.Second)
	want(t, res, checks.StatusCritical)
	if res.Error != "abcdefgh" {
		t.Errorf("error %q", res.Error)
	}
	out := res.Attrs["output"].AsString()
	if len(out) != MaxOutput || !strings.HasPrefix(out, "abcdefgh\nabcdefgh\n") {
		t.Errorf("output of %d bytes: %.40q...", len(out), out)
	}
	if !strings.HasPrefix(res.Detail, out) || !strings.HasSuffix(res.Detail, "\n[output cut at 4096 of 1800000 bytes]") {
		t.Errorf("detail ends %q", res.Detail[max(len(res.Detail)-60, 0):])
	}
}

func TestOutputCutAtCharacter(t *testing.T) {
	// 4095 bytes then "é" (2 bytes): the cut falls inside the character.
	c := &capture{buf: append([]byte(strings.Repeat("a", MaxOutput-1)), 0xc3), total: MaxOutput + 1}
	out, detail := c.text()
	if out != strings.Repeat("a", MaxOutput-1) || !strings.HasSuffix(detail, "[output cut at 4095 of 4097 bytes]") {
		t.Errorf("output %d bytes, detail ends %q", len(out), detail[len(detail)-40:])
	}
	// Invalid UTF-8 inside the output is replaced, not passed on.
	c = &capture{buf: []byte("ok \xff\xfe done"), total: 12}
	if out, _ := c.text(); out != "ok \uFFFD done" {
		t.Errorf("%q", out)
	}
}

func TestEnvironmentIsOnlyEnv(t *testing.T) {
	t.Setenv("SATELLITE_TEST_SECRET", "hunter2-do-not-leak")
	res := run(commandOf(t, `env = { ONLY = "this", "WITH SPACE" = "a b" }`, "/usr/bin/env"), 10*time.Second)
	want(t, res, checks.StatusPassing)
	if got := res.Attrs["output"].AsString(); got != "ONLY=this\nWITH SPACE=a b\n" {
		t.Errorf("environment %q", got)
	}

	res = run(commandOf(t, "", "/usr/bin/env"), 10*time.Second)
	want(t, res, checks.StatusPassing)
	if got := res.Attrs["output"].AsString(); got != "" {
		t.Errorf("without env, the command saw %q", got)
	}
	if strings.Contains(res.Detail, "hunter2") {
		t.Error("the agent's environment leaked")
	}
}

func TestProgramLookup(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "mycheck"), []byte("#!/bin/sh\necho \"found as $0\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "notexec"), []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// The agent's own PATH is never used.
	t.Setenv("PATH", dir+":"+os.Getenv("PATH"))

	t.Run("default PATH", func(t *testing.T) {
		res := run(commandOf(t, "", "env"), 10*time.Second)
		want(t, res, checks.StatusPassing)
		if res.Attrs["output"].AsString() != "" {
			t.Errorf("PATH was passed to the command: %q", res.Detail)
		}
		res = run(commandOf(t, "", "mycheck"), 10*time.Second)
		want(t, res, checks.StatusCritical, `"mycheck" not found in PATH `+DefaultPath)
		if _, ok := res.Metrics[MetricDuration]; ok || len(res.Attrs) > 0 {
			t.Errorf("metrics %v, attrs %v for a command that did not start", res.Metrics, res.Attrs)
		}
	})
	t.Run("env PATH", func(t *testing.T) {
		res := run(commandOf(t, fmt.Sprintf("env = { PATH = %q }", "relative/bin::"+dir), "mycheck"), 10*time.Second)
		want(t, res, checks.StatusPassing)
		// A script's interpreter gets the path the program was found at.
		if got := res.Attrs["output"].AsString(); got != "found as "+filepath.Join(dir, "mycheck")+"\n" {
			t.Errorf("output %q", got)
		}
		res = run(commandOf(t, fmt.Sprintf("env = { PATH = %q }", dir), "env"), 10*time.Second)
		want(t, res, checks.StatusCritical, `"env" not found in PATH `+dir)
		res = run(commandOf(t, fmt.Sprintf("env = { PATH = %q }", dir), "notexec"), 10*time.Second)
		want(t, res, checks.StatusCritical, "not found")
	})
	t.Run("relative to the config folder", func(t *testing.T) {
		c, diags, _ := build(t, `command = ["./mycheck"]`, dir)
		if diags.HasErrors() {
			t.Fatal(diags)
		}
		res := run(c, 10*time.Second)
		want(t, res, checks.StatusPassing)
		if got := res.Attrs["output"].AsString(); got != "found as "+filepath.Join(dir, "mycheck")+"\n" {
			t.Errorf("output %q", got)
		}
	})
	t.Run("start failures", func(t *testing.T) {
		res := run(commandOf(t, "", "/nonexistent/check"), 10*time.Second)
		want(t, res, checks.StatusCritical)
		if res.Error != "start /nonexistent/check: no such file or directory" {
			t.Errorf("error %q", res.Error)
		}
		res = run(commandOf(t, "", filepath.Join(dir, "notexec")), 10*time.Second)
		want(t, res, checks.StatusCritical, "start "+filepath.Join(dir, "notexec")+": permission denied")
	})
}

func TestWorkingDirectory(t *testing.T) {
	res := run(commandOf(t, "", "/bin/pwd"), 10*time.Second)
	want(t, res, checks.StatusPassing)
	if got := res.Attrs["output"].AsString(); got != "/\n" {
		t.Errorf("default dir %q", got)
	}
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "data"), 0o755); err != nil {
		t.Fatal(err)
	}
	c, diags, _ := build(t, "command = [\"/bin/pwd\"]\ndir = \"data\"", dir)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	res = run(c, 10*time.Second)
	want(t, res, checks.StatusPassing)
	if got := res.Attrs["output"].AsString(); got != filepath.Join(dir, "data")+"\n" {
		t.Errorf("dir %q", got)
	}
	res = run(commandOf(t, `dir = "/nonexistent/dir"`, "/bin/pwd"), 10*time.Second)
	want(t, res, checks.StatusCritical, "working directory /nonexistent/dir: no such file or directory")
	res = run(commandOf(t, `dir = "/bin/pwd"`, "/bin/pwd"), 10*time.Second)
	want(t, res, checks.StatusCritical, "working directory /bin/pwd: not a directory")
}

func TestTimeoutKillsProcessGroup(t *testing.T) {
	// A command that ignores SIGTERM and leaves a child sleeping: at the
	// deadline both are killed, and neither is left, not even as a zombie.
	p := script(t, "trap '' TERM HUP INT\nsleep 60 &\necho \"pids $$ $!\"\nwait\necho never")
	start := time.Now()
	res := run(commandOf(t, "", p), 300*time.Millisecond)
	took := time.Since(start)
	want(t, res, checks.StatusCritical, "timed out after ", "ms; killed its process group")
	// The deadline was set a moment before the run started.
	var after int
	if _, err := fmt.Sscanf(res.Error, "timed out after %dms", &after); err != nil || after < 250 || after > 300 {
		t.Errorf("error %q, want about 300ms", res.Error)
	}
	if took > 2*time.Second {
		t.Errorf("the run took %s after a 300ms deadline", took)
	}
	if _, ok := res.Metrics[MetricExitCode]; ok {
		t.Error("exit_code reported after a timeout")
	}
	var shPID, childPID int
	if _, err := fmt.Sscanf(res.Detail, "pids %d %d", &shPID, &childPID); err != nil {
		t.Fatalf("output %q: %v", res.Detail, err)
	}
	if strings.Contains(res.Detail, "never") {
		t.Error("the script went on")
	}
	for _, pid := range []int{shPID, childPID} {
		if ok, stat := alive(pid); ok {
			t.Errorf("process %d still exists: %s", pid, stat)
		}
	}
}

func TestLeftoversKilledAfterExit(t *testing.T) {
	p := script(t, "sleep 60 &\necho \"left $!\"\nexit 0")
	start := time.Now()
	res := run(commandOf(t, "", p), 10*time.Second)
	want(t, res, checks.StatusPassing)
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("the run waited %s for a background child", took)
	}
	var pid int
	if _, err := fmt.Sscanf(res.Detail, "left %d", &pid); err != nil {
		t.Fatalf("output %q: %v", res.Detail, err)
	}
	if ok, stat := alive(pid); ok {
		t.Errorf("the background child %d still exists: %s", pid, stat)
	}
}

func TestEscapedProcessDoesNotHoldTheRun(t *testing.T) {
	// A process in a session of its own is out of reach of the group kill
	// and keeps the output pipe open: the run still ends soon after the
	// command exits, with the output it got.
	p := script(t, "setsid sleep 60 &\necho \"escaped $!\"\nexit 0")
	start := time.Now()
	res := run(commandOf(t, "", p), 10*time.Second)
	took := time.Since(start)
	var pid int
	if _, err := fmt.Sscanf(res.Detail, "escaped %d", &pid); err == nil && pid > 0 {
		t.Cleanup(func() {
			_ = unix.Kill(pid, unix.SIGKILL)
			var ws unix.WaitStatus
			_, _ = unix.Wait4(pid, &ws, 0, nil) // ours, as the subreaper
		})
	} else {
		t.Fatalf("output %q: %v", res.Detail, err)
	}
	want(t, res, checks.StatusPassing)
	if took > drainGrace+time.Second {
		t.Errorf("the run took %s", took)
	}
}

func TestDeadlineAndCancel(t *testing.T) {
	marker := filepath.Join(t.TempDir(), "ran")
	c := commandOf(t, "", "/usr/bin/touch", marker)

	ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Millisecond))
	defer cancel()
	want(t, c.Check(ctx), checks.StatusCritical, "did not start: timed out after 0s")

	ctx, cancel = context.WithCancel(context.Background())
	cancel()
	want(t, c.Check(ctx), checks.StatusCritical, "did not start: canceled")
	if _, err := os.Stat(marker); err == nil {
		t.Error("the command ran after its deadline")
	}

	// Cancelled while running: killed, and said so.
	ctx, cancel = context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	want(t, commandOf(t, "", "/bin/sleep", "30").Check(ctx), checks.StatusCritical, "canceled; killed its process group")
}

func TestUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("switching users needs root; the tests run as uid " + strconv.Itoa(os.Geteuid()) + " (TestNonRootUser covers the refusal)")
	}
	for _, u := range []string{"nobody", "65534"} {
		res := run(commandOf(t, fmt.Sprintf("user = %q", u), "/usr/bin/id"), 10*time.Second)
		want(t, res, checks.StatusPassing)
		out := res.Attrs["output"].AsString()
		if !strings.HasPrefix(out, "uid=65534(nobody) gid=65534(") || strings.Contains(out, "(root)") {
			t.Errorf("user %s: id says %q", u, out)
		}
	}
	res := run(commandOf(t, `user = "satellite-no-such-user"`, "/usr/bin/id"), 10*time.Second)
	want(t, res, checks.StatusCritical, `user "satellite-no-such-user"`, "unknown user")
	res = run(commandOf(t, `user = "4123456"`, "/usr/bin/id"), 10*time.Second)
	want(t, res, checks.StatusCritical, `user "4123456"`, "unknown userid")
}

// TestNonRootUser runs this test binary as nobody, where a check with a
// user must fail with a clear error, and one naming its own user runs.
func TestNonRootUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to start the helper as nobody; as non-root, run the helper directly: " + helperEnv + "=root")
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, d := range []string{dir, filepath.Dir(dir)} { // t.TempDir makes them 0700
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	bin := filepath.Join(dir, "exec.test")
	copyFile(t, self, bin)
	for _, tt := range []struct{ user, want string }{
		{"root", `critical|cannot run the command as user "root": the agent runs as uid 65534, and only root can switch users; run the agent as root or remove user|`},
		{"nobody", "passing||65534\n"},
	} {
		cmd := exec.Command(bin)
		cmd.Env = []string{helperEnv + "=" + tt.user}
		cmd.Dir = "/"
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("helper: %v: %s", err, out)
		}
		if string(out) != tt.want {
			t.Errorf("as nobody, user %q: %q, want %q", tt.user, out, tt.want)
		}
	}
}

// helperMain runs one check as the current user and prints its outcome.
func helperMain(user string) int {
	c := &Checker{argv: []string{"/usr/bin/id", "-u"}, path: "/usr/bin/id", env: []string{}, dir: "/", user: user, lookPath: DefaultPath}
	res := run(c, 10*time.Second)
	out := ""
	if v, ok := res.Attrs["output"]; ok {
		out = v.AsString()
	}
	fmt.Printf("%s|%s|%s", res.Verdict(), res.Error, out)
	return 0
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestConcurrentRuns(t *testing.T) {
	c := commandOf(t, "", script(t, "echo \"run $1\"\nexit $1"), "1")
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 5 {
				res := run(c, 10*time.Second)
				if res.Verdict() != checks.StatusWarning || res.Error != "run 1" {
					t.Errorf("verdict %s, error %q", res.Verdict(), res.Error)
				}
			}
		})
	}
	wg.Wait()
}

// cpuTime returns the user and system CPU time of who.
func cpuTime(who int) time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(who, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkCheck measures one run of /bin/true: mostly the kernel's cost of
// starting a process, which BenchmarkCheck/baseline shows without the checker.
func BenchmarkCheck(b *testing.B) {
	b.Run("true", func(b *testing.B) {
		c := commandOf(b, "", "/bin/true")
		ctx := context.Background()
		b.ReportAllocs()
		self, children := cpuTime(syscall.RUSAGE_SELF), cpuTime(syscall.RUSAGE_CHILDREN)
		for b.Loop() {
			if res := c.Check(ctx); res.Verdict() != checks.StatusPassing {
				b.Fatal(res.Error)
			}
		}
		b.ReportMetric(float64(cpuTime(syscall.RUSAGE_SELF)-self)/float64(b.N), "cpu-ns/op")
		b.ReportMetric(float64(cpuTime(syscall.RUSAGE_CHILDREN)-children)/float64(b.N), "child-cpu-ns/op")
	})
	b.Run("baseline", func(b *testing.B) {
		// os/exec alone, for comparison: what any exec check must pay here.
		b.ReportAllocs()
		for b.Loop() {
			if err := exec.Command("/bin/true").Run(); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func TestCaptureDrainsAfterDeadline(t *testing.T) {
	// Output already in the pipe is kept even when the read deadline has
	// passed (a writer that left the group still holds the pipe open).
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	if _, err := w.WriteString("status line\nmore"); err != nil {
		t.Fatal(err)
	}
	if err := r.SetReadDeadline(time.Now().Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	var c capture
	c.readFrom(r)
	if out, _ := c.text(); out != "status line\nmore" {
		t.Errorf("%q", out)
	}
}
