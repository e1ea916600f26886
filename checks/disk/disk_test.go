package diskcheck

import (
	"context"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/zclconf/go-cty/cty"

	"github.com/satellite-hq/satellite/checks"
)

func build(t testing.TB, body string) checks.Checker {
	t.Helper()
	return mustCheck(t, "check \"disk\" \"t\" {\n"+body+"\n}\n", "disk.t").Checker
}

func wantUsage(t *testing.T, res checks.Result) {
	t.Helper()
	wantPassing(t, res)
	for _, m := range []string{MetricUsedPercent, MetricInodesUsedPercent} {
		if v, ok := res.Metrics[m]; !ok || v < 0 || v > 100 {
			t.Errorf("%s = %v (reported %v), want 0 to 100", m, v, ok)
		}
	}
	if v, ok := res.Metrics[MetricFreeBytes]; !ok || v <= 0 {
		t.Errorf("free_bytes = %v (reported %v)", v, ok)
	}
}

func TestRootByDefault(t *testing.T) {
	c := build(t, "")
	if p := c.(*Checker).path; p != "/" {
		t.Errorf("default path %q", p)
	}
	wantUsage(t, run(c, 5*time.Second))
}

// The metrics agree with df on the same file system (df rounds the
// percentages up; the file system may change a little between the two).
func TestAgreesWithDF(t *testing.T) {
	dir := t.TempDir()
	out, err := exec.Command("df", "-B1", "--output=avail,pcent,ipcent", dir).Output()
	if err != nil {
		t.Skipf("no GNU df here: %v", err)
	}
	res := run(build(t, "path = "+strconv.Quote(dir)), 5*time.Second)
	wantUsage(t, res)

	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	f := strings.Fields(lines[len(lines)-1])
	if len(f) != 3 {
		t.Fatalf("df said %q", out)
	}
	avail, _ := strconv.ParseFloat(f[0], 64)
	pcent, _ := strconv.ParseFloat(strings.TrimSuffix(f[1], "%"), 64)
	t.Logf("df: avail %s, use %s, iuse %s; check: %v", f[0], f[1], f[2], res.Metrics)
	if got := math.Ceil(res.Metrics[MetricUsedPercent]); math.Abs(got-pcent) > 1 {
		t.Errorf("used_percent %v rounds up to %v; df says %v%%", res.Metrics[MetricUsedPercent], got, pcent)
	}
	if got := res.Metrics[MetricFreeBytes]; math.Abs(got-avail) > 0.01*avail+(64<<20) {
		t.Errorf("free_bytes %v; df says %v", got, avail)
	}
	if f[2] != "-" {
		ipcent, _ := strconv.ParseFloat(strings.TrimSuffix(f[2], "%"), 64)
		if got := math.Ceil(res.Metrics[MetricInodesUsedPercent]); math.Abs(got-ipcent) > 1 {
			t.Errorf("inodes_used_percent %v; df says %v%%", res.Metrics[MetricInodesUsedPercent], ipcent)
		}
	}
}

func TestAnyPathOnTheFileSystem(t *testing.T) {
	file := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	wantUsage(t, run(build(t, "path = "+strconv.Quote(file)), 5*time.Second))
}

func TestPseudoFileSystem(t *testing.T) {
	// /proc has no blocks and no inode count: df prints "-", the check leaves
	// the percentages out rather than invent a 0.
	res := run(build(t, `path = "/proc"`), 5*time.Second)
	wantPassing(t, res)
	for _, m := range []string{MetricUsedPercent, MetricInodesUsedPercent} {
		if v, ok := res.Metrics[m]; ok {
			t.Errorf("%s = %v on /proc", m, v)
		}
	}
	if v, ok := res.Metrics[MetricFreeBytes]; !ok || v != 0 {
		t.Errorf("free_bytes = %v, %v on /proc", v, ok)
	}
}

func TestMissingPath(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nope")
	res := run(build(t, "path = "+strconv.Quote(missing)), 5*time.Second)
	wantCritical(t, res, missing+" does not exist")
	if len(res.Metrics) != 0 {
		t.Errorf("metrics %v for a missing path", res.Metrics)
	}

	file := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	wantCritical(t, run(build(t, "path = "+strconv.Quote(file+"/x")), 5*time.Second), "does not exist (a part of it is not a directory)")
}

func TestDeadlinePassed(t *testing.T) {
	start := time.Now()
	res := build(t, "").Check(expired(t))
	wantCritical(t, res, "statfs /: timed out after 0s")
	if took := time.Since(start); took > 100*time.Millisecond {
		t.Errorf("took %s with an expired context", took)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	wantCritical(t, build(t, "").Check(ctx), "statfs /: canceled")
}

// A statfs that never returns, as on an NFS mount whose server is gone. This
// cannot be made real here (no NFS or FUSE server), so statfs is replaced by
// a function that blocks until the test releases it.
func TestHungFileSystem(t *testing.T) {
	c := build(t, `path = "/mnt/nfs"`).(*Checker)
	release := make(chan struct{})
	var calls atomic.Int32
	c.statfs = func(path string, st *syscall.Statfs_t) error {
		calls.Add(1)
		<-release
		return syscall.Statfs("/", st)
	}

	start := time.Now()
	res := run(c, 100*time.Millisecond)
	if took := time.Since(start); took > time.Second {
		t.Errorf("returned after %s with a 100ms deadline", took)
	}
	wantCritical(t, res, "statfs /mnt/nfs: timed out after 100ms")

	// The next runs fail at once, without another blocked call.
	for range 3 {
		wantCritical(t, run(c, 100*time.Millisecond), "statfs /mnt/nfs: the call made ", "ago by a run that timed out has not returned yet")
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("statfs called %d times while the first call hung", n)
	}

	close(release)
	deadline := time.Now().Add(5 * time.Second)
	for {
		res = run(c, time.Second)
		if res.Error == "" || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Millisecond)
	}
	wantUsage(t, res)
}

func TestThresholdsJudge(t *testing.T) {
	// used_percent of / is above 0; free_bytes are below an exabyte.
	plan := mustCompile(t, `
check "disk" "used" {
  threshold "used_percent" {
    warn = 0
    crit = 100
  }
}
check "disk" "free" {
  path = "/"
  threshold "free_bytes" {
    warn      = 2000000000000000000
    crit      = 1000000000000000000
    direction = "below"
  }
}
check "disk" "fine" {
  threshold "used_percent" {
    warn = 100
    crit = 100
  }
}
`)
	for addr, want := range map[string]struct {
		status checks.Status
		msg    string
	}{
		"disk.used": {checks.StatusWarning, "used_percent"},
		"disk.free": {checks.StatusCritical, "free_bytes"},
		"disk.fine": {checks.StatusPassing, ""},
	} {
		c, _ := plan.Check(addr)
		v := c.Evaluate(run(c.Checker, 5*time.Second), 0)
		if v.Status != want.status || !strings.Contains(v.Error, want.msg) {
			t.Errorf("%s: %s %q, want %s mentioning %q", addr, v.Status, v.Error, want.status, want.msg)
		}
	}
}

func TestBuildDiagnostics(t *testing.T) {
	tests := []struct{ name, body, summary, detail string }{
		{"empty", `path = "" # <-`, "Empty path", "left out"},
		{"nul", `path = "/a\u0000b" # <-`, "Invalid path", "NUL"},
		{"list", `path = ["/"] # <-`, "Incorrect attribute value type", ""},
		{"unknown attribute", `paht = "/" # <-`, "Unsupported argument", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := "check \"disk\" \"t\" {\n  " + tt.body + "\n}\n"
			_, diags := compile(t, src, false)
			wantDiag(t, src, diags, tt.summary, tt.detail)
		})
	}
}

func TestBuildUnknownPath(t *testing.T) {
	plan, diags := compile(t, "check \"disk\" \"t\" {\n  path = env(\"DATA_DIR\")\n}\n", true)
	if len(diags) > 0 {
		t.Fatalf("diags %s", diags)
	}
	if c, _ := plan.Check("disk.t"); c.Checker != nil {
		t.Error("a checker for an unknown path")
	}
	if c, diags := Build(cty.UnknownVal(cty.DynamicPseudoType), checks.Env{}); c != nil || len(diags) > 0 {
		t.Errorf("wholly unknown body: %v, %s", c, diags)
	}
}

func TestRelativePathFromConfigFolder(t *testing.T) {
	c, diags := Build(cty.ObjectVal(map[string]cty.Value{"path": cty.StringVal("data")}), checks.Env{BaseDir: "/etc/satellite"})
	if len(diags) > 0 {
		t.Fatal(diags)
	}
	if p := c.(*Checker).path; p != "/etc/satellite/data" {
		t.Errorf("path %q", p)
	}
}

func BenchmarkCheck(b *testing.B) {
	c := build(b, `path = "/"`)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if res := c.Check(ctx); res.Error != "" {
			b.Fatal(res.Error)
		}
	}
}
