package loadcheck

import (
	"bytes"
	"context"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/satellite-hq/satellite/checks"
)

func realChecker(t testing.TB) *Checker {
	t.Helper()
	return mustCheck(t, "check \"load\" \"l\" {}\n", "load.l").Checker.(*Checker)
}

// fixture returns a checker reading the given loadavg and CPU list; an
// online of "-" leaves the CPU list file out.
func fixture(t *testing.T, loadavg, online string) *Checker {
	t.Helper()
	dir := t.TempDir()
	c := &Checker{loadavg: filepath.Join(dir, "loadavg"), online: filepath.Join(dir, "online")}
	if err := os.WriteFile(c.loadavg, []byte(loadavg), 0o600); err != nil {
		t.Fatal(err)
	}
	if online != "-" {
		if err := os.WriteFile(c.online, []byte(online), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

func TestRealLoad(t *testing.T) {
	c := realChecker(t)
	res := run(c, 5*time.Second)
	wantPassing(t, res)
	t.Logf("metrics: %v", res.Metrics)
	for _, m := range []string{MetricLoad1, MetricLoad5, MetricLoad15} {
		if v, ok := res.Metrics[m]; !ok || v < 0 {
			t.Errorf("%s = %v, %v", m, v, ok)
		}
	}

	// The CPU count is the one /proc/cpuinfo lists.
	cpus, err := c.cpus()
	if err != nil {
		t.Fatal(err)
	}
	if info, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		n := 0
		for line := range bytes.Lines(info) {
			if bytes.HasPrefix(line, []byte("processor")) {
				n++
			}
		}
		if n != cpus {
			t.Errorf("%d online CPUs; /proc/cpuinfo lists %d", cpus, n)
		}
	}

	// The 15-minute load moves slowly: it matches the kernel's sysinfo(2)
	// figure (a fixed-point number; /proc/loadavg rounds to 2 decimals).
	var si syscall.Sysinfo_t
	if err := syscall.Sysinfo(&si); err != nil {
		t.Fatal(err)
	}
	want := float64(si.Loads[2]) / (1 << 16)
	if got := res.Metrics[MetricLoad15] * float64(cpus); math.Abs(got-want) > 0.05 {
		t.Errorf("load15 %v per CPU × %d CPUs = %v; sysinfo says %v", res.Metrics[MetricLoad15], cpus, got, want)
	}
}

func TestPerCPU(t *testing.T) {
	tests := []struct {
		loadavg, online string
		want            [3]float64
	}{
		{"4.00 2.00 1.00 1/234 5678\n", "0-3\n", [3]float64{1, 0.5, 0.25}},
		{"5.00 2.50 0.00 3/100 42\n", "0-1,4,6-7\n", [3]float64{1, 0.5, 0}},
		{"0.5 0.5 0.5", "0", [3]float64{0.5, 0.5, 0.5}},
	}
	for _, tt := range tests {
		res := run(fixture(t, tt.loadavg, tt.online), time.Second)
		wantPassing(t, res)
		got := [3]float64{res.Metrics[MetricLoad1], res.Metrics[MetricLoad5], res.Metrics[MetricLoad15]}
		if got != tt.want {
			t.Errorf("%q on %q: %v, want %v", tt.loadavg, tt.online, got, tt.want)
		}
	}
}

func TestWithoutSysfs(t *testing.T) {
	res := run(fixture(t, "8 8 8 1/2 3\n", "-"), time.Second)
	wantPassing(t, res)
	if want := 8 / float64(runtime.NumCPU()); res.Metrics[MetricLoad1] != want {
		t.Errorf("load1 %v without sysfs, want 8 / NumCPU = %v", res.Metrics[MetricLoad1], want)
	}
}

func TestBadFormats(t *testing.T) {
	tests := []struct{ name, loadavg, online, err string }{
		{"empty", "", "0-1", `loadavg: "" does not start with three load averages`},
		{"two fields", "1.0 2.0\n", "0-1", "does not start with three load averages"},
		{"word", "high 1 1 1/2 3", "0-1", `"high" is not a load average`},
		{"negative", "-1 1 1 1/2 3", "0-1", `"-1" is not a load average`},
		{"nan", "1 NaN 1 1/2 3", "0-1", `"NaN" is not a load average`},
		{"inf", "1 1 +Inf 1/2 3", "0-1", `"+Inf" is not a load average`},
		{"huge", string(bytes.Repeat([]byte("1 "), maxRead)), "0-1", "larger than 4 KiB"},
		{"empty cpu list", "1 1 1 1/2 3", "\n", "online: empty CPU list"},
		{"reversed range", "1 1 1 1/2 3", "3-1", `online: "3-1" is not a CPU list`},
		{"open range", "1 1 1 1/2 3", "0-", `"0-" is not a CPU list`},
		{"word list", "1 1 1 1/2 3", "all", `"all" is not a CPU list`},
		{"empty element", "1 1 1 1/2 3", "0,,1", `"0,,1" is not a CPU list`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := run(fixture(t, tt.loadavg, tt.online), time.Second)
			wantCritical(t, res, tt.err)
			if len(res.Metrics) != 0 {
				t.Errorf("metrics %v from a bad file", res.Metrics)
			}
		})
	}

	c := &Checker{loadavg: filepath.Join(t.TempDir(), "loadavg"), online: OnlineCPUsPath}
	wantCritical(t, run(c, time.Second), "open ", "no such file or directory")
}

func TestDeadlinePassed(t *testing.T) {
	start := time.Now()
	wantCritical(t, realChecker(t).Check(expired(t)), "read /proc/loadavg: timed out after 0s")
	if took := time.Since(start); took > 100*time.Millisecond {
		t.Errorf("took %s with an expired context", took)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	wantCritical(t, realChecker(t).Check(ctx), "canceled")
}

func TestThresholdsJudge(t *testing.T) {
	plan := mustCompile(t, `
check "load" "any" {
  threshold "load15" {
    warn = -1
    crit = 1000
  }
}
check "load" "calm" {
  threshold "load1" {
    warn = 1000
    crit = 2000
  }
  assert {
    condition     = result.load5 >= 0
    error_message = "negative load"
  }
}
`)
	for addr, want := range map[string]checks.Status{"load.any": checks.StatusWarning, "load.calm": checks.StatusPassing} {
		c, _ := plan.Check(addr)
		if v := c.Evaluate(run(c.Checker, 5*time.Second), 0); v.Status != want {
			t.Errorf("%s: %s %q, want %s", addr, v.Status, v.Error, want)
		}
	}
}

func TestNoAttributes(t *testing.T) {
	src := "check \"load\" \"l\" {\n  cpus = 4 # <-\n}\n"
	_, diags := compile(t, src, false)
	wantDiag(t, src, diags, "Unsupported argument", "")
}

func BenchmarkCheck(b *testing.B) {
	c := realChecker(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if res := c.Check(ctx); res.Error != "" {
			b.Fatal(res.Error)
		}
	}
}
