package metrics

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/satellite-hq/satellite/checks"
	"github.com/satellite-hq/satellite/internal/httptransport"
)

// userAgent is sent unless the check sets its own User-Agent header.
const userAgent = "satellite-health-check"

// maxRedirects is how many redirects a scrape follows at most.
const maxRedirects = 10

// detailExcerpt is how much of a body goes into Result.Detail on failure.
const detailExcerpt = 512

// accept offers what the parser reads, as Prometheus does: OpenMetrics
// first, then the Prometheus text format, each with UTF-8 metric names
// allowed (expfmt's names for them).
var accept = func() string {
	utf8Names := ";" + model.EscapingKey + "=" + model.AllowUTF8
	return strings.Join([]string{
		string(expfmt.FmtOpenMetrics_1_0_0) + utf8Names + ";q=0.6",
		string(expfmt.FmtOpenMetrics_0_0_1) + utf8Names + ";q=0.5",
		string(expfmt.FmtText) + utf8Names + ";q=0.4",
		"*/*;q=0.1",
	}, ",")
}()

// exposition is one scrape, parsed.
type exposition struct {
	families    map[string]*dto.MetricFamily
	types       map[string]string // from the kept # TYPE lines
	samples     int
	bytes       int64
	contentType string
	openMetrics bool
}

// scrapeError is a failed scrape: msg for Result.Error, detail for Result.Detail.
type scrapeError struct {
	msg, detail string
	status      int // the response's status, 0 without a response
	contentType string
}

func (e *scrapeError) Error() string { return e.msg }

// httpClient builds the client on first use, so that Build stays free of
// side effects. As the http check does, it shares the transport of its tls
// block (internal/httptransport): the environment's proxy is ignored and
// every run opens a new connection, whose TLS dial reads the tls files (a
// rotated certificate is picked up without a reload).
func (c *Checker) httpClient() *http.Client {
	c.clientOnce.Do(func() {
		tr := httptransport.For(httptransport.Key{TLS: c.tls})
		c.client = &http.Client{Transport: tr, CheckRedirect: func(_ *http.Request, via []*http.Request) error {
			if len(via) >= maxRedirects {
				return fmt.Errorf("stopped after %d redirects", maxRedirects)
			}
			return nil
		}}
	})
	return c.client
}

// scrape requests the exposition and parses what the values need.
func (c *Checker) scrape(ctx context.Context, start time.Time) (*exposition, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url.String(), nil)
	if err != nil {
		return nil, &scrapeError{msg: fmt.Sprintf("building request: %v", err)}
	}
	req.Header = c.header.Clone()
	req.Header.Set("Accept", accept)
	if req.Header.Get("User-Agent") == "" {
		req.Header.Set("User-Agent", userAgent)
	}
	if c.host != "" {
		req.Host = c.host
	}
	resp, err := c.httpClient().Do(req)
	if err != nil {
		return nil, &scrapeError{msg: c.describe(ctx, err, start, "waiting for response headers")}
	}
	defer func() { _ = resp.Body.Close() }()
	ct := resp.Header.Get("Content-Type")
	fail := func(msg, detail string) error {
		return &scrapeError{msg: msg, detail: detail, status: resp.StatusCode, contentType: ct}
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		data, _ := io.ReadAll(io.LimitReader(resp.Body, detailExcerpt+1))
		return nil, fail(fmt.Sprintf("GET %s: status %d, expected 2xx", c.url.Redacted(), resp.StatusCode), excerpt(data))
	}
	om, err := responseFormat(ct)
	if err != nil {
		data, _ := io.ReadAll(io.LimitReader(resp.Body, detailExcerpt+1))
		return nil, fail(fmt.Sprintf("GET %s: %v", c.url.Redacted(), err), excerpt(data))
	}
	exp, err := c.parse(resp.Body, om)
	if err != nil {
		var se *scrapeError
		if errors.As(err, &se) {
			se.status, se.contentType = resp.StatusCode, ct
			return nil, se
		}
		return nil, fail(c.describe(ctx, err, start, "reading the body"), "")
	}
	exp.contentType = ct
	return exp, nil
}

// responseFormat reads the response's Content-Type: OpenMetrics (om), or
// the Prometheus text format, also when the server names no type.
func responseFormat(ct string) (om bool, err error) {
	if strings.TrimSpace(ct) == "" {
		return false, nil
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return false, fmt.Errorf("unreadable Content-Type %q", ct)
	}
	switch mt {
	case expfmt.OpenMetricsType:
		return true, nil
	case "text/plain":
		return false, nil
	}
	return false, fmt.Errorf("Content-Type %q is not a metrics exposition: the check reads the Prometheus text format (text/plain) and OpenMetrics (%s)", ct, expfmt.OpenMetricsType)
}

// parse filters the body (filter.go) and parses what is kept with expfmt's
// text parser, which reads metric names of either validation scheme (it
// is the one expfmt.NewDecoder uses for both formats). Errors about the
// body itself are *scrapeError; others come from reading it.
func (c *Checker) parse(body io.Reader, openMetrics bool) (*exposition, error) {
	f, err := filterBody(body, c.maxBody, c.wanted, openMetrics)
	if errors.Is(err, errBodyTooLarge) {
		return nil, &scrapeError{msg: fmt.Sprintf("GET %s: the body is larger than max_body (%s); raise max_body to scrape it", c.url.Redacted(), sizeText(c.maxBody))}
	}
	if err != nil {
		return nil, err
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(f.kept))
	if err != nil {
		format := "text"
		if openMetrics {
			format = "OpenMetrics"
		}
		se := &scrapeError{msg: fmt.Sprintf("GET %s: the %s exposition does not parse: %s", c.url.Redacted(), format, bounded(err.Error(), maxErrorText))}
		var pe expfmt.ParseError
		if errors.As(err, &pe) {
			se.detail = excerpt(lineAt(f.kept, pe.Line))
		}
		return nil, se
	}
	return &exposition{families: fams, types: f.types, samples: f.samples, bytes: f.bytes, openMetrics: openMetrics}, nil
}

// describe turns a transport error into one line naming the request; a run
// cut short by its deadline says that it timed out.
func (c *Checker) describe(ctx context.Context, err error, start time.Time, doing string) string {
	target := "GET " + c.url.Redacted()
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	switch {
	case checks.IsTimeout(ctx, err):
		if _, ok := ctx.Deadline(); ok {
			return fmt.Sprintf("%s: %s %s", target, checks.Interrupted(ctx, start), doing)
		}
		return fmt.Sprintf("%s: timed out %s: %v", target, doing, err)
	case errors.Is(ctx.Err(), context.Canceled):
		return fmt.Sprintf("%s: canceled %s", target, doing)
	default:
		return fmt.Sprintf("%s: %s", target, bounded(err.Error(), maxErrorText))
	}
}

// bounded cuts s to at most limit bytes, at a character boundary.
func bounded(s string, limit int) string {
	if len(s) <= limit {
		return s
	}
	cut := limit
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + " …"
}

// excerpt is the start of a body, for Result.Detail.
func excerpt(data []byte) string {
	s := strings.ToValidUTF8(string(data), "\uFFFD")
	return strings.TrimSpace(bounded(s, detailExcerpt))
}

// sizeText writes a byte count in whole MiB or KiB when it is one.
func sizeText(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	default:
		return fmt.Sprintf("%d bytes", n)
	}
}
