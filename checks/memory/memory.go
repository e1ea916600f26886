// Package memorycheck is the `memory` check type: how much memory and swap
// are in use, from /proc/meminfo.
package memorycheck

import (
	"bytes"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/zclconf/go-cty/cty"

	"github.com/satellite-hq/satellite/checks"
)

//go:embed sample.hcl
var sample string

// Type is the first label of `check "memory" "NAME"`.
const Type = "memory"

// Metric names the type reports.
const (
	MetricUsedPercent     = "used_percent"
	MetricAvailableBytes  = "available_bytes"
	MetricSwapUsedPercent = "swap_used_percent"
)

// MeminfoPath is where the kernel reports memory use.
const MeminfoPath = "/proc/meminfo"

// maxMeminfo bounds what is read of the file: the real one is under 2 KiB.
const maxMeminfo = 64 << 10

// Spec is the schema of the type's own attributes: it has none.
var Spec = hcldec.ObjectSpec{}

func init() {
	checks.Register(&checks.Registration{
		Type:    Type,
		Spec:    Spec,
		Metrics: []string{MetricUsedPercent, MetricAvailableBytes, MetricSwapUsedPercent},
		Build:   Build,
		Sample:  sample,
		Doc:     "Memory and swap in use, from /proc/meminfo.",
	})
}

// Build returns the checker; the type has no attributes to validate.
func Build(cfg cty.Value, env checks.Env) (checks.Checker, hcl.Diagnostics) {
	return &Checker{path: MeminfoPath}, nil
}

// Checker reads /proc/meminfo once per run. It is safe for concurrent use.
type Checker struct {
	path string // MeminfoPath; tests point it at fixtures
}

// Check reads the file and reports the metrics.
func (c *Checker) Check(ctx context.Context) checks.Result {
	start := time.Now()
	if ctx.Err() != nil {
		return critical(ctxError(ctx, "read "+c.path, start))
	}
	data, err := checks.ReadFileLimited(c.path, maxMeminfo, "a meminfo file")
	if err != nil {
		return critical(err.Error())
	}
	m, err := parseMeminfo(data)
	if err != nil {
		return critical(c.path + ": " + err.Error())
	}
	return checks.Result{Metrics: m.metrics()}
}

// meminfo holds the lines of /proc/meminfo the check uses, in bytes.
type meminfo struct {
	memTotal, memAvailable, swapTotal, swapFree uint64
}

// metrics computes the type's metrics. used_percent counts what is not
// available (MemAvailable: free memory plus the caches the kernel can drop
// without swapping), as free(1) and the kernel's own estimate do, not what is
// merely not free. Without swap, swap_used_percent is 0.
func (m meminfo) metrics() map[string]float64 {
	used := m.memTotal - min(m.memAvailable, m.memTotal)
	swap := 0.0
	if m.swapTotal > 0 {
		swap = float64(m.swapTotal-min(m.swapFree, m.swapTotal)) * 100 / float64(m.swapTotal)
	}
	return map[string]float64{
		MetricUsedPercent:     float64(used) * 100 / float64(m.memTotal),
		MetricAvailableBytes:  float64(m.memAvailable),
		MetricSwapUsedPercent: swap,
	}
}

// parseMeminfo reads the four lines it needs; any of them missing or not a
// number of kB is an error, never a guess.
func parseMeminfo(data []byte) (meminfo, error) {
	var m meminfo
	fields := []struct {
		name string
		dst  *uint64
		seen bool
	}{
		{"MemTotal", &m.memTotal, false},
		{"MemAvailable", &m.memAvailable, false},
		{"SwapTotal", &m.swapTotal, false},
		{"SwapFree", &m.swapFree, false},
	}
	for len(data) > 0 {
		var line []byte
		line, data, _ = bytes.Cut(data, []byte{'\n'})
		name, rest, ok := bytes.Cut(line, []byte{':'})
		if !ok {
			continue
		}
		for i := range fields {
			f := &fields[i]
			if string(name) != f.name {
				continue
			}
			if f.seen {
				return m, fmt.Errorf("%s appears twice", f.name)
			}
			v, err := parseKB(rest)
			if err != nil {
				return m, fmt.Errorf("%s: %w", f.name, err)
			}
			*f.dst, f.seen = v, true
		}
	}
	for _, f := range fields {
		if !f.seen {
			if f.name == "MemAvailable" {
				return m, errors.New("no MemAvailable line (the kernel must be Linux 3.14 or later)")
			}
			return m, fmt.Errorf("no %s line", f.name)
		}
	}
	if m.memTotal == 0 {
		return m, errors.New("MemTotal is 0")
	}
	return m, nil
}

// parseKB parses the value of a meminfo line, such as "  24684092 kB".
func parseKB(b []byte) (uint64, error) {
	f := bytes.Fields(b)
	if len(f) != 2 || string(f[1]) != "kB" {
		return 0, fmt.Errorf("%q is not a number of kB", bytes.TrimSpace(b))
	}
	n, err := strconv.ParseUint(string(f[0]), 10, 64)
	if err != nil || n > 1<<53 {
		return 0, fmt.Errorf("%q is not a number of kB", bytes.TrimSpace(b))
	}
	return n * 1024, nil
}

func critical(msg string) checks.Result {
	return checks.Result{Status: checks.StatusCritical, Error: msg}
}

// ctxError says that the run ran out of time, or was canceled.
func ctxError(ctx context.Context, what string, start time.Time) string {
	return what + ": " + checks.Interrupted(ctx, start)
}
