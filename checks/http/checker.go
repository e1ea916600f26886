package httpcheck

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/zclconf/go-cty/cty"
	ctyjson "github.com/zclconf/go-cty/cty/json"

	"github.com/satellite-hq/satellite/checks"
	"github.com/satellite-hq/satellite/internal/httptransport"
	"github.com/satellite-hq/satellite/internal/tlsblock"
)

// userAgent is sent unless the check sets its own User-Agent header.
const userAgent = "satellite-health-check"

// detailExcerpt is how much of a body goes into Result.Detail on failure.
const detailExcerpt = 512

// Checker runs one `http` check. Build makes it; it is safe for concurrent use.
type Checker struct {
	url        *url.URL
	method     string
	header     http.Header
	host       string // a Host header, which net/http takes from Request.Host
	body       string
	hasBody    bool
	expect     statusSet
	follow     bool
	unixSocket string
	keepAlive  bool
	tls        tlsblock.Options
	// attrs: the check has asserts, which read the body, json and headers.
	attrs bool

	once   sync.Once
	client *http.Client
}

// httpClient builds the client on first use, so that Build stays free of
// side effects. Its transport is shared with every check of the same tls
// block, unix socket and keep_alive (internal/httptransport): unless
// keep_alive is set, every run measures a real connect; the environment's
// proxy is ignored: health checks go direct.
func (c *Checker) httpClient() *http.Client {
	c.once.Do(func() {
		tr := httptransport.For(httptransport.Key{TLS: c.tls, UnixSocket: c.unixSocket, KeepAlive: c.keepAlive})
		c.client = &http.Client{Transport: tr, CheckRedirect: c.checkRedirect}
	})
	return c.client
}

func (c *Checker) checkRedirect(_ *http.Request, via []*http.Request) error {
	if !c.follow {
		return http.ErrUseLastResponse
	}
	if len(via) >= MaxRedirects {
		return fmt.Errorf("stopped after %d redirects", MaxRedirects)
	}
	return nil
}

// Check sends the request once and judges the response.
func (c *Checker) Check(ctx context.Context) checks.Result {
	return c.check(ctx, time.Now())
}

func (c *Checker) check(ctx context.Context, start time.Time) checks.Result {
	var body io.Reader
	if c.hasBody {
		body = strings.NewReader(c.body)
	}
	req, err := http.NewRequestWithContext(ctx, c.method, c.url.String(), body)
	if err != nil {
		return checks.Result{Status: checks.StatusCritical, Error: fmt.Sprintf("building request: %v", err)}
	}
	req.Header = c.header.Clone()
	if req.Header.Get("User-Agent") == "" {
		req.Header.Set("User-Agent", userAgent)
	}
	if c.host != "" {
		req.Host = c.host
	}

	resp, err := c.httpClient().Do(req)
	if err != nil {
		return checks.Result{Status: checks.StatusCritical, Error: c.describe(ctx, err, start, "waiting for response headers")}
	}
	defer func() { _ = resp.Body.Close() }()
	latency := time.Since(start)

	res := checks.Result{Metrics: map[string]float64{
		MetricLatency:    float64(latency) / float64(time.Millisecond),
		MetricStatusCode: float64(resp.StatusCode),
	}}
	if resp.TLS != nil && len(resp.TLS.PeerCertificates) > 0 {
		left := time.Until(resp.TLS.PeerCertificates[0].NotAfter)
		res.Metrics[MetricTLSExpiryDays] = left.Hours() / 24
	}

	data, readErr := io.ReadAll(io.LimitReader(resp.Body, MaxBodyRead))
	if c.attrs {
		res.Attrs = map[string]cty.Value{
			"status_code": cty.NumberIntVal(int64(resp.StatusCode)),
			"body":        cty.StringVal(truncateUTF8(data, MaxBodyAttr)),
			"json":        decodeJSON(data),
			"headers":     headerMap(resp.Header),
		}
	}

	switch {
	case readErr != nil:
		res.Status = checks.StatusCritical
		res.Error = c.describe(ctx, readErr, start, "reading the body")
	case !c.expect.Contains(resp.StatusCode):
		res.Status = checks.StatusCritical
		res.Error = fmt.Sprintf("status %d, expected %s", resp.StatusCode, c.expect)
	}
	if res.Status == checks.StatusCritical {
		res.Detail = excerpt(data)
	}
	return res
}

// describe turns a transport error into one line naming the request; a run
// cut short by its deadline says that it timed out.
func (c *Checker) describe(ctx context.Context, err error, start time.Time, doing string) string {
	target := c.method + " " + c.url.Redacted()
	if c.unixSocket != "" {
		target += " via " + c.unixSocket
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	switch {
	case checks.IsTimeout(ctx, err):
		// Only the run's deadline times a request out; say how long it had.
		if _, ok := ctx.Deadline(); ok {
			return fmt.Sprintf("%s: %s %s", target, checks.Interrupted(ctx, start), doing)
		}
		return fmt.Sprintf("%s: timed out %s: %v", target, doing, err)
	case errors.Is(ctx.Err(), context.Canceled):
		return fmt.Sprintf("%s: canceled %s", target, doing)
	default:
		return fmt.Sprintf("%s: %v", target, err)
	}
}

// decodeJSON returns the body as a cty value, or null when it is not JSON.
func decodeJSON(data []byte) cty.Value {
	null := cty.NullVal(cty.DynamicPseudoType)
	if !mayBeJSON(data) {
		return null
	}
	ty, err := ctyjson.ImpliedType(data)
	if err != nil {
		return null
	}
	v, err := ctyjson.Unmarshal(data, ty)
	if err != nil {
		return null
	}
	return v
}

// mayBeJSON tells whether data could be a JSON value, by its first byte
// after white space, so that a plain "ok" body is not handed to a decoder
// (which allocates its buffers first) only to fail.
func mayBeJSON(data []byte) bool {
	for _, b := range data {
		switch b {
		case ' ', '\t', '\r', '\n':
			continue
		case '{', '[', '"', '-', 't', 'f', 'n', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
			return true
		}
		return false
	}
	return false
}

// headerMap lower-cases names and joins repeated values with ", ".
func headerMap(h http.Header) cty.Value {
	if len(h) == 0 {
		return cty.MapValEmpty(cty.String)
	}
	m := make(map[string]cty.Value, len(h))
	for name, values := range h {
		k := strings.ToLower(name)
		joined := strings.ToValidUTF8(strings.Join(values, ", "), "\uFFFD")
		if prev, ok := m[k]; ok {
			joined = prev.AsString() + ", " + joined
		}
		m[k] = cty.StringVal(joined)
	}
	return cty.MapVal(m)
}

// truncateUTF8 keeps at most max bytes, cut at a character boundary, with
// invalid UTF-8 replaced (cty strings must be valid UTF-8).
func truncateUTF8(data []byte, limit int) string {
	if len(data) > limit {
		cut := limit
		for cut > 0 && cut > limit-utf8.UTFMax && !utf8.RuneStart(data[cut]) {
			cut--
		}
		data = data[:cut]
	}
	return strings.ToValidUTF8(string(data), "\uFFFD")
}

func excerpt(data []byte) string {
	s := strings.TrimSpace(truncateUTF8(data, detailExcerpt))
	if len(data) > detailExcerpt {
		s += " …"
	}
	return s
}
