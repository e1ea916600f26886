// Package disklatencycheck is the `disk_latency` check type: how long the
// file system holding a directory takes to make a small write durable
// (write, then fdatasync), as etcd's WAL does on every commit.
package disklatencycheck

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/zclconf/go-cty/cty"

	"github.com/satellite-hq/satellite/checks"
	"github.com/satellite-hq/satellite/dsl"
)

//go:embed sample.hcl
var sample string

// Type is the first label of `check "disk_latency" "NAME"`.
const Type = "disk_latency"

// Metric names the type reports, in milliseconds.
const (
	MetricFsyncP50 = "fsync_p50_ms"
	MetricFsyncP99 = "fsync_p99_ms"
	MetricFsyncMax = "fsync_max_ms"
	MetricWriteP99 = "write_p99_ms"
	MetricReadP50  = "read_p50_ms"
	MetricReadP99  = "read_p99_ms"
)

// The defaults and limits of `samples` and `size`.
const (
	DefaultSamples = 10
	DefaultSize    = 4096
	MaxSamples     = 1000
	// MaxBytesPerRun bounds samples × size, what one run writes.
	MaxBytesPerRun = 1 << 20
)

// FilePrefix starts the name of every test file, such as
// ".satellite-disk-latency-1234567".
const FilePrefix = ".satellite-disk-latency-"

// Read modes, the `result.read_mode` of a run with read = true.
const (
	ReadDirect   = "direct"
	ReadBuffered = "buffered"
)

// Spec is the schema of the type's own attributes.
var Spec = hcldec.ObjectSpec{
	"path":    &hcldec.AttrSpec{Name: "path", Type: cty.String, Required: true},
	"samples": &hcldec.AttrSpec{Name: "samples", Type: cty.Number},
	// size is a number of bytes or a string such as "4KiB".
	"size": &hcldec.AttrSpec{Name: "size", Type: cty.DynamicPseudoType},
	"read": &hcldec.AttrSpec{Name: "read", Type: cty.Bool},
}

// ResultAttrs are the extra attributes of `result` for assert.
var ResultAttrs = map[string]cty.Type{
	"read_mode": cty.String,
}

func init() {
	checks.Register(&checks.Registration{
		Type:    Type,
		Spec:    Spec,
		Metrics: []string{MetricFsyncP50, MetricFsyncP99, MetricFsyncMax, MetricWriteP99, MetricReadP50, MetricReadP99},
		Result:  ResultAttrs,
		Build:   Build,
		Sample:  sample,
		Doc:     "How long small writes take to become durable (write + fdatasync) in a directory, as for etcd's WAL.",
	})
}

// Build validates a decoded `disk_latency` body and returns its checker. It
// does no I/O: whether the directory exists is found out when the check runs.
func Build(cfg cty.Value, env checks.Env) (checks.Checker, hcl.Diagnostics) {
	if !cfg.IsKnown() {
		return nil, nil // nothing to check yet (validate --unknown-env)
	}
	a := dsl.NewAttrs(cfg, env.Body, env.Block)
	c := &Checker{samples: DefaultSamples, size: DefaultSize, direct: true}
	complete := true

	if p, ok := dsl.Required(a, "path", `the directory to test, such as "/var/lib/etcd"`, a.String); ok {
		switch {
		case p == "":
			a.Errorf("path", "Empty path", "path must name the directory to test, such as \"/var/lib/etcd\".")
		case strings.IndexByte(p, 0) >= 0:
			a.Errorf("path", "Invalid path", "The path %q contains a NUL byte, which no file name can hold.", p)
		}
		c.path = dsl.ResolvePath(env.BaseDir, p)
	} else {
		complete = false
	}

	if n, ok := a.Int("samples"); ok {
		if n < 1 || n > MaxSamples {
			a.Errorf("samples", "Invalid samples", "samples must be a number of writes from 1 to %d, not %d.", MaxSamples, n)
		}
		c.samples = int(n)
	} else if a.IsUnknown("samples") {
		complete = false
	}

	if n, ok := sizeAttr(a); ok {
		c.size = n
	} else if a.IsUnknown("size") {
		complete = false
	}

	if b, ok := a.Bool("read"); ok {
		c.read = b
	} else if a.IsUnknown("read") {
		complete = false
	}

	if !a.Diags.HasErrors() && c.samples*c.size > MaxBytesPerRun {
		name := "size"
		if !a.IsSet("size") {
			name = "samples"
		}
		a.Errorf(name, "Too much to write", "samples × size is %d × %s = %s, more than the %s a run may write; take fewer samples or smaller writes.",
			c.samples, bytesText(c.size), bytesText(c.samples*c.size), bytesText(MaxBytesPerRun))
	}
	if a.Diags.HasErrors() || !complete {
		return nil, a.Diags
	}
	return c, a.Diags
}

// sizeAttr reads `size`: a whole number of bytes, or a string such as
// "4KiB" or "2300"; from 1 byte to MaxBytesPerRun.
func sizeAttr(a *dsl.Attrs) (int, bool) {
	v, ok := a.Known("size")
	if !ok || !v.IsWhollyKnown() {
		return 0, false
	}
	var n float64
	switch v.Type() {
	case cty.Number:
		n, _ = v.AsBigFloat().Float64()
		if n != math.Trunc(n) {
			a.Errorf("size", "Invalid size", "size must be a whole number of bytes, not %g.", n)
			return 0, false
		}
	case cty.String:
		u, err := humanize.ParseBytes(v.AsString())
		if err != nil {
			a.Errorf("size", "Invalid size", "size must be a number of bytes or a size such as \"4KiB\", not %q.", v.AsString())
			return 0, false
		}
		n = float64(u)
	default:
		a.Errorf("size", "Invalid size", "size must be a number of bytes or a string such as \"4KiB\", not %s.", v.Type().FriendlyName())
		return 0, false
	}
	if n < 1 || n > MaxBytesPerRun {
		a.Errorf("size", "Invalid size", "size must be from 1 byte to %s, not %s.", bytesText(MaxBytesPerRun), bytesText(int(min(max(n, 0), 1<<62))))
		return 0, false
	}
	return int(n), true
}

// Result builds a run's result from what it measured; err (one line) makes
// it critical, with the metrics of the samples taken before.
func (c *Checker) result(m measured, err string) checks.Result {
	res := checks.Result{Metrics: map[string]float64{}, Error: err}
	if err != "" {
		res.Status = checks.StatusCritical
	}
	var parts []string
	if len(m.fsync) > 0 {
		s := sortedMS(m.fsync)
		res.Metrics[MetricFsyncP50] = percentile(s, 50)
		res.Metrics[MetricFsyncP99] = percentile(s, 99)
		res.Metrics[MetricFsyncMax] = s[len(s)-1]
		parts = append(parts, fmt.Sprintf("fdatasync p50 %s, p99 %s, max %s",
			ms(res.Metrics[MetricFsyncP50]), ms(res.Metrics[MetricFsyncP99]), ms(res.Metrics[MetricFsyncMax])))
	}
	if len(m.write) > 0 {
		res.Metrics[MetricWriteP99] = percentile(sortedMS(m.write), 99)
		parts = append(parts, "write p99 "+ms(res.Metrics[MetricWriteP99]))
	}
	if len(m.read) > 0 {
		s := sortedMS(m.read)
		res.Metrics[MetricReadP50] = percentile(s, 50)
		res.Metrics[MetricReadP99] = percentile(s, 99)
		parts = append(parts, fmt.Sprintf("read (%s) p50 %s, p99 %s", m.readMode, ms(res.Metrics[MetricReadP50]), ms(res.Metrics[MetricReadP99])))
	}
	if m.readMode != "" {
		res.Attrs = map[string]cty.Value{"read_mode": cty.StringVal(m.readMode)}
	}
	if len(parts) > 0 {
		res.Detail = fmt.Sprintf("%d of %d samples of %s in %s: %s", m.done, c.samples, bytesText(c.size), c.path, strings.Join(parts, "; "))
	}
	if len(res.Metrics) == 0 {
		res.Metrics = nil
	}
	return res
}

// bytesText writes a byte count in whole MiB or KiB when it is one, as
// sizes are written in the config ("4 KiB", "2300 bytes").
func bytesText(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	case n == 1:
		return "1 byte"
	default:
		return fmt.Sprintf("%d bytes", n)
	}
}

// ms writes a metric in milliseconds, to the microsecond.
func ms(v float64) string { return fmt.Sprintf("%.3f ms", v) }

func critical(msg string) checks.Result {
	return checks.Result{Status: checks.StatusCritical, Error: msg}
}

// errBlocked is the message of a run refused because an earlier one hangs.
func errBlocked(path string, err error) (string, bool) {
	var blocked checks.ErrBlocked
	if errors.As(err, &blocked) {
		return "test write in " + path + ": " + blocked.Error(), true
	}
	return "", false
}

// interrupted says that the run ran out of time in the middle of op.
func interrupted(ctx context.Context, start time.Time, op, path string, done, samples int, inFlight time.Duration) string {
	if op == "" {
		op = "test write" // between two calls, such as during the sweep
	}
	msg := fmt.Sprintf("%s in %s: %s", op, path, checks.Interrupted(ctx, start))
	switch {
	case inFlight > 0:
		return fmt.Sprintf("%s (%d of %d samples done; the %s in flight had taken %s)", msg, done, samples, op, inFlight.Round(time.Millisecond))
	default:
		return fmt.Sprintf("%s (%d of %d samples done)", msg, done, samples)
	}
}
