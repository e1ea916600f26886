package metrics

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/zclconf/go-cty/cty"

	"github.com/satellite-hq/satellite/checks"
	"github.com/satellite-hq/satellite/internal/tlsblock"
)

// Checker scrapes one endpoint per run. Build makes it; it keeps the
// history of its rate, increase and quantile values between runs, and is
// safe for concurrent use (runs that overlap update the history one after
// the other, as they finish).
type Checker struct {
	url     *url.URL
	header  http.Header
	host    string // a Host header, which net/http takes from Request.Host
	maxBody int64
	tls     tlsblock.Options
	values  []valueConfig
	wanted  *wanted

	// now is the clock that dates scrapes (tests set it).
	now func() time.Time

	clientOnce sync.Once
	client     *http.Client

	mu      sync.Mutex
	history []*history // by value; nil for gauges
}

func newChecker() *Checker {
	return &Checker{header: http.Header{}, maxBody: DefaultMaxBody, now: time.Now}
}

func (c *Checker) setValues(values []valueConfig) {
	c.values = values
	c.wanted = wantedFor(values)
	c.history = make([]*history, len(values))
	for i, v := range values {
		if v.kind != kindGauge {
			c.history[i] = newHistory()
		}
	}
}

// Check scrapes the endpoint once and computes every value.
func (c *Checker) Check(ctx context.Context) checks.Result {
	at, start := c.now(), time.Now()
	exp, err := c.scrape(ctx, start)
	took := time.Since(start)
	if err != nil {
		res := checks.Result{Status: checks.StatusCritical, Error: err.Error()}
		var se *scrapeError
		if errors.As(err, &se) {
			res.Detail = se.detail
			if se.status != 0 {
				res.Attrs = map[string]cty.Value{
					"status_code":  cty.NumberIntVal(int64(se.status)),
					"content_type": cty.StringVal(strings.ToValidUTF8(se.contentType, "\uFFFD")),
				}
			}
		}
		return res
	}
	res := c.evaluate(exp, at)
	res.Metrics[MetricScrapeMs] = float64(took) / float64(time.Millisecond)
	res.Attrs = map[string]cty.Value{
		"status_code":  cty.NumberIntVal(http.StatusOK),
		"content_type": cty.StringVal(strings.ToValidUTF8(exp.contentType, "\uFFFD")),
	}
	return res
}

// evaluate computes the values from a parsed scrape taken at `at`. A
// value that cannot be computed yet is absent and named in Detail; when no
// value could be computed the run is unknown. A value whose series are
// missing makes it critical. The other values are reported either way.
func (c *Checker) evaluate(exp *exposition, at time.Time) checks.Result {
	res := checks.Result{Metrics: map[string]float64{
		MetricSamples:   float64(exp.samples),
		MetricBodyBytes: float64(exp.bytes),
	}}
	var errs, unknown []string
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := range c.values {
		v := &c.values[i]
		pts, err := points(exp, v)
		var out outcome
		if err == nil {
			out, err = compute(v, c.history[i], at, pts)
		}
		switch {
		case err != nil:
			errs = append(errs, err.Error())
		case out.ok:
			res.Metrics[v.name] = out.v
		default:
			unknown = append(unknown, fmt.Sprintf("%s (%s)", v.name, out.unknown))
		}
	}
	measured := len(c.values) - len(errs) - len(unknown)
	var pending string
	if len(unknown) > 0 {
		pending = "not measured yet: " + strings.Join(unknown, ", ")
	}
	switch {
	case len(errs) > 0:
		res.Status = checks.StatusCritical
		res.Error = strings.Join(errs, "; ")
		if pending != "" {
			res.Error += "; " + pending
		}
	case pending != "" && measured == 0:
		// Nothing to judge: unknown, not passing.
		res.Status = checks.StatusUnknown
		res.Error = pending
	case pending != "":
		// The values measured are judged; the others are named, so a
		// fresh agent (a 10m window) or an idle histogram does not hide
		// what can be seen.
		res.Detail = pending
	}
	return res
}
