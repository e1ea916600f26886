// Package loadcheck is the `load` check type: the load averages of
// /proc/loadavg, divided by the number of online CPUs.
package loadcheck

import (
	"bytes"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"runtime"
	"strconv"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/zclconf/go-cty/cty"

	"github.com/satellite-hq/satellite/checks"
)

//go:embed sample.hcl
var sample string

// Type is the first label of `check "load" "NAME"`.
const Type = "load"

// Metric names the type reports: the 1, 5 and 15 minute load averages per CPU.
const (
	MetricLoad1  = "load1"
	MetricLoad5  = "load5"
	MetricLoad15 = "load15"
)

// Where the kernel reports the load averages and the online CPUs.
const (
	LoadavgPath    = "/proc/loadavg"
	OnlineCPUsPath = "/sys/devices/system/cpu/online"
)

// maxRead bounds what is read of either file; both are under 100 bytes.
const maxRead = 4 << 10

// Spec is the schema of the type's own attributes: it has none.
var Spec = hcldec.ObjectSpec{}

func init() {
	checks.Register(&checks.Registration{
		Type:    Type,
		Spec:    Spec,
		Metrics: []string{MetricLoad1, MetricLoad5, MetricLoad15},
		Build:   Build,
		Sample:  sample,
		Doc:     "Load averages per online CPU, from /proc/loadavg.",
	})
}

// Build returns the checker; the type has no attributes to validate.
func Build(cfg cty.Value, env checks.Env) (checks.Checker, hcl.Diagnostics) {
	return &Checker{loadavg: LoadavgPath, online: OnlineCPUsPath}, nil
}

// Checker reads the load averages and the CPU count once per run. It is safe
// for concurrent use.
type Checker struct {
	loadavg, online string // the package's paths; tests point them at fixtures
}

// Check reads both files and reports the load per CPU.
//
// The divisor is the number of online CPUs, read from sysfs at every run (the
// list /proc/cpuinfo also counts, in a 40-byte file instead of a kilobyte per
// CPU), not runtime.NumCPU: the load average counts the tasks of the whole
// machine, while NumCPU is the agent's own CPU affinity, which a cpuset or
// taskset can shrink, and it is fixed at start, so CPU hotplug would be
// missed. Without sysfs (some containers) the check falls back to NumCPU.
func (c *Checker) Check(ctx context.Context) checks.Result {
	start := time.Now()
	if ctx.Err() != nil {
		return critical(ctxError(ctx, "read "+c.loadavg, start))
	}
	data, err := checks.ReadFileLimited(c.loadavg, maxRead, "the kernel's file")
	if err != nil {
		return critical(err.Error())
	}
	loads, err := parseLoadavg(data)
	if err != nil {
		return critical(c.loadavg + ": " + err.Error())
	}
	cpus, err := c.cpus()
	if err != nil {
		return critical(err.Error())
	}
	n := float64(cpus)
	return checks.Result{
		Metrics: map[string]float64{
			MetricLoad1:  loads[0] / n,
			MetricLoad5:  loads[1] / n,
			MetricLoad15: loads[2] / n,
		},
	}
}

// cpus counts the online CPUs; without the sysfs file, runtime.NumCPU.
func (c *Checker) cpus() (int, error) {
	data, err := checks.ReadFileLimited(c.online, maxRead, "the kernel's file")
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return runtime.NumCPU(), nil
	case err != nil:
		return 0, err
	}
	n, err := countCPUList(data)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", c.online, err)
	}
	return n, nil
}

// parseLoadavg reads the first three fields of /proc/loadavg, such as
// "0.52 0.58 0.59 1/234 5678".
func parseLoadavg(data []byte) ([3]float64, error) {
	var out [3]float64
	f := bytes.Fields(data)
	if len(f) < 3 {
		return out, fmt.Errorf("%q does not start with three load averages", trim(data))
	}
	for i := range out {
		v, err := strconv.ParseFloat(string(f[i]), 64)
		if err != nil || v < 0 || math.IsInf(v, 0) || math.IsNaN(v) {
			return out, fmt.Errorf("%q is not a load average (in %q)", f[i], trim(data))
		}
		out[i] = v
	}
	return out, nil
}

// countCPUList counts the CPUs of a kernel CPU list, such as "0-3,8,10-11".
func countCPUList(data []byte) (int, error) {
	list := bytes.TrimSpace(data)
	if len(list) == 0 {
		return 0, errors.New("empty CPU list")
	}
	n := 0
	for part := range bytes.SplitSeq(list, []byte{','}) {
		lo, hi, isRange := bytes.Cut(part, []byte{'-'})
		a, err1 := strconv.ParseUint(string(lo), 10, 31)
		b := a
		var err2 error
		if isRange {
			b, err2 = strconv.ParseUint(string(hi), 10, 31)
		}
		if err1 != nil || err2 != nil || b < a {
			return 0, fmt.Errorf("%q is not a CPU list like \"0-3,8\"", trim(data))
		}
		n += int(b-a) + 1
	}
	return n, nil
}

// trim shortens file content quoted in an error.
func trim(b []byte) []byte {
	b = bytes.TrimSpace(b)
	if len(b) > 64 {
		return append(b[:64:64], "..."...)
	}
	return b
}

func critical(msg string) checks.Result {
	return checks.Result{Status: checks.StatusCritical, Error: msg}
}

// ctxError says that the run ran out of time, or was canceled.
func ctxError(ctx context.Context, what string, start time.Time) string {
	return what + ": " + checks.Interrupted(ctx, start)
}
