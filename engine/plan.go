// Package engine turns a loaded config into a plan of concrete checks
// (Compile), and evaluates results against thresholds and asserts.
package engine

import (
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/satellite-hq/satellite/checks"
	"github.com/satellite-hq/satellite/dsl"
	"github.com/satellite-hq/satellite/sinks"
)

// Plan is a compiled config: every check and sink, for one node.
type Plan struct {
	// Config is the loaded config the plan came from.
	Config *dsl.Config
	// Node is the node the plan was compiled for.
	Node dsl.Node
	// Checks are every check of the config, whatever its only_on, ordered so
	// that dependencies come before their dependents.
	Checks []*Check
	// Sinks are the declared sinks (not the local history).
	Sinks []*Sink
	// Notifiers are the declared notifiers, by address.
	Notifiers []*Notifier
	// Maintenance are the declared maintenance windows, by name.
	Maintenance []*Maintenance
	// MeshNotify are the notifiers of cluster alerts (mesh { notify }).
	MeshNotify []string
	// Hash is the config hash.
	Hash string
}

// Running returns the checks this node runs, dependencies first.
func (p *Plan) Running() []*Check {
	out := make([]*Check, 0, len(p.Checks))
	for _, c := range p.Checks {
		if c.Runs {
			out = append(out, c)
		}
	}
	return out
}

// Check returns the check at an address.
func (p *Plan) Check(addr string) (*Check, bool) {
	for _, c := range p.Checks {
		if c.Address == addr {
			return c, true
		}
	}
	return nil, false
}

// Check is one concrete check: a check block, or one for_each instance of it.
type Check struct {
	// Address is TYPE.NAME or TYPE.NAME["key"].
	Address string
	Type    string
	Name    string
	// Key is the for_each key, "" without for_each.
	Key string
	// Registration is the check type.
	Registration *checks.Registration
	// Checker runs the check; nil only when validating with unknown values.
	Checker checks.Checker

	Interval time.Duration
	Timeout  time.Duration
	// OnlyOn are the tags a node needs to run this check; nil runs everywhere.
	OnlyOn map[string]string
	// Runs is true when this node runs the check.
	Runs bool
	// DependsOn are the addresses of the checks this one depends on.
	DependsOn []string
	Labels    map[string]string
	// Sinks are the addresses of the sinks the results go to; nil means all.
	Sinks []string
	// Notify are the addresses of the notifiers told of its alerts.
	Notify                 []string
	FailuresBeforeCritical int
	SuccessesBeforePassing int
	Thresholds             []Threshold
	Asserts                []Assert

	// DeclRange is the check block's header.
	DeclRange hcl.Range
	// Fingerprint identifies the evaluated check, for keeping state across reloads.
	Fingerprint string

	evalCtx *hcl.EvalContext
	// deps and sinkRefs are the depends_on and sinks references as written,
	// resolved into DependsOn and Sinks once every check is declared.
	deps       []depRef
	sinkRefs   []sinkRef
	notifyRefs []sinkRef
	// body is the type's decoded attributes, for the fingerprint; cleared
	// once it is taken.
	body cty.Value
	// inPlan is false for the placeholder instance of an unknown for_each.
	inPlan bool
}

// Threshold turns a metric into warning or critical.
type Threshold struct {
	Metric string
	Warn   *float64
	Crit   *float64
	// Below is true when low values are bad (direction = "below").
	Below bool
}

// Assert is a condition on `result`, evaluated after each run.
type Assert struct {
	Condition    hcl.Expression
	ErrorMessage hcl.Expression
}

// Sink is a declared sink.
type Sink struct {
	// Address is TYPE.NAME.
	Address string
	Type    string
	Name    string
	Opener  sinks.Opener
	// Send is "results" (every run) or "changes" (state changes only).
	Send          string
	BatchSize     int
	FlushInterval time.Duration
	// SpoolMax bounds the sink's on-disk queue, in bytes.
	SpoolMax  int64
	DeclRange hcl.Range
}

// Sink defaults.
const (
	DefaultBatchSize     = 1000
	DefaultFlushInterval = 5 * time.Second
	DefaultSpoolMax      = 256 << 20
	DefaultInterval      = 30 * time.Second
	DefaultTimeout       = 10 * time.Second
)

// resultCtx is the context an assert of c is evaluated in.
func (c *Check) resultCtx(result cty.Value) *hcl.EvalContext {
	ctx := c.evalCtx.NewChild()
	ctx.Variables = map[string]cty.Value{"result": result}
	return ctx
}
