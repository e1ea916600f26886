// Package pagerduty is the `pagerduty` notifier type: each alert of a
// message is one PagerDuty Events API v2 event, a trigger for a problem or
// a flap and a resolve for a recovery, deduplicated on the alert's key
// (docs/notify/pagerduty.md).
package pagerduty

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/zclconf/go-cty/cty"

	"github.com/satellite-hq/satellite/dsl"
	"github.com/satellite-hq/satellite/notify"
)

// Type is the first label of `notifier "pagerduty" "NAME"`.
const Type = "pagerduty"

// Defaults.
const (
	// DefaultURL is the Events API v2 endpoint (the EU service is
	// https://events.eu.pagerduty.com/v2/enqueue).
	DefaultURL = "https://events.pagerduty.com/v2/enqueue"
	// DefaultTimeout bounds one request (one event).
	DefaultTimeout = 10 * time.Second
	// DefaultClient is the event's client: who sent it.
	DefaultClient = "satellite"
)

// The Events API v2 limits.
const (
	MaxDedupKey = 255  // bytes of dedup_key
	MaxSummary  = 1024 // characters of payload.summary
	// maxError bounds the error in custom_details (an event is at most
	// 512 KB, and a message holds up to 20 of them).
	maxError = 16 << 10
	// routingKeyLen is the length of an Events API v2 integration key.
	routingKeyLen = 32
)

// The event actions.
const (
	ActionTrigger = "trigger"
	ActionResolve = "resolve"
)

// DedupPrefix starts every dedup_key satellite makes.
const DedupPrefix = "satellite/"

// maxAnswer is how much of an answer is kept for the receipt.
const maxAnswer = 4 << 10

var spec = hcldec.ObjectSpec{
	"routing_key":      &hcldec.AttrSpec{Name: "routing_key", Type: cty.String},
	"routing_key_file": &hcldec.AttrSpec{Name: "routing_key_file", Type: cty.String},
	"url":              &hcldec.AttrSpec{Name: "url", Type: cty.String},
	"timeout":          &hcldec.AttrSpec{Name: "timeout", Type: cty.DynamicPseudoType},
	"client":           &hcldec.AttrSpec{Name: "client", Type: cty.String},
	"client_url":       &hcldec.AttrSpec{Name: "client_url", Type: cty.String},
}

func init() {
	notify.Register(&notify.Registration{
		Type:        Type,
		Spec:        spec,
		Build:       build,
		NoReminders: true, // PagerDuty keeps the incident open itself
		NoFold:      true, // one incident per alert: none may be folded away
		Doc:         "Sends each alert as a PagerDuty Events API v2 event: trigger on a problem, resolve on its recovery, one dedup_key per check.",
	})
}

// Config is what a `notifier "pagerduty"` block says.
type Config struct {
	// RoutingKey is the integration key of an Events API v2 integration.
	RoutingKey string
	// URL is the events endpoint (DefaultURL when empty).
	URL string
	// Client and ClientURL name the monitoring client in trigger events
	// (Client is DefaultClient when empty; ClientURL is left out when empty).
	Client, ClientURL string
	// Timeout bounds one request (DefaultTimeout when 0).
	Timeout time.Duration
}

// String describes the config without its routing key.
func (c Config) String() string {
	return fmt.Sprintf("pagerduty{url=%s routing_key=(sensitive) client=%q}", hostOnly(c.URL), c.Client)
}

// GoString keeps the routing key out of %#v as well.
func (c Config) GoString() string { return c.String() }

// PagerDuty is a built `notifier "pagerduty"` block.
type PagerDuty struct {
	cfg    Config
	client *http.Client
}

// New is a PagerDuty notifier for c.
func New(c Config) *PagerDuty {
	if c.URL == "" {
		c.URL = DefaultURL
	}
	if c.Client == "" {
		c.Client = DefaultClient
	}
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	return &PagerDuty{cfg: c, client: &http.Client{Timeout: c.Timeout}}
}

// String describes the notifier without its routing key.
func (p *PagerDuty) String() string { return p.cfg.String() }

// GoString keeps the routing key out of %#v as well.
func (p *PagerDuty) GoString() string { return p.cfg.String() }

func hostOnly(raw string) string {
	if u, err := url.Parse(raw); err == nil && u.Host != "" {
		return u.Scheme + "://" + u.Host + "/..."
	}
	return "?"
}

func build(cfg cty.Value, env notify.Env) (notify.Notifier, hcl.Diagnostics) {
	if !cfg.IsKnown() {
		return nil, nil // nothing to check yet (validate --unknown-env)
	}
	a := dsl.NewAttrs(cfg, env.Body, env.Block)
	c := Config{URL: DefaultURL, Client: DefaultClient, Timeout: DefaultTimeout}
	ok := true

	key, have := notify.SecretAttr(a, "routing_key", "routing_key_file", env.BaseDir, &ok)
	switch {
	case !have && ok && !a.IsSet("routing_key") && !a.IsSet("routing_key_file"):
		a.Errorf("", "Missing routing_key", "A pagerduty notifier needs routing_key (or routing_key_file): the integration key of an Events API v2 integration.")
		ok = false
	case have:
		// Never echo the key, not even a part of it.
		at := notify.FirstSet(a, "routing_key", "routing_key_file")
		key = strings.TrimSpace(key)
		switch {
		case key == "":
			a.Errorf(at, "Empty routing_key", "The routing key is empty: it is the Integration Key of the service's Events API v2 integration.")
			ok = false
		case strings.ContainsFunc(key, func(r rune) bool { return r <= ' ' || r == 0x7f }):
			a.Errorf(at, "Invalid routing_key", "The routing key contains a space or a control character.")
			ok = false
		case len(key) != routingKeyLen:
			a.Warnf(at, "Unusual routing_key", "The routing key is %d characters long; an Events API v2 integration key has %d, and PagerDuty refuses events with another length.", len(key), routingKeyLen)
		}
		c.RoutingKey = key
	}

	if v, set := a.String("url"); set {
		if u, err := url.Parse(v); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
			a.Errorf("url", "Invalid url", "url must be an absolute http:// or https:// URL without credentials, such as %q.", DefaultURL)
			ok = false
		}
		c.URL = v
	}
	if v, set := a.String("client"); set {
		if strings.TrimSpace(v) == "" || strings.ContainsFunc(v, func(r rune) bool { return r < ' ' || r == 0x7f }) {
			a.Errorf("client", "Invalid client", "client must be a non-empty name on one line, such as %q.", DefaultClient)
			ok = false
		}
		c.Client = v
	}
	if v, set := a.String("client_url"); set {
		if u, err := url.Parse(v); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
			a.Errorf("client_url", "Invalid client_url", "client_url must be an absolute http:// or https:// URL without credentials, such as \"http://satellite.example:7575/v1/status\".")
			ok = false
		}
		c.ClientURL = v
	}
	c.Timeout = notify.TimeoutAttr(a, c.Timeout, &ok)
	if !ok || a.Diags.HasErrors() || !cfg.IsWhollyKnown() {
		return nil, a.Diags // unknown values (validate --unknown-env): checked as far as they go
	}
	return New(c), a.Diags
}

// DedupKey is the dedup_key of an alert's events: DedupPrefix and the key
// (NODE/CHECK), the same for a problem and its recovery. A key too long
// for PagerDuty's 255 bytes keeps its start and ends with "~" and 32 hex
// digits of its SHA-256, so it stays stable and distinct.
func DedupKey(alertKey string) string {
	k := DedupPrefix + alertKey
	if len(k) <= MaxDedupKey {
		return k
	}
	sum := sha256.Sum256([]byte(alertKey))
	tail := "~" + hex.EncodeToString(sum[:16])
	head := k[:MaxDedupKey-len(tail)]
	for !utf8.ValidString(head) { // not within a rune
		head = head[:len(head)-1]
	}
	return head + tail
}

// The Events API v2 event.
type (
	event struct {
		RoutingKey  string   `json:"routing_key"`
		EventAction string   `json:"event_action"`
		DedupKey    string   `json:"dedup_key"`
		Client      string   `json:"client,omitempty"`
		ClientURL   string   `json:"client_url,omitempty"`
		Payload     *payload `json:"payload,omitempty"`
	}
	payload struct {
		Summary       string         `json:"summary"`
		Source        string         `json:"source"`
		Severity      string         `json:"severity"`
		Timestamp     string         `json:"timestamp,omitempty"`
		Component     string         `json:"component,omitempty"`
		Group         string         `json:"group,omitempty"`
		Class         string         `json:"class,omitempty"`
		CustomDetails map[string]any `json:"custom_details,omitempty"`
	}
)

// events are the events of m, one per alert. A test message without
// alerts is one trigger of severity info.
func (p *PagerDuty) events(m *notify.Message) []event {
	if len(m.Alerts) == 0 && m.Test {
		return []event{{RoutingKey: p.cfg.RoutingKey, EventAction: ActionTrigger, DedupKey: DedupKey("test/" + m.ID),
			Client: p.cfg.Client, ClientURL: p.cfg.ClientURL,
			Payload: &payload{Summary: clip(m.Title, MaxSummary), Source: or(m.Sender, "satellite"), Severity: "info",
				Timestamp: stamp(m.Time), Class: "test", CustomDetails: map[string]any{"test": true, "notifier": m.Notifier}}}}
	}
	out := make([]event, 0, len(m.Alerts))
	for i := range m.Alerts {
		a := &m.Alerts[i]
		e := event{RoutingKey: p.cfg.RoutingKey, DedupKey: DedupKey(a.Key)}
		if a.State == notify.StateResolved {
			e.EventAction = ActionResolve // routing_key, event_action and dedup_key are all a resolve takes
			out = append(out, e)
			continue
		}
		e.EventAction = ActionTrigger
		e.Client, e.ClientURL = p.cfg.Client, p.cfg.ClientURL
		sev := notify.SeverityCritical
		if a.Severity == notify.SeverityWarning {
			sev = notify.SeverityWarning
		}
		state := sev
		if a.State == notify.StateFlapping {
			state = "flapping"
		}
		summary := fmt.Sprintf("%s %s on %s", or(a.Check, a.Key), state, or(a.Node, m.Sender))
		if a.Error != "" {
			summary += ": " + a.Error
		}
		details := map[string]any{"status": a.Status}
		if a.Previous != "" {
			details["previous"] = a.Previous
		}
		if a.Error != "" {
			details["error"] = clip(a.Error, maxError)
		}
		if len(a.Labels) > 0 {
			details["labels"] = a.Labels
		}
		if len(a.Blocking) > 0 {
			details["blocking"] = a.Blocking
		}
		e.Payload = &payload{
			Summary:       clip(strings.Join(strings.Fields(summary), " "), MaxSummary),
			Source:        or(a.Node, m.Sender, "satellite"),
			Severity:      sev,
			Timestamp:     stamp(a.Since),
			Component:     a.Check,
			Group:         a.Type,
			Class:         or(a.State, notify.StateProblem),
			CustomDetails: details,
		}
		out = append(out, e)
	}
	return out
}

func or(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// clip cuts s to at most max characters, ending with "…" when cut.
func clip(s string, max int) string {
	if utf8.RuneCountInString(s) <= max {
		return s
	}
	n := 0
	for i := range s {
		if n == max-1 {
			return s[:i] + "…"
		}
		n++
	}
	return s
}

// Send posts one event per alert of m, in order. A retryable failure (a
// 5xx, a 429, a network error) stops there and is returned: the whole
// message is retried, which dedup_key makes harmless. An event PagerDuty
// refuses (a 400) does not stop the others; the message is then rejected.
func (p *PagerDuty) Send(ctx context.Context, m *notify.Message) (notify.Receipt, error) {
	var (
		last     notify.Receipt
		rejected []error
	)
	evs := p.events(m)
	for i := range evs {
		r, err := p.post(ctx, &evs[i])
		switch {
		case err == nil:
			if len(rejected) == 0 { // a rejection's receipt is the one kept
				last = r
			}
		case notify.IsRejected(err):
			if len(rejected) == 0 {
				last = r
			}
			rejected = append(rejected, fmt.Errorf("event %s of %s: %w", evs[i].EventAction, evs[i].DedupKey, errors.Unwrap(err)))
		default:
			return r, fmt.Errorf("event %s of %s: %w", evs[i].EventAction, evs[i].DedupKey, err)
		}
	}
	switch len(rejected) {
	case 0:
		return last, nil
	case 1:
		return last, notify.Reject(rejected[0])
	default:
		return last, notify.Reject(fmt.Errorf("%d of %d events refused; the first: %w", len(rejected), len(evs), rejected[0]))
	}
}

// post sends one event. PagerDuty answers 202; a 4xx but 408 and 429 is a
// rejection.
func (p *PagerDuty) post(ctx context.Context, e *event) (notify.Receipt, error) {
	body, err := json.Marshal(e)
	if err != nil {
		return notify.Receipt{}, notify.Reject(err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return notify.Receipt{}, notify.Reject(redactURL(err))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "satellite")
	resp, err := p.client.Do(req)
	if err != nil {
		return notify.Receipt{}, redactURL(err)
	}
	defer resp.Body.Close()
	ans, _ := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	text := strings.TrimSpace(string(ans))
	if p.cfg.RoutingKey != "" {
		text = strings.ReplaceAll(text, p.cfg.RoutingKey, "(sensitive)")
	}
	r := notify.Receipt{Status: resp.StatusCode, Body: text}
	if resp.StatusCode/100 == 2 {
		return r, nil
	}
	if resp.StatusCode == http.StatusTooManyRequests {
		if ra := resp.Header.Get("Retry-After"); ra != "" && len(ra) < 32 {
			text += " (Retry-After: " + ra + ")"
		}
	}
	return r, notify.HTTPError(resp.StatusCode, text)
}

// redactURL keeps only the scheme and host of the URL in a client error.
func redactURL(err error) error {
	if ue, ok := err.(*url.Error); ok {
		return fmt.Errorf("%s %s: %w", ue.Op, hostOnly(ue.URL), ue.Err)
	}
	return err
}
