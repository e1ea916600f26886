// Package checks holds the Checker contract and the registry of check types.
//
// A check type lives in its own folder (checks/http, checks/tcp ...) and
// registers itself from init(); checks/all imports every built-in type.
// Checkers are single-shot: the engine owns interval, jitter, timeout,
// hysteresis and dependencies.
package checks

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/satellite-hq/satellite/dsl"
	"github.com/satellite-hq/satellite/health"
	"github.com/satellite-hq/satellite/internal/registry"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/zclconf/go-cty/cty"
)

// Status is the verdict of one run, or of a check's current state. It is
// health.Status, named here too so that a check type reads as it always did.
type Status = health.Status

// The statuses of LANGUAGE.md (health.Passing ...).
const (
	StatusPassing  = health.Passing
	StatusWarning  = health.Warning
	StatusCritical = health.Critical
	StatusBlocked  = health.Blocked
	StatusUnknown  = health.Unknown
)

// Worse returns the worse of two run statuses.
func Worse(a, b Status) Status { return health.Worse(a, b) }

// Result is what one run of a checker found.
type Result struct {
	// Status is the checker's own verdict; empty means passing unless Error is set.
	Status Status
	// Error says why the run failed, in one line.
	Error string
	// Detail carries extra human-readable output (a body excerpt, command output).
	Detail string
	// Metrics are the numbers thresholds may name; a metric not measured in
	// this run is absent.
	Metrics map[string]float64
	// Attrs are the type's extra `result` attributes for assert, matching the
	// registration's Result type; missing ones are null.
	Attrs map[string]cty.Value
	// A Result has no duration: the scheduler times every run (from just
	// before Check to just after it returns), as blackbox_exporter's handler
	// times its probes, so that no checker can get it wrong. A type that
	// reports a finer time (the TCP handshake alone) does so as a metric.
}

// Verdict returns the run's own status, before thresholds and asserts.
func (r Result) Verdict() Status {
	switch {
	case r.Status != "":
		return r.Status
	case r.Error != "":
		return StatusCritical
	default:
		return StatusPassing
	}
}

// Checker runs one check once. It must return when ctx is done.
type Checker interface {
	Check(ctx context.Context) Result
}

// CheckerFunc adapts a function to Checker.
type CheckerFunc func(ctx context.Context) Result

// Check calls f.
func (f CheckerFunc) Check(ctx context.Context) Result { return f(ctx) }

// Env is what Build may know of the place a check is declared.
type Env struct {
	// Body is the type-specific part of the check block (meta-arguments removed).
	Body hcl.Body
	// Spec is the registration's spec, for locating attributes in Body.
	Spec hcldec.Spec
	// Block is the range of the check block's header, for errors about the whole block.
	Block hcl.Range
	// Address is the check's address, TYPE.NAME or TYPE.NAME["key"], for a
	// type that keeps state of its own by check (the heartbeat type's file
	// in the data dir). Under an unknown for_each (validate --unknown-env)
	// it is TYPE.NAME.
	Address string
	// BaseDir is the folder of the file that declared the check; relative
	// file paths in attributes are resolved against it.
	BaseDir string
	// Agent is the node's agent block (name, data_dir, enable_exec ...): a
	// type reads the agent options it needs from here, such as the exec
	// type's gate, agent.enable_exec.
	Agent dsl.Agent
	// Asserts tells whether the check has assert blocks. Result.Attrs are
	// read by asserts only, so without any a type may leave out the ones
	// that cost a run something to build (the http type's body, json and
	// headers).
	Asserts bool
	// Logger is the check's named logger (check=ADDRESS); Build may keep it
	// for the checker's runs. Never nil when the engine calls Build; tests
	// that leave it nil get a null logger from Log.
	Logger hclog.Logger
}

// Log returns env.Logger, or a null logger when none was given.
func (env Env) Log() hclog.Logger {
	if env.Logger == nil {
		return hclog.NewNullLogger()
	}
	return env.Logger
}

// Registration describes one check type.
type Registration struct {
	// Type is the first label of `check "TYPE" "NAME"`.
	Type string
	// Spec decodes the type's own attributes and blocks.
	Spec hcldec.Spec
	// Metrics lists the metrics the type reports, for thresholds.
	Metrics []string
	// ConfigMetrics, when set, names the metrics a check of this type
	// declares in its own body (the metrics type's `value "NAME"` blocks),
	// reported in addition to Metrics. It reads the body's syntax only (block
	// labels), so it works on a body whose values do not decode, and lets
	// validate reject a threshold on an undeclared name at file:line.
	ConfigMetrics func(body hcl.Body) []string
	// Result lists the extra attributes of `result` that assert may read.
	Result map[string]cty.Type
	// Build checks the decoded values and constructs the checker. It does no
	// I/O. Values may be unknown when validating with --unknown-env: Build
	// must then check what is known and may return a nil Checker.
	Build func(cfg cty.Value, env Env) (Checker, hcl.Diagnostics)
	// Sample is an example of the type, from an embedded sample.hcl.
	Sample string
	// Doc is a one-line description.
	Doc string

	resultOnce sync.Once
	resultType cty.Type
}

// ResultType returns the object type of `result` in an assert for this type:
// every metric (a number), error, detail, and the type's own attributes.
func (r *Registration) ResultType() cty.Type {
	r.resultOnce.Do(func() { r.resultType = r.buildResultType() })
	return r.resultType
}

func (r *Registration) buildResultType() cty.Type {
	attrs := map[string]cty.Type{"error": cty.String, "detail": cty.String, "status": cty.String, "duration_ms": cty.Number}
	for _, m := range r.Metrics {
		attrs[m] = cty.Number
	}
	for k, t := range r.Result {
		attrs[k] = t
	}
	return cty.Object(attrs)
}

// ResultValue builds the `result` object an assert sees for one run that
// took the given time (as the scheduler measured it).
func (r *Registration) ResultValue(res Result, took time.Duration) cty.Value {
	attrs := map[string]cty.Value{
		"error":       cty.StringVal(res.Error),
		"detail":      cty.StringVal(res.Detail),
		"status":      cty.StringVal(string(res.Verdict())),
		"duration_ms": cty.NumberFloatVal(float64(took) / float64(time.Millisecond)),
	}
	for _, m := range r.Metrics {
		if v, ok := res.Metrics[m]; ok {
			attrs[m] = cty.NumberFloatVal(v)
		} else {
			attrs[m] = cty.NullVal(cty.Number)
		}
	}
	for k, t := range r.Result {
		if v, ok := res.Attrs[k]; ok && v != cty.NilVal {
			attrs[k] = v
		} else {
			attrs[k] = cty.NullVal(t)
		}
	}
	return cty.ObjectVal(attrs)
}

// ForBody returns the registration as one check declared with body sees
// it: r itself, or, for a type with ConfigMetrics, a copy whose Metrics
// include the names the body declares (a declared name that repeats one of
// the type's own is listed once).
func (r *Registration) ForBody(body hcl.Body) *Registration {
	if r.ConfigMetrics == nil || body == nil {
		return r
	}
	extra := r.ConfigMetrics(body)
	if len(extra) == 0 {
		return r
	}
	metrics := append([]string(nil), r.Metrics...)
	for _, m := range extra {
		if !slices.Contains(metrics, m) {
			metrics = append(metrics, m)
		}
	}
	return &Registration{
		Type: r.Type, Spec: r.Spec, Metrics: metrics, Result: r.Result,
		Build: r.Build, Sample: r.Sample, Doc: r.Doc,
	}
}

// HasMetric reports whether the type reports the metric.
func (r *Registration) HasMetric(name string) bool {
	for _, m := range r.Metrics {
		if m == name {
			return true
		}
	}
	return false
}

var types = registry.New[*Registration]("checks")

// Register adds a check type. It panics on a duplicate or incomplete
// registration: both are programming errors found at start.
func Register(r *Registration) {
	if r == nil || r.Type == "" || r.Spec == nil || r.Build == nil {
		panic("checks: incomplete registration")
	}
	types.Add(r.Type, r)
}

// Lookup returns the registration of a type.
func Lookup(typ string) (*Registration, bool) { return types.Lookup(typ) }

// Types returns every registered type name, sorted.
func Types() []string { return types.Names() }
