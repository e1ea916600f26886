// Package peerscheck is the `peers` check type: enough mesh members are
// alive, and near (round trips from serf's network coordinates).
package peerscheck

import (
	"context"
	_ "embed"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/zclconf/go-cty/cty"

	"github.com/satellite-hq/satellite/checks"
	"github.com/satellite-hq/satellite/dsl"
)

//go:embed sample.hcl
var sample string

// Type is the first label of `check "peers" "NAME"`.
const Type = "peers"

// Metric names the type reports.
const (
	// MetricAlive counts the other members that are alive.
	MetricAlive = "alive"
	// MetricFailed counts the other members serf declared failed (not those
	// that left cleanly).
	MetricFailed = "failed"
	// MetricRTTMax is the largest estimated round trip to an alive peer, in
	// milliseconds; absent while no peer has a network coordinate yet.
	MetricRTTMax = "rtt_ms_max"
)

// DefaultMinAlive is min_alive when unset: a node that sees no other alive
// member is cut off from its mesh.
const DefaultMinAlive = 1

// maxNamed is how many peer names the error and detail name before "and N
// more"; result attributes have them all.
const maxNamed = 10

// Spec is the schema of the type's own attributes.
var Spec = hcldec.ObjectSpec{
	"min_alive": &hcldec.AttrSpec{Name: "min_alive", Type: cty.Number},
}

// ResultAttrs are the extra attributes of `result` for assert.
var ResultAttrs = map[string]cty.Type{
	"alive_peers":  cty.List(cty.String),
	"failed_peers": cty.List(cty.String),
}

func init() {
	checks.Register(&checks.Registration{
		Type:    Type,
		Spec:    Spec,
		Metrics: []string{MetricAlive, MetricFailed, MetricRTTMax},
		Result:  ResultAttrs,
		Build:   Build,
		Sample:  sample,
		Doc:     "Enough mesh members are alive, and near (serf's round-trip estimates).",
	})
}

// Build validates a decoded `peers` body and returns its checker. It does no
// I/O; a nil Checker comes back when min_alive is unknown or invalid.
func Build(cfg cty.Value, env checks.Env) (checks.Checker, hcl.Diagnostics) {
	if !cfg.IsKnown() {
		return nil, nil // nothing to check yet (validate --unknown-env)
	}
	a := dsl.NewAttrs(cfg, env.Body, env.Block)
	c := &Checker{minAlive: DefaultMinAlive}
	switch n, ok := a.Int("min_alive"); {
	case ok && n < 0:
		a.Errorf("min_alive", "Invalid min_alive", "min_alive must be 0 or more, not %d: it is how many other members must be alive.", n)
	case ok:
		c.minAlive = int(n)
	case a.IsUnknown("min_alive"):
		return nil, a.Diags
	}
	if a.Diags.HasErrors() {
		return nil, a.Diags
	}
	return c, a.Diags
}

// Checker reads the mesh's member list once per run. It is safe for
// concurrent use.
type Checker struct {
	minAlive int
}

// Check counts the alive and failed peers. Without a mesh in ctx (no mesh
// block, or run --once) the run is critical: the check cannot say anything.
func (c *Checker) Check(ctx context.Context) checks.Result {
	start := time.Now()
	if ctx.Err() != nil {
		return checks.Result{Status: checks.StatusCritical, Error: "peers: " + checks.Interrupted(ctx, start)}
	}
	mesh, err := checks.MeshFrom(ctx)
	if err != nil {
		return checks.Result{Status: checks.StatusCritical, Error: err.Error()}
	}
	var alive, failed []string
	var rttMax time.Duration
	hasRTT := false
	for _, p := range mesh.Peers() {
		switch p.Status {
		case "alive":
			alive = append(alive, p.Name)
			if p.HasRTT {
				rttMax, hasRTT = max(rttMax, p.RTT), true
			}
		case "failed":
			failed = append(failed, p.Name)
		}
		// leaving and left: a clean departure is not a failure, and such a
		// member counts as neither.
	}
	sort.Strings(alive)
	sort.Strings(failed)
	res := checks.Result{
		Metrics: map[string]float64{MetricAlive: float64(len(alive)), MetricFailed: float64(len(failed))},
		Attrs:   map[string]cty.Value{"alive_peers": stringList(alive), "failed_peers": stringList(failed)},
	}
	if hasRTT {
		res.Metrics[MetricRTTMax] = float64(rttMax) / float64(time.Millisecond)
	}
	if len(failed) > 0 {
		res.Detail = "failed: " + names(failed)
	}
	if len(alive) < c.minAlive {
		res.Status = checks.StatusCritical
		res.Error = fmt.Sprintf("%d other member(s) alive, fewer than min_alive = %d", len(alive), c.minAlive)
		if len(failed) > 0 {
			res.Error += "; failed: " + names(failed)
		}
	}
	return res
}

// names lists up to maxNamed names, then how many more.
func names(ns []string) string {
	if len(ns) <= maxNamed {
		return strings.Join(ns, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(ns[:maxNamed], ", "), len(ns)-maxNamed)
}

func stringList(ss []string) cty.Value {
	if len(ss) == 0 {
		return cty.ListValEmpty(cty.String)
	}
	vals := make([]cty.Value, len(ss))
	for i, s := range ss {
		vals[i] = cty.StringVal(s)
	}
	return cty.ListVal(vals)
}
