package httpcheck

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zclconf/go-cty/cty"

	"github.com/satellite-hq/satellite/checks"
)

func TestSuccess(t *testing.T) {
	var got struct {
		sync.Mutex
		method, body, auth, ua, host string
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got.Lock()
		got.method, got.body, got.auth, got.ua, got.host = r.Method, string(b), r.Header.Get("Authorization"), r.Header.Get("User-Agent"), r.Host
		got.Unlock()
		_, _ = io.WriteString(w, "ok")
	}))
	t.Cleanup(srv.Close)

	c := mustBuild(t, fmt.Sprintf(`
  url     = "%s/healthz"
  method  = "POST"
  headers = { Authorization = "Bearer t0ken", Host = "api.internal" }
  body    = "ping"
`, srv.URL), "")
	res := run(t, c, 5*time.Second)
	wantPassing(t, res)
	if res.Metrics[MetricStatusCode] != 200 {
		t.Errorf("status_code metric %v", res.Metrics[MetricStatusCode])
	}
	if l, ok := res.Metrics[MetricLatency]; !ok || l <= 0 {
		t.Errorf("latency_ms %v, %v", l, ok)
	}
	if _, ok := res.Metrics[MetricTLSExpiryDays]; ok {
		t.Error("tls_expires_in_days reported without TLS")
	}
	if res.Detail != "" {
		t.Errorf("detail %q on success", res.Detail)
	}
	got.Lock()
	defer got.Unlock()
	if got.method != "POST" || got.body != "ping" || got.auth != "Bearer t0ken" || got.host != "api.internal" || got.ua != userAgent {
		t.Errorf("server saw method %q body %q auth %q host %q user-agent %q", got.method, got.body, got.auth, got.host, got.ua)
	}
}

func TestKeepAlivesOff(t *testing.T) {
	var mu sync.Mutex
	conns := map[string]bool{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		conns[r.RemoteAddr] = true
		mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	c := mustBuild(t, fmt.Sprintf("url = %q", srv.URL), "")
	for range 3 {
		wantPassing(t, run(t, c, 5*time.Second))
	}
	mu.Lock()
	defer mu.Unlock()
	if len(conns) != 3 {
		t.Errorf("3 runs used %d connections; each run must connect anew", len(conns))
	}
}

func TestProxyFromEnvironmentIgnored(t *testing.T) {
	// net/http never proxies loopback addresses, so a loopback server cannot
	// show a proxy being skipped; look at the transport instead.
	t.Setenv("HTTP_PROXY", "http://"+refusedAddr(t))
	t.Setenv("HTTPS_PROXY", "http://"+refusedAddr(t))
	c := mustBuild(t, `url = "http://health.test/"`, "").(*Checker)
	tr, ok := c.httpClient().Transport.(*http.Transport)
	if !ok {
		t.Fatalf("transport is %T", c.httpClient().Transport)
	}
	if tr.Proxy != nil {
		t.Error("the transport uses a proxy function; health checks must go direct")
	}
	if !tr.DisableKeepAlives {
		t.Error("keep-alives are on; each run must measure a real connect")
	}
}

func TestConnectionRefused(t *testing.T) {
	c := mustBuild(t, fmt.Sprintf(`url = "http://%s/"`, refusedAddr(t)), "")
	res := run(t, c, 5*time.Second)
	wantCritical(t, res, "connection refused", "GET http://127.0.0.1:")
	if len(res.Metrics) != 0 || res.Attrs != nil {
		t.Errorf("metrics %v attrs %v after a transport error", res.Metrics, res.Attrs)
	}
}

func TestTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) }) // runs first: no handler outlives the test

	c := mustBuild(t, fmt.Sprintf("url = %q", srv.URL), "")
	start := time.Now()
	res := run(t, c, 200*time.Millisecond)
	took := time.Since(start)
	wantCritical(t, res, "timed out after 200ms", "waiting for response headers")
	if took > 2*time.Second {
		t.Errorf("check returned %s after a 200ms deadline", took)
	}
}

func TestTimeoutInTLSHandshake(t *testing.T) {
	// A listener that accepts but never speaks TLS.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var held []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			held = append(held, c)
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		<-done
		for _, c := range held {
			_ = c.Close()
		}
	})

	c := mustBuild(t, fmt.Sprintf(`url = "https://%s/"`, ln.Addr()), "")
	start := time.Now()
	res := run(t, c, 200*time.Millisecond)
	wantCritical(t, res, "timed out after 200ms")
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("check returned %s after a 200ms deadline", took)
	}
}

func TestDeadlineAlreadyPassed(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	t.Cleanup(srv.Close)
	c := mustBuild(t, fmt.Sprintf("url = %q", srv.URL), "")
	ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	wantCritical(t, c.Check(ctx), "timed out after 0s")
}

func TestTimeoutReadingBody(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "partial")
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })

	c := mustBuild(t, fmt.Sprintf("url = %q", srv.URL), "")
	res := run(t, c, 300*time.Millisecond)
	wantCritical(t, res, "timed out after 300ms reading the body")
	if res.Metrics[MetricStatusCode] != 200 {
		t.Errorf("status_code %v; headers had arrived", res.Metrics[MetricStatusCode])
	}
}

func TestCanceled(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	t.Cleanup(srv.Close)
	c := mustBuild(t, fmt.Sprintf("url = %q", srv.URL), "")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	wantCritical(t, c.Check(ctx), "canceled")
}

func TestTLS(t *testing.T) {
	p := newPKI(t)
	srv := p.server(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}), tls.NoClientCert)

	t.Run("ca_file relative to the config folder", func(t *testing.T) {
		c := mustBuild(t, fmt.Sprintf(`
  url = %q
  tls {
    ca_file = "ca.pem"
  }`, srv.URL), p.dir)
		res := run(t, c, 5*time.Second)
		wantPassing(t, res)
		days, ok := res.Metrics[MetricTLSExpiryDays]
		want := time.Until(p.notAfter).Hours() / 24
		if !ok || math.Abs(days-want) > 0.01 {
			t.Errorf("tls_expires_in_days %v (%v), want about %.2f", days, ok, want)
		}
	})

	t.Run("without ca_file", func(t *testing.T) {
		c := mustBuild(t, fmt.Sprintf("url = %q", srv.URL), "")
		wantCritical(t, run(t, c, 5*time.Second), "certificate", "unknown authority")
	})

	t.Run("insecure_skip_verify", func(t *testing.T) {
		c := mustBuild(t, fmt.Sprintf(`
  url = %q
  tls {
    insecure_skip_verify = true
  }`, srv.URL), "")
		wantPassing(t, run(t, c, 5*time.Second))
	})

	t.Run("server_name", func(t *testing.T) {
		c := mustBuild(t, fmt.Sprintf(`
  url = %q
  tls {
    ca_file     = "ca.pem"
    server_name = "health.test"
  }`, srv.URL), p.dir)
		wantPassing(t, run(t, c, 5*time.Second))

		c = mustBuild(t, fmt.Sprintf(`
  url = %q
  tls {
    ca_file     = "ca.pem"
    server_name = "other.test"
  }`, srv.URL), p.dir)
		wantCritical(t, run(t, c, 5*time.Second), "certificate", "other.test")
	})

	t.Run("missing ca_file is a run error, not a build error", func(t *testing.T) {
		c := mustBuild(t, fmt.Sprintf(`
  url = %q
  tls {
    ca_file = "nope.pem"
  }`, srv.URL), p.dir)
		wantCritical(t, run(t, c, 5*time.Second), "tls.ca_file", "nope.pem")
	})
}

func TestClientCertificate(t *testing.T) {
	p := newPKI(t)
	srv := p.server(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(r.TLS.PeerCertificates) == 0 {
			http.Error(w, "no client certificate", http.StatusUnauthorized)
			return
		}
		_, _ = io.WriteString(w, r.TLS.PeerCertificates[0].Subject.CommonName)
	}), tls.RequireAndVerifyClientCert)

	c := mustBuild(t, fmt.Sprintf(`
  url = %q
  tls {
    ca_file   = "ca.pem"
    cert_file = "client.pem"
    key_file  = %q
  }`, srv.URL, filepath.Join(p.dir, "client-key.pem")), p.dir)
	res := run(t, c, 5*time.Second)
	wantPassing(t, res)
	if body := res.Attrs["body"].AsString(); body != "client" {
		t.Errorf("server saw client %q", body)
	}

	c = mustBuild(t, fmt.Sprintf(`
  url = %q
  tls {
    ca_file = "ca.pem"
  }`, srv.URL), p.dir)
	wantCritical(t, run(t, c, 5*time.Second), "certificate")
}

func TestExpectStatus(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var code int
		_, _ = fmt.Sscan(strings.TrimPrefix(r.URL.Path, "/"), &code)
		w.WriteHeader(code)
		_, _ = fmt.Fprintf(w, "answered %d\n", code)
	}))
	t.Cleanup(srv.Close)

	tests := []struct {
		expect string // HCL, "" for the default
		code   int
		err    string // "" for passing
	}{
		{"", 200, ""},
		{"", 302, ""},
		{"", 399, ""},
		{"", 404, "status 404, expected 200-399"},
		{"", 500, "status 500, expected 200-399"},
		{"[200]", 200, ""},
		{"[200]", 201, "status 201, expected 200"},
		{`["2xx"]`, 204, ""},
		{`["2XX", 404]`, 404, ""},
		{`["200-299", 503]`, 503, ""},
		{`["200-299", 503]`, 500, "status 500, expected 200-299, 503"},
		{`"4xx"`, 401, ""},
		{"418", 418, ""},
		{`["418"]`, 418, ""},
	}
	for _, tt := range tests {
		name := fmt.Sprintf("%s/%d", tt.expect, tt.code)
		t.Run(name, func(t *testing.T) {
			body := fmt.Sprintf(`url = "%s/%d"`, srv.URL, tt.code)
			if tt.expect != "" {
				body += "\nexpect_status = " + tt.expect
			}
			c := mustBuild(t, body, "")
			res := run(t, c, 5*time.Second)
			if tt.err == "" {
				wantPassing(t, res)
				return
			}
			wantCritical(t, res)
			if res.Error != tt.err {
				t.Errorf("error %q, want %q", res.Error, tt.err)
			}
			if want := fmt.Sprintf("answered %d", tt.code); res.Detail != want {
				t.Errorf("detail %q, want %q", res.Detail, want)
			}
			if res.Metrics[MetricStatusCode] != float64(tt.code) {
				t.Errorf("status_code metric %v", res.Metrics[MetricStatusCode])
			}
		})
	}
}

func TestRedirects(t *testing.T) {
	mux := http.NewServeMux()
	mux.Handle("/old", http.RedirectHandler("/new", http.StatusFound))
	mux.HandleFunc("/new", func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "new") })
	mux.HandleFunc("/loop", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/loop", http.StatusFound) })
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	res := run(t, mustBuild(t, fmt.Sprintf(`url = "%s/old"`, srv.URL), ""), 5*time.Second)
	wantPassing(t, res)
	if res.Attrs["body"].AsString() != "new" {
		t.Errorf("redirect not followed: body %q", res.Attrs["body"].AsString())
	}

	res = run(t, mustBuild(t, fmt.Sprintf("url = \"%s/old\"\nfollow_redirects = false\nexpect_status = [200]", srv.URL), ""), 5*time.Second)
	wantCritical(t, res)
	if res.Error != "status 302, expected 200" {
		t.Errorf("error %q", res.Error)
	}
	if loc := res.Attrs["headers"].Index(cty.StringVal("location")).AsString(); loc != "/new" {
		t.Errorf("location %q", loc)
	}

	res = run(t, mustBuild(t, fmt.Sprintf(`url = "%s/loop"`, srv.URL), ""), 5*time.Second)
	wantCritical(t, res, "stopped after 10 redirects")
}

func TestResultAttrs(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Add("X-Multi", "a")
		w.Header().Add("X-Multi", "b")
		_, _ = io.WriteString(w, `{"status": "ok", "checks": [{"name": "db", "up": true}], "n": 3}`)
	})
	mux.HandleFunc("/text", func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "all good\n") })
	mux.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "[\""+strings.Repeat("é", MaxBodyRead)+"\"]")
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	reg := registration(t)

	t.Run("json", func(t *testing.T) {
		res := run(t, mustBuild(t, fmt.Sprintf(`url = "%s/json"`, srv.URL), ""), 5*time.Second)
		wantPassing(t, res)
		result := reg.ResultValue(res, 0)
		if err := result.Type().TestConformance(reg.ResultType()); err != nil {
			t.Fatalf("result does not conform to the declared type: %v", err)
		}
		j := result.GetAttr("json")
		if s := j.GetAttr("status"); !s.RawEquals(cty.StringVal("ok")) {
			t.Errorf("json.status = %#v", s)
		}
		if n := j.GetAttr("n"); !n.RawEquals(cty.NumberIntVal(3)) {
			t.Errorf("json.n = %#v", n)
		}
		if up := j.GetAttr("checks").Index(cty.NumberIntVal(0)).GetAttr("up"); !up.RawEquals(cty.True) {
			t.Errorf("json.checks[0].up = %#v", up)
		}
		if sc := result.GetAttr("status_code"); !sc.RawEquals(cty.NumberIntVal(200)) {
			t.Errorf("status_code = %#v", sc)
		}
		h := result.GetAttr("headers")
		if v := h.Index(cty.StringVal("x-multi")); !v.RawEquals(cty.StringVal("a, b")) {
			t.Errorf(`headers["x-multi"] = %#v`, v)
		}
		if v := h.Index(cty.StringVal("content-type")); !v.RawEquals(cty.StringVal("application/json")) {
			t.Errorf(`headers["content-type"] = %#v`, v)
		}
		if !strings.HasPrefix(result.GetAttr("body").AsString(), `{"status": "ok"`) {
			t.Errorf("body = %q", result.GetAttr("body").AsString())
		}
	})

	t.Run("not json", func(t *testing.T) {
		res := run(t, mustBuild(t, fmt.Sprintf(`url = "%s/text"`, srv.URL), ""), 5*time.Second)
		wantPassing(t, res)
		if j := res.Attrs["json"]; !j.IsNull() {
			t.Errorf("json = %#v, want null", j)
		}
		if b := res.Attrs["body"].AsString(); b != "all good\n" {
			t.Errorf("body = %q", b)
		}
	})

	t.Run("big body is capped", func(t *testing.T) {
		res := run(t, mustBuild(t, fmt.Sprintf(`url = "%s/big"`, srv.URL), ""), 5*time.Second)
		wantPassing(t, res)
		b := res.Attrs["body"].AsString()
		if len(b) > MaxBodyAttr || len(b) < MaxBodyAttr-3 {
			t.Errorf("body attr is %d bytes, want at most %d", len(b), MaxBodyAttr)
		}
		if strings.ContainsRune(b, '\uFFFD') {
			t.Error("body was cut inside a character")
		}
		if j := res.Attrs["json"]; !j.IsNull() {
			t.Error("a body cut at 1 MiB must not decode as JSON")
		}
	})
}

func TestUnixSocket(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "api.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Host != "docker" || r.URL.Path != "/_ping" {
			http.Error(w, "wrong request "+r.Host+r.URL.Path, http.StatusBadRequest)
			return
		}
		_, _ = io.WriteString(w, "OK")
	})}
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close(); <-done })

	// Relative to the config folder, like every path.
	c := mustBuild(t, "url = \"http://docker/_ping\"\nunix_socket = \"api.sock\"", filepath.Dir(sock))
	res := run(t, c, 5*time.Second)
	wantPassing(t, res)
	if res.Attrs["body"].AsString() != "OK" {
		t.Errorf("body %q", res.Attrs["body"].AsString())
	}

	c = mustBuild(t, "url = \"http://docker/_ping\"\nunix_socket = \"/nonexistent/satellite.sock\"", "")
	wantCritical(t, run(t, c, 5*time.Second), "via /nonexistent/satellite.sock", "no such file")
}

func TestConcurrentRuns(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	t.Cleanup(srv.Close)
	c := mustBuild(t, fmt.Sprintf("url = %q", srv.URL), "")
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if res := run(t, c, 5*time.Second); res.Verdict() != checks.StatusPassing {
				t.Errorf("run: %s", res.Error)
			}
		})
	}
	wg.Wait()
}

func BenchmarkHTTPCheck(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, `{"status":"ok"}`)
	}))
	b.Cleanup(srv.Close)
	c := mustBuild(b, fmt.Sprintf("url = %q", srv.URL), "")
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if res := c.Check(ctx); res.Error != "" {
			b.Fatal(res.Error)
		}
	}
}
