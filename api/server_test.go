package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/satellite-hq/satellite/checks"
	"github.com/satellite-hq/satellite/dsl"
	"github.com/satellite-hq/satellite/health"
)

func TestStatusEndpoints(t *testing.T) {
	b := &stubBackend{
		local:   sampleNode(),
		members: []health.Member{*sampleNode().MemberStatus},
		history: []health.Change{
			{Time: testTime, Node: "node-b", Check: "http.apiserver", Type: "http", Previous: "passing", Status: "critical", Error: "refused"},
		},
	}
	_, base := newServer(t, b, Options{})

	t.Run("cluster", func(t *testing.T) {
		a := do(t, nil, "GET", base+"/v1/status", "")
		if a.code != 200 || a.header.Get("Content-Type") != "application/json" {
			t.Fatalf("%d %q: %s", a.code, a.header.Get("Content-Type"), a.body)
		}
		var cs health.Cluster
		if err := json.Unmarshal([]byte(a.body), &cs); err != nil {
			t.Fatal(err)
		}
		if cs.Status != health.Degraded || len(cs.Nodes) != 1 || cs.Timestamp.IsZero() {
			t.Fatalf("cluster: %+v", cs)
		}
		if !strings.Contains(cs.Summary, "http.apiserver critical") {
			t.Errorf("summary: %q", cs.Summary)
		}
		if got, want := cs.Nodes[0], sampleNode(); !reflect.DeepEqual(got, want) {
			t.Errorf("node:\n got %+v\nwant %+v", got, want)
		}
	})
	t.Run("local", func(t *testing.T) {
		a := do(t, nil, "GET", base+"/v1/status/local", "")
		var n health.Node
		if err := json.Unmarshal([]byte(a.body), &n); err != nil || a.code != 200 {
			t.Fatalf("%d %v: %s", a.code, err, a.body)
		}
		if !reflect.DeepEqual(n, sampleNode()) {
			t.Errorf("got %+v", n)
		}
		// The field names of API.md.
		mustContain(t, a.body, `"member_status":{"name":"node-b","addr":"10.0.0.2:7946","status":"alive","tags":{"role":"master"}}`,
			`"config_hash":"9f2c1ab3"`, `"observed_at":"2026-11-25T11:59:58Z"`, `"stale":false`,
			`"checker":"http.apiserver"`, `"metrics":{"latency_ms":0.4}`, `"since":"2026-11-25T11:58:10Z"`, `"flapping":false`, `"detail":"<b>ok</b> & more"`)
	})
	t.Run("members", func(t *testing.T) {
		a := do(t, nil, "GET", base+"/v1/members", "")
		var ms []health.Member
		if err := json.Unmarshal([]byte(a.body), &ms); err != nil || a.code != 200 {
			t.Fatalf("%d %v: %s", a.code, err, a.body)
		}
		if !reflect.DeepEqual(ms, b.members) {
			t.Errorf("got %+v", ms)
		}
	})
	t.Run("history", func(t *testing.T) {
		a := do(t, nil, "GET", base+"/v1/history?node=node-b&check=http.apiserver&since=1h&limit=5", "")
		var hs []health.Change
		if err := json.Unmarshal([]byte(a.body), &hs); err != nil || a.code != 200 {
			t.Fatalf("%d %v: %s", a.code, err, a.body)
		}
		if !reflect.DeepEqual(hs, b.history) {
			t.Errorf("got %+v", hs)
		}
		q := b.lastQuery()
		if q.Node != "node-b" || q.Check != "http.apiserver" || q.Limit != 5 ||
			time.Since(q.Since) < time.Hour || time.Since(q.Since) > time.Hour+time.Minute {
			t.Errorf("query %+v", q)
		}
	})
}

// An agent with nothing yet answers [] rather than null.
func TestEmptyAnswers(t *testing.T) {
	b := &stubBackend{local: health.Node{Name: "n", Status: health.NodeUnknown}}
	_, base := newServer(t, b, Options{})
	for path, want := range map[string]string{
		"/v1/status/local": `"probes":[]`,
		"/v1/status":       `"probes":[]`,
		"/v1/members":      "[]\n",
		"/v1/history":      "[]\n",
	} {
		a := do(t, nil, "GET", base+path, "")
		if a.code != 200 || !strings.Contains(a.body, want) {
			t.Errorf("%s: %d %s", path, a.code, a.body)
		}
	}
}

// JSON has no NaN or Inf: such metrics are left out rather than failing the
// whole document.
func TestNonFiniteMetrics(t *testing.T) {
	n := sampleNode()
	n.Probes[0].Metrics = map[string]float64{"latency_ms": math.NaN(), "bytes": 3}
	n.Probes[2].Metrics = map[string]float64{"ratio": math.Inf(1)}
	b := &stubBackend{local: n}
	_, base := newServer(t, b, Options{})
	for _, path := range []string{"/v1/status/local", "/v1/status"} {
		a := do(t, nil, "GET", base+path, "")
		if a.code != 200 {
			t.Fatalf("%s: %d %s", path, a.code, a.body)
		}
		mustContain(t, a.body, `"metrics":{"bytes":3}`, `"checker":"tcp.etcd"`)
		if strings.Contains(a.body, "latency_ms") || strings.Contains(a.body, "ratio") {
			t.Errorf("%s: non-finite metric in %s", path, a.body)
		}
	}
	// The backend's own data is untouched.
	if !math.IsNaN(b.local.Probes[0].Metrics["latency_ms"]) {
		t.Error("the backend's metrics were modified")
	}
}

func TestHealthz(t *testing.T) {
	critical := []health.Probe{{Checker: "tcp.x", Type: "tcp", Status: checks.StatusCritical}}
	for _, tc := range []struct {
		node health.Node
		code int
		want string
	}{
		{health.Node{Status: health.Healthy}, 200, "healthy"},
		{health.Node{Status: health.Degraded, Probes: critical}, 503, "degraded"},
		{health.Node{Status: health.NodeUnknown}, 200, "unknown"},
		// A backend that left Status empty is judged from its probes.
		{health.Node{Probes: critical}, 503, "degraded"},
	} {
		b := &stubBackend{local: tc.node}
		_, base := newServer(t, b, Options{Token: "secret"})
		a := do(t, nil, "GET", base+"/healthz", "")
		if a.code != tc.code || a.body != `{"status":"`+tc.want+`"}`+"\n" {
			t.Errorf("%+v: %d %q", tc.node, a.code, a.body)
		}
		if a.header.Get("Content-Type") != "application/json" {
			t.Errorf("content type %q", a.header.Get("Content-Type"))
		}
	}
}

func TestAuth(t *testing.T) {
	const full, read = "full-token-0123", "read-token-4567"
	b := &stubBackend{local: sampleNode(), reloadHash: "abc"}
	_, base := newServer(t, b, Options{Token: full + "\n", ReadToken: " " + read})

	type cred struct {
		name   string
		header string // the whole Authorization header; "" for none
	}
	creds := []cred{
		{"none", ""},
		{"wrong", "Bearer nope"},
		{"prefix", "Bearer " + full[:5]},
		{"longer", "Bearer " + full + "x"},
		{"basic", "Basic " + full},
		{"no scheme", full},
		{"empty bearer", "Bearer "},
		{"read", "Bearer " + read},
		{"full", "Bearer " + full},
		{"full lowercase scheme", "bearer " + full},
	}
	granted := func(c cred) grant {
		switch c.name {
		case "read":
			return grantRead
		case "full", "full lowercase scheme":
			return grantFull
		}
		return grantNone
	}
	endpoints := []struct {
		method, path string
		write        bool
	}{
		{"GET", "/v1/status", false},
		{"GET", "/v1/status/local", false},
		{"GET", "/v1/members", false},
		{"GET", "/v1/history", false},
		{"POST", "/v1/reload", true},
	}
	for _, ep := range endpoints {
		for _, c := range creds {
			req, _ := http.NewRequest(ep.method, base+ep.path, nil)
			if c.header != "" {
				req.Header.Set("Authorization", c.header)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			var body bytes.Buffer
			_, _ = body.ReadFrom(resp.Body)
			resp.Body.Close()
			want := 200
			switch g := granted(c); {
			case g == grantNone:
				want = 401
			case g == grantRead && ep.write:
				want = 403
			}
			if resp.StatusCode != want {
				t.Errorf("%s %s with %s: %d, want %d: %s", ep.method, ep.path, c.name, resp.StatusCode, want, body.String())
			}
			switch want {
			case 401:
				if body.String() != `{"error":"unauthorized"}`+"\n" || resp.Header.Get("WWW-Authenticate") == "" {
					t.Errorf("401 answer: %q %v", body.String(), resp.Header)
				}
			case 403:
				if body.String() != `{"error":"forbidden"}`+"\n" {
					t.Errorf("403 answer: %q", body.String())
				}
			}
		}
	}
	if n, _ := b.reloadCounts(); n != 2 { // full and full lowercase scheme
		t.Errorf("%d reloads, want 2", n)
	}

	// /healthz needs no token; an unknown path does.
	if a := do(t, nil, "GET", base+"/healthz", ""); a.code != 503 {
		t.Errorf("/healthz without token: %d", a.code)
	}
	if a := do(t, nil, "GET", base+"/nope", ""); a.code != 401 {
		t.Errorf("unknown path without token: %d", a.code)
	}
	if a := do(t, nil, "GET", base+"/nope", read); a.code != 404 {
		t.Errorf("unknown path with read token: %d", a.code)
	}
}

func TestNoTokenConfigured(t *testing.T) {
	b := &stubBackend{local: sampleNode(), reloadHash: "abc"}
	_, base := newServer(t, b, Options{})
	for _, ep := range [][2]string{{"GET", "/v1/status"}, {"GET", "/v1/members"}, {"POST", "/v1/reload"}} {
		for _, tok := range []string{"", "anything"} {
			if a := do(t, nil, ep[0], base+ep[1], tok); a.code != 200 {
				t.Errorf("%s %s token %q: %d %s", ep[0], ep[1], tok, a.code, a.body)
			}
		}
	}
}

func TestNewOptions(t *testing.T) {
	b := &stubBackend{}
	for _, tc := range []struct {
		opts Options
		err  string // "" for none
	}{
		{Options{}, ""}, // default 127.0.0.1:7575
		{Options{Listen: "127.0.0.1:0"}, ""},
		{Options{Listen: "127.1.2.3:7575"}, ""},
		{Options{Listen: "[::1]:7575"}, ""},
		{Options{Listen: "localhost:7575"}, ""},
		{Options{Listen: "0.0.0.0:7575"}, "not a loopback address"},
		{Options{Listen: ":7575"}, "not a loopback address"},
		{Options{Listen: "10.0.0.1:7575"}, "not a loopback address"},
		{Options{Listen: "[::]:7575"}, "not a loopback address"},
		{Options{Listen: "example.com:7575"}, "not a loopback address"},
		{Options{Listen: "0.0.0.0:7575", Token: " \n"}, "not a loopback address"},
		{Options{Listen: "0.0.0.0:7575", Token: "t"}, ""},
		{Options{Listen: "0.0.0.0:7575", Token: "t", ReadToken: "r"}, ""},
		{Options{ReadToken: "r"}, "needs a token"},
		{Options{Token: "t", ReadToken: "t\n"}, "must differ"},
		{Options{Listen: "nonsense"}, "listen"},
		{Options{TLS: &TLSFiles{CertFile: "/nonexistent.crt"}}, "cert_file and key_file"},
		{Options{TLS: &TLSFiles{CertFile: "/nonexistent.crt", KeyFile: "/nonexistent.key"}}, "no such file"},
	} {
		_, err := New(b, tc.opts)
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("%+v: %v", tc.opts, err)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%+v: error %v, want one with %q", tc.opts, err, tc.err)
		}
	}
	if _, err := New(nil, Options{}); err == nil {
		t.Error("New accepted a nil backend")
	}
}

func TestIsLoopback(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:1": true, "127.255.255.254:1": true, "[::1]:1": true, "localhost:1": true, "LocalHost:1": true,
		"[::ffff:127.0.0.1]:1": true,
		"0.0.0.0:1":            false, ":1": false, "[::]:1": false, "128.0.0.1:1": false, "localhost.example.com:1": false,
		"127.0.0.1": false, // no port
	} {
		if got := IsLoopback(addr); got != want {
			t.Errorf("IsLoopback(%q) = %v", addr, got)
		}
	}
}

func TestReload(t *testing.T) {
	diag := func(sev, detail string) dsl.JSONDiagnostic {
		return dsl.JSONDiagnostic{Severity: sev, Summary: "Something", Detail: detail, Filename: "a.hcl",
			Start: &dsl.JSONPos{Line: 3, Column: 5, Byte: 40}, End: &dsl.JSONPos{Line: 3, Column: 9, Byte: 44}}
	}
	const token = "s3cr3t-token"
	var logs bytes.Buffer
	logger := hclog.New(&hclog.LoggerOptions{Output: &logs, Level: hclog.Trace})
	b := &stubBackend{}
	_, base := newServer(t, b, Options{Token: token, Logger: logger})

	t.Run("ok", func(t *testing.T) {
		b.set(func(b *stubBackend) { b.reloadHash, b.reloadDiags, b.reloadErr = "9f2c1ab3", nil, nil })
		a := do(t, nil, "POST", base+"/v1/reload", token)
		if a.code != 200 || a.body != `{"config_hash":"9f2c1ab3"}`+"\n" {
			t.Errorf("%d %q", a.code, a.body)
		}
	})
	t.Run("warnings", func(t *testing.T) {
		warnings := []dsl.JSONDiagnostic{diag("warning", "Deprecated.")}
		b.set(func(b *stubBackend) { b.reloadHash, b.reloadDiags, b.reloadErr = "77", warnings, nil })
		a := do(t, nil, "POST", base+"/v1/reload", token)
		var got reloadAnswer
		if err := json.Unmarshal([]byte(a.body), &got); err != nil || a.code != 200 {
			t.Fatalf("%d %v %s", a.code, err, a.body)
		}
		if got.ConfigHash != "77" || !reflect.DeepEqual(got.Diagnostics, warnings) {
			t.Errorf("%+v", got)
		}
	})
	t.Run("errors", func(t *testing.T) {
		b.set(func(b *stubBackend) {
			b.reloadHash, b.reloadErr = "", nil
			b.reloadDiags = []dsl.JSONDiagnostic{diag("warning", "Deprecated."), diag("error", "The token is "+token+".")}
		})
		a := do(t, nil, "POST", base+"/v1/reload", token)
		if a.code != 400 {
			t.Fatalf("%d %s", a.code, a.body)
		}
		var got struct {
			ConfigHash  *string              `json:"config_hash"`
			Error       string               `json:"error"`
			Diagnostics []dsl.JSONDiagnostic `json:"diagnostics"`
		}
		if err := json.Unmarshal([]byte(a.body), &got); err != nil {
			t.Fatal(err)
		}
		want := []dsl.JSONDiagnostic{diag("warning", "Deprecated."), diag("error", "The token is (sensitive).")}
		if got.ConfigHash != nil || got.Error == "" || !reflect.DeepEqual(got.Diagnostics, want) {
			t.Errorf("%s", a.body)
		}
	})
	t.Run("failure", func(t *testing.T) {
		b.set(func(b *stubBackend) {
			b.reloadHash, b.reloadDiags, b.reloadErr = "", nil, fmt.Errorf("compiling with %s: %w", token, errBoom)
		})
		a := do(t, nil, "POST", base+"/v1/reload", token)
		if a.code != 500 || a.body != `{"error":"reload failed: compiling with (sensitive): boom"}`+"\n" {
			t.Errorf("%d %q", a.code, a.body)
		}
	})
	if strings.Contains(logs.String(), token) {
		t.Errorf("the token was logged:\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), "/v1/reload") {
		t.Errorf("no request log:\n%s", logs.String())
	}
}

func TestReloadsDoNotOverlap(t *testing.T) {
	b := &stubBackend{reloadHash: "h", reloadDelay: 20 * time.Millisecond}
	_, base := newServer(t, b, Options{})
	var wg sync.WaitGroup
	for range 5 {
		wg.Go(func() {
			if a := do(t, nil, "POST", base+"/v1/reload", ""); a.code != 200 {
				t.Errorf("%d %s", a.code, a.body)
			}
		})
	}
	wg.Wait()
	if n, most := b.reloadCounts(); n != 5 || most != 1 {
		t.Errorf("%d reloads, at most %d at once", n, most)
	}
}

func TestHistoryParams(t *testing.T) {
	b := &stubBackend{}
	_, base := newServer(t, b, Options{})
	at := "2026-11-25T12:00:00Z"
	for _, tc := range []struct {
		query string
		want  health.Query // Since is checked apart for durations
	}{
		{"", health.Query{Limit: 100}},
		{"node=n1&check=" + url.QueryEscape(`http.a["x"]`), health.Query{Node: "n1", Check: `http.a["x"]`, Limit: 100}},
		{"node=&check=", health.Query{Limit: 100}},
		{"limit=1", health.Query{Limit: 1}},
		{"limit=10000", health.Query{Limit: 10000}},
		{"since=" + at, health.Query{Since: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC), Limit: 100}},
		{"since=" + url.QueryEscape("2026-11-25T13:00:00+01:00"), health.Query{Since: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC), Limit: 100}},
		{"since=2026-11-25T13:00:00+01:00", health.Query{Since: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC), Limit: 100}},
		{"since=2026-11-25T12:00:00.5Z", health.Query{Since: time.Date(2026, 11, 25, 12, 0, 0, 5e8, time.UTC), Limit: 100}},
	} {
		a := do(t, nil, "GET", base+"/v1/history?"+tc.query, "")
		if a.code != 200 {
			t.Errorf("%q: %d %s", tc.query, a.code, a.body)
			continue
		}
		if got := b.lastQuery(); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%q: query %+v, want %+v", tc.query, got, tc.want)
		}
	}

	before := time.Now()
	if a := do(t, nil, "GET", base+"/v1/history?since=24h", ""); a.code != 200 {
		t.Fatalf("%d %s", a.code, a.body)
	}
	if s := b.lastQuery().Since; s.Before(before.Add(-24*time.Hour)) || s.After(time.Now().Add(-24*time.Hour)) {
		t.Errorf("since=24h gave %v", s)
	}

	for _, q := range []string{
		"limit=0", "limit=-1", "limit=10001", "limit=abc", "limit=1.5",
		"since=yesterday", "since=-1h", "since=2026-11-31", "since=7d",
		"nodes=a", "node=a&node=b", "limit=1&limit=2",
		// Malformed pairs, which url.Values drops without a word.
		"check=tcp.clo%zzsed", "check=a;x", "limit=1;limit=2", "node=%", "since=%2",
	} {
		a := do(t, nil, "GET", base+"/v1/history?"+q, "")
		var e struct {
			Error string `json:"error"`
		}
		if err := json.Unmarshal([]byte(a.body), &e); a.code != 400 || err != nil || e.Error == "" {
			t.Errorf("%q: %d %s", q, a.code, a.body)
		}
	}

	b.set(func(b *stubBackend) { b.historyErr = fmt.Errorf("sqlite /var/lib/satellite/history.db: %w", errBoom) })
	a := do(t, nil, "GET", base+"/v1/history", "")
	if a.code != 500 || a.body != `{"error":"reading history failed"}`+"\n" {
		t.Errorf("%d %s", a.code, a.body)
	}
}

func TestMethodsAndPaths(t *testing.T) {
	b := &stubBackend{local: sampleNode(), reloadHash: "h"}
	_, base := newServer(t, b, Options{Registry: newTestRegistry(nil)})
	for _, tc := range []struct {
		method, path string
		code         int
		allow        string
	}{
		{"POST", "/v1/status", 405, "GET, HEAD"},
		{"DELETE", "/v1/status/local", 405, "GET, HEAD"},
		{"PUT", "/v1/members", 405, "GET, HEAD"},
		{"POST", "/v1/history", 405, "GET, HEAD"},
		{"GET", "/v1/reload", 405, "POST"},
		{"POST", "/healthz", 405, "GET, HEAD"},
		{"POST", "/metrics", 405, "GET, HEAD"},
		{"HEAD", "/v1/status", 200, ""},
		{"GET", "/", 404, ""},
		{"GET", "/v1/status/", 404, ""},
		{"GET", "/v1/statuses", 404, ""},
		{"GET", "/v2/status", 404, ""},
	} {
		a := do(t, nil, tc.method, base+tc.path, "")
		if a.code != tc.code || a.header.Get("Allow") != tc.allow {
			t.Errorf("%s %s: %d Allow %q: %s", tc.method, tc.path, a.code, a.header.Get("Allow"), a.body)
		}
		if tc.method != "HEAD" && a.header.Get("Content-Type") != "application/json" {
			t.Errorf("%s %s: content type %q", tc.method, tc.path, a.header.Get("Content-Type"))
		}
		if tc.code == 405 && a.body != `{"error":"method not allowed"}`+"\n" {
			t.Errorf("%s %s: %q", tc.method, tc.path, a.body)
		}
		if tc.code == 404 && a.body != `{"error":"not found"}`+"\n" {
			t.Errorf("%s %s: %q", tc.method, tc.path, a.body)
		}
		if tc.method == "HEAD" && a.body != "" {
			t.Errorf("HEAD with a body: %q", a.body)
		}
	}
	// Without a registry there is no /metrics.
	_, base = newServer(t, b, Options{})
	if a := do(t, nil, "GET", base+"/metrics", ""); a.code != 404 {
		t.Errorf("/metrics without registry: %d", a.code)
	}
}

func TestServeLifecycle(t *testing.T) {
	s, err := New(&stubBackend{}, Options{Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	if s.Addr() != nil {
		t.Error("Addr before Listen")
	}
	// Serve listens by itself and returns nil once its context is done.
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	deadline := time.Now().Add(5 * time.Second)
	for s.Addr() == nil && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if s.Addr() == nil {
		t.Fatal("no address")
	}
	if err := s.Listen(); err == nil {
		t.Error("a second Listen succeeded")
	}
	if a := do(t, nil, "GET", "http://"+s.Addr().String()+"/healthz", ""); a.code != 200 {
		t.Errorf("%d", a.code)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, err := net.Dial("tcp", s.Addr().String()); err == nil {
		t.Error("still listening after shutdown")
	}

	// A taken port is an error from Listen.
	other, err := New(&stubBackend{}, Options{Listen: s2addr(t)})
	if err != nil {
		t.Fatal(err)
	}
	if err := other.Listen(); err == nil || !strings.Contains(err.Error(), "address already in use") {
		t.Errorf("Listen on a taken port: %v", err)
	}
}

// s2addr returns the address of a listener kept open until the test ends.
func s2addr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln.Addr().String()
}

// A request in flight when the context ends is answered before Serve returns.
func TestGracefulShutdown(t *testing.T) {
	b := &stubBackend{reloadHash: "h", reloadDelay: 300 * time.Millisecond}
	s, err := New(b, Options{Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	got := make(chan answer, 1)
	go func() { got <- do(t, nil, "POST", "http://"+s.Addr().String()+"/v1/reload", "") }()
	for !b.reloading() {
		time.Sleep(time.Millisecond)
	}
	cancel()
	if a := <-got; a.code != 200 {
		t.Errorf("in-flight reload: %d %s", a.code, a.body)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func benchNode(probes int) health.Node {
	n := sampleNode()
	n.Probes = make([]health.Probe, probes)
	since := testTime
	for i := range n.Probes {
		n.Probes[i] = health.Probe{
			Checker: fmt.Sprintf("http.service[%q]", fmt.Sprint("svc-", i)), Type: "http", Status: checks.StatusPassing,
			Metrics: map[string]float64{"latency_ms": float64(i) / 7, "status_code": 200}, Since: &since, LastRun: &since,
			DurationMS: 12.5,
		}
	}
	return n
}

// BenchmarkStatusLocal measures GET /v1/status/local with 1,000 probes,
// through the handler (auth included) and through a real loopback
// connection.
func BenchmarkStatusLocal(b *testing.B) {
	const token = "bench-token"
	backend := &stubBackend{local: benchNode(1000)}
	s, err := New(backend, Options{Listen: "127.0.0.1:0", Token: token})
	if err != nil {
		b.Fatal(err)
	}
	b.Run("handler", func(b *testing.B) {
		req, _ := http.NewRequest("GET", "/v1/status/local", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		h := s.Handler()
		b.ReportAllocs()
		for b.Loop() {
			w := &discardWriter{header: http.Header{}}
			h.ServeHTTP(w, req)
			if w.code != 200 {
				b.Fatal(w.code)
			}
			b.SetBytes(int64(w.n))
		}
	})
	b.Run("loopback", func(b *testing.B) {
		startServer(b, s)
		url := "http://" + s.Addr().String() + "/v1/status/local"
		b.ReportAllocs()
		for b.Loop() {
			if a := do(b, nil, "GET", url, token); a.code != 200 {
				b.Fatal(a.code)
			}
		}
	})
}

type discardWriter struct {
	header http.Header
	code   int
	n      int
}

func (w *discardWriter) Header() http.Header  { return w.header }
func (w *discardWriter) WriteHeader(code int) { w.code = code }
func (w *discardWriter) Write(p []byte) (int, error) {
	w.n += len(p)
	return len(p), nil
}
