package metrics

import (
	"crypto/tls"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/satellite-hq/satellite/checks"
	"github.com/satellite-hq/satellite/checks/checktest"
	"github.com/satellite-hq/satellite/internal/testpki"
)

// openMetricsExporter has what OpenMetrics writes differently from the
// text format: counters with _total samples and _created lines, exemplars,
// an untyped metric (OpenMetrics' "unknown"), an info metric.
func openMetricsExporter(t *testing.T) (*prometheus.Registry, prometheus.Counter, prometheus.Histogram) {
	t.Helper()
	reg := prometheus.NewRegistry()
	n := prometheus.NewCounter(prometheus.CounterOpts{Name: "jobs_total", Help: "Jobs done."})
	h := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "job_seconds", Help: "Job time.", Buckets: []float64{1, 10}})
	u := prometheus.NewUntypedFunc(prometheus.UntypedOpts{Name: "queue_depth", Help: "Queue depth."}, func() float64 { return 7 })
	info := prometheus.NewGauge(prometheus.GaugeOpts{Name: "build_info", Help: "Build.", ConstLabels: prometheus.Labels{"version": "1.2.3"}})
	info.Set(1)
	reg.MustRegister(n, h, u, info)
	return reg, n, h
}

func TestOpenMetrics(t *testing.T) {
	reg, n, h := openMetricsExporter(t)
	ep := registryEndpoint(t, reg, promhttp.HandlerOpts{EnableOpenMetrics: true, EnableOpenMetricsTextCreatedSamples: true})
	c := compile(t, fmt.Sprintf(`
check "metrics" "t" {
  url = "%s/metrics"
  value "jobs" {
    increase = "jobs_total"
    over     = "1m"
  }
  value "p50" {
    histogram_quantile = 0.5
    metric             = "job_seconds"
    over               = "1m"
  }
  value "depth" { gauge = "queue_depth" }
  value "version" {
    gauge = "build_info"
    match = { version = "1.2.3" }
  }
  assert {
    condition     = can(regex("^application/openmetrics-text", result.content_type))
    error_message = "negotiated ${result.content_type}"
  }
}
`, ep.srv.URL))
	n.(prometheus.ExemplarAdder).AddWithExemplar(5, prometheus.Labels{"trace_id": "abc"})
	h.(prometheus.ExemplarObserver).ObserveWithExemplar(0.5, prometheus.Labels{"trace_id": "def"})
	res, v := c.run(t)
	// The gauges are measured and judged; the rest is named in Detail.
	if v.Status != checks.StatusPassing || !strings.Contains(res.Detail, "not measured yet:") {
		t.Fatalf("first run: %s / %s: %s (detail %q)", res.Status, v.Status, res.Error, res.Detail)
	}
	wantValue(t, res, "depth", 7)
	wantValue(t, res, "version", 1)
	if ct := res.Attrs["content_type"].AsString(); !strings.HasPrefix(ct, "application/openmetrics-text; version=1.0.0") {
		t.Errorf("content type %q, want OpenMetrics 1.0.0", ct)
	}
	if a := *ep.accept.Load(); !strings.HasPrefix(a, "application/openmetrics-text; version=1.0.0") || !strings.Contains(a, "text/plain; version=0.0.4") {
		t.Errorf("Accept %q", a)
	}

	n.(prometheus.ExemplarAdder).AddWithExemplar(4, prometheus.Labels{"trace_id": "ghi"})
	h.(prometheus.ExemplarObserver).ObserveWithExemplar(5, prometheus.Labels{"trace_id": "jkl"})
	h.Observe(5)
	c.clock.add(time.Minute)
	res, v = c.run(t)
	if v.Status != checks.StatusPassing {
		t.Fatalf("second run: %s: %s", v.Status, v.Error)
	}
	wantValue(t, res, "jobs", 4)
	// Two observations in (1, 10]: rank 1 of 2 in it.
	wantValue(t, res, "p50", 1+(10-1)*(1.0/2))
}

// Without OpenMetrics on the server, the text format is what comes back.
func TestTextNegotiated(t *testing.T) {
	reg, _, _ := openMetricsExporter(t)
	ep := registryEndpoint(t, reg, promhttp.HandlerOpts{})
	c := compile(t, fmt.Sprintf("check \"metrics\" \"t\" {\n  url = \"%s/metrics\"\n  value \"depth\" { gauge = \"queue_depth\" }\n}\n", ep.srv.URL))
	res, _ := c.run(t)
	checktest.WantPassing(t, res)
	wantValue(t, res, "depth", 7)
	if ct := res.Attrs["content_type"].AsString(); !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
		t.Errorf("content type %q", ct)
	}
}

// serveText answers every request with body as the content type.
func serveText(t *testing.T, contentType, body string) *endpoint {
	t.Helper()
	return newEndpoint(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if contentType != "" {
			w.Header().Set("Content-Type", contentType)
		}
		_, _ = io.WriteString(w, body)
	}))
}

func gaugeCheck(url, extra string) string {
	return fmt.Sprintf("check \"metrics\" \"t\" {\n  url = \"%s/metrics\"\n%s\n  value \"up\" { gauge = \"up\" }\n}\n", url, extra)
}

func TestMalformedBody(t *testing.T) {
	for _, tc := range []struct{ name, body, want, detail string }{
		{"label set", "# TYPE up gauge\nup{job=\"a\" 1\n", `the text exposition does not parse: text format parsing error in line 2: unexpected end of label value "a"`, `up{job="a" 1`},
		{"value", "other 1\nup{job=\"a\"} one\n", `text format parsing error in line 2: expected float as value, got "one"`, `up{job="a"} one`},
		{"no newline at the end", "up 1", "unexpected end of input stream", ""},
		{"long token", "up " + strings.Repeat("9x", 5000) + "\n", "expected float as value", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ep := serveText(t, "text/plain; version=0.0.4", tc.body)
			c := compile(t, gaugeCheck(ep.srv.URL, ""))
			res, _ := c.run(t)
			checktest.WantCritical(t, res, tc.want)
			if len(res.Error) > 500 {
				t.Errorf("error of %d bytes: the parser's message is not bounded", len(res.Error))
			}
			if tc.detail != "" && res.Detail != tc.detail {
				t.Errorf("detail %q, want the line %q", res.Detail, tc.detail)
			}
		})
	}
	// A malformed line of a metric no value names is not parsed.
	ep := serveText(t, "text/plain", "other{ 1\nup 1\n")
	res, _ := compile(t, gaugeCheck(ep.srv.URL, "")).run(t)
	checktest.WantPassing(t, res)

	// Without values, the whole exposition is parsed.
	c := compile(t, fmt.Sprintf("check \"metrics\" \"t\" {\n  url = \"%s/metrics\"\n}\n", ep.srv.URL))
	res, _ = c.run(t)
	checktest.WantCritical(t, res, "line 1")
}

func TestMaxBody(t *testing.T) {
	body := "up 1\n" + strings.Repeat("# padding padding padding padding\n", 400)
	ep := serveText(t, "text/plain", body)
	res, _ := compile(t, gaugeCheck(ep.srv.URL, `max_body = "4KiB"`)).run(t)
	checktest.WantCritical(t, res, "the body is larger than max_body (4 KiB)")
	wantAbsent(t, res, "up")

	res, _ = compile(t, gaugeCheck(ep.srv.URL, fmt.Sprintf("max_body = %d", len(body)))).run(t)
	checktest.WantPassing(t, res)
	wantValue(t, res, MetricBodyBytes, float64(len(body)))

	// After OpenMetrics' # EOF, the rest still counts.
	ep = serveText(t, "application/openmetrics-text; version=1.0.0; charset=utf-8", "up 1\n# EOF\n"+body)
	res, _ = compile(t, gaugeCheck(ep.srv.URL, `max_body = "4KiB"`)).run(t)
	checktest.WantCritical(t, res, "larger than max_body")
}

func TestResponses(t *testing.T) {
	for _, tc := range []struct {
		name        string
		status      int
		contentType string
		body        string
		want        string
	}{
		{"server error", 503, "text/plain", "overloaded", "status 503, expected 2xx"},
		{"not found", 404, "text/plain", "no such page", "status 404"},
		{"json", 200, "application/json", `{"up": 1}`, `Content-Type "application/json" is not a metrics exposition`},
		{"html", 200, "text/html; charset=utf-8", "<html>login</html>", "not a metrics exposition"},
		{"bad type", 200, "text/plain; ===", "up 1\n", "unreadable Content-Type"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ep := newEndpoint(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Type", tc.contentType)
				w.WriteHeader(tc.status)
				_, _ = io.WriteString(w, tc.body)
			}))
			res, _ := compile(t, gaugeCheck(ep.srv.URL, "")).run(t)
			checktest.WantCritical(t, res, tc.want, "GET http://127.0.0.1:")
			if res.Detail != strings.TrimSpace(tc.body) {
				t.Errorf("detail %q, want the body", res.Detail)
			}
			if got := res.Attrs["status_code"].AsBigFloat().String(); got != fmt.Sprint(tc.status) {
				t.Errorf("result.status_code %s", got)
			}
		})
	}
	// No Content-Type at all: read as the text format.
	ep := newEndpoint(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header()["Content-Type"] = nil // no sniffing
		_, _ = io.WriteString(w, "up 1\n")
	}))
	res, _ := compile(t, gaugeCheck(ep.srv.URL, "")).run(t)
	checktest.WantPassing(t, res)
}

func TestHeaders(t *testing.T) {
	seen := make(chan http.Header, 1)
	ep := newEndpoint(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := r.Header.Clone()
		h.Set("Host", r.Host)
		seen <- h
		_, _ = io.WriteString(w, "up 1\n")
	}))
	res, _ := compile(t, gaugeCheck(ep.srv.URL, `headers = { Authorization = "Bearer s3cret", Host = "etcd.internal" }`)).run(t)
	checktest.WantPassing(t, res)
	h := <-seen
	if h.Get("Authorization") != "Bearer s3cret" || h.Get("Host") != "etcd.internal" || h.Get("User-Agent") != userAgent || h.Get("Accept") != accept {
		t.Errorf("server saw %v", h)
	}
}

func TestTimeout(t *testing.T) {
	release := make(chan struct{})
	ep := newEndpoint(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "up 1\n")
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() { close(release) })
	c := compile(t, gaugeCheck(ep.srv.URL, ""))
	start := time.Now()
	res := checktest.Run(c.check.Checker, 300*time.Millisecond)
	checktest.WantCritical(t, res, "timed out after 300ms reading the body")
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("the run took %s after a 300ms timeout", took)
	}
	res = c.check.Checker.Check(checktest.Expired(t))
	checktest.WantCritical(t, res, "timed out")
}

func TestTLS(t *testing.T) {
	ca := testpki.NewCA(t, "metrics test CA")
	server := ca.Issue(t, "etcd.internal")
	client := ca.Issue(t, "healthcheck")
	reg, _, _ := openMetricsExporter(t)
	srv := httptest.NewUnstartedServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{server.Pair}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: ca.Pool()}
	srv.StartTLS()
	t.Cleanup(srv.Close)

	tlsBlock := func(body string) string {
		return fmt.Sprintf("check \"metrics\" \"t\" {\n  url = \"%s/metrics\"\n  tls {\n%s\n  }\n  value \"depth\" { gauge = \"queue_depth\" }\n}\n", srv.URL, body)
	}
	res, _ := compile(t, tlsBlock(fmt.Sprintf("ca_file = %q\ncert_file = %q\nkey_file = %q\nserver_name = \"etcd.internal\"", ca.File, client.CertFile, client.KeyFile))).run(t)
	checktest.WantPassing(t, res)
	wantValue(t, res, "depth", 7)

	// Without the client certificate the server refuses the handshake.
	res, _ = compile(t, tlsBlock(fmt.Sprintf("ca_file = %q", ca.File))).run(t)
	checktest.WantCritical(t, res, "GET https://127.0.0.1:")

	// Without the CA the server is not trusted.
	res, _ = compile(t, gaugeCheck(srv.URL, "")).run(t)
	checktest.WantCritical(t, res, "certificate")
}
