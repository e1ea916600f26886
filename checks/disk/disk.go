// Package diskcheck is the `disk` check type: how full the file system that
// holds a path is, in blocks and in inodes.
package diskcheck

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"strings"
	"syscall"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/zclconf/go-cty/cty"

	"github.com/satellite-hq/satellite/checks"
	"github.com/satellite-hq/satellite/dsl"
)

//go:embed sample.hcl
var sample string

// Type is the first label of `check "disk" "NAME"`.
const Type = "disk"

// Metric names the type reports.
const (
	MetricUsedPercent       = "used_percent"
	MetricFreeBytes         = "free_bytes"
	MetricInodesUsedPercent = "inodes_used_percent"
)

// DefaultPath is the path checked when `path` is left out.
const DefaultPath = "/"

// Spec is the schema of the type's own attributes.
var Spec = hcldec.ObjectSpec{
	"path": &hcldec.AttrSpec{Name: "path", Type: cty.String},
}

func init() {
	checks.Register(&checks.Registration{
		Type:    Type,
		Spec:    Spec,
		Metrics: []string{MetricUsedPercent, MetricFreeBytes, MetricInodesUsedPercent},
		Build:   Build,
		Sample:  sample,
		Doc:     "How full the file system holding a path is, in blocks and inodes.",
	})
}

// Build validates a decoded `disk` body and returns its checker. It does no
// I/O: whether the path exists is found out when the check runs.
func Build(cfg cty.Value, env checks.Env) (checks.Checker, hcl.Diagnostics) {
	if !cfg.IsKnown() {
		return nil, nil // nothing to check yet (validate --unknown-env)
	}
	a := dsl.NewAttrs(cfg, env.Body, env.Block)
	path := DefaultPath
	switch p, ok := a.String("path"); {
	case ok:
		switch {
		case p == "":
			a.Errorf("path", "Empty path", "path must name a mount point or any path on the file system to check, such as \"/var/lib/etcd\", or be left out to check \"/\".")
		case strings.IndexByte(p, 0) >= 0:
			a.Errorf("path", "Invalid path", "The path %q contains a NUL byte, which no file name can hold.", p)
		}
		path = dsl.ResolvePath(env.BaseDir, p)
	case a.IsUnknown("path"):
		return nil, a.Diags
	}
	if a.Diags.HasErrors() {
		return nil, a.Diags
	}
	return &Checker{path: path, statfs: syscall.Statfs}, a.Diags
}

// Checker reads the usage of one file system per run. It is safe for
// concurrent use.
type Checker struct {
	path string
	// statfs is syscall.Statfs; tests replace it to simulate a hung mount.
	statfs func(path string, st *syscall.Statfs_t) error
	guard  checks.HangGuard
}

// Check calls statfs(2) on the path and computes the usage as df does.
func (c *Checker) Check(ctx context.Context) checks.Result {
	start := time.Now()
	if ctx.Err() != nil {
		return critical(ctxError(ctx, "statfs "+c.path, start))
	}
	var st syscall.Statfs_t
	var err error
	if gerr := c.guard.Do(ctx, func() { err = c.statfs(c.path, &st) }); gerr != nil {
		var blocked checks.ErrBlocked
		if errors.As(gerr, &blocked) {
			return critical("statfs " + c.path + ": " + blocked.Error())
		}
		return critical(ctxError(ctx, "statfs "+c.path, start))
	}
	if err != nil {
		return critical(describe(c.path, err))
	}
	return checks.Result{Metrics: usage(&st)}
}

// usage turns a statfs answer into the type's metrics, with df's arithmetic
// (coreutils df.c): used = blocks - bfree, and the percentage is of
// used + bavail, so the blocks reserved for root count as neither (which is
// why df's Used and Avail do not add up to Size). df rounds the percentage
// up; the metric keeps the fraction. A file system without blocks (proc,
// sysfs) or without an inode count (btrfs) leaves that percentage out.
func usage(st *syscall.Statfs_t) map[string]float64 {
	bsize := uint64(st.Frsize)
	if bsize == 0 {
		bsize = uint64(st.Bsize)
	}
	m := map[string]float64{MetricFreeBytes: float64(st.Bavail) * float64(bsize)}
	used := uint64(0)
	if st.Blocks > st.Bfree {
		used = st.Blocks - st.Bfree
	}
	if total := used + st.Bavail; total > 0 {
		m[MetricUsedPercent] = float64(used) * 100 / float64(total)
	}
	if st.Files > 0 {
		iused := uint64(0)
		if st.Files > st.Ffree {
			iused = st.Files - st.Ffree
		}
		m[MetricInodesUsedPercent] = float64(iused) * 100 / float64(st.Files)
	}
	return m
}

// describe words a statfs error; the path is in every message.
func describe(path string, err error) string {
	switch {
	case errors.Is(err, syscall.ENOENT):
		return fmt.Sprintf("%s does not exist", path)
	case errors.Is(err, syscall.ENOTDIR):
		return fmt.Sprintf("%s does not exist (a part of it is not a directory)", path)
	default:
		return fmt.Sprintf("statfs %s: %v", path, err)
	}
}

func critical(msg string) checks.Result {
	return checks.Result{Status: checks.StatusCritical, Error: msg}
}

// ctxError says that the run ran out of time, or was canceled.
func ctxError(ctx context.Context, what string, start time.Time) string {
	return what + ": " + checks.Interrupted(ctx, start)
}
