package memorycheck

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/satellite-hq/satellite/checks"
)

func realChecker(t testing.TB) checks.Checker {
	t.Helper()
	return mustCheck(t, "check \"memory\" \"m\" {}\n", "memory.m").Checker
}

// fixture returns a checker reading a meminfo file with the given content.
func fixture(t *testing.T, content string) *Checker {
	t.Helper()
	path := filepath.Join(t.TempDir(), "meminfo")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return &Checker{path: path}
}

func TestRealMeminfo(t *testing.T) {
	res := run(realChecker(t), 5*time.Second)
	wantPassing(t, res)
	t.Logf("metrics: %v", res.Metrics)
	used := res.Metrics[MetricUsedPercent]
	if used <= 0 || used >= 100 {
		t.Errorf("used_percent %v", used)
	}

	// The kernel's own totals, through another interface.
	var si syscall.Sysinfo_t
	if err := syscall.Sysinfo(&si); err != nil {
		t.Fatal(err)
	}
	total := float64(si.Totalram) * float64(si.Unit)
	avail := res.Metrics[MetricAvailableBytes]
	if avail <= 0 || avail > total {
		t.Errorf("available_bytes %v of %v total", avail, total)
	}
	if got := 100 - avail*100/total; math.Abs(got-used) > 1 {
		t.Errorf("used_percent %v, but sysinfo's total and available_bytes give %v", used, got)
	}
	swap, ok := res.Metrics[MetricSwapUsedPercent]
	if !ok || swap < 0 || swap > 100 {
		t.Errorf("swap_used_percent %v, %v", swap, ok)
	}
	if si.Totalswap == 0 && swap != 0 {
		t.Errorf("swap_used_percent %v without swap", swap)
	}
}

const sampleMeminfo = `MemTotal:        4000000 kB
MemFree:          100000 kB
MemAvailable:    1000000 kB
Buffers:           65908 kB
SwapCached:            0 kB
SwapTotal:       2000000 kB
SwapFree:        1500000 kB
HugePages_Total:       0
Hugepagesize:       2048 kB
`

func TestFixtures(t *testing.T) {
	res := run(fixture(t, sampleMeminfo), time.Second)
	wantPassing(t, res)
	want := map[string]float64{MetricUsedPercent: 75, MetricAvailableBytes: 1000000 * 1024, MetricSwapUsedPercent: 25}
	for m, v := range want {
		if res.Metrics[m] != v {
			t.Errorf("%s = %v, want %v", m, res.Metrics[m], v)
		}
	}

	noSwap := strings.NewReplacer("SwapTotal:       2000000", "SwapTotal:             0", "SwapFree:        1500000", "SwapFree:              0").Replace(sampleMeminfo)
	res = run(fixture(t, noSwap), time.Second)
	wantPassing(t, res)
	if v, ok := res.Metrics[MetricSwapUsedPercent]; !ok || v != 0 {
		t.Errorf("swap_used_percent %v, %v without swap; want 0", v, ok)
	}

	// No final newline, and values that do not fit: still read right.
	res = run(fixture(t, "MemTotal: 100 kB\nMemAvailable: 200 kB\nSwapTotal: 10 kB\nSwapFree: 20 kB"), time.Second)
	wantPassing(t, res)
	if res.Metrics[MetricUsedPercent] != 0 || res.Metrics[MetricSwapUsedPercent] != 0 {
		t.Errorf("available above total: %v", res.Metrics)
	}
}

func TestBadFormats(t *testing.T) {
	tests := []struct{ name, content, err string }{
		{"empty", "", "no MemTotal line"},
		{"old kernel", strings.Replace(sampleMeminfo, "MemAvailable:    1000000 kB\n", "", 1), "no MemAvailable line (the kernel must be Linux 3.14 or later)"},
		{"no swap lines", "MemTotal: 1 kB\nMemAvailable: 1 kB\n", "no SwapTotal line"},
		{"word", strings.Replace(sampleMeminfo, "4000000 kB", "lots kB", 1), `MemTotal: "lots kB" is not a number of kB`},
		{"unit", strings.Replace(sampleMeminfo, "4000000 kB", "4000 MB", 1), `MemTotal: "4000 MB" is not a number of kB`},
		{"no unit", strings.Replace(sampleMeminfo, "4000000 kB", "4000000", 1), `MemTotal: "4000000" is not a number of kB`},
		{"negative", strings.Replace(sampleMeminfo, "1000000 kB", "-1 kB", 1), `MemAvailable: "-1 kB"`},
		{"zero", strings.Replace(sampleMeminfo, "4000000 kB", "0 kB", 1), "MemTotal is 0"},
		{"twice", sampleMeminfo + "MemTotal: 1 kB\n", "MemTotal appears twice"},
		{"binary", "\x00\x01\xff\xfe:\n\n::", "no MemTotal line"},
		{"too large", strings.Repeat("x", maxMeminfo+1), "larger than 64 KiB"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := fixture(t, tt.content)
			res := run(c, time.Second)
			wantCritical(t, res, tt.err)
			if len(res.Metrics) != 0 {
				t.Errorf("metrics %v from a bad file", res.Metrics)
			}
		})
	}
}

func TestMissingFile(t *testing.T) {
	c := &Checker{path: filepath.Join(t.TempDir(), "meminfo")}
	wantCritical(t, run(c, time.Second), "open ", "no such file or directory")
	c = &Checker{path: t.TempDir()}
	wantCritical(t, run(c, time.Second), "is a directory")
}

func TestDeadlinePassed(t *testing.T) {
	start := time.Now()
	wantCritical(t, realChecker(t).Check(expired(t)), "read /proc/meminfo: timed out after 0s")
	if took := time.Since(start); took > 100*time.Millisecond {
		t.Errorf("took %s with an expired context", took)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	wantCritical(t, realChecker(t).Check(ctx), "canceled")
}

func TestThresholdsJudge(t *testing.T) {
	plan := mustCompile(t, `
check "memory" "used" {
  threshold "used_percent" {
    warn = 0
    crit = 100
  }
}
check "memory" "available" {
  threshold "available_bytes" {
    warn      = 1e18
    crit      = 1e17
    direction = "below"
  }
}
check "memory" "swap" {
  threshold "swap_used_percent" {
    warn = 100
    crit = 100
  }
  assert {
    condition     = result.swap_used_percent >= 0 && result.used_percent < 100
    error_message = "impossible"
  }
}
`)
	for addr, want := range map[string]checks.Status{
		"memory.used":      checks.StatusWarning,
		"memory.available": checks.StatusCritical,
		"memory.swap":      checks.StatusPassing,
	} {
		c, _ := plan.Check(addr)
		if v := c.Evaluate(run(c.Checker, 5*time.Second), 0); v.Status != want {
			t.Errorf("%s: %s %q, want %s", addr, v.Status, v.Error, want)
		}
	}
}

func TestNoAttributes(t *testing.T) {
	src := "check \"memory\" \"m\" {\n  path = \"/proc/meminfo\" # <-\n}\n"
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
