// Package slack is the `slack` notifier type: each message is one POST to a
// Slack incoming webhook, a Block Kit message in a coloured attachment
// (docs/notify/slack.md).
package slack

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/zclconf/go-cty/cty"

	"github.com/satellite-hq/satellite/dsl"
	"github.com/satellite-hq/satellite/notify"
)

// Type is the first label of `notifier "slack" "NAME"`.
const Type = "slack"

// DefaultTimeout bounds one request.
const DefaultTimeout = 10 * time.Second

// Slack's documented limits (Block Kit reference), kept by cutting text
// with "…" and folding alerts into "and N more", never by failing.
const (
	MaxBlocks      = 50   // blocks in one message, attachments included
	MaxHeaderText  = 150  // a header block's plain_text
	MaxSectionText = 3000 // a section's text (and a context element's)
	MaxFieldText   = 2000 // one section field
	MaxFields      = 10   // fields in one section
)

// The attachment's colour, by the most serious alert of the message.
const (
	ColorCritical = "#d9534f" // a critical problem
	ColorWarning  = "#f0ad4e" // a warning problem
	ColorFlapping = "#777777" // flapping, or no alert at all (a test message)
	ColorResolved = "#5cb85c" // recoveries only
)

// maxAnswer is how much of an answer is kept for the receipt.
const maxAnswer = 4 << 10

var spec = hcldec.ObjectSpec{
	"webhook_url":      &hcldec.AttrSpec{Name: "webhook_url", Type: cty.String},
	"webhook_url_file": &hcldec.AttrSpec{Name: "webhook_url_file", Type: cty.String},
	"channel":          &hcldec.AttrSpec{Name: "channel", Type: cty.String},
	"username":         &hcldec.AttrSpec{Name: "username", Type: cty.String},
	"icon_emoji":       &hcldec.AttrSpec{Name: "icon_emoji", Type: cty.String},
	"link":             &hcldec.AttrSpec{Name: "link", Type: cty.String},
	"timeout":          &hcldec.AttrSpec{Name: "timeout", Type: cty.DynamicPseudoType},
}

func init() {
	notify.Register(&notify.Registration{
		Type:  Type,
		Spec:  spec,
		Build: build,
		Doc:   "Posts each message to a Slack incoming webhook, as Block Kit sections coloured by state.",
	})
}

// Config is what a `notifier "slack"` block says.
type Config struct {
	// WebhookURL is the incoming webhook's URL; its path is the token.
	WebhookURL string
	// Channel, Username and IconEmoji override the webhook's own (legacy
	// webhooks honour them; those of Slack apps ignore them).
	Channel, Username, IconEmoji string
	// Link, when set, is the base of a per-alert link to the node's status:
	// Link + "/v1/status?node=NODE".
	Link string
	// Timeout bounds one request (DefaultTimeout when 0).
	Timeout time.Duration
}

// String describes the config without the webhook URL's path (the token).
func (c Config) String() string {
	return fmt.Sprintf("slack{url=%s/... channel=%q link=%q}", hostOnly(c.WebhookURL), c.Channel, c.Link)
}

// GoString keeps the token out of %#v as well.
func (c Config) GoString() string { return c.String() }

// Slack is a built `notifier "slack"` block.
type Slack struct {
	cfg    Config
	client *http.Client
}

// New is a Slack notifier for c.
func New(c Config) *Slack {
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	c.Link = strings.TrimRight(c.Link, "/")
	return &Slack{cfg: c, client: &http.Client{Timeout: c.Timeout}}
}

// String describes the notifier without its token.
func (s *Slack) String() string { return s.cfg.String() }

// GoString keeps the token out of %#v as well.
func (s *Slack) GoString() string { return s.cfg.String() }

func hostOnly(raw string) string {
	if u, err := url.Parse(raw); err == nil && u.Host != "" {
		return u.Scheme + "://" + u.Host
	}
	return "?"
}

func build(cfg cty.Value, env notify.Env) (notify.Notifier, hcl.Diagnostics) {
	if !cfg.IsKnown() {
		return nil, nil // nothing to check yet (validate --unknown-env)
	}
	a := dsl.NewAttrs(cfg, env.Body, env.Block)
	c := Config{Timeout: DefaultTimeout}
	ok := true

	raw, have := notify.SecretAttr(a, "webhook_url", "webhook_url_file", env.BaseDir, &ok)
	switch {
	case !have && ok && !a.IsSet("webhook_url") && !a.IsSet("webhook_url_file"):
		a.Errorf("", "Missing webhook_url", "A slack notifier needs webhook_url (or webhook_url_file): the URL of a Slack incoming webhook, https://hooks.slack.com/services/....")
		ok = false
	case have:
		at := notify.FirstSet(a, "webhook_url", "webhook_url_file")
		u, err := url.Parse(strings.TrimSpace(raw))
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			// Never echo the URL: its path is the token.
			a.Errorf(at, "Invalid webhook_url", "The Slack webhook URL must be an absolute https:// URL, such as https://hooks.slack.com/services/....")
			ok = false
			break
		}
		if u.Scheme == "http" && !isLoopback(u.Hostname()) {
			a.Warnf(at, "Unencrypted webhook URL", "The Slack webhook URL is http://: its token would cross the network in clear text. Use https://.")
		}
		c.WebhookURL = u.String()
	}

	if v, set := a.String("channel"); set {
		if v == "" || strings.ContainsFunc(v, isSpaceOrControl) {
			a.Errorf("channel", "Invalid channel", "channel must be a channel or user name without spaces, such as \"#ops\" or \"@alice\"; remove it to post where the webhook posts.")
			ok = false
		}
		c.Channel = v
	}
	if v, set := a.String("username"); set {
		if strings.TrimSpace(v) == "" || strings.ContainsFunc(v, isControl) {
			a.Errorf("username", "Invalid username", "username must be a non-empty name on one line, such as \"satellite\".")
			ok = false
		}
		c.Username = v
	}
	if v, set := a.String("icon_emoji"); set {
		if len(v) < 3 || v[0] != ':' || v[len(v)-1] != ':' || strings.ContainsFunc(v[1:len(v)-1], func(r rune) bool { return r == ':' || isSpaceOrControl(r) }) {
			a.Errorf("icon_emoji", "Invalid icon_emoji", "icon_emoji must be an emoji name between colons, such as \":satellite:\".")
			ok = false
		}
		c.IconEmoji = v
	}
	if v, set := a.String("link"); set {
		u, err := url.Parse(v)
		switch {
		case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
			a.Errorf("link", "Invalid link", "link must be an absolute http:// or https:// URL, such as \"http://satellite.example:7575\".")
			ok = false
		case u.User != nil:
			a.Errorf("link", "Credentials in the link", "The link is shown to everyone in the channel: it must not carry a user name or password.")
			ok = false
		case u.RawQuery != "" || u.Fragment != "" || strings.HasSuffix(v, "?") || strings.HasSuffix(v, "#"):
			a.Errorf("link", "Invalid link", "link is a base URL: \"/v1/status?node=NODE\" is added to it, so it cannot have a query or a fragment.")
			ok = false
		case strings.ContainsAny(v, "<>|& \t\r\n\"") || len(v) > 1000:
			a.Errorf("link", "Invalid link", "link must be at most 1000 characters, without spaces, quotes or the characters < > | &, which Slack's links cannot carry.")
			ok = false
		default:
			c.Link = strings.TrimRight(v, "/")
		}
	}

	c.Timeout = notify.TimeoutAttr(a, c.Timeout, &ok)
	if !ok || a.Diags.HasErrors() || !cfg.IsWhollyKnown() {
		return nil, a.Diags // unknown values (validate --unknown-env): checked as far as they go
	}
	return New(c), a.Diags
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

func isSpaceOrControl(r rune) bool { return r == ' ' || isControl(r) }

// Send posts m. Slack answers 200 "ok"; a 4xx other than 408 and 429 is a
// rejection; a 429 (rate limited, with Retry-After) and anything else is
// retried.
func (s *Slack) Send(ctx context.Context, m *notify.Message) (notify.Receipt, error) {
	var body bytes.Buffer
	enc := json.NewEncoder(&body)
	enc.SetEscapeHTML(false) // "<url|text>" as Slack's documentation writes it
	if err := enc.Encode(s.payload(m)); err != nil {
		return notify.Receipt{}, notify.Reject(err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.cfg.WebhookURL, &body)
	if err != nil {
		return notify.Receipt{}, notify.Reject(redactURL(err))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "satellite")
	resp, err := s.client.Do(req)
	if err != nil {
		return notify.Receipt{}, redactURL(err)
	}
	defer resp.Body.Close()
	ans, _ := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	text := s.redact(strings.TrimSpace(string(ans)))
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

// redact takes the webhook URL, and the parts of its path that are the
// token, out of an answer.
func (s *Slack) redact(text string) string {
	u, err := url.Parse(s.cfg.WebhookURL)
	if err != nil {
		return text
	}
	text = strings.ReplaceAll(text, s.cfg.WebhookURL, "(sensitive)")
	if p := u.RequestURI(); len(p) > 1 {
		text = strings.ReplaceAll(text, p, "(sensitive)")
	}
	for _, seg := range strings.Split(u.Path, "/") {
		if len(seg) >= 8 {
			text = strings.ReplaceAll(text, seg, "(sensitive)")
		}
	}
	return text
}

// redactURL drops the URL from a client error (*url.Error prints it whole,
// token and all).
func redactURL(err error) error {
	if ue, ok := err.(*url.Error); ok {
		return fmt.Errorf("%s: %w", ue.Op, ue.Err)
	}
	return err
}

// The JSON of an incoming webhook's message (Block Kit).
type (
	payload struct {
		Text        string       `json:"text"`
		Channel     string       `json:"channel,omitempty"`
		Username    string       `json:"username,omitempty"`
		IconEmoji   string       `json:"icon_emoji,omitempty"`
		Attachments []attachment `json:"attachments"`
	}
	attachment struct {
		Color  string  `json:"color"`
		Blocks []block `json:"blocks"`
	}
	block struct {
		Type     string `json:"type"`
		Text     *text  `json:"text,omitempty"`
		Fields   []text `json:"fields,omitempty"`
		Elements []text `json:"elements,omitempty"`
	}
	text struct {
		Type  string `json:"type"`
		Text  string `json:"text"`
		Emoji bool   `json:"emoji,omitempty"`
	}
)

func mrkdwn(s string) text { return text{Type: "mrkdwn", Text: s} }

// payload is the message for m, within Slack's limits.
func (s *Slack) payload(m *notify.Message) payload {
	title := m.Title
	if strings.TrimSpace(title) == "" {
		title = "satellite"
	}
	blocks := []block{{Type: "header", Text: &text{Type: "plain_text", Text: clip(oneLine(title), MaxHeaderText), Emoji: true}}}

	// Header and footer, and "and N more" when some alerts are not listed:
	// the rest of the blocks are one section per alert.
	alerts, more := m.Alerts, m.More
	room := MaxBlocks - 2
	if more > 0 || len(alerts) > room {
		room--
	}
	if len(alerts) > room {
		more += len(alerts) - room
		alerts = alerts[:room]
	}
	for i := range alerts {
		blocks = append(blocks, s.section(&alerts[i]))
	}
	if more > 0 {
		blocks = append(blocks, block{Type: "context", Elements: []text{mrkdwn(fmt.Sprintf("and %d more", more))}})
	}
	foot := []string{"satellite"}
	if m.Test {
		foot = append(foot, "test message")
	}
	if m.Notifier != "" {
		foot = append(foot, esc(m.Notifier))
	}
	if m.Sender != "" {
		foot = append(foot, "from "+esc(m.Sender))
	}
	if !m.Time.IsZero() {
		foot = append(foot, m.Time.UTC().Format(time.RFC3339))
	}
	if m.ID != "" {
		foot = append(foot, "id "+esc(m.ID))
	}
	blocks = append(blocks, block{Type: "context", Elements: []text{mrkdwn(clip(strings.Join(foot, " · "), MaxSectionText))}})

	return payload{
		Text:        clip(esc(title), MaxSectionText),
		Channel:     s.cfg.Channel,
		Username:    s.cfg.Username,
		IconEmoji:   s.cfg.IconEmoji,
		Attachments: []attachment{{Color: color(m.Alerts), Blocks: blocks}},
	}
}

// color is that of the most serious alert.
func color(alerts []notify.Alert) string {
	rank := map[string]int{ColorCritical: 4, ColorWarning: 3, ColorFlapping: 2, ColorResolved: 1}
	best := ""
	for _, a := range alerts {
		c := ColorCritical
		switch {
		case a.State == notify.StateResolved:
			c = ColorResolved
		case a.State == notify.StateFlapping:
			c = ColorFlapping
		case a.Severity == notify.SeverityWarning:
			c = ColorWarning
		}
		if rank[c] > rank[best] {
			best = c
		}
	}
	if best == "" {
		return ColorFlapping // no alert: a test message
	}
	return best
}

// section is one alert: a line, then its fields.
func (s *Slack) section(a *notify.Alert) block {
	sev := a.Severity
	if sev == "" {
		sev = notify.SeverityCritical
	}
	var line, state string
	switch a.State {
	case notify.StateResolved:
		line = fmt.Sprintf("*%s* recovered on *%s*", esc(a.Check), esc(a.Node))
		state = "resolved (was " + sev + ")"
	case notify.StateFlapping:
		line = fmt.Sprintf("*%s* is flapping on *%s*", esc(a.Check), esc(a.Node))
		state = "flapping (" + sev + ")"
	default:
		line = fmt.Sprintf("*%s* %s on *%s*", esc(a.Check), esc(sev), esc(a.Node))
		state = "problem (" + sev + ")"
	}
	if a.Status != "" {
		state += ", check " + a.Status
		if a.Previous != "" {
			state += " (was " + a.Previous + ")"
		}
	}
	check := a.Check
	if a.Type != "" {
		check += " (" + a.Type + ")"
	}
	fields := []text{field("Node", a.Node), field("Check", check), field("State", state)}
	if a.Error != "" {
		fields = append(fields, field("Error", a.Error))
	}
	if !a.Since.IsZero() {
		fields = append(fields, field("Since", a.Since.UTC().Format(time.RFC3339)))
	}
	if len(a.Labels) > 0 {
		keys := make([]string, 0, len(a.Labels))
		for k := range a.Labels {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		kv := make([]string, len(keys))
		for i, k := range keys {
			kv[i] = k + "=" + a.Labels[k]
		}
		fields = append(fields, field("Labels", strings.Join(kv, ", ")))
	}
	if len(a.Blocking) > 0 {
		fields = append(fields, field("Also blocking", strings.Join(a.Blocking, ", ")))
	}
	if s.cfg.Link != "" {
		link := "*Link*\n<" + s.cfg.Link + "/v1/status?node=" + url.QueryEscape(a.Node) + "|status of " + esc(oneLine(a.Node)) + ">"
		if units(link) <= MaxFieldText { // a link cut short is no link: left out
			fields = append(fields, mrkdwn(link))
		}
	}
	if len(fields) > MaxFields {
		fields = fields[:MaxFields]
	}
	return block{Type: "section", Text: &text{Type: "mrkdwn", Text: clip(line, MaxSectionText)}, Fields: fields}
}

// field is a bold name over its value, escaped and cut to MaxFieldText.
func field(name, value string) text {
	head := "*" + name + "*\n"
	return mrkdwn(head + clip(esc(value), MaxFieldText-units(head)))
}

// esc escapes what Slack's mrkdwn reads as markup of its own: &, < and >
// (a check's error saying "<!channel>" must not notify a channel).
func esc(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// units counts s as Slack may, in UTF-16 code units: never fewer than its
// characters.
func units(s string) int {
	n := 0
	for _, r := range s {
		n++
		if r >= 0x10000 {
			n++
		}
	}
	return n
}

// clip cuts s to at most max UTF-16 units, ending with "…" when cut; never
// within a rune nor within an entity made by esc.
func clip(s string, max int) string {
	if units(s) <= max {
		return s
	}
	if max < 1 {
		return ""
	}
	n, end := 0, 0
	for i, r := range s {
		w := 1
		if r >= 0x10000 {
			w = 2
		}
		if n+w > max-1 {
			break
		}
		n += w
		end = i + len(string(r))
	}
	out := s[:end]
	if amp := strings.LastIndexByte(out, '&'); amp >= 0 && amp >= len(out)-4 && !strings.Contains(out[amp:], ";") {
		out = out[:amp] // "&am" would show as such
	}
	return out + "…"
}
