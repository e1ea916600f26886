// Package httpcheck is the `http` check type: an HTTP(S) request whose
// response status must be one of the expected ones.
package httpcheck

import (
	_ "embed"
	"maps"
	"net/http"
	"slices"
	"strings"

	"github.com/satellite-hq/satellite/internal/httpurl"

	"golang.org/x/net/http/httpguts"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/zclconf/go-cty/cty"

	"github.com/satellite-hq/satellite/checks"
	"github.com/satellite-hq/satellite/dsl"
	"github.com/satellite-hq/satellite/internal/tlsblock"
)

//go:embed sample.hcl
var sample string

// Type is the first label of `check "http" "NAME"`.
const Type = "http"

// Metric names the type reports.
const (
	MetricLatency       = "latency_ms"
	MetricStatusCode    = "status_code"
	MetricTLSExpiryDays = "tls_expires_in_days"
)

// Limits on what a run reads and keeps of a response body.
const (
	// MaxBodyRead is the most of a body that is read (and decoded as JSON).
	MaxBodyRead = 1 << 20
	// MaxBodyAttr is the most of a body kept in result.body.
	MaxBodyAttr = 64 << 10
	// MaxRedirects is how many redirects are followed at most.
	MaxRedirects = 10
)

// Spec is the schema of the type's own attributes and blocks.
var Spec = hcldec.ObjectSpec{
	"url":              &hcldec.AttrSpec{Name: "url", Type: cty.String, Required: true},
	"method":           &hcldec.AttrSpec{Name: "method", Type: cty.String},
	"headers":          &hcldec.AttrSpec{Name: "headers", Type: cty.Map(cty.String)},
	"body":             &hcldec.AttrSpec{Name: "body", Type: cty.String},
	"expect_status":    &hcldec.AttrSpec{Name: "expect_status", Type: cty.DynamicPseudoType},
	"follow_redirects": &hcldec.AttrSpec{Name: "follow_redirects", Type: cty.Bool},
	"unix_socket":      &hcldec.AttrSpec{Name: "unix_socket", Type: cty.String},
	"keep_alive":       &hcldec.AttrSpec{Name: "keep_alive", Type: cty.Bool},
	"tls":              tlsblock.Spec(),
}

// ResultAttrs are the extra attributes of `result` for assert.
var ResultAttrs = map[string]cty.Type{
	"status_code": cty.Number,
	"body":        cty.String,
	"json":        cty.DynamicPseudoType,
	"headers":     cty.Map(cty.String),
}

func init() {
	checks.Register(&checks.Registration{
		Type:    Type,
		Spec:    Spec,
		Metrics: []string{MetricLatency, MetricStatusCode, MetricTLSExpiryDays},
		Result:  ResultAttrs,
		Build:   Build,
		Sample:  sample,
		Doc:     "An HTTP(S) endpoint answers with an expected status.",
	})
}

// Build validates a decoded `http` body and returns its checker. It does no
// I/O; a nil Checker comes back when a value it needs is unknown or invalid.
func Build(cfg cty.Value, env checks.Env) (checks.Checker, hcl.Diagnostics) {
	if !cfg.IsKnown() {
		return nil, nil // nothing to check yet (validate --unknown-env)
	}
	a := dsl.NewAttrs(cfg, env.Body, env.Block)
	c := &Checker{
		method: http.MethodGet,
		header: http.Header{},
		expect: defaultExpect,
		follow: true,
		attrs:  env.Asserts,
	}
	complete := true

	if u, ok := dsl.Required(a, "url", `the address to request, such as "https://127.0.0.1:6443/healthz"`, a.String); ok {
		if parsed := httpurl.Validate(a, u, httpurl.Hints{
			Needs: "an http check needs", Example: "https://127.0.0.1:6443/healthz",
			Host: `write it like "http://127.0.0.1:8080/health" (with unix_socket, the host only names the server, as in "http://docker/_ping")`,
		}); parsed != nil {
			c.url = parsed
		} else {
			complete = false
		}
	} else {
		complete = false
	}

	if m, ok := a.String("method"); ok {
		switch {
		case !isToken(m):
			a.Errorf("method", "Invalid HTTP method", "%q is not an HTTP method: a method is one word of letters, digits and !#$%%&'*+-.^_`|~, such as \"GET\" or \"POST\".", m)
			complete = false
		case isLowerStandardMethod(m):
			a.Warnf("method", "Lower-case HTTP method", "HTTP methods are case-sensitive and most servers only know %q; write method = %q.", strings.ToUpper(m), strings.ToUpper(m))
		}
		c.method = m
	} else if a.IsUnknown("method") {
		complete = false
	}

	if hs, ok := a.StringMap("headers"); ok {
		for _, name := range slices.Sorted(maps.Keys(hs)) {
			value := hs[name]
			switch {
			case !isToken(name):
				a.Errorf("headers", "Invalid header name", "%q is not a valid HTTP header name: use letters, digits and -, such as \"Authorization\".", name)
				complete = false
			case !validHeaderValue(value):
				a.Errorf("headers", "Invalid header value", "The value of header %q contains a line break or control character, which HTTP does not allow.", name)
				complete = false
			case strings.EqualFold(name, "Host"):
				c.host = value
			default:
				c.header.Add(name, value)
			}
		}
	} else if a.IsUnknown("headers") {
		complete = false
	}

	if b, ok := a.String("body"); ok {
		c.body, c.hasBody = b, true
	} else if a.IsUnknown("body") {
		complete = false
	}

	if a.IsSet("expect_status") {
		if ranges, ok := parseExpectStatus(a); ok {
			c.expect = ranges
		} else {
			complete = false
		}
	}

	if f, ok := a.Bool("follow_redirects"); ok {
		c.follow = f
	} else if a.IsUnknown("follow_redirects") {
		complete = false
	}

	if k, ok := a.Bool("keep_alive"); ok {
		c.keepAlive = k
	} else if a.IsUnknown("keep_alive") {
		complete = false
	}

	if s, ok := a.String("unix_socket"); ok {
		if s == "" {
			a.Errorf("unix_socket", "Empty socket path", "unix_socket must be the path of a Unix socket, such as \"/run/docker.sock\", or be left out.")
			complete = false
		}
		c.unixSocket = dsl.ResolvePath(env.BaseDir, s)
	} else if a.IsUnknown("unix_socket") {
		complete = false
	}

	if !tlsblock.FromBlock(a, env.BaseDir, &c.tls) {
		complete = false
	}

	if a.Diags.HasErrors() || !complete {
		return nil, a.Diags
	}
	return c, a.Diags
}

// isToken reports whether s is an RFC 9110 token (methods, header names).
func isToken(s string) bool { return httpguts.ValidHeaderFieldName(s) }

func isLowerStandardMethod(m string) bool {
	switch strings.ToUpper(m) {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return m != strings.ToUpper(m)
	}
	return false
}

// validHeaderValue rejects control characters other than tab (RFC 9110
// field-value).
func validHeaderValue(v string) bool { return httpguts.ValidHeaderFieldValue(v) }
