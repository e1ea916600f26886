package alertmanager_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/hashicorp/hcl/v2/hclsyntax"

	"github.com/satellite-hq/satellite/internal/testenv"
	"github.com/satellite-hq/satellite/notify"
	"github.com/satellite-hq/satellite/notify/alertmanager"
)

// gettableAlert is what GET /api/v2/alerts lists.
type gettableAlert struct {
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt"`
	UpdatedAt    time.Time         `json:"updatedAt"`
	GeneratorURL string            `json:"generatorURL"`
	Fingerprint  string            `json:"fingerprint"`
	Status       struct {
		State string `json:"state"`
	} `json:"status"`
}

func amURL(t *testing.T) string {
	return testenv.Need(t, testenv.AlertmanagerURL, "Alertmanager (scripts/services/alertmanager.sh)")
}

// node is a node name of this test alone: the tests share one Alertmanager.
func node(t *testing.T) string {
	return fmt.Sprintf("%s-%d", strings.ToLower(t.Name()), time.Now().UnixNano())
}

// listAlerts reads every alert of node from the Alertmanager, whatever its
// state: active, silenced, inhibited or not yet processed.
func listAlerts(t *testing.T, base, node string) []gettableAlert {
	t.Helper()
	q := url.Values{}
	for _, f := range []string{"active", "silenced", "inhibited", "unprocessed"} {
		q.Set(f, "true")
	}
	q.Add("filter", fmt.Sprintf("node=%q", node))
	var out []gettableAlert
	getJSON(t, base+"/api/v2/alerts?"+q.Encode(), &out)
	return out
}

func getJSON(t *testing.T, u string, v any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: HTTP %d", u, resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
}

// metric reads one sample of the Alertmanager's /metrics.
func metric(t *testing.T, base, series string) float64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/metrics", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), series+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			if err != nil {
				t.Fatalf("%s: %v", series, err)
			}
			return f
		}
	}
	t.Fatalf("no %s in the Alertmanager's /metrics", series)
	return 0
}

const resolvedReceived = `alertmanager_alerts_received_total{status="resolved",version="v2"}`

// closedPort is a loopback address nobody listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func problem(node string, since time.Time) notify.Alert {
	return notify.Alert{Key: node + "/http.api", State: notify.StateProblem, Severity: notify.SeverityCritical,
		Node: node, Check: "http.api", Type: "http", Status: "critical", Previous: "passing",
		Error: "status 500, expected 200-399", Since: since,
		Labels:   map[string]string{"team": "platform", "node": "not-this", "app.kubernetes.io/name": "api", "empty": ""},
		Blocking: []string{"http.behind", "tcp.other"}}
}

func message(alerts ...notify.Alert) *notify.Message {
	return &notify.Message{Version: notify.PayloadVersion, ID: "id1", Notifier: "alertmanager.ops", Sender: "node-a",
		Time: time.Now().UTC(), Title: "t", Alerts: alerts}
}

func newAM(t *testing.T, urls ...string) *alertmanager.Alertmanager {
	t.Helper()
	am, err := alertmanager.New(urls, alertmanager.Options{GeneratorURL: "https://sat.example.com:7575/", Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return am
}

func TestProblemResendAndRecovery(t *testing.T) {
	base := amURL(t)
	n := node(t)
	since := time.Now().Add(-90 * time.Second).UTC().Truncate(time.Millisecond)
	am := newAM(t, base)
	p := problem(n, since)

	rc, err := am.Send(context.Background(), message(p))
	if err != nil || rc.Status != http.StatusOK || !strings.Contains(rc.Body, "accepted by 1 of 1") {
		t.Fatalf("Send: %+v, %v", rc, err)
	}
	got := listAlerts(t, base, n)
	if len(got) != 1 {
		t.Fatalf("the Alertmanager lists %d alerts of %s, want 1: %+v", len(got), n, got)
	}
	a := got[0]
	want := map[string]string{"alertname": alertmanager.AlertName, "node": n, "check": "http.api", "type": "http",
		"severity": "critical", "team": "platform", "app_kubernetes_io_name": "api"}
	if len(a.Labels) != len(want) {
		t.Errorf("labels %v, want %v", a.Labels, want)
	}
	for k, v := range want {
		if a.Labels[k] != v {
			t.Errorf("label %s = %q, want %q (labels %v)", k, a.Labels[k], v, a.Labels)
		}
	}
	wantAnn := map[string]string{"summary": "http.api critical on " + n + ": status 500, expected 200-399",
		"error": "status 500, expected 200-399", "blocking": "http.behind, tcp.other", "state": "problem"}
	for k, v := range wantAnn {
		if a.Annotations[k] != v {
			t.Errorf("annotation %s = %q, want %q", k, a.Annotations[k], v)
		}
	}
	if !a.StartsAt.Equal(since) {
		t.Errorf("startsAt %v, want %v", a.StartsAt, since)
	}
	if a.Status.State != "active" {
		t.Errorf("state %q, want active", a.Status.State)
	}
	// Sent without endsAt, it ends resolve_timeout (5m by default) after the
	// Alertmanager last heard of it: hence the re-sending.
	if d := a.EndsAt.Sub(a.UpdatedAt); d < 4*time.Minute || d > 6*time.Minute {
		t.Errorf("endsAt %v is %v after updatedAt %v, want resolve_timeout (5m)", a.EndsAt, d, a.UpdatedAt)
	}
	if wantGen := "https://sat.example.com:7575/v1/status?node=" + url.QueryEscape(n); a.GeneratorURL != wantGen {
		t.Errorf("generatorURL %q, want %q", a.GeneratorURL, wantGen)
	}

	// A re-send (Resends) is the same alert, heard of again.
	time.Sleep(20 * time.Millisecond)
	if _, err := am.Send(context.Background(), message(p)); err != nil {
		t.Fatal(err)
	}
	again := listAlerts(t, base, n)
	if len(again) != 1 || again[0].Fingerprint != a.Fingerprint || !again[0].StartsAt.Equal(since) || !again[0].UpdatedAt.After(a.UpdatedAt) {
		t.Fatalf("after a re-send: %+v, want the same alert updated", again)
	}

	// The recovery ends it: Alertmanager 0.25 lists no resolved alert,
	// under any filter, and counts the resolved ones it received.
	before := metric(t, base, resolvedReceived)
	r := p
	r.State, r.Status, r.Previous, r.Error, r.Since, r.Blocking = notify.StateResolved, "passing", "critical", "", time.Now().UTC(), nil
	m := message(r)
	if _, err := am.Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	if got := listAlerts(t, base, n); len(got) != 0 {
		t.Fatalf("resolved, the alert is still listed: %+v", got)
	}
	// The critical alert, and its warning twin in case it escalated.
	if d := metric(t, base, resolvedReceived) - before; d != 2 {
		t.Errorf("the Alertmanager received %v resolved alerts, want 2", d)
	}
}

func TestEscalationResolvesTheWarning(t *testing.T) {
	base := amURL(t)
	n := node(t)
	am := newAM(t, base)
	w := problem(n, time.Now().Add(-time.Minute).UTC())
	w.Severity, w.Status = notify.SeverityWarning, "warning"
	if _, err := am.Send(context.Background(), message(w)); err != nil {
		t.Fatal(err)
	}
	if got := listAlerts(t, base, n); len(got) != 1 || got[0].Labels["severity"] != "warning" {
		t.Fatalf("after the warning: %+v", got)
	}
	c := problem(n, time.Now().UTC())
	c.Previous = "warning"
	if _, err := am.Send(context.Background(), message(c)); err != nil {
		t.Fatal(err)
	}
	got := listAlerts(t, base, n)
	if len(got) != 1 || got[0].Labels["severity"] != "critical" {
		t.Fatalf("after the escalation, want the critical alert alone: %+v", got)
	}
}

func TestHAPairOneDown(t *testing.T) {
	base := amURL(t)
	n := node(t)
	// The first member is down: the other takes it, which is delivery.
	am := newAM(t, "http://"+closedPort(t), base)
	rc, err := am.Send(context.Background(), message(problem(n, time.Now().UTC())))
	if err != nil {
		t.Fatalf("one of two down: %v", err)
	}
	if rc.Status != http.StatusOK || !strings.Contains(rc.Body, "accepted by 1 of 2") || !strings.Contains(rc.Body, "connection refused") {
		t.Errorf("receipt %+v", rc)
	}
	if got := listAlerts(t, base, n); len(got) != 1 {
		t.Fatalf("the live member lists %d alerts, want 1", len(got))
	}
}

func TestCredentialsSentAndNeverShown(t *testing.T) {
	base := amURL(t)
	// Credentials reach the Alertmanager as basic auth (this one has no
	// auth and ignores them) ...
	u, _ := url.Parse(base)
	u.User = url.UserPassword("ops", "s3cret")
	am := newAM(t, u.String())
	if _, err := am.Send(context.Background(), message(problem(node(t), time.Now().UTC()))); err != nil {
		t.Fatal(err)
	}
	// ... and are never in an error or a description.
	down := newAM(t, "http://ops:s3cret@"+closedPort(t)+"/am", "https://ops:s3cret@"+closedPort(t))
	_, err := down.Send(context.Background(), message(problem("n", time.Now())))
	if err == nil || notify.IsRejected(err) {
		t.Fatalf("every member down: want a retryable error, got %v", err)
	}
	if strings.Count(err.Error(), "alertmanager http") != 2 || strings.Contains(err.Error(), "\n") {
		t.Errorf("the error should name both members on one line: %q", err)
	}
	for _, s := range []string{err.Error(), down.String(), fmt.Sprintf("%#v", down), fmt.Sprintf("%v", down), am.String()} {
		if strings.Contains(s, "s3cret") || strings.Contains(s, "ops") {
			t.Errorf("credentials in %q", s)
		}
	}
}

func TestRejections(t *testing.T) {
	base := amURL(t)
	// The real Alertmanager answers 404 under a wrong path prefix: every
	// member rejects, so the message does.
	am := newAM(t, base+"/wrong-prefix")
	_, err := am.Send(context.Background(), message(problem(node(t), time.Now())))
	if !notify.IsRejected(err) || !strings.Contains(err.Error(), "HTTP 404") {
		t.Fatalf("a 404 from every member: want a rejection, got %v", err)
	}
	// One rejects (400), the other is down: a retry may reach the second.
	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "invalid label set", http.StatusBadRequest)
	}))
	defer bad.Close()
	mixed := newAM(t, bad.URL, "http://"+closedPort(t))
	if _, err := mixed.Send(context.Background(), message(problem("n", time.Now()))); err == nil || notify.IsRejected(err) {
		t.Errorf("a 400 and a refused connection: want a retryable error, got %v", err)
	}
	both := newAM(t, bad.URL, bad.URL+"/other")
	_, err = both.Send(context.Background(), message(problem("n", time.Now())))
	if !notify.IsRejected(err) || strings.Count(err.Error(), "HTTP 400: invalid label set") != 2 {
		t.Errorf("a 400 from both: want a rejection naming both, got %v", err)
	}
}

func TestTestMessagePostsNothing(t *testing.T) {
	base := amURL(t)
	am := newAM(t, base)
	m := message()
	m.Test = true
	rc, err := am.Send(context.Background(), m)
	if err != nil || rc.Status != http.StatusOK {
		t.Fatalf("a test message: %+v, %v", rc, err)
	}
}

func TestAlertsPayload(t *testing.T) {
	am := newAM(t, "http://127.0.0.1:9093")
	now := time.Date(2026, 12, 3, 5, 42, 0, 0, time.UTC)
	p := problem("node-a", now.Add(-time.Minute))
	m := message(p)
	m.Time = now
	got := am.Alerts(m)
	if len(got) != 1 || !got[0].EndsAt.IsZero() || !got[0].StartsAt.Equal(now.Add(-time.Minute)) {
		t.Fatalf("a problem: %+v", got)
	}
	if got[0].Labels["node"] != "node-a" || got[0].Labels["app_kubernetes_io_name"] != "api" {
		t.Errorf("labels: %v", got[0].Labels)
	}
	if _, ok := got[0].Labels["empty"]; ok {
		t.Errorf("an empty label is no label: %v", got[0].Labels)
	}
	b, _ := json.Marshal(got)
	if strings.Contains(string(b), "endsAt") {
		t.Errorf("a firing alert carries no endsAt: %s", b)
	}

	// A recovery whose since is after the message (clocks): startsAt never
	// comes after endsAt, which the Alertmanager refuses.
	r := p
	r.State, r.Since = notify.StateResolved, now.Add(time.Second)
	m = message(r)
	m.Time = now
	got = am.Alerts(m)
	if len(got) != 2 || got[0].Labels["severity"] != "critical" || got[1].Labels["severity"] != "warning" {
		t.Fatalf("a recovery resolves both severities: %+v", got)
	}
	for _, a := range got {
		if !a.EndsAt.Equal(now) || a.StartsAt.After(a.EndsAt) || a.Annotations["state"] != "resolved" || a.Annotations["summary"] != "http.api recovered on node-a" {
			t.Errorf("resolved: %+v", a)
		}
	}
	if got[0].Labels["severity"] == got[1].Labels["severity"] {
		t.Error("the twin shares its labels map")
	}

	f := p
	f.State = notify.StateFlapping
	got = am.Alerts(message(f))
	if len(got) != 1 || !got[0].EndsAt.IsZero() || got[0].Annotations["summary"] != "http.api is flapping on node-a" {
		t.Errorf("flapping fires: %+v", got)
	}
}

func TestLabelName(t *testing.T) {
	for in, want := range map[string]string{"team": "team", "app.kubernetes.io/name": "app_kubernetes_io_name",
		"9lives": "_9lives", "a-b c": "a_b_c", "_x9": "_x9", "é": "_", "": ""} {
		if got := alertmanager.LabelName(in); got != want {
			t.Errorf("LabelName(%q) = %q, want %q", in, got, want)
		}
	}
	// The fixed labels win over the check's, and of two names that
	// sanitize alike the first sorted wins.
	l := alertmanager.Labels(&notify.Alert{Node: "n", Check: "c", Type: "tcp", Severity: "warning",
		Labels: map[string]string{"severity": "low", "alertname": "x", "a.b": "dot", "a-b": "dash"}})
	if l["severity"] != "warning" || l["alertname"] != alertmanager.AlertName || l["a_b"] != "dash" || len(l) != 6 {
		t.Errorf("labels %v", l)
	}
}

// build decodes src as a notifier body and builds it as the engine does.
func build(t *testing.T, src string) (notify.Notifier, hcl.Diagnostics) {
	t.Helper()
	reg, ok := notify.Lookup(alertmanager.Type)
	if !ok {
		t.Fatal("alertmanager is not registered")
	}
	if reg.Resends != time.Minute {
		t.Errorf("Resends %v, want 1m", reg.Resends)
	}
	f, diags := hclsyntax.ParseConfig([]byte(src), "n.hcl", hcl.InitialPos)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	val, diags := hcldec.Decode(f.Body, reg.Spec, nil)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	return reg.Build(val, notify.Env{Body: f.Body, Block: hcl.Range{Filename: "n.hcl"}, Address: "alertmanager.ops"})
}

func TestBuild(t *testing.T) {
	n, diags := build(t, `
urls          = ["http://ops:s3cret@am-1:9093/", "https://am-2:9093/prefix"]
headers       = { X-Scope-OrgID = "tenant" }
generator_url = "https://node-a:7575"
timeout       = "3s"
`)
	if diags.HasErrors() || n == nil {
		t.Fatalf("%v", diags)
	}
	if s := fmt.Sprint(n); s != "alertmanager{urls=[http://am-1:9093 https://am-2:9093] headers=1}" {
		t.Errorf("String() = %q", s)
	}
	for _, c := range []struct{ src, summary, line string }{
		{`timeout = "1s"`, "Missing urls", ""},
		{"\nurls = []", "Missing urls", "n.hcl:2"},
		{"\n\nurls = [\"ftp://ops:s3cret@am:21\"]", "Invalid url", "n.hcl:3"},
		{"urls = [\"http://am:9093?x=1\"]", "Invalid url", "n.hcl:1"},
		{"urls = [\"http://am:9093\", \"http://am:9093/\"]", "Duplicate url", "n.hcl:1"},
		{"urls = [\"http://am:9093\"]\nheaders = { Content-Type = \"text/plain\" }", "Reserved header", "n.hcl:2"},
		{"urls = [\"http://u:s3cret@am:9093\"]\nheaders = { authorization = \"Bearer x\" }", "Conflicting credentials", "n.hcl:2"},
		{"urls = [\"http://am:9093\"]\ngenerator_url = \"node-a:7575\"", "Invalid generator_url", "n.hcl:2"},
		{"urls = [\"http://am:9093\"]\ntimeout = \"0s\"", "Invalid timeout", "n.hcl:2"},
	} {
		_, diags := build(t, c.src)
		if !diags.HasErrors() || diags[0].Summary != c.summary {
			t.Errorf("%q: %v, want %q", c.src, diags, c.summary)
			continue
		}
		if c.line != "" && !strings.HasPrefix(diags[0].Subject.String(), c.line+",") {
			t.Errorf("%q: at %s, want %s", c.src, diags[0].Subject, c.line)
		}
		if strings.Contains(diags.Error(), "s3cret") {
			t.Errorf("%q: the credentials are in %q", c.src, diags.Error())
		}
	}
}
