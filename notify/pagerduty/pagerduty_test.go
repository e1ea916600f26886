package pagerduty_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/satellite-hq/satellite/notify"
	"github.com/satellite-hq/satellite/notify/pagerduty"
)

// routingKey is 32 characters, as PagerDuty's integration keys are.
const routingKey = "R0UT1NGk3ys3cr3t0123456789abcdef"

var since = time.Date(2026, 12, 3, 5, 41, 56, 690e6, time.UTC)

func problem(node, check, sev, errText string) notify.Alert {
	return notify.Alert{Key: node + "/" + check, State: notify.StateProblem, Severity: sev, Node: node, Check: check,
		Type: strings.SplitN(check, ".", 2)[0], Status: sev, Previous: "passing", Error: errText, Since: since}
}

func resolved(a notify.Alert) notify.Alert {
	a.State, a.Previous, a.Status, a.Error, a.Blocking = notify.StateResolved, a.Status, "passing", "", nil
	return a
}

func message(alerts ...notify.Alert) *notify.Message {
	return &notify.Message{Version: notify.PayloadVersion, ID: "9f2c51d0a4b3", Notifier: "pagerduty.oncall", Sender: "node-a",
		Time: since.Add(time.Second), Title: "t", Alerts: alerts}
}

func newPD(f *fakePD) *pagerduty.PagerDuty {
	return pagerduty.New(pagerduty.Config{RoutingKey: routingKey, URL: f.URL(), ClientURL: "http://satellite.example:7575/v1/status", Timeout: time.Second})
}

func noProblems(t *testing.T, f *fakePD) {
	t.Helper()
	if bad := f.Problems(); len(bad) > 0 {
		t.Fatalf("events break the Events API v2 schema: %v", bad)
	}
}

func payloadOf(t *testing.T, ev map[string]any) map[string]any {
	t.Helper()
	p, ok := ev["payload"].(map[string]any)
	if !ok {
		t.Fatalf("no payload in %v", ev)
	}
	return p
}

func TestTriggerThenResolve(t *testing.T) {
	f := newFakePD(t)
	pd := newPD(f)
	api := problem("node-a", "http.api", notify.SeverityCritical, "status 500, expected 200-399")
	api.Labels = map[string]string{"team": "platform"}
	api.Blocking = []string{"http.behind"}
	disk := problem("node-a", "disk.root", notify.SeverityWarning, "91% used")
	rc, err := pd.Send(context.Background(), message(api, disk))
	if err != nil {
		t.Fatal(err)
	}
	noProblems(t, f)
	if rc.Status != http.StatusAccepted || !strings.Contains(rc.Body, `"status":"success"`) {
		t.Errorf("receipt %+v", rc)
	}
	evs := f.Events()
	if len(evs) != 2 {
		t.Fatalf("%d events, want one per alert: %v", len(evs), evs)
	}
	want := map[string]any{
		"routing_key": routingKey, "event_action": "trigger", "dedup_key": "satellite/node-a/http.api",
		"client": "satellite", "client_url": "http://satellite.example:7575/v1/status",
		"payload": map[string]any{
			"summary": "http.api critical on node-a: status 500, expected 200-399", "source": "node-a", "severity": "critical",
			"timestamp": "2026-12-03T05:41:56Z", "component": "http.api", "group": "http", "class": "problem",
			"custom_details": map[string]any{"status": "critical", "previous": "passing", "error": "status 500, expected 200-399",
				"labels": map[string]any{"team": "platform"}, "blocking": []any{"http.behind"}},
		},
	}
	if !reflect.DeepEqual(evs[0], want) {
		t.Errorf("event\n%v\nwant\n%v", evs[0], want)
	}
	p := payloadOf(t, evs[1])
	if evs[1]["dedup_key"] != "satellite/node-a/disk.root" || p["severity"] != "warning" || p["summary"] != "disk.root warning on node-a: 91% used" {
		t.Errorf("warning event %v", evs[1])
	}

	// The recovery: a resolve of the same dedup_key, nothing more.
	if _, err := pd.Send(context.Background(), message(resolved(api))); err != nil {
		t.Fatal(err)
	}
	noProblems(t, f)
	evs = f.Events()
	wantResolve := map[string]any{"routing_key": routingKey, "event_action": "resolve", "dedup_key": "satellite/node-a/http.api"}
	if len(evs) != 3 || !reflect.DeepEqual(evs[2], wantResolve) {
		t.Fatalf("resolve %v, want %v", evs[len(evs)-1], wantResolve)
	}
	if evs[0]["dedup_key"] != evs[2]["dedup_key"] {
		t.Error("the trigger and its resolve do not share a dedup_key")
	}
	if got := f.Incidents(); !reflect.DeepEqual(got, map[string]string{"satellite/node-a/http.api": "resolved", "satellite/node-a/disk.root": "triggered"}) {
		t.Errorf("incidents %v", got)
	}
}

func TestFlappingTestAndEmpty(t *testing.T) {
	f := newFakePD(t)
	pd := newPD(f)
	flap := problem("node-a", "tcp.etcd", notify.SeverityCritical, "connection\nrefused")
	flap.State = notify.StateFlapping
	if _, err := pd.Send(context.Background(), message(flap)); err != nil {
		t.Fatal(err)
	}
	p := payloadOf(t, f.Events()[0])
	if f.Events()[0]["event_action"] != "trigger" || p["class"] != "flapping" || p["summary"] != "tcp.etcd flapping on node-a: connection refused" {
		t.Errorf("flapping event %v", f.Events()[0])
	}

	m := message()
	m.Test, m.Title = true, "Test message from satellite on node-a"
	if _, err := pd.Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	ev := f.Events()[1]
	p = payloadOf(t, ev)
	if ev["dedup_key"] != "satellite/test/9f2c51d0a4b3" || p["severity"] != "info" || p["summary"] != m.Title || p["source"] != "node-a" {
		t.Errorf("test event %v", ev)
	}

	// Nothing to tell: no request.
	if rc, err := pd.Send(context.Background(), message()); err != nil || rc.Status != 0 || f.Requests() != 2 {
		t.Errorf("an empty message: %+v, %v, %d requests", rc, err, f.Requests())
	}
	noProblems(t, f)
}

func TestDedupKey(t *testing.T) {
	if k := pagerduty.DedupKey("node-a/http.api"); k != "satellite/node-a/http.api" {
		t.Errorf("short key %q", k)
	}
	base := "node-a/exec." + strings.Repeat("é", 200) // 412 bytes
	k1, k2, k3 := pagerduty.DedupKey(base+"1"), pagerduty.DedupKey(base+"1"), pagerduty.DedupKey(base+"2")
	if len(k1) > pagerduty.MaxDedupKey || !utf8.ValidString(k1) || !strings.HasPrefix(k1, "satellite/node-a/exec.é") {
		t.Errorf("long key of %d bytes: %q", len(k1), k1)
	}
	if k1 != k2 || k1 == k3 {
		t.Errorf("long keys not stable or not distinct: %q %q %q", k1, k2, k3)
	}
	if k := pagerduty.DedupKey(strings.Repeat("m", 250)); len(k) != pagerduty.MaxDedupKey || !strings.HasPrefix(k, "satellite/mmm") {
		t.Errorf("a key just over the limit: %d bytes, %q", len(k), k)
	}
	// Exactly at the limit: kept as it is.
	at := strings.Repeat("n", pagerduty.MaxDedupKey-len(pagerduty.DedupPrefix))
	if k := pagerduty.DedupKey(at); k != pagerduty.DedupPrefix+at {
		t.Errorf("a key of 255 bytes was changed: %q", k)
	}
	// PagerDuty takes them, and the recovery finds its incident.
	f := newFakePD(t)
	pd := newPD(f)
	a := problem("node-a", "exec."+strings.Repeat("é", 200), notify.SeverityCritical, strings.Repeat("x", 5000))
	for _, m := range []*notify.Message{message(a), message(resolved(a))} {
		if _, err := pd.Send(context.Background(), m); err != nil {
			t.Fatal(err)
		}
	}
	noProblems(t, f)
	evs := f.Events()
	if evs[0]["dedup_key"] != pagerduty.DedupKey(a.Key) || evs[1]["dedup_key"] != evs[0]["dedup_key"] || f.Incidents()[pagerduty.DedupKey(a.Key)] != "resolved" {
		t.Errorf("events %v", evs)
	}
	// The summary is cut to 1,024 characters; the error is whole in the details.
	p := payloadOf(t, evs[0])
	s := p["summary"].(string)
	if utf8.RuneCountInString(s) != pagerduty.MaxSummary || !strings.HasSuffix(s, "…") {
		t.Errorf("summary of %d characters", utf8.RuneCountInString(s))
	}
	if d := p["custom_details"].(map[string]any); d["error"] != a.Error {
		t.Errorf("custom_details.error of %d bytes", len(fmt.Sprint(d["error"])))
	}
}

func TestStatuses(t *testing.T) {
	f := newFakePD(t)
	pd := newPD(f)
	m := message(problem("node-a", "tcp.etcd", notify.SeverityCritical, "refused"))
	for _, c := range []struct {
		status   int
		rejected bool
	}{{400, true}, {403, true}, {404, true}, {413, true}, {408, false}, {429, false}, {500, false}, {502, false}, {503, false}} {
		f.answer(c.status)
		rc, err := pd.Send(context.Background(), m)
		if err == nil || notify.IsRejected(err) != c.rejected || rc.Status != c.status {
			t.Errorf("HTTP %d: receipt %d, error %v, rejected %v; want rejected %v", c.status, rc.Status, err, notify.IsRejected(err), c.rejected)
		}
		if c.status == 429 && !strings.Contains(err.Error(), "Retry-After: 7") {
			t.Errorf("a 429's error does not say when to retry: %v", err)
		}
	}
	// An event the fake itself finds invalid (a routing key of the wrong
	// length) is PagerDuty's 400: rejected, with PagerDuty's reason.
	short := pagerduty.New(pagerduty.Config{RoutingKey: "short", URL: f.URL()})
	if _, err := short.Send(context.Background(), m); !notify.IsRejected(err) || !strings.Contains(err.Error(), "should be 32 characters") {
		t.Errorf("a bad routing key: %v", err)
	}
}

// One message, several events: a retryable failure stops the message (it is
// retried whole, which dedup_key makes harmless); a refused event does not
// hold up the others.
func TestPartialFailure(t *testing.T) {
	f := newFakePD(t)
	pd := newPD(f)
	m := message(problem("node-a", "tcp.a", notify.SeverityCritical, "x"), problem("node-a", "tcp.b", notify.SeverityCritical, "x"),
		problem("node-a", "tcp.c", notify.SeverityCritical, "x"))

	f.answer(0, http.StatusInternalServerError)
	_, err := pd.Send(context.Background(), m)
	if err == nil || notify.IsRejected(err) || !strings.Contains(err.Error(), "satellite/node-a/tcp.b") || f.Requests() != 2 {
		t.Fatalf("a 500 on the second event: %v after %d requests, want a retryable error after 2", err, f.Requests())
	}
	// The retry sends all three; the first is deduplicated by PagerDuty.
	if _, err := pd.Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	if inc := f.Incidents(); len(inc) != 3 || len(f.Events()) != 4 {
		t.Errorf("%d incidents from %d events, want 3 from 4", len(inc), len(f.Events()))
	}

	f.answer(http.StatusBadRequest)
	rc, err := pd.Send(context.Background(), m)
	if !notify.IsRejected(err) || !strings.Contains(err.Error(), "satellite/node-a/tcp.a") || f.Requests() != 8 || rc.Status != http.StatusBadRequest {
		t.Errorf("a 400 on the first event: %v (receipt %d) after %d requests, want a rejection after all 3 were tried", err, rc.Status, f.Requests())
	}
	f.answer(http.StatusBadRequest, 0, http.StatusBadRequest)
	if _, err := pd.Send(context.Background(), m); !notify.IsRejected(err) || !strings.Contains(err.Error(), "2 of 3 events refused") {
		t.Errorf("two refused: %v", err)
	}
	// A rejection and then a retryable failure: retried.
	f.answer(http.StatusBadRequest, http.StatusServiceUnavailable)
	if _, err := pd.Send(context.Background(), m); err == nil || notify.IsRejected(err) {
		t.Errorf("a 400 then a 503: %v, want retryable", err)
	}
	noProblems(t, f)
}

func TestContext(t *testing.T) {
	f := newFakePD(t)
	pd := newPD(f)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := pd.Send(ctx, message(problem("node-a", "tcp.a", notify.SeverityCritical, "x")))
	if !errors.Is(err, context.Canceled) || notify.IsRejected(err) || f.Requests() != 0 {
		t.Errorf("a cancelled context: %v after %d requests, want context.Canceled, retryable, no request", err, f.Requests())
	}
	// A PagerDuty that does not answer: the timeout ends the request.
	hang := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-hang:
		}
	}))
	defer srv.Close()
	defer close(hang)
	slow := pagerduty.New(pagerduty.Config{RoutingKey: routingKey, URL: srv.URL + "/v2/enqueue", Timeout: 100 * time.Millisecond})
	if _, err := slow.Send(context.Background(), message(problem("node-a", "tcp.a", notify.SeverityCritical, "x"))); err == nil || notify.IsRejected(err) {
		t.Errorf("no answer: %v, want a retryable error", err)
	}
}

// The routing key is in no error, no answer kept, no String.
func TestRoutingKeyNeverShown(t *testing.T) {
	f := newFakePD(t)
	f.echoKey = true
	pd := newPD(f)
	m := message(problem("node-a", "tcp.a", notify.SeverityCritical, "x"))
	for _, status := range []int{http.StatusBadRequest, http.StatusInternalServerError} {
		f.answer(status)
		rc, err := pd.Send(context.Background(), m)
		if err == nil || strings.Contains(err.Error(), routingKey) || strings.Contains(rc.Body, routingKey) || !strings.Contains(err.Error(), "told to fail") {
			t.Errorf("HTTP %d: error %v, receipt %q", status, err, rc.Body)
		}
	}

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	refused := pagerduty.New(pagerduty.Config{RoutingKey: routingKey, URL: "http://" + addr + "/v2/enqueue"})
	_, err = refused.Send(context.Background(), m)
	if err == nil || notify.IsRejected(err) || strings.Contains(err.Error(), routingKey) {
		t.Errorf("refused: %v", err)
	}

	cfg := pagerduty.Config{RoutingKey: routingKey}
	n := pagerduty.New(cfg)
	for _, s := range []string{n.String(), fmt.Sprintf("%v", n), fmt.Sprintf("%#v", n), fmt.Sprintf("%+v", n),
		cfg.String(), fmt.Sprintf("%v", cfg), fmt.Sprintf("%#v", cfg), fmt.Sprintf("%+v", cfg)} {
		if strings.Contains(s, routingKey) || strings.Contains(s, routingKey[:8]) || !strings.Contains(s, "routing_key=(sensitive)") {
			t.Errorf("%q", s)
		}
	}
	if !strings.Contains(n.String(), "https://events.pagerduty.com/") {
		t.Errorf("the default URL is not in %q", n.String())
	}
}
