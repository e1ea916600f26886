package disklatencycheck

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/zclconf/go-cty/cty"
	"golang.org/x/sys/unix"

	"github.com/satellite-hq/satellite/checks"
	"github.com/satellite-hq/satellite/internal/slowfs"
)

func build(t testing.TB, body string) *Checker {
	t.Helper()
	return mustCheck(t, "check \"disk_latency\" \"t\" {\n"+body+"\n}\n", "disk_latency.t").Checker.(*Checker)
}

func pathAttr(dir string) string { return "path = " + strconv.Quote(dir) }

// wantMetrics checks that a run reported the fsync and write metrics, in
// order, and the read ones exactly when read is set.
func wantMetrics(t *testing.T, res checks.Result, read bool) {
	t.Helper()
	m := res.Metrics
	for _, name := range []string{MetricFsyncP50, MetricFsyncP99, MetricFsyncMax, MetricWriteP99} {
		if v, ok := m[name]; !ok || v < 0 {
			t.Errorf("%s = %v (reported %v)", name, v, ok)
		}
	}
	if !(m[MetricFsyncP50] <= m[MetricFsyncP99] && m[MetricFsyncP99] <= m[MetricFsyncMax]) {
		t.Errorf("percentiles out of order: %v", m)
	}
	for _, name := range []string{MetricReadP50, MetricReadP99} {
		if _, ok := m[name]; ok != read {
			t.Errorf("%s reported %v with read = %v", name, ok, read)
		}
	}
}

// testFiles lists the test files left in dir.
func testFiles(t *testing.T, dir string) []string {
	t.Helper()
	matches, err := filepath.Glob(filepath.Join(dir, FilePrefix+"*"))
	if err != nil {
		t.Fatal(err)
	}
	return matches
}

func wantNoTestFile(t *testing.T, dir string) {
	t.Helper()
	if left := testFiles(t, dir); len(left) > 0 {
		t.Errorf("test files left behind: %v", left)
	}
}

// waitNoTestFile waits for a run abandoned at its deadline to remove its file.
func waitNoTestFile(t *testing.T, dir string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for len(testFiles(t, dir)) > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	wantNoTestFile(t, dir)
}

// tmpfs returns a folder on tmpfs: a private one as root, else a new
// folder in /dev/shm when that is tmpfs.
func tmpfs(t *testing.T) string {
	t.Helper()
	if os.Geteuid() == 0 {
		dir := slowfs.TmpfsDir(t)
		if isTmpfs(dir) {
			return dir
		}
	}
	if !isTmpfs("/dev/shm") {
		t.Skip("no tmpfs here: not root, and /dev/shm is not tmpfs")
	}
	dir, err := os.MkdirTemp("/dev/shm", "disk-latency-test-")
	if err != nil {
		t.Skip(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

func isTmpfs(dir string) bool {
	var st unix.Statfs_t
	return unix.Statfs(dir, &st) == nil && st.Type == unix.TMPFS_MAGIC
}

func TestRun(t *testing.T) {
	dir := t.TempDir()
	res := run(build(t, pathAttr(dir)), 10*time.Second)
	wantPassing(t, res)
	wantMetrics(t, res, false)
	t.Logf("%s", res.Detail)
	if !strings.Contains(res.Detail, "10 of 10 samples of 4 KiB in "+dir+": fdatasync p50 ") {
		t.Errorf("detail %q", res.Detail)
	}
	if res.Attrs != nil {
		t.Errorf("attrs %v without read", res.Attrs)
	}
	wantNoTestFile(t, dir)
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("the run left %v", entries)
	}
}

// On tmpfs an fdatasync has nothing to wait for.
func TestTmpfs(t *testing.T) {
	dir := tmpfs(t)
	res := run(build(t, pathAttr(dir)+"\nsamples = 100"), 10*time.Second)
	wantPassing(t, res)
	wantMetrics(t, res, false)
	t.Logf("%s", res.Detail)
	if p99 := res.Metrics[MetricFsyncP99]; p99 > 20 {
		t.Errorf("fsync_p99_ms %v on tmpfs", p99)
	}
	wantNoTestFile(t, dir)
}

func TestRead(t *testing.T) {
	dir := tmpfs(t)
	for _, size := range []string{"4096", "2300", "\"64KiB\"", "1"} {
		t.Run(size, func(t *testing.T) {
			c := build(t, pathAttr(dir)+"\nread = true\nsize = "+size)
			res := run(c, 10*time.Second)
			wantPassing(t, res)
			wantMetrics(t, res, true)
			t.Logf("%s", res.Detail)
			// tmpfs takes O_DIRECT since Linux 6.6.
			if mode := res.Attrs["read_mode"]; mode != cty.StringVal(ReadDirect) && mode != cty.StringVal(ReadBuffered) {
				t.Errorf("read_mode %#v", mode)
			}
			c.direct = false
			res = run(c, 10*time.Second)
			wantPassing(t, res)
			wantMetrics(t, res, true)
			if mode := res.Attrs["read_mode"]; mode != cty.StringVal(ReadBuffered) {
				t.Errorf("read_mode %#v without O_DIRECT", mode)
			}
			wantNoTestFile(t, dir)
		})
	}
	// On the disk of the machine (ext4, xfs ...), O_DIRECT.
	disk := t.TempDir()
	if !isTmpfs(disk) {
		res := run(build(t, pathAttr(disk)+"\nread = true"), 10*time.Second)
		wantPassing(t, res)
		t.Logf("%s", res.Detail)
		if mode := res.Attrs["read_mode"]; mode != cty.StringVal(ReadDirect) {
			t.Logf("read_mode %#v on %s", mode, disk)
		}
	}
}

// The rig injects a delay into every fdatasync; the metrics follow it.
func TestSlowFS(t *testing.T) {
	rig := slowfs.Start(t, slowfs.Options{})
	c := build(t, pathAttr(rig.Mountpoint())+"\nsamples = 5\nread = true")
	const slackMS = 100 // FUSE and a busy machine; tmpfs itself costs nothing
	for _, d := range []time.Duration{0, 20 * time.Millisecond, 200 * time.Millisecond, 0} {
		rig.SetFsyncDelay(d)
		before := rig.Stats()
		res := run(c, 10*time.Second)
		wantPassing(t, res)
		wantMetrics(t, res, true)
		t.Logf("delay %s: %s", d, res.Detail)
		want := float64(d) / float64(time.Millisecond)
		for _, name := range []string{MetricFsyncP50, MetricFsyncP99, MetricFsyncMax} {
			if v := res.Metrics[name]; v < want || v > want+slackMS {
				t.Errorf("delay %s: %s = %v, want %v to %v", d, name, v, want, want+slackMS)
			}
		}
		if v := res.Metrics[MetricWriteP99]; v > slackMS {
			t.Errorf("delay %s: write_p99_ms %v: the fsync delay slowed the writes", d, v)
		}
		after := rig.Stats()
		if n := after.Fdatasyncs - before.Fdatasyncs; n != 5 {
			t.Errorf("%d fdatasyncs reached the rig, want 5", n)
		}
		if n := after.Fsyncs - before.Fsyncs; n != 5 {
			t.Errorf("%d fsyncs reached the rig, want 5", n)
		}
		wantNoTestFile(t, rig.Backing())
	}

	rig.SetWriteDelay(20 * time.Millisecond)
	res := run(c, 10*time.Second)
	wantPassing(t, res)
	if v := res.Metrics[MetricWriteP99]; v < 20 || v > 20+slackMS {
		t.Errorf("write_p99_ms %v with a 20ms write delay", v)
	}
	if v := res.Metrics[MetricFsyncP99]; v > slackMS {
		t.Errorf("fsync_p99_ms %v with only a write delay", v)
	}
}

// The test file has the type's name, mode 0600, and is gone after the run.
func TestTestFile(t *testing.T) {
	rig := slowfs.Start(t, slowfs.Options{FsyncDelay: 50 * time.Millisecond})
	done := make(chan checks.Result)
	go func() { done <- run(build(t, pathAttr(rig.Mountpoint())), 10*time.Second) }()
	var seen []string
	for len(seen) == 0 {
		select {
		case res := <-done:
			t.Fatalf("the run ended (%v) before its file was seen", res)
		case <-time.After(5 * time.Millisecond):
		}
		seen = testFiles(t, rig.Backing())
	}
	st, err := os.Stat(seen[0])
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 || !st.Mode().IsRegular() {
		t.Errorf("%s: mode %s", seen[0], st.Mode())
	}
	t.Logf("test file %s", filepath.Base(seen[0]))
	wantPassing(t, <-done)
	wantNoTestFile(t, rig.Backing())
}

func TestTimeout(t *testing.T) {
	rig := slowfs.Start(t, slowfs.Options{FsyncDelay: 200 * time.Millisecond})
	c := build(t, pathAttr(rig.Mountpoint()))
	start := time.Now()
	res := run(c, 500*time.Millisecond)
	if took := time.Since(start); took > 700*time.Millisecond {
		t.Errorf("the run took %s with a 500ms timeout", took)
	}
	wantCritical(t, res, "fdatasync in "+rig.Mountpoint()+": timed out after 500ms (", " of 10 samples done; the fdatasync in flight had taken ")
	// The samples taken count, and the one in flight as at least what it took.
	if v := res.Metrics[MetricFsyncMax]; v < 200 {
		t.Errorf("fsync_max_ms %v after 200ms fdatasyncs", v)
	}
	if v := res.Metrics[MetricFsyncP50]; v <= 0 {
		t.Errorf("fsync_p50_ms %v", v)
	}
	if !strings.Contains(res.Detail, " of 10 samples of 4 KiB") {
		t.Errorf("detail %q", res.Detail)
	}
	// The abandoned run removes its file after the call in flight.
	waitNoTestFile(t, rig.Backing(), 2*time.Second)

	// A threshold on the metrics judges the run that timed out too.
	plan := mustCompile(t, fmt.Sprintf(`
check "disk_latency" "etcd" {
  %s
  threshold "fsync_max_ms" {
    crit = 100
  }
}
`, pathAttr(rig.Mountpoint())))
	chk, _ := plan.Check("disk_latency.etcd")
	v := chk.Evaluate(res, 500*time.Millisecond)
	if v.Status != checks.StatusCritical || !strings.Contains(v.Error, "fsync_max_ms") || !strings.Contains(v.Error, "timed out") {
		t.Errorf("verdict %s %q", v.Status, v.Error)
	}
}

func TestCanceled(t *testing.T) {
	rig := slowfs.Start(t, slowfs.Options{FsyncDelay: 100 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(250*time.Millisecond, cancel)
	res := build(t, pathAttr(rig.Mountpoint())).Check(ctx)
	wantCritical(t, res, "in "+rig.Mountpoint()+": canceled (", " of 10 samples done")
	if _, ok := res.Metrics[MetricFsyncP99]; !ok {
		t.Errorf("no fsync metric after 250ms of 100ms fdatasyncs: %v", res.Metrics)
	}
	waitNoTestFile(t, rig.Backing(), 2*time.Second)
}

// An fdatasync that does not return within the timeout holds the next runs
// off until it does.
func TestHungFdatasync(t *testing.T) {
	rig := slowfs.Start(t, slowfs.Options{FsyncDelay: 2 * time.Second})
	c := build(t, pathAttr(rig.Mountpoint())+"\nsamples = 1")
	wantCritical(t, run(c, 200*time.Millisecond), "fdatasync in ", "timed out after 200ms (0 of 1 samples done; the fdatasync in flight had taken ")
	start := time.Now()
	res := run(c, 200*time.Millisecond)
	wantCritical(t, res, "test write in "+rig.Mountpoint()+": the call made ", "ago by a run that timed out has not returned yet")
	if took := time.Since(start); took > 100*time.Millisecond {
		t.Errorf("a blocked run took %s", took)
	}
	if len(res.Metrics) != 0 {
		t.Errorf("metrics %v from a run that measured nothing", res.Metrics)
	}
	rig.SetFsyncDelay(0)
	deadline := time.Now().Add(5 * time.Second)
	for res = run(c, time.Second); res.Error != "" && time.Now().Before(deadline); res = run(c, time.Second) {
		time.Sleep(20 * time.Millisecond)
	}
	wantPassing(t, res)
	wantNoTestFile(t, rig.Backing())
}

func TestDeadlinePassed(t *testing.T) {
	dir := t.TempDir()
	res := build(t, pathAttr(dir)).Check(expired(t))
	wantCritical(t, res, "test write in "+dir+": timed out after 0s")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	wantCritical(t, build(t, pathAttr(dir)).Check(ctx), "test write in "+dir+": canceled")
	wantNoTestFile(t, dir)
}

func TestBadPath(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "nope")
	res := run(build(t, pathAttr(missing)), 5*time.Second)
	wantCritical(t, res, missing+" does not exist")
	if len(res.Metrics) != 0 {
		t.Errorf("metrics %v", res.Metrics)
	}
	file := filepath.Join(dir, "f")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	wantCritical(t, run(build(t, pathAttr(file)), 5*time.Second), file+" is not a directory")
	wantCritical(t, run(build(t, pathAttr(file+"/x")), 5*time.Second), "does not exist (a part of it is not a directory)")
}

func TestNotWritable(t *testing.T) {
	if os.Geteuid() == 0 {
		// Root writes through any mode: a read-only mount instead.
		dir := slowfs.TmpfsDir(t)
		if !isTmpfs(dir) {
			t.Skip("tmpfs could not be mounted")
		}
		if err := syscall.Mount("", dir, "", syscall.MS_REMOUNT|syscall.MS_RDONLY, ""); err != nil {
			t.Fatal(err)
		}
		wantCritical(t, run(build(t, pathAttr(dir)), 5*time.Second), "cannot create a test file in "+dir+": read-only file system")
		return
	}
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o500); err != nil {
		t.Fatal(err)
	}
	defer os.Chmod(dir, 0o700)
	wantCritical(t, run(build(t, pathAttr(dir)), 5*time.Second), "cannot create a test file in "+dir+": permission denied (the check needs write permission there)")
}

// The first run removes the test files of runs that never finished, and
// nothing else.
func TestSweep(t *testing.T) {
	dir := t.TempDir()
	old := filepath.Join(dir, FilePrefix+"123")
	fresh := filepath.Join(dir, FilePrefix+"456")
	other := filepath.Join(dir, "member")
	for _, f := range []string{old, fresh, other} {
		if err := os.WriteFile(f, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, FilePrefix+"dir"), 0o700); err != nil {
		t.Fatal(err)
	}
	long := time.Now().Add(-2 * time.Hour)
	for _, f := range []string{old, other, filepath.Join(dir, FilePrefix+"dir")} {
		if err := os.Chtimes(f, long, long); err != nil {
			t.Fatal(err)
		}
	}
	c := build(t, pathAttr(dir))
	wantPassing(t, run(c, 5*time.Second))
	if _, err := os.Stat(old); !os.IsNotExist(err) {
		t.Errorf("the stale test file is still there: %v", err)
	}
	for _, f := range []string{fresh, other, filepath.Join(dir, FilePrefix+"dir")} {
		if _, err := os.Stat(f); err != nil {
			t.Errorf("removed %s: %v", f, err)
		}
	}
}

func TestThresholdsJudge(t *testing.T) {
	rig := slowfs.Start(t, slowfs.Options{FsyncDelay: 20 * time.Millisecond})
	plan := mustCompile(t, fmt.Sprintf(`
check "disk_latency" "etcd" {
  %s
  samples = 3

  threshold "fsync_p99_ms" {
    warn = 10
    crit = 500
  }
}
check "disk_latency" "strict" {
  %s
  samples = 3

  threshold "fsync_p50_ms" {
    crit = 10
  }
}
check "disk_latency" "lenient" {
  %s
  samples = 3

  threshold "fsync_max_ms" {
    warn = 1000
  }
  assert {
    condition     = result.fsync_p99_ms >= 20
    error_message = "p99 ${result.fsync_p99_ms}"
  }
}
`, pathAttr(rig.Mountpoint()), pathAttr(rig.Mountpoint()), pathAttr(rig.Mountpoint())))
	for addr, want := range map[string]struct {
		status checks.Status
		msg    string
	}{
		"disk_latency.etcd":    {checks.StatusWarning, "fsync_p99_ms"},
		"disk_latency.strict":  {checks.StatusCritical, "fsync_p50_ms"},
		"disk_latency.lenient": {checks.StatusPassing, ""},
	} {
		c, _ := plan.Check(addr)
		v := c.Evaluate(run(c.Checker, 10*time.Second), 0)
		if v.Status != want.status || !strings.Contains(v.Error, want.msg) {
			t.Errorf("%s: %s %q, want %s mentioning %q", addr, v.Status, v.Error, want.status, want.msg)
		}
	}
}

// Thresholds on every metric compile, and judge a result (without root: a
// result made up; TestThresholdsJudge runs real ones on the rig).
func TestThresholdsCompile(t *testing.T) {
	src := "check \"disk_latency\" \"t\" {\n  path = \"/var/lib/etcd\"\n  read = true\n"
	for _, m := range []string{MetricFsyncP50, MetricFsyncP99, MetricFsyncMax, MetricWriteP99, MetricReadP50, MetricReadP99} {
		src += fmt.Sprintf("  threshold %q {\n    warn = 10\n    crit = 50\n  }\n", m)
	}
	src += "  assert {\n    condition     = result.read_mode == \"direct\"\n    error_message = \"read ${result.read_mode}\"\n  }\n}\n"
	c, _ := mustCompile(t, src).Check("disk_latency.t")
	res := checks.Result{
		Metrics: map[string]float64{MetricFsyncP50: 1, MetricFsyncP99: 12, MetricFsyncMax: 60, MetricWriteP99: 0.1, MetricReadP50: 1, MetricReadP99: 2},
		Attrs:   map[string]cty.Value{"read_mode": cty.StringVal(ReadDirect)},
	}
	v := c.Evaluate(res, time.Second)
	if v.Status != checks.StatusCritical || !strings.Contains(v.Error, "fsync_p99_ms 12 is above the warning threshold 10") ||
		!strings.Contains(v.Error, "fsync_max_ms 60 is above the critical threshold 50") || strings.Contains(v.Error, "read") {
		t.Errorf("verdict %s %q", v.Status, v.Error)
	}
	res.Attrs["read_mode"] = cty.StringVal(ReadBuffered)
	res.Metrics = map[string]float64{MetricFsyncP50: 1}
	if v := c.Evaluate(res, time.Second); v.Status != checks.StatusCritical || v.Error != "read buffered" {
		t.Errorf("verdict %s %q", v.Status, v.Error)
	}
}

func TestBuildDiagnostics(t *testing.T) {
	tests := []struct{ name, body, summary, detail string }{
		{"empty", `path = "" # <-`, "Empty path", "/var/lib/etcd"},
		{"nul", `path = "/a\u0000b" # <-`, "Invalid path", "NUL"},
		{"samples zero", "path = \"/d\"\n  samples = 0 # <-", "Invalid samples", "from 1 to 1000, not 0"},
		{"samples many", "path = \"/d\"\n  samples = 1001 # <-", "Invalid samples", "not 1001"},
		{"samples fraction", "path = \"/d\"\n  samples = 2.5 # <-", "Invalid number", "whole number"},
		{"samples string", "path = \"/d\"\n  samples = \"many\" # <-", "Incorrect attribute value type", ""},
		{"size zero", "path = \"/d\"\n  size = 0 # <-", "Invalid size", "from 1 byte to 1 MiB, not 0 bytes"},
		{"size fraction", "path = \"/d\"\n  size = 1.5 # <-", "Invalid size", "whole number of bytes"},
		{"size words", "path = \"/d\"\n  size = \"big\" # <-", "Invalid size", "not \"big\""},
		{"size huge", "path = \"/d\"\n  size = \"2MiB\" # <-", "Invalid size", "not 2 MiB"},
		{"size list", "path = \"/d\"\n  size = [1] # <-", "Invalid size", "not tuple"},
		{"too much", "path = \"/d\"\n  samples = 1000\n  size = \"4KiB\" # <-", "Too much to write", "1000 × 4 KiB = 4000 KiB, more than the 1 MiB"},
		{"too much by default size", "path = \"/d\"\n  samples = 300 # <-", "Too much to write", "300 × 4 KiB"},
		{"read", "path = \"/d\"\n  read = \"sometimes\" # <-", "Incorrect attribute value type", ""},
		{"unknown attribute", "path = \"/d\"\n  sample = 3 # <-", "Unsupported argument", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := "check \"disk_latency\" \"t\" {\n  " + tt.body + "\n}\n"
			_, diags := compile(t, src, false)
			wantDiag(t, src, diags, tt.summary, tt.detail)
		})
	}
}

func TestMissingPath(t *testing.T) {
	src := "check \"disk_latency\" \"t\" { # <-\n  samples = 3\n}\n"
	_, diags := compile(t, src, false)
	wantDiag(t, src, diags, "Missing required argument", "\"path\" is required")
}

func TestUnknownMetric(t *testing.T) {
	src := "check \"disk_latency\" \"t\" {\n  path = \"/d\"\n  threshold \"latency_ms\" { # <-\n    warn = 10\n  }\n}\n"
	_, diags := compile(t, src, false)
	wantDiag(t, src, diags, "Unknown metric", "fsync_p99_ms")
}

func TestBuildDefaultsAndSizes(t *testing.T) {
	c := build(t, `path = "/d"`)
	if c.samples != DefaultSamples || c.size != DefaultSize || c.read || c.path != "/d" {
		t.Errorf("defaults: %+v", c)
	}
	for in, want := range map[string]int{`2300`: 2300, `"2300"`: 2300, `"4KiB"`: 4096, `"4 kB"`: 4000, `"1MiB"`: 1 << 20, `1`: 1} {
		if got := build(t, "path = \"/d\"\nsamples = 1\nsize = "+in).size; got != want {
			t.Errorf("size = %s: %d, want %d", in, got, want)
		}
	}
	if c := build(t, "path = \"/d\"\nsamples = 256\nread = true"); c.samples != 256 || !c.read {
		t.Errorf("%+v", c)
	}
}

func TestBuildUnknown(t *testing.T) {
	for _, body := range []string{
		`path = env("DATA_DIR")`,
		"path = \"/d\"\n  size = env(\"SIZE\")",
	} {
		plan, diags := compile(t, "check \"disk_latency\" \"t\" {\n  "+body+"\n}\n", true)
		if len(diags) > 0 {
			t.Fatalf("%s: diags %s", body, diags)
		}
		if c, _ := plan.Check("disk_latency.t"); c.Checker != nil {
			t.Errorf("%s: a checker with an unknown value", body)
		}
	}
	if c, diags := Build(cty.UnknownVal(cty.DynamicPseudoType), checks.Env{}); c != nil || len(diags) > 0 {
		t.Errorf("wholly unknown body: %v, %s", c, diags)
	}
}

func TestRelativePathFromConfigFolder(t *testing.T) {
	c, diags := Build(cty.ObjectVal(map[string]cty.Value{
		"path": cty.StringVal("data"), "samples": cty.NullVal(cty.Number),
		"size": cty.NullVal(cty.DynamicPseudoType), "read": cty.NullVal(cty.Bool),
	}), checks.Env{BaseDir: "/etc/satellite"})
	if len(diags) > 0 {
		t.Fatal(diags)
	}
	if p := c.(*Checker).path; p != "/etc/satellite/data" {
		t.Errorf("path %q", p)
	}
}

func TestPercentile(t *testing.T) {
	ten := []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	hundred := make([]float64, 100)
	for i := range hundred {
		hundred[i] = float64(i + 1)
	}
	for _, tt := range []struct {
		values []float64
		p      int
		want   float64
	}{
		{ten, 50, 5}, {ten, 99, 10}, {ten, 90, 9}, {ten, 91, 10}, {ten, 100, 10}, {ten, 1, 1},
		{hundred, 50, 50}, {hundred, 99, 99}, {hundred, 100, 100},
		{[]float64{7}, 50, 7}, {[]float64{7}, 99, 7},
		{[]float64{1, 2}, 50, 1}, {[]float64{1, 2}, 51, 2},
	} {
		if got := percentile(tt.values, tt.p); got != tt.want {
			t.Errorf("p%d of %d values: %v, want %v", tt.p, len(tt.values), got, tt.want)
		}
	}
}

// BenchmarkDiskLatencyRun is one run at the default settings (10 samples of
// 4 KiB) in a temporary folder, on the disk that holds it.
func BenchmarkDiskLatencyRun(b *testing.B) {
	dir := b.TempDir()
	c := build(b, pathAttr(dir))
	ctx := context.Background()
	var p99 float64
	b.ReportAllocs()
	for b.Loop() {
		res := c.Check(ctx)
		if res.Error != "" {
			b.Fatal(res.Error)
		}
		p99 += res.Metrics[MetricFsyncP99]
	}
	b.ReportMetric(float64(c.samples*c.size), "bytes/run")
	b.ReportMetric(float64(b.Elapsed())/float64(time.Millisecond)/float64(b.N), "ms/run")
	b.ReportMetric(p99/float64(b.N), "fsync_p99_ms")
}
