package api

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/satellite-hq/satellite/events"
	"github.com/satellite-hq/satellite/health"
)

// dashBackend is the stub with the checks a compiled plan would list.
type dashBackend struct {
	stubBackend
	checks []health.CheckConfig
}

func (b *dashBackend) Checks() []health.CheckConfig { return b.checks }

// resultStore records the queries it is asked; the SQLite history's own
// tests check the answers.
type resultStore struct {
	mu      sync.Mutex
	queries []health.ResultQuery
}

func (r *resultStore) Results(_ context.Context, q health.ResultQuery) (health.ResultSeries, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.queries = append(r.queries, q)
	avg := 2.5
	return health.ResultSeries{Check: q.Check, Node: q.Node, Since: q.Since, Until: q.Until, StepSeconds: q.Step.Seconds(),
		Times: []float64{1}, Runs: []int{3}, Failing: []int{1},
		Metrics: map[string]health.MetricSeries{"latency_ms": {Min: []*float64{&avg}, Avg: []*float64{&avg}, Max: []*float64{&avg}}}}, nil
}

func (r *resultStore) last() health.ResultQuery {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.queries[len(r.queries)-1]
}

func TestSession(t *testing.T) {
	b := &stubBackend{local: sampleNode()}
	_, open := newServer(t, b, Options{})
	a := do(t, nil, "GET", open+"/v1/session", "")
	if a.code != 200 || strings.TrimSpace(a.body) != `{"node":"node-b","access":"full","auth":false,"version":"0.1.0"}` {
		t.Errorf("no tokens: %d %s", a.code, a.body)
	}
	_, base := newServer(t, b, Options{Token: "full-token", ReadToken: "read-token"})
	for token, want := range map[string]string{"full-token": `"access":"full","auth":true`, "read-token": `"access":"read","auth":true`} {
		if a := do(t, nil, "GET", base+"/v1/session", token); a.code != 200 || !strings.Contains(a.body, want) {
			t.Errorf("%s: %d %s", token, a.code, a.body)
		}
	}
	if a := do(t, nil, "GET", base+"/v1/session", "wrong"); a.code != 401 {
		t.Errorf("wrong token: %d %s", a.code, a.body)
	}
	if a := do(t, nil, "GET", base+"/v1/session?x=1", "read-token"); a.code != 400 {
		t.Errorf("a parameter: %d %s", a.code, a.body)
	}
}

func TestChecks(t *testing.T) {
	warn := 100.0
	b := &dashBackend{stubBackend: stubBackend{local: sampleNode()}, checks: []health.CheckConfig{
		{Address: "http.api", Type: "http", IntervalSeconds: 10, TimeoutSeconds: 5, Runs: true, DependsOn: []string{}, Labels: map[string]string{},
			Notify: []string{}, Thresholds: []health.ThresholdConfig{{Metric: "latency_ms", Warn: &warn, Direction: "above"}}, File: "checks.hcl", Line: 3},
		{Address: `tcp.db["a"]`, Type: "tcp", IntervalSeconds: 30, TimeoutSeconds: 5, DependsOn: []string{}, Labels: map[string]string{}, Notify: []string{}, Thresholds: []health.ThresholdConfig{}},
	}}
	_, base := newServer(t, b, Options{})
	var all []health.CheckConfig
	if a := do(t, nil, "GET", base+"/v1/checks", ""); a.code != 200 || json.Unmarshal([]byte(a.body), &all) != nil || len(all) != 2 {
		t.Fatalf("all: %d %s", a.code, a.body)
	}
	a := do(t, nil, "GET", base+"/v1/checks?check="+url.QueryEscape(`tcp.db["a"]`), "")
	if a.code != 200 || !strings.HasPrefix(a.body, `[{"address":"tcp.db[\"a\"]","type":"tcp","interval_seconds":30`) {
		t.Errorf("one: %d %s", a.code, a.body)
	}
	mustContain(t, do(t, nil, "GET", base+"/v1/checks?check=http.api", "").body, `"thresholds":[{"metric":"latency_ms","warn":100,"direction":"above"}]`, `"file":"checks.hcl","line":3`)
	if a := do(t, nil, "GET", base+"/v1/checks?check=http.nope", ""); a.code != 404 || !strings.Contains(a.body, `no check \"http.nope\"`) {
		t.Errorf("unknown check: %d %s", a.code, a.body)
	}
	if a := do(t, nil, "GET", base+"/v1/checks?chek=http.api", ""); a.code != 400 {
		t.Errorf("typo: %d %s", a.code, a.body)
	}
	// A backend that cannot list its checks says so.
	_, plain := newServer(t, &stubBackend{local: sampleNode()}, Options{})
	if a := do(t, nil, "GET", plain+"/v1/checks", ""); a.code != 501 {
		t.Errorf("no CheckBackend: %d %s", a.code, a.body)
	}
}

func TestResultsQuery(t *testing.T) {
	store := &resultStore{}
	b := &stubBackend{local: sampleNode()}
	_, base := newServer(t, b, Options{Results: store})
	before := time.Now()
	a := do(t, nil, "GET", base+"/v1/history/results?check=http.apiserver&since=168h", "")
	if a.code != 200 {
		t.Fatalf("%d %s", a.code, a.body)
	}
	mustContain(t, a.body, `"check":"http.apiserver","node":"node-b"`, `"times":[1],"runs":[3],"failing":[1],"metrics":{"latency_ms":{"min":[2.5],"avg":[2.5],"max":[2.5]}}`)
	q := store.last()
	if q.Node != "node-b" || q.Step != health.AutoStep(168*time.Hour) || q.Until.Before(before) || q.Until.Sub(q.Since) != 168*time.Hour {
		t.Errorf("7 days: %+v", q)
	}
	do(t, nil, "GET", base+"/v1/history/results?check=http.apiserver&node=node-c&since=2026-11-25T12:00:00Z&until=2026-11-25T13:00:00Z&step=1m", "")
	q = store.last()
	if q.Node != "node-c" || q.Step != time.Minute || !q.Since.Equal(time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)) || !q.Until.Equal(time.Date(2026, 11, 25, 13, 0, 0, 0, time.UTC)) {
		t.Errorf("explicit: %+v", q)
	}
	do(t, nil, "GET", base+"/v1/history/results?check=http.apiserver", "")
	if q = store.last(); q.Until.Sub(q.Since) != DefaultResultsSince {
		t.Errorf("default range: %+v", q)
	}
	for query, want := range map[string]string{
		"":                           "check is required",
		"check=":                     "check is required",
		"check=a&step=500ms":         "at least 1s",
		"check=a&step=x":             "at least 1s",
		"check=a&since=168h&step=1m": "more than 2000",
		"check=a&since=1h&until=2h":  "must come after since",
		"check=a&check=b":            "given 2 times",
		"check=a&limit=3":            "unknown parameter",
		"check=a&since=yesterday":    "since",
	} {
		if a := do(t, nil, "GET", base+"/v1/history/results?"+query, ""); a.code != 400 || !strings.Contains(a.body, want) {
			t.Errorf("%q: %d %s, want 400 with %q", query, a.code, a.body, want)
		}
	}
	_, none := newServer(t, b, Options{})
	if a := do(t, nil, "GET", none+"/v1/history/results?check=a", ""); a.code != 404 || !strings.Contains(a.body, "keeps no history") {
		t.Errorf("no history: %d %s", a.code, a.body)
	}
}

// stream is a client of GET /v1/events reading frames as they come.
type stream struct {
	resp   *http.Response
	frames chan StreamEvent
}

func openStream(t *testing.T, base, token string) *stream {
	t.Helper()
	req, _ := http.NewRequest("GET", base+"/v1/events", nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	st := &stream{resp: resp, frames: make(chan StreamEvent, 1024)}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != 200 {
		return st
	}
	go func() { // ends when the body is closed or the server ends the stream
		defer close(st.frames)
		_ = readStream(bufio.NewReader(resp.Body), func(ev StreamEvent) error { st.frames <- ev; return nil })
	}()
	return st
}

func (st *stream) next(t *testing.T) StreamEvent {
	t.Helper()
	select {
	case ev, ok := <-st.frames:
		if !ok {
			t.Fatal("the stream ended")
		}
		return ev
	case <-time.After(5 * time.Second):
		t.Fatal("no frame within 5s")
	}
	return StreamEvent{}
}

func TestEventStream(t *testing.T) {
	bus := events.New(nil)
	defer bus.Close(context.Background())
	b := &stubBackend{local: sampleNode()}
	s, base := newServer(t, b, Options{Events: bus, Token: "full-token", ReadToken: "read-token"})

	if st := openStream(t, base, ""); st.resp.StatusCode != 401 {
		t.Fatalf("no token: %d", st.resp.StatusCode)
	}
	st := openStream(t, base, "read-token")
	if st.resp.StatusCode != 200 || st.resp.Header.Get("Content-Type") != "text/event-stream; charset=utf-8" {
		t.Fatalf("read token: %d %v", st.resp.StatusCode, st.resp.Header)
	}
	if ev := st.next(t); ev.Event != "hello" || ev.ID != "1" || !strings.Contains(string(ev.Data), `"node":"node-b"`) {
		t.Fatalf("first frame: %+v", ev)
	}
	now := time.Now()
	// A run that changed nothing is not streamed; a change, a member
	// event, a node's status and a digest are, in order.
	bus.Publish(&events.Event{Kind: events.CheckRun, Time: now, Node: "node-b", Check: events.Check{Address: "http.a", Type: "http"}, Status: "passing", Previous: "passing"})
	bus.Publish(&events.Event{Kind: events.CheckRun, Time: now, Node: "node-b", Check: events.Check{Address: "http.a", Type: "http"}, Status: "critical", Previous: "passing", Changed: true, Error: "refused"})
	bus.Publish(&events.Event{Kind: events.MemberFailed, Time: now, Node: "node-c", Detail: "member node-c failed"})
	bus.Publish(&events.Event{Kind: events.NodeStatus, Time: now, Node: "node-c", From: "healthy", To: "degraded"})
	bus.Publish(&events.Event{Kind: events.Digest, Time: now, Node: "node-d", To: "healthy"})
	for _, want := range []struct{ event, data string }{
		{"check", `"check":"http.a","type":"http","status":"critical","previous":"passing","error":"refused","flapping":false`},
		{"member", `"node":"node-c","event":"failed","detail":"member node-c failed"`},
		{"status", `"node":"node-c","from":"healthy","to":"degraded"`},
		{"digest", `"node":"node-d","status":"healthy"`},
	} {
		ev := st.next(t)
		if ev.Event != want.event || !strings.Contains(string(ev.Data), want.data) {
			t.Errorf("got %s %s, want %s with %s", ev.Event, ev.Data, want.event, want.data)
		}
	}

	// At the limit, one more stream is refused; closing one frees a place.
	s.maxStreams = 2 // read by the handler only when a stream opens
	second := openStream(t, base, "full-token")
	second.next(t)
	if third := openStream(t, base, "full-token"); third.resp.StatusCode != 503 {
		t.Errorf("over the limit: %d", third.resp.StatusCode)
	}
	second.resp.Body.Close()
	deadline := time.Now().Add(5 * time.Second)
	for s.streams.Load() > 1 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := s.streams.Load(); n != 1 {
		t.Errorf("%d streams after one closed, want 1", n)
	}
}

// A client that does not read is sent a reset and dropped; the bus and
// the other clients go on.
func TestEventStreamSlowClient(t *testing.T) {
	bus := events.New(nil)
	defer bus.Close(context.Background())
	s, base := newServer(t, &stubBackend{local: sampleNode()}, Options{Events: bus})
	req, _ := http.NewRequest("GET", base+"/v1/events", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	fast := openStream(t, base, "")
	fast.next(t)
	// Enough events to fill the socket buffers and the stream's queue
	// while the slow client reads nothing.
	detail := strings.Repeat("x", 1000)
	got := 0
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ev := range fast.frames {
			if ev.Event == "member" {
				got++
			}
		}
	}()
	const n = 10000
	for i := range n {
		bus.Publish(&events.Event{Kind: events.MemberUpdated, Node: "node-x", Detail: detail})
		if i%50 == 0 {
			time.Sleep(10 * time.Millisecond) // the fast client keeps up
		}
	}
	// The slow stream is dropped: the server's count falls to the fast one.
	deadline := time.Now().Add(20 * time.Second)
	for s.streams.Load() > 1 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if c := s.streams.Load(); c != 1 {
		t.Fatalf("%d streams, want the slow one dropped", c)
	}
	// What the slow client finds when it reads at last ends: the frames
	// the buffers held, then the end (a reset frame when there was room
	// for it).
	frames := 0
	if err := readStream(resp.Body, func(StreamEvent) error { frames++; return nil }); err != nil {
		t.Logf("the slow stream ended with %v", err)
	}
	if frames >= n {
		t.Errorf("the slow client got %d frames, all of them: it was not dropped", frames)
	}
	fast.resp.Body.Close()
	<-done
	if got < n*9/10 {
		t.Errorf("the fast client got %d of %d events", got, n)
	}
}
