// Package sinks holds the Sink contract and the registry of sink types.
//
// A sink type lives in its own folder (sinks/sqlite ...) and registers itself
// from init(); sinks/all imports every built-in type. Sinks are batched and
// are never called on the scheduler's goroutine.
package sinks

import (
	"context"
	"time"

	"github.com/satellite-hq/satellite/events"
	"github.com/satellite-hq/satellite/health"
	"github.com/satellite-hq/satellite/internal/registry"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/zclconf/go-cty/cty"
)

// Record is one check result as sinks store it.
type Record struct {
	// Time is when the run started.
	Time time.Time
	// Node is the name of the node that ran the check.
	Node string
	// Check is the check's address, such as `http.apiserver["a"]`.
	Check string
	// Type is the check type.
	Type string
	// Status is the state after thresholds, asserts and hysteresis.
	Status health.Status
	// RunStatus is this run's own status, before hysteresis.
	RunStatus health.Status
	// Changed is true when Status differs from the previous state.
	Changed bool
	// Previous is the state before this run, when Changed.
	Previous health.Status
	// Duration is how long the run took.
	Duration time.Duration
	// Metrics are the run's metrics.
	Metrics map[string]float64
	// Error is the run's error, redacted.
	Error string
	// Labels are the check's labels.
	Labels map[string]string
}

// RecordOf is how a check run of the events bus is stored: its error is
// already redacted. Previous is set only when the state changed.
func RecordOf(e *events.Event) Record {
	r := Record{
		Time: e.Time, Node: e.Node, Check: e.Check.Address, Type: e.Check.Type,
		Status: e.Status, RunStatus: e.RunStatus, Changed: e.Changed,
		Duration: e.Duration, Metrics: e.Metrics, Error: e.Error, Labels: e.Check.Labels,
	}
	if e.Changed {
		r.Previous = e.Previous
	}
	return r
}

// Sink receives batches of records.
type Sink interface {
	// Write stores a batch; an error means none of it counts as delivered.
	Write(ctx context.Context, batch []Record) error
	// Close flushes and releases the sink.
	Close() error
}

// Opener is the built, not yet opened, form of a sink: Build does no I/O,
// Open does.
type Opener interface {
	Open(ctx context.Context) (Sink, error)
}

// Env is what Build may know of the place a sink is declared.
type Env struct {
	// Body is the sink block's body.
	Body hcl.Body
	// Block is the range of the block's header.
	Block hcl.Range
	// BaseDir is the folder of the declaring file.
	BaseDir string
	// DataDir is agent.data_dir.
	DataDir string
}

// Registration describes one sink type.
type Registration struct {
	// Type is the first label of `sink "TYPE" "NAME"`.
	Type string
	// Spec decodes the sink block's body.
	Spec hcldec.Spec
	// Build checks the decoded values and returns the sink, unopened. It does
	// no I/O; values may be unknown under `validate --unknown-env`, and the
	// Opener may then be nil.
	Build func(cfg cty.Value, env Env) (Opener, hcl.Diagnostics)
	// Sample is an example, from an embedded sample.hcl.
	Sample string
	// Doc is a one-line description.
	Doc string
}

var types = registry.New[*Registration]("sinks")

// Register adds a sink type; it panics on a duplicate or incomplete registration.
func Register(r *Registration) {
	if r == nil || r.Type == "" || r.Spec == nil || r.Build == nil {
		panic("sinks: incomplete registration")
	}
	types.Add(r.Type, r)
}

// Lookup returns the registration of a type.
func Lookup(typ string) (*Registration, bool) { return types.Lookup(typ) }

// Types returns every registered type name, sorted.
func Types() []string { return types.Names() }
