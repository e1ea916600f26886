// Package clockcheck is the `clock` check type: this node's clock against
// its mesh peers', each read NTP-style from the peer's endpoint
// (checks.MeshView's Clocks; mesh.Mesh.Clocks does the measuring).
package clockcheck

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

// Type is the first label of `check "clock" "NAME"`.
const Type = "clock"

// Metric names the type reports.
const (
	// MetricDriftMax is the largest absolute offset of a peer's clock from
	// ours, in milliseconds.
	MetricDriftMax = "drift_ms_max"
	// MetricPeers counts the peers whose clock was read.
	MetricPeers = "peers"
)

// DefaultMaxDrift is max_drift when unset. One second is far beyond what
// NTP keeps (milliseconds) and about where trouble starts: TLS validity at
// the edges, etcd's clock-difference warning, logs that cannot be ordered
// across nodes. Thresholds on drift_ms_max give finer warnings.
const DefaultMaxDrift = time.Second

// maxShown is how many peers the detail lists, the furthest off first.
const maxShown = 10

// Spec is the schema of the type's own attributes. The measurement's
// timeout is the check's own `timeout`.
var Spec = hcldec.ObjectSpec{
	"max_drift": &hcldec.AttrSpec{Name: "max_drift", Type: cty.DynamicPseudoType},
}

// ResultAttrs are the extra attributes of `result` for assert.
var ResultAttrs = map[string]cty.Type{
	// offsets_ms maps each peer whose clock was read to its clock minus ours.
	"offsets_ms": cty.Map(cty.Number),
	// worst_peer is the peer furthest off; "" when no clock was read.
	"worst_peer": cty.String,
}

func init() {
	checks.Register(&checks.Registration{
		Type:    Type,
		Spec:    Spec,
		Metrics: []string{MetricDriftMax, MetricPeers},
		Result:  ResultAttrs,
		Build:   Build,
		Sample:  sample,
		Doc:     "This node's clock against its mesh peers' (NTP-style requests to their peer endpoints).",
	})
}

// Build validates a decoded `clock` body and returns its checker. It does no
// I/O; a nil Checker comes back when max_drift is unknown or invalid.
func Build(cfg cty.Value, env checks.Env) (checks.Checker, hcl.Diagnostics) {
	if !cfg.IsKnown() {
		return nil, nil // nothing to check yet (validate --unknown-env)
	}
	a := dsl.NewAttrs(cfg, env.Body, env.Block)
	c := &Checker{maxDrift: DefaultMaxDrift}
	if d, ok := a.Duration("max_drift"); ok {
		c.maxDrift = d
	} else if a.IsUnknown("max_drift") {
		return nil, a.Diags
	}
	if a.Diags.HasErrors() {
		return nil, a.Diags
	}
	return c, a.Diags
}

// Checker asks the peers for their clocks once per run. It is safe for
// concurrent use.
type Checker struct {
	// maxDrift makes the run critical above it; 0 leaves the judgement to
	// thresholds.
	maxDrift time.Duration
}

// Check reads the clock of every alive peer, within the run's timeout.
// Without a mesh in ctx, or when no peer's clock was read, the run is
// critical. The alive peers are counted from Peers(), which lists only
// satellite agents (foreign members of the gossip pool are not peers).
func (c *Checker) Check(ctx context.Context) checks.Result {
	start := time.Now()
	mesh, err := checks.MeshFrom(ctx)
	if err != nil {
		return checks.Result{Status: checks.StatusCritical, Error: err.Error()}
	}
	alive := 0
	for _, p := range mesh.Peers() {
		if p.Status == "alive" {
			alive++
		}
	}
	if alive == 0 {
		return checks.Result{Status: checks.StatusCritical, Error: "no peer to compare the clock with: no other member of the mesh is alive",
			Metrics: map[string]float64{MetricPeers: 0}, Attrs: emptyAttrs()}
	}
	samples, qerr := mesh.Clocks(ctx)
	res := judge(samples, alive, c.maxDrift)
	if len(samples) == 0 {
		res.Status = checks.StatusCritical
		switch {
		case ctx.Err() != nil:
			res.Error = "no peer's clock was read: " + checks.Interrupted(ctx, start)
			if qerr != nil {
				res.Detail = qerr.Error()
			}
		case qerr != nil:
			// The mesh's error names the peers and why each gave no clock.
			res.Error = "no peer's clock was read: " + qerr.Error()
		default:
			res.Error = fmt.Sprintf("none of %d alive peer(s) answered the clock request", alive)
		}
	} else if qerr != nil {
		// Some clocks were read: judge them, and say why the rest were not.
		res.Detail = strings.TrimPrefix(res.Detail+"; "+qerr.Error(), "; ")
	}
	return res
}

// judge turns the samples into the result: metrics, attributes, a detail
// listing the furthest peers, and a critical error above maxDrift.
func judge(samples []checks.ClockSample, alive int, maxDrift time.Duration) checks.Result {
	res := checks.Result{Metrics: map[string]float64{MetricPeers: float64(len(samples))}, Attrs: emptyAttrs()}
	if len(samples) == 0 {
		return res
	}
	sorted := append([]checks.ClockSample(nil), samples...)
	sort.Slice(sorted, func(i, j int) bool {
		ai, aj := abs(sorted[i].Offset), abs(sorted[j].Offset)
		if ai != aj {
			return ai > aj
		}
		return sorted[i].Peer < sorted[j].Peer
	})
	offsets := make(map[string]cty.Value, len(sorted))
	parts := make([]string, 0, min(len(sorted), maxShown))
	for i, s := range sorted {
		offsets[s.Peer] = cty.NumberFloatVal(ms(s.Offset))
		if i < maxShown {
			parts = append(parts, fmt.Sprintf("%s %+.1fms (delay %.1fms)", s.Peer, ms(s.Offset), ms(s.RTT)))
		}
	}
	worst := sorted[0]
	res.Metrics[MetricDriftMax] = ms(abs(worst.Offset))
	res.Attrs = map[string]cty.Value{"offsets_ms": cty.MapVal(offsets), "worst_peer": cty.StringVal(worst.Peer)}
	res.Detail = strings.Join(parts, ", ")
	if len(sorted) > maxShown {
		res.Detail += fmt.Sprintf(" and %d more", len(sorted)-maxShown)
	}
	if missing := alive - len(samples); missing > 0 {
		res.Detail += fmt.Sprintf("; %d alive peer(s) did not answer", missing)
	}
	if maxDrift > 0 && abs(worst.Offset) > maxDrift {
		res.Status = checks.StatusCritical
		res.Error = fmt.Sprintf("the clock of %s is %+.1fms off ours, more than max_drift = %s", worst.Peer, ms(worst.Offset), maxDrift)
	}
	return res
}

func emptyAttrs() map[string]cty.Value {
	return map[string]cty.Value{"offsets_ms": cty.MapValEmpty(cty.Number), "worst_peer": cty.StringVal("")}
}

func abs(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
