// Package sinkplugin is what a satellite sink plugin is written with: a
// program that satellite starts and sends check results to, for a
// `sink "plugin" "NAME"` block. A plugin implements Sink and calls Serve from
// main:
//
//	type pager struct{ key string }
//
//	func (p *pager) Configure(ctx context.Context, config map[string]string) error {
//		p.key = config["routing_key"]
//		if p.key == "" {
//			return errors.New(`config "routing_key" is required`)
//		}
//		return nil
//	}
//
//	func (p *pager) Write(ctx context.Context, batch []sinkplugin.Record) error {
//		for _, r := range batch {
//			// ... send r; return an error to have the whole batch sent again later
//		}
//		return nil
//	}
//
//	func main() { sinkplugin.Serve(&pager{}) }
//
// The protocol is github.com/hashicorp/go-plugin over gRPC (sink.proto in
// sinkplugin/pb); this package hides it. It also holds the host's side
// (PluginSet, Client), which satellite itself uses.
package sinkplugin

import (
	"context"
	"errors"
	"time"
)

// Record is one check result.
type Record struct {
	// ID is stable: a batch sent again after a failure carries the same IDs,
	// so that a plugin can drop the records it already stored. 16 hex digits.
	ID string
	// Time is when the run started.
	Time time.Time
	// Node is the name of the node that ran the check.
	Node string
	// Check is the check's address, such as `http.apiserver["a"]`.
	Check string
	// Type is the check type.
	Type string
	// Status is the state after thresholds, asserts and hysteresis:
	// "passing", "warning", "critical" ...
	Status string
	// RunStatus is this run's own status, before hysteresis.
	RunStatus string
	// Changed is true when Status differs from the previous state.
	Changed bool
	// Previous is the state before this run, when Changed.
	Previous string
	// Duration is how long the run took.
	Duration time.Duration
	// Metrics are the run's metrics.
	Metrics map[string]float64
	// Error is the run's error, with secrets redacted.
	Error string
	// Labels are the check's labels.
	Labels map[string]string
}

// Sink is what a plugin implements. Satellite calls one method at a time.
type Sink interface {
	// Configure receives the sink block's `config` map, once after the
	// plugin starts and before any Write. An error stops this process: the
	// agent keeps the results in the sink's spool and starts and configures
	// the plugin again at each retry, with backoff (docs/sinks/plugins.md).
	// Its message is logged, so it must not quote secret values.
	Configure(ctx context.Context, config map[string]string) error
	// Write stores a batch, in order. An error means none of it counts as
	// delivered: satellite keeps the batch and sends it again later, with
	// the same record IDs. Wrap the error with Reject when the batch can
	// never be stored as it is, so that it is not sent again.
	Write(ctx context.Context, batch []Record) error
}

// RejectedError marks a batch a plugin will never accept as it is.
type RejectedError struct{ Err error }

// Error returns the message of the wrapped error.
func (e *RejectedError) Error() string { return "rejected: " + e.Err.Error() }

// Unwrap returns the wrapped error.
func (e *RejectedError) Unwrap() error { return e.Err }

// Reject marks err as a permanent refusal of the batch (bad data, not an
// outage): satellite moves the batch aside instead of sending it again,
// which would block every later record. nil stays nil.
func Reject(err error) error {
	if err == nil {
		return nil
	}
	return &RejectedError{Err: err}
}

// IsRejected reports whether err, or an error it wraps, came from Reject.
func IsRejected(err error) bool {
	var r *RejectedError
	return errors.As(err, &r)
}
