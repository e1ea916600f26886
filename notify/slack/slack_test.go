package slack_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/satellite-hq/satellite/notify"
	"github.com/satellite-hq/satellite/notify/slack"
)

var since = time.Date(2026, 12, 3, 5, 41, 56, 690e6, time.UTC)

func problem(node, check, sev, errText string) notify.Alert {
	return notify.Alert{Key: node + "/" + check, State: notify.StateProblem, Severity: sev, Node: node, Check: check,
		Type: strings.SplitN(check, ".", 2)[0], Status: sev, Previous: "passing", Error: errText, Since: since}
}

func message(title string, alerts ...notify.Alert) *notify.Message {
	return &notify.Message{Version: notify.PayloadVersion, ID: "9f2c51d0a4b3", Notifier: "slack.ops", Sender: "node-a",
		Time: since.Add(time.Second), Title: title, Alerts: alerts}
}

func send(t *testing.T, s *slack.Slack, m *notify.Message) notify.Receipt {
	t.Helper()
	rc, err := s.Send(context.Background(), m)
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	return rc
}

func noProblems(t *testing.T, f *fakeSlack) {
	t.Helper()
	if bad := f.Problems(); len(bad) > 0 {
		t.Fatalf("the message breaks Slack's schema: %v", bad)
	}
}

// fieldTexts are a section's fields, by their bold name.
func fieldTexts(b postedBlock) map[string]string {
	out := map[string]string{}
	for _, f := range b.Fields {
		name, value, _ := strings.Cut(f.Text, "\n")
		out[strings.Trim(name, "*")] = value
	}
	return out
}

func TestProblemWithTwoAlerts(t *testing.T) {
	f := newFakeSlack(t)
	s := slack.New(slack.Config{WebhookURL: f.URL(), Channel: "#ops", Username: "satellite", IconEmoji: ":satellite:",
		Link: "http://satellite.example:7575/", Timeout: time.Second})
	api := problem("node-a", "http.api", notify.SeverityCritical, "status 500, expected 200-399: <html> & <!channel>")
	api.Labels = map[string]string{"tier": "1", "team": "platform"}
	api.Blocking = []string{"http.behind", "http.sched"}
	disk := problem("node-a", "disk.root", notify.SeverityWarning, "")
	rc := send(t, s, message("2 checks on node-a: 1 critical, 1 warning", api, disk))
	noProblems(t, f)
	if rc.Status != http.StatusOK || rc.Body != "ok" {
		t.Errorf("receipt %+v", rc)
	}
	p := f.Last(t)
	if p.Text != "2 checks on node-a: 1 critical, 1 warning" || p.Channel != "#ops" || p.Username != "satellite" || p.IconEmoji != ":satellite:" {
		t.Errorf("envelope %+v", p)
	}
	if p.Attachments[0].Color != slack.ColorCritical {
		t.Errorf("colour %s, want %s (the worst alert)", p.Attachments[0].Color, slack.ColorCritical)
	}
	bs := p.blocks(t)
	if len(bs) != 4 || bs[0].Type != "header" || bs[1].Type != "section" || bs[2].Type != "section" || bs[3].Type != "context" {
		t.Fatalf("blocks %+v, want header, 2 sections, context", bs)
	}
	if bs[0].Text.Text != p.Text {
		t.Errorf("header %q", bs[0].Text.Text)
	}
	if bs[1].Text.Text != "*http.api* critical on *node-a*" || bs[2].Text.Text != "*disk.root* warning on *node-a*" {
		t.Errorf("section lines %q, %q", bs[1].Text.Text, bs[2].Text.Text)
	}
	want := map[string]string{
		"Node":          "node-a",
		"Check":         "http.api (http)",
		"State":         "problem (critical), check critical (was passing)",
		"Error":         "status 500, expected 200-399: &lt;html&gt; &amp; &lt;!channel&gt;",
		"Since":         "2026-12-03T05:41:56Z",
		"Labels":        "team=platform, tier=1",
		"Also blocking": "http.behind, http.sched",
		"Link":          "<http://satellite.example:7575/v1/status?node=node-a|status of node-a>",
	}
	got := fieldTexts(bs[1])
	for k, v := range want {
		if got[k] != v {
			t.Errorf("field %s = %q, want %q", k, got[k], v)
		}
	}
	if len(got) != len(want) {
		t.Errorf("fields %v, want %v", got, want)
	}
	// No error, no labels, nothing blocked: no such fields.
	got = fieldTexts(bs[2])
	for _, k := range []string{"Error", "Labels", "Also blocking"} {
		if _, ok := got[k]; ok {
			t.Errorf("disk.root has a %s field: %v", k, got)
		}
	}
	if got["State"] != "problem (warning), check warning (was passing)" || got["Link"] == "" {
		t.Errorf("disk.root fields %v", got)
	}
	foot := bs[3].Elements[0].Text
	if foot != "satellite · slack.ops · from node-a · 2026-12-03T05:41:57Z · id 9f2c51d0a4b3" {
		t.Errorf("footer %q", foot)
	}
}

func TestRecoveryAndColours(t *testing.T) {
	f := newFakeSlack(t)
	s := slack.New(slack.Config{WebhookURL: f.URL()})
	rec := problem("node-a", "http.api", notify.SeverityCritical, "")
	rec.State, rec.Status, rec.Previous = notify.StateResolved, "passing", "critical"
	send(t, s, message("http.api recovered on node-a", rec))
	noProblems(t, f)
	p := f.Last(t)
	bs := p.blocks(t)
	if p.Attachments[0].Color != slack.ColorResolved || p.Text != "http.api recovered on node-a" || bs[1].Text.Text != "*http.api* recovered on *node-a*" {
		t.Errorf("recovery: colour %s, text %q, line %q", p.Attachments[0].Color, p.Text, bs[1].Text.Text)
	}
	if st := fieldTexts(bs[1])["State"]; st != "resolved (was critical), check passing (was critical)" {
		t.Errorf("recovery state %q", st)
	}
	if _, ok := fieldTexts(bs[1])["Link"]; ok {
		t.Error("a link without link set")
	}

	warn := problem("node-a", "disk.root", notify.SeverityWarning, "91% used")
	flap := problem("node-a", "tcp.etcd", notify.SeverityCritical, "refused")
	flap.State = notify.StateFlapping
	crit := problem("node-b", "tcp.etcd", notify.SeverityCritical, "refused")
	for _, c := range []struct {
		name   string
		alerts []notify.Alert
		color  string
	}{
		{"warning", []notify.Alert{warn}, slack.ColorWarning},
		{"flapping", []notify.Alert{flap}, slack.ColorFlapping},
		{"flapping and resolved", []notify.Alert{rec, flap}, slack.ColorFlapping},
		{"warning over flapping", []notify.Alert{flap, warn, rec}, slack.ColorWarning},
		{"critical over all", []notify.Alert{rec, warn, flap, crit}, slack.ColorCritical},
		{"test message", nil, slack.ColorFlapping},
	} {
		m := message("t", c.alerts...)
		m.Test = c.alerts == nil
		send(t, s, m)
		noProblems(t, f)
		p := f.Last(t)
		if p.Attachments[0].Color != c.color {
			t.Errorf("%s: colour %s, want %s", c.name, p.Attachments[0].Color, c.color)
		}
		if bs := p.blocks(t); len(bs) != 2+len(c.alerts) {
			t.Errorf("%s: %d blocks for %d alerts", c.name, len(bs), len(c.alerts))
		}
	}
	if bs := f.Last(t).blocks(t); !strings.Contains(bs[len(bs)-1].Elements[0].Text, "test message") {
		t.Errorf("a test message's footer does not say so: %+v", bs[len(bs)-1])
	}
	if line := f.Last(t); line.Text != "t" {
		t.Errorf("text %q", line.Text)
	}
	// The flapping section says so.
	send(t, s, message("tcp.etcd is flapping on node-a", flap))
	if bs := f.Last(t).blocks(t); bs[1].Text.Text != "*tcp.etcd* is flapping on *node-a*" || !strings.HasPrefix(fieldTexts(bs[1])["State"], "flapping (critical)") {
		t.Errorf("flapping section %+v", bs[1])
	}
}

// 60 alerts with every text too long: Slack's limits are kept by cutting
// with "…" and folding alerts into "and N more", and Slack takes it.
func TestLimits(t *testing.T) {
	f := newFakeSlack(t)
	s := slack.New(slack.Config{WebhookURL: f.URL(), Link: "https://satellite.example:7575"})
	var alerts []notify.Alert
	long := strings.Repeat("a<&>é😀", 1200) // 7,200 characters, escaped far longer
	for i := range 60 {
		a := problem(fmt.Sprintf("node-%02d", i), fmt.Sprintf("exec.%s%d", strings.Repeat("x", 3100), i), notify.SeverityCritical, long)
		a.Labels = map[string]string{}
		for j := range 30 {
			a.Labels[fmt.Sprintf("label%02d", j)] = strings.Repeat("v", 100)
		}
		for j := range 40 {
			a.Blocking = append(a.Blocking, fmt.Sprintf("http.dependent-%02d-%s", j, strings.Repeat("y", 60)))
		}
		alerts = append(alerts, a)
	}
	m := message(strings.Repeat("60 checks on node-a: 60 critical ", 20), alerts...)
	m.More = 5
	send(t, s, m)
	noProblems(t, f) // the fake checked every length and the block count
	p := f.Last(t)
	bs := p.blocks(t)
	if len(bs) != slack.MaxBlocks {
		t.Fatalf("%d blocks, want %d (the most Slack takes)", len(bs), slack.MaxBlocks)
	}
	sections := 0
	for _, b := range bs {
		if b.Type == "section" {
			sections++
		}
	}
	shown := slack.MaxBlocks - 3 // header, "and N more", footer
	if sections != shown {
		t.Errorf("%d sections, want %d", sections, shown)
	}
	if more := bs[len(bs)-2]; more.Type != "context" || more.Elements[0].Text != fmt.Sprintf("and %d more", 60-shown+5) {
		t.Errorf("the block before the footer is %+v, want \"and %d more\"", more, 60-shown+5)
	}
	if h := bs[0].Text.Text; utf8.RuneCountInString(h) != slack.MaxHeaderText || !strings.HasSuffix(h, "…") {
		t.Errorf("header of %d characters: %q", utf8.RuneCountInString(h), h)
	}
	sec := bs[1]
	if !strings.HasSuffix(sec.Text.Text, "…") {
		t.Errorf("the long section line was not cut: ...%q", sec.Text.Text[len(sec.Text.Text)-20:])
	}
	fs := fieldTexts(sec)
	for _, k := range []string{"Error", "Labels", "Also blocking"} {
		if !strings.HasSuffix(fs[k], "…") {
			t.Errorf("field %s was not cut with …", k)
		}
		// Never cut within an entity: "&am…" would show as such.
		if i := strings.LastIndexByte(fs[k], '&'); i >= 0 && !strings.Contains(fs[k][i:], ";") {
			t.Errorf("field %s cut within an entity: ...%q", k, fs[k][len(fs[k])-12:])
		}
	}
	if !strings.HasPrefix(fs["Link"], "<https://satellite.example:7575/v1/status?node=node-00|") {
		t.Errorf("link %q", fs["Link"])
	}
	if len(sec.Fields) > slack.MaxFields {
		t.Errorf("%d fields", len(sec.Fields))
	}
}

func TestStatuses(t *testing.T) {
	f := newFakeSlack(t)
	s := slack.New(slack.Config{WebhookURL: f.URL(), Timeout: time.Second})
	m := message("x", problem("node-a", "tcp.etcd", notify.SeverityCritical, "refused"))
	for _, c := range []struct {
		status   int
		rejected bool
	}{{400, true}, {403, true}, {404, true}, {410, true}, {408, false}, {429, false}, {500, false}, {503, false}} {
		f.failWith(c.status, "30", false)
		rc, err := s.Send(context.Background(), m)
		if err == nil || notify.IsRejected(err) != c.rejected || rc.Status != c.status {
			t.Errorf("HTTP %d: receipt %d, error %v, rejected %v; want rejected %v", c.status, rc.Status, err, notify.IsRejected(err), c.rejected)
		}
		if c.status == 429 && !strings.Contains(err.Error(), "Retry-After: 30") {
			t.Errorf("a 429's error does not say when to retry: %v", err)
		}
	}
	// A path Slack does not know (a revoked webhook) is a 404: rejected.
	f.failWith(200, "", false)
	gone := slack.New(slack.Config{WebhookURL: f.Server.URL + "/services/T/B/revoked"})
	if _, err := gone.Send(context.Background(), m); !notify.IsRejected(err) || !strings.Contains(err.Error(), "no_service") {
		t.Errorf("unknown webhook: %v", err)
	}
	send(t, s, m)
	if f.Requests() != 10 {
		t.Errorf("%d requests, want 10: one per Send, no retries of its own", f.Requests())
	}
}

func TestContext(t *testing.T) {
	f := newFakeSlack(t)
	s := slack.New(slack.Config{WebhookURL: f.URL()})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := s.Send(ctx, message("x"))
	if !errors.Is(err, context.Canceled) || notify.IsRejected(err) {
		t.Errorf("a cancelled context: %v, want context.Canceled, retryable", err)
	}
	if f.Requests() != 0 {
		t.Errorf("a request was made with a cancelled context")
	}
}

// The webhook URL's path is its token: it is in no error, no answer kept,
// no String.
func TestTokenNeverShown(t *testing.T) {
	const token = "XoXtOkEnS3cr3t99"
	f := newFakeSlack(t)
	s := slack.New(slack.Config{WebhookURL: f.URL(), Channel: "#ops"})
	m := message("x", problem("node-a", "tcp.etcd", notify.SeverityCritical, "refused"))
	f.failWith(http.StatusForbidden, "", true) // the answer echoes the path
	rc, err := s.Send(context.Background(), m)
	if err == nil || strings.Contains(err.Error(), token) || strings.Contains(rc.Body, token) || !strings.Contains(err.Error(), "told_to_fail") {
		t.Errorf("error %v, receipt %q", err, rc.Body)
	}

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	refused := slack.New(slack.Config{WebhookURL: "http://" + addr + f.Path})
	_, err = refused.Send(context.Background(), m)
	if err == nil || notify.IsRejected(err) || strings.Contains(err.Error(), token) {
		t.Errorf("refused: %v", err)
	}

	cfg := slack.Config{WebhookURL: "https://hooks.slack.com/services/T0AAAA1/B0BBBB2/" + token, Channel: "#ops"}
	n := slack.New(cfg)
	for _, str := range []string{n.String(), fmt.Sprintf("%v", n), fmt.Sprintf("%#v", n), fmt.Sprintf("%+v", n),
		cfg.String(), fmt.Sprintf("%v", cfg), fmt.Sprintf("%#v", cfg), fmt.Sprintf("%+v", cfg)} {
		if strings.Contains(str, token) || strings.Contains(str, "T0AAAA1") || !strings.Contains(str, "https://hooks.slack.com/...") {
			t.Errorf("%q", str)
		}
	}
}

// The fake is worth its checks: bodies that break Slack's documented limits
// are refused with a 400, as Slack refuses them.
func TestFakeRefusesWhatSlackRefuses(t *testing.T) {
	f := newFakeSlack(t)
	section := `{"type":"section","text":{"type":"mrkdwn","text":"x"}}`
	many := strings.TrimSuffix(strings.Repeat(section+",", 51), ",")
	fields := strings.TrimSuffix(strings.Repeat(`{"type":"mrkdwn","text":"f"},`, 11), ",")
	for name, body := range map[string]string{
		"not JSON":       `text=x`,
		"no text":        `{"attachments":[]}`,
		"empty text":     `{"text":" "}`,
		"colour name":    `{"text":"x","attachments":[{"color":"danger","blocks":[]}]}`,
		"51 blocks":      `{"text":"x","attachments":[{"color":"#ffffff","blocks":[` + many + `]}]}`,
		"block type":     `{"text":"x","blocks":[{"type":"table"}]}`,
		"mrkdwn header":  `{"text":"x","blocks":[{"type":"header","text":{"type":"mrkdwn","text":"x"}}]}`,
		"long header":    `{"text":"x","blocks":[{"type":"header","text":{"type":"plain_text","text":"` + strings.Repeat("h", 151) + `"}}]}`,
		"long section":   `{"text":"x","blocks":[{"type":"section","text":{"type":"mrkdwn","text":"` + strings.Repeat("s", 3001) + `"}}]}`,
		"11 fields":      `{"text":"x","blocks":[{"type":"section","fields":[` + fields + `]}]}`,
		"long field":     `{"text":"x","blocks":[{"type":"section","fields":[{"type":"mrkdwn","text":"` + strings.Repeat("f", 2001) + `"}]}]}`,
		"empty section":  `{"text":"x","blocks":[{"type":"section"}]}`,
		"raw mention":    `{"text":"x","blocks":[{"type":"section","text":{"type":"mrkdwn","text":"<!channel> down"}}]}`,
		"raw ampersand":  `{"text":"a & b"}`,
		"divider fields": `{"text":"x","blocks":[{"type":"divider","text":{"type":"mrkdwn","text":"x"}}]}`,
	} {
		resp, err := http.Post(f.URL(), "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: HTTP %d, want 400", name, resp.StatusCode)
		}
	}
	resp, err := http.Post(f.URL(), "application/json", strings.NewReader(`{"text":"a &amp; <https://x.example/|b>","blocks":[{"type":"divider"},`+section+`]}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("a valid body: HTTP %d", resp.StatusCode)
	}
}
