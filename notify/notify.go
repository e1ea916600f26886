// Package notify holds the Notifier contract, the registry of notifier
// types and the payload every notifier is handed: a Message of one or
// more alerts.
//
// A notifier type lives in its own folder (notify/webhook ...) and
// registers itself from init(); notify/all imports every built-in type.
// Notifiers never run on the scheduler's goroutine: the dispatcher
// (Dispatcher) is a bus subscriber that decides what fires and hands each
// notifier its messages on the notifier's own goroutine.
package notify

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/zclconf/go-cty/cty"

	"github.com/satellite-hq/satellite/internal/registry"
)

// PayloadVersion is the version of Message's JSON form (the webhook
// payload, docs/notify/webhook.md). A field added keeps the version; a
// field renamed, removed or changed in meaning bumps it.
const PayloadVersion = 1

// The states of an alert.
const (
	// StateProblem: the check turned critical (or warning, where the
	// notifier takes warnings).
	StateProblem = "problem"
	// StateResolved: the check is passing again after a problem was sent.
	StateResolved = "resolved"
	// StateFlapping: the check changes state too often to follow; one
	// message, then quiet until it settles.
	StateFlapping = "flapping"
)

// The severities, lowest first.
const (
	SeverityWarning  = "warning"
	SeverityCritical = "critical"
)

// Alert is one thing a message tells of.
type Alert struct {
	// Key identifies what the alert is about, the same for its problem and
	// its recovery: "NODE/CHECK". Receivers that deduplicate (PagerDuty's
	// dedup_key, Alertmanager's label set) key on it.
	Key string `json:"key"`
	// State is StateProblem, StateResolved or StateFlapping.
	State string `json:"state"`
	// Severity is SeverityCritical or SeverityWarning: the check's state
	// for a problem, that of the problem it ends for a recovery.
	Severity string `json:"severity"`
	Node     string `json:"node"`
	// Check is the check's address, Type its type.
	Check string `json:"check"`
	Type  string `json:"type"`
	// Status is the check's state now, Previous the one before.
	Status   string `json:"status"`
	Previous string `json:"previous,omitempty"`
	// Error is the check's error, redacted.
	Error string `json:"error,omitempty"`
	// Since is when the check entered its state.
	Since time.Time `json:"since"`
	// Labels are the check's labels.
	Labels map[string]string `json:"labels,omitempty"`
	// Blocking names the checks that depend on this one and are blocked
	// by it: they are not notified themselves.
	Blocking []string `json:"blocking,omitempty"`
	// Cluster marks an alert about a node or the mesh (Check mesh.member,
	// mesh.config, mesh.partition), sent by one member for the whole
	// cluster (docs/notify.md, "Cluster alerts").
	Cluster bool `json:"cluster,omitempty"`
}

// Message is what one notification carries: the alerts that came together
// within a notifier's group_wait.
type Message struct {
	Version int `json:"version"`
	// ID is unique per message; a receiver that sees an ID twice was sent
	// the same message again (a retry after a lost answer).
	ID string `json:"id"`
	// Notifier is the address of the notifier (webhook.ops).
	Notifier string `json:"notifier"`
	// Sender is the node that sent it.
	Sender string    `json:"sender"`
	Time   time.Time `json:"time"`
	// Title is one line for people: "2 checks critical on node-a".
	Title string `json:"title"`
	// Test is set on `satellite notify test` messages.
	Test   bool    `json:"test,omitempty"`
	Alerts []Alert `json:"alerts"`
	// More counts alerts folded away by the rate limit: "and 37 more".
	More int `json:"more,omitempty"`
}

// Receipt is what a receiver answered.
type Receipt struct {
	// Status is the HTTP status (or the SMTP reply code).
	Status int
	// Body is the start of the answer, for `satellite notify test`.
	Body string
}

// Notifier delivers messages to one receiver.
type Notifier interface {
	// Send delivers m. An error wrapped by Reject is final (the receiver
	// refused the request as it is, a 4xx): retrying cannot help and the
	// message goes to the dead letter. Any other error is retried.
	Send(ctx context.Context, m *Message) (Receipt, error)
}

// RejectedError marks a message the receiver will never accept as it is.
type RejectedError struct{ Err error }

func (e *RejectedError) Error() string { return "rejected by the receiver: " + e.Err.Error() }
func (e *RejectedError) Unwrap() error { return e.Err }

// Reject wraps err as a RejectedError; nil stays nil.
func Reject(err error) error {
	if err == nil {
		return nil
	}
	return &RejectedError{Err: err}
}

// IsRejected reports whether err, or an error it wraps, is a RejectedError.
func IsRejected(err error) bool {
	var r *RejectedError
	return errors.As(err, &r)
}

// HTTPError is the error of an HTTP notifier for a status it did not take:
// a 4xx other than 408 and 429 is a rejection.
func HTTPError(status int, body string) error {
	err := fmt.Errorf("HTTP %d: %s", status, body)
	if status >= 400 && status < 500 && status != 408 && status != 429 {
		return Reject(err)
	}
	return err
}

// Env is what Build may know of the place a notifier is declared.
type Env struct {
	// Body is the notifier block's body, for attribute ranges.
	Body hcl.Body
	// Block is the range of the block's header.
	Block hcl.Range
	// BaseDir is the folder of the declaring file (for *_file attributes).
	BaseDir string
	// Address is TYPE.NAME.
	Address string
}

// Registration describes one notifier type.
type Registration struct {
	// Type is the first label of `notifier "TYPE" "NAME"`.
	Type string
	// Spec decodes the block's body (the meta-arguments taken out).
	Spec hcldec.Spec
	// Build checks the decoded values and returns the notifier. It does no
	// I/O but reading *_file secrets; values may be unknown under
	// `validate --unknown-env`, and the notifier may then be nil.
	Build func(cfg cty.Value, env Env) (Notifier, hcl.Diagnostics)
	// Resends says the receiver wants a firing alert sent again while it
	// fires (Alertmanager resolves alerts it stops hearing of).
	Resends time.Duration
	// NoReminders says remind_every makes no sense for the type (PagerDuty
	// keeps an incident open by itself).
	NoReminders bool
	// NoFold says every alert must reach the receiver: a message lists all
	// its alerts, never "and N more" (PagerDuty opens one incident per
	// alert, so a folded alert would page nobody).
	NoFold bool
	// Doc is a one-line description.
	Doc string
}

var types = registry.New[*Registration]("notifiers")

// Register adds a notifier type; it panics on a duplicate or incomplete
// registration.
func Register(r *Registration) {
	if r == nil || r.Type == "" || r.Spec == nil || r.Build == nil {
		panic("notify: incomplete registration")
	}
	types.Add(r.Type, r)
}

// Lookup returns the registration of a type.
func Lookup(typ string) (*Registration, bool) { return types.Lookup(typ) }

// Types returns every registered type name, sorted.
func Types() []string { return types.Names() }
