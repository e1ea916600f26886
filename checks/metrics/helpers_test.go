package metrics

import (
	"io"
	"log"
	"math"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/satellite-hq/satellite/checks"
	"github.com/satellite-hq/satellite/checks/checktest"
	"github.com/satellite-hq/satellite/engine"
)

// clock dates a checker's scrapes in tests, so that windows are exact.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// endpoint is a loopback server whose handler a test can swap (an exporter
// that restarts with a new registry).
type endpoint struct {
	srv *httptest.Server
	h   atomic.Pointer[http.Handler]
	// accept is the Accept header of the last request.
	accept atomic.Pointer[string]
}

func (e *endpoint) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a := r.Header.Get("Accept")
	e.accept.Store(&a)
	(*e.h.Load()).ServeHTTP(w, r)
}

func (e *endpoint) serve(h http.Handler) { e.h.Store(&h) }

// serveRegistry serves reg as promhttp does.
func (e *endpoint) serveRegistry(reg *prometheus.Registry, opts promhttp.HandlerOpts) {
	e.serve(promhttp.HandlerFor(reg, opts))
}

func newEndpoint(t testing.TB, h http.Handler) *endpoint {
	t.Helper()
	e := &endpoint{}
	e.serve(h)
	e.srv = httptest.NewUnstartedServer(e)
	e.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	e.srv.Start()
	t.Cleanup(e.srv.Close)
	return e
}

func registryEndpoint(t testing.TB, reg *prometheus.Registry, opts promhttp.HandlerOpts) *endpoint {
	t.Helper()
	return newEndpoint(t, promhttp.HandlerFor(reg, opts))
}

// compiled is a metrics check compiled as validate does, with its checker
// on a test clock.
type compiled struct {
	check   *engine.Check
	checker *Checker
	clock   *clock
}

// compile compiles src, which must declare check "metrics" "t" cleanly.
func compile(t testing.TB, src string) *compiled {
	t.Helper()
	ch := checktest.MustCheck(t, src, "metrics.t")
	c, ok := ch.Checker.(*Checker)
	if !ok {
		t.Fatalf("checker is %T", ch.Checker)
	}
	clk := newClock()
	c.now = clk.now
	return &compiled{check: ch, checker: c, clock: clk}
}

// run runs the check once and judges it as the engine does (thresholds,
// asserts).
func (c *compiled) run(t testing.TB) (checks.Result, engine.Verdict) {
	t.Helper()
	start := time.Now()
	res := checktest.Run(c.check.Checker, 5*time.Second)
	return res, c.check.Evaluate(res, time.Since(start))
}

// wantValue fails unless the run measured name as want (to 1e-9, relative).
func wantValue(t testing.TB, res checks.Result, name string, want float64) {
	t.Helper()
	got, ok := res.Metrics[name]
	if !ok {
		t.Errorf("%s is not measured (status %s, error %q)", name, res.Verdict(), res.Error)
		return
	}
	if math.Abs(got-want) > 1e-9*math.Max(1, math.Abs(want)) {
		t.Errorf("%s = %v, want %v", name, got, want)
	}
}

// wantAbsent fails if the run measured name.
func wantAbsent(t testing.TB, res checks.Result, name string) {
	t.Helper()
	if v, ok := res.Metrics[name]; ok {
		t.Errorf("%s = %v, want it not measured", name, v)
	}
}
