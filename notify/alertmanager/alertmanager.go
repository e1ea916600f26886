// Package alertmanager is the `alertmanager` notifier type: each message is
// a POST of its alerts, as Alertmanager's postableAlert objects, to
// /api/v2/alerts of one or more Alertmanagers (docs/notify/alertmanager.md).
//
// Alertmanager resolves an alert it stops hearing of (resolve_timeout), so
// the type registers Resends: the dispatcher sends open problems again
// every minute. A message is delivered when at least one Alertmanager took
// it: the members of an HA cluster share their alerts by themselves.
package alertmanager

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/textproto"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/zclconf/go-cty/cty"

	"github.com/satellite-hq/satellite/dsl"
	"github.com/satellite-hq/satellite/notify"
)

// Type is the first label of `notifier "alertmanager" "NAME"`.
const Type = "alertmanager"

// AlertName is the alertname label of every alert satellite posts: one
// name, so that Alertmanager's usual group_by [alertname, ...] gathers
// satellite's alerts; the check is in the check label.
const AlertName = "satellite_check"

// APIPath is where the alerts are posted, under each base URL.
const APIPath = "/api/v2/alerts"

// DefaultTimeout bounds one request to one Alertmanager.
const DefaultTimeout = 10 * time.Second

// Resend is how often the dispatcher sends an open problem again:
// well within Alertmanager's default resolve_timeout of 5m.
const Resend = time.Minute

// maxAnswer is how much of an answer is kept for the receipt and errors.
const maxAnswer = 4 << 10

var spec = hcldec.ObjectSpec{
	"urls":          &hcldec.AttrSpec{Name: "urls", Type: cty.List(cty.String)},
	"headers":       &hcldec.AttrSpec{Name: "headers", Type: cty.Map(cty.String)},
	"timeout":       &hcldec.AttrSpec{Name: "timeout", Type: cty.DynamicPseudoType},
	"generator_url": &hcldec.AttrSpec{Name: "generator_url", Type: cty.String},
}

func init() {
	notify.Register(&notify.Registration{
		Type:    Type,
		Spec:    spec,
		Build:   build,
		Resends: Resend,
		NoFold:  true, // Alertmanager groups by itself; every alert must reach it
		Doc:     "POSTs the alerts to Alertmanager's /api/v2/alerts, to every member of an HA cluster; firing alerts are re-sent every minute.",
	})
}

// Alertmanager is a built `notifier "alertmanager"` block.
type Alertmanager struct {
	urls         []*url.URL
	headers      map[string]string
	generatorURL string
	timeout      time.Duration
	client       *http.Client
}

// Options are what New takes besides the URLs.
type Options struct {
	// Headers are extra request headers (Authorization ...).
	Headers map[string]string
	// GeneratorURL is the base of each alert's generatorURL (a satellite
	// API): the alert links to GeneratorURL + "/v1/status?node=NODE".
	GeneratorURL string
	// Timeout bounds one request; 0 is DefaultTimeout.
	Timeout time.Duration
}

// New is a notifier posting to the Alertmanagers at urls, absolute
// http(s) base URLs (credentials in them are sent as basic auth).
func New(urls []string, opts Options) (*Alertmanager, error) {
	if len(urls) == 0 {
		return nil, errors.New("no Alertmanager URL")
	}
	a := &Alertmanager{headers: opts.Headers, generatorURL: strings.TrimRight(opts.GeneratorURL, "/"), timeout: opts.Timeout}
	if a.timeout <= 0 {
		a.timeout = DefaultTimeout
	}
	for i, raw := range urls {
		u, err := parseBase(raw)
		if err != nil {
			return nil, fmt.Errorf("URL %d: %w", i+1, err)
		}
		a.urls = append(a.urls, u)
	}
	a.client = &http.Client{Timeout: a.timeout}
	return a, nil
}

// parseBase checks a base URL; its errors never quote it (it may hold
// credentials).
func parseBase(raw string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, errors.New("not an absolute http:// or https:// URL")
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, errors.New("a base URL takes no query or fragment")
	}
	u.Path = strings.TrimRight(u.Path, "/") + APIPath
	u.RawPath = ""
	return u, nil
}

// where names an Alertmanager without its credentials or path.
func where(u *url.URL) string { return u.Scheme + "://" + u.Host }

// String describes the notifier without credentials, paths or header values.
func (a *Alertmanager) String() string {
	names := make([]string, len(a.urls))
	for i, u := range a.urls {
		names[i] = where(u)
	}
	return fmt.Sprintf("alertmanager{urls=[%s] headers=%d}", strings.Join(names, " "), len(a.headers))
}

// GoString keeps secrets out of %#v as well.
func (a *Alertmanager) GoString() string { return a.String() }

func build(cfg cty.Value, env notify.Env) (notify.Notifier, hcl.Diagnostics) {
	if !cfg.IsWhollyKnown() {
		return nil, nil // validate --unknown-env: nothing to check yet
	}
	at := dsl.NewAttrs(cfg, env.Body, env.Block)
	ok := true
	var urls []string
	withCreds := false

	if list, set := at.StringList("urls"); set {
		if len(list) == 0 {
			at.Errorf("urls", "Missing urls", "Attribute \"urls\" needs at least one Alertmanager base URL, such as \"http://alertmanager:9093\".")
			ok = false
		}
		seen := map[string]bool{}
		for i, raw := range list {
			// Never echo a URL: it may hold credentials.
			u, err := parseBase(raw)
			if err != nil {
				at.Errorf("urls", "Invalid url", "URL %d of urls is %s.", i+1, err)
				ok = false
				continue
			}
			if seen[u.String()] {
				at.Errorf("urls", "Duplicate url", "URL %d of urls is given twice: every alert would go to that Alertmanager twice.", i+1)
				ok = false
				continue
			}
			seen[u.String()] = true
			withCreds = withCreds || u.User != nil
			urls = append(urls, raw)
		}
	} else if !at.IsSet("urls") {
		at.Errorf("", "Missing urls", "An alertmanager notifier needs urls, the base URLs of the Alertmanagers (every member of an HA cluster), such as [\"http://alertmanager:9093\"].")
		ok = false
	}

	headers := map[string]string{}
	if h, set := at.StringMap("headers"); set {
		for k, v := range h {
			if k == "" || strings.ContainsAny(k, " \t\r\n:") {
				at.Errorf("headers", "Invalid header name", "Header name %q is not a valid HTTP header name.", k)
				ok = false
				continue
			}
			if strings.ContainsAny(v, "\r\n") {
				at.Errorf("headers", "Invalid header value", "The value of header %q contains a line break, which an HTTP header cannot carry.", k)
				ok = false
				continue
			}
			switch textproto.CanonicalMIMEHeaderKey(k) {
			case "Content-Type", "Content-Length", "Host":
				at.Errorf("headers", "Reserved header", "Header %q is set by satellite itself.", k)
				ok = false
				continue
			case "Authorization":
				if withCreds {
					at.Errorf("headers", "Conflicting credentials", "A URL of urls holds credentials and headers sets Authorization: use one or the other.")
					ok = false
					continue
				}
			}
			headers[k] = v
		}
	}

	var generator string
	if g, set := at.String("generator_url"); set {
		u, err := url.Parse(strings.TrimSpace(g))
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			at.Errorf("generator_url", "Invalid generator_url", "Attribute \"generator_url\" must be the base URL of satellite's API, such as \"https://node-a.example.com:7575\", without a query.")
			ok = false
		} else {
			generator = strings.TrimRight(u.String(), "/")
		}
	}

	timeout := notify.TimeoutAttr(at, DefaultTimeout, &ok)
	if !ok || at.Diags.HasErrors() {
		return nil, at.Diags
	}
	n, err := New(urls, Options{Headers: headers, GeneratorURL: generator, Timeout: timeout})
	if err != nil {
		at.Errorf("urls", "Invalid urls", "%s.", err)
		return nil, at.Diags
	}
	return n, at.Diags
}

// PostableAlert is one alert of the body of POST /api/v2/alerts
// (Alertmanager's OpenAPI postableAlert).
type PostableAlert struct {
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations,omitempty"`
	StartsAt     time.Time         `json:"startsAt,omitzero"`
	EndsAt       time.Time         `json:"endsAt,omitzero"`
	GeneratorURL string            `json:"generatorURL,omitempty"`
}

// Alerts is what m is posted as: one postableAlert per alert. A problem or
// a flapping alert fires (no endsAt: Alertmanager ends it resolve_timeout
// after it last heard of it); a recovery has endsAt = the message's time.
// An alert of the other severity with the same check is resolved with
// it: the label set holds the severity, so a check going from warning to
// critical (or back, or recovering) must not leave the other one firing.
func (a *Alertmanager) Alerts(m *notify.Message) []PostableAlert {
	out := make([]PostableAlert, 0, len(m.Alerts))
	for i := range m.Alerts {
		al := &m.Alerts[i]
		p := a.alert(al, m.Time)
		other := otherSeverity(al.Severity)
		switch {
		case al.State == notify.StateResolved:
			out = append(out, p)
			if other != "" {
				out = append(out, withSeverity(p, other))
			}
		case al.State == notify.StateProblem && other != "" && al.Previous == other:
			// Escalated or eased: the problem of the other severity ends now.
			out = append(out, p, resolvedAt(withSeverity(p, other), m.Time))
		default:
			out = append(out, p)
		}
	}
	return out
}

func otherSeverity(s string) string {
	switch s {
	case notify.SeverityCritical:
		return notify.SeverityWarning
	case notify.SeverityWarning:
		return notify.SeverityCritical
	}
	return ""
}

// withSeverity is p for the other severity (a copy of its maps).
func withSeverity(p PostableAlert, sev string) PostableAlert {
	labels := make(map[string]string, len(p.Labels))
	for k, v := range p.Labels {
		labels[k] = v
	}
	labels["severity"] = sev
	ann := make(map[string]string, len(p.Annotations))
	for k, v := range p.Annotations {
		ann[k] = v
	}
	p.Labels, p.Annotations = labels, ann
	return p
}

// resolvedAt ends p at t; startsAt is never after endsAt (Alertmanager
// refuses that), and it keeps the earliest startsAt it has for the labels.
func resolvedAt(p PostableAlert, t time.Time) PostableAlert {
	p.EndsAt = t
	if p.StartsAt.After(t) {
		p.StartsAt = t
	}
	if p.Annotations != nil {
		p.Annotations["state"] = notify.StateResolved
	}
	return p
}

// alert is the postableAlert of one alert.
func (a *Alertmanager) alert(al *notify.Alert, now time.Time) PostableAlert {
	labels := Labels(al)
	ann := map[string]string{"summary": Summary(al), "state": al.State}
	if al.Error != "" {
		ann["error"] = al.Error
	}
	if len(al.Blocking) > 0 {
		ann["blocking"] = strings.Join(al.Blocking, ", ")
	}
	p := PostableAlert{Labels: labels, Annotations: ann, StartsAt: al.Since.UTC()}
	if a.generatorURL != "" && al.Node != "" {
		p.GeneratorURL = a.generatorURL + "/v1/status?node=" + url.QueryEscape(al.Node)
	}
	if al.State == notify.StateResolved {
		p = resolvedAt(p, now.UTC())
	}
	return p
}

// Labels is the label set of an alert: alertname, node, check, type and
// severity, and the check's labels, their names made valid Alertmanager
// label names; the fixed ones win on a clash. Empty values are left out
// (to Alertmanager an empty label is no label).
func Labels(al *notify.Alert) map[string]string {
	out := make(map[string]string, 5+len(al.Labels))
	names := make([]string, 0, len(al.Labels))
	for k := range al.Labels {
		names = append(names, k)
	}
	sort.Strings(names) // two names that sanitize alike: the first sorted wins
	for _, k := range names {
		n := LabelName(k)
		if _, taken := out[n]; n == "" || taken || al.Labels[k] == "" {
			continue
		}
		out[n] = al.Labels[k]
	}
	for k, v := range map[string]string{"alertname": AlertName, "node": al.Node, "check": al.Check, "type": al.Type, "severity": al.Severity} {
		if v != "" {
			out[k] = v
		} else {
			delete(out, k)
		}
	}
	return out
}

// LabelName makes name a valid label name ([a-zA-Z_][a-zA-Z0-9_]*): every
// other character becomes "_", and a leading digit gets a "_" before it.
func LabelName(name string) string {
	if name == "" {
		return ""
	}
	var b strings.Builder
	for i, r := range name {
		switch {
		case r == '_' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z'):
			b.WriteRune(r)
		case r >= '0' && r <= '9':
			if i == 0 {
				b.WriteByte('_')
			}
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	return b.String()
}

// Summary is the one line for people of an alert, as a message's title
// says it of a single alert.
func Summary(al *notify.Alert) string {
	switch al.State {
	case notify.StateResolved:
		return fmt.Sprintf("%s recovered on %s", al.Check, al.Node)
	case notify.StateFlapping:
		return fmt.Sprintf("%s is flapping on %s", al.Check, al.Node)
	}
	s := fmt.Sprintf("%s %s on %s", al.Check, al.Severity, al.Node)
	if al.Error != "" {
		s += ": " + al.Error
	}
	return s
}

// result is what one Alertmanager answered.
type result struct {
	status int
	body   string
	err    error
}

// Send posts m's alerts to every Alertmanager at once. It is delivered
// when at least one took them (2xx); when none did, the error names each
// failure, and is a rejection only when every one of them rejected the
// request (a 4xx other than 408 and 429). A message without alerts (a
// test message) posts an empty list: it tells whether the Alertmanagers
// answer without firing anything.
func (a *Alertmanager) Send(ctx context.Context, m *notify.Message) (notify.Receipt, error) {
	body, err := json.Marshal(a.Alerts(m))
	if err != nil {
		return notify.Receipt{}, notify.Reject(err)
	}
	results := make([]result, len(a.urls))
	var wg sync.WaitGroup
	for i, u := range a.urls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = a.post(ctx, u, body)
		}()
	}
	wg.Wait()

	var (
		first    = -1
		accepted int
		notes    []string
		errs     []error
		rejected = true
	)
	for i, r := range results {
		name := where(a.urls[i])
		if r.err == nil {
			accepted++
			if first < 0 {
				first = i
			}
			notes = append(notes, fmt.Sprintf("%s: HTTP %d", name, r.status))
			continue
		}
		// The rejection of one is not that of the message: unwrap it, and
		// reject the whole only when every one rejected it.
		e := r.err
		var rej *notify.RejectedError
		if errors.As(e, &rej) {
			e = rej.Err
		} else {
			rejected = false
		}
		notes = append(notes, fmt.Sprintf("%s: %v", name, e))
		errs = append(errs, fmt.Errorf("alertmanager %s: %w", name, e))
	}
	if first >= 0 {
		sum := fmt.Sprintf("accepted by %d of %d Alertmanagers (%s)", accepted, len(a.urls), strings.Join(notes, "; "))
		return notify.Receipt{Status: results[first].status, Body: sum}, nil
	}
	last := results[len(results)-1]
	rc := notify.Receipt{Status: last.status, Body: last.body}
	if err = joined(errs); rejected {
		return rc, notify.Reject(err)
	}
	return rc, err
}

// post sends body to one Alertmanager.
func (a *Alertmanager) post(ctx context.Context, u *url.URL, body []byte) result {
	ctx, cancel := context.WithTimeout(ctx, a.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(body))
	if err != nil {
		return result{err: notify.Reject(errors.New("building the request failed"))}
	}
	for k, v := range a.headers {
		req.Header.Set(k, v)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "satellite")
	resp, err := a.client.Do(req)
	if err != nil {
		return result{err: redactURL(err)}
	}
	defer resp.Body.Close()
	ans, _ := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	r := result{status: resp.StatusCode, body: string(ans)}
	if resp.StatusCode/100 != 2 {
		r.err = notify.HTTPError(resp.StatusCode, strings.TrimSpace(string(ans)))
	}
	return r
}

// redactURL drops the URL from a client error (*url.Error prints it, user
// name and all).
func redactURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s: %w", ue.Op, ue.Err)
	}
	return err
}

// joined is errs as one error on one line (errors.Join breaks lines).
type joined []error

func (j joined) Error() string {
	parts := make([]string, len(j))
	for i, e := range j {
		parts[i] = e.Error()
	}
	return strings.Join(parts, "; ")
}

func (j joined) Unwrap() []error { return j }
