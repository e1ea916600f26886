// Package influxdb is the `influxdb` sink type: results and state changes
// written as points to InfluxDB 2.x, or to InfluxDB 1.8+ through its v2
// compatibility API, with influxdb-client-go's blocking write API.
//
// The sink never retries on its own and keeps no buffer: the Writer and its
// spool decide what is written again and when. Points are timed at the run's
// start, to the nanosecond, so a batch written twice stores each point once.
package influxdb

import (
	_ "embed"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/zclconf/go-cty/cty"

	"github.com/satellite-hq/satellite/dsl"
	"github.com/satellite-hq/satellite/internal/tlsblock"
	"github.com/satellite-hq/satellite/sinks"
)

// Type is the first label of `sink "influxdb" "NAME"`.
const Type = "influxdb"

// Defaults of the optional attributes.
const (
	// DefaultTimeout bounds one write request.
	DefaultTimeout = 10 * time.Second
	// DefaultMeasurementPrefix makes the measurements satellite_check and
	// satellite_state_change.
	DefaultMeasurementPrefix = "satellite_"
)

// Measurement names, after the prefix.
const (
	// CheckMeasurement holds one point per check run.
	CheckMeasurement = "check"
	// ChangeMeasurement holds one point per change of a check's state.
	ChangeMeasurement = "state_change"
)

//go:embed sample.hcl
var sample string

// spec is the schema of a `sink "influxdb"` body. batch_size, flush_interval,
// spool_max and send are the engine's meta-arguments, decoded for every sink
// type, so they are not here. timeout is dynamic so that dsl.Attrs.Duration
// accepts a number of seconds as well as a string.
var spec = hcldec.ObjectSpec{
	"url":                &hcldec.AttrSpec{Name: "url", Type: cty.String, Required: true},
	"token":              &hcldec.AttrSpec{Name: "token", Type: cty.String},
	"org":                &hcldec.AttrSpec{Name: "org", Type: cty.String},
	"bucket":             &hcldec.AttrSpec{Name: "bucket", Type: cty.String, Required: true},
	"measurement_prefix": &hcldec.AttrSpec{Name: "measurement_prefix", Type: cty.String},
	"timeout":            &hcldec.AttrSpec{Name: "timeout", Type: cty.DynamicPseudoType},
	"tls":                tlsblock.Spec(),
}

func init() {
	sinks.Register(&sinks.Registration{
		Type:   Type,
		Spec:   spec,
		Build:  build,
		Sample: sample,
		Doc:    "Writes results and state changes as points to InfluxDB 2.x or 1.8+ (its v2 API).",
	})
}

// Config is a built `sink "influxdb"` block, not yet opened. It is plain data,
// so that the agent can compare the Config of a reloaded plan with the
// running one.
type Config struct {
	// URL is the server's base URL, such as "http://127.0.0.1:8086".
	URL string
	// Token is the API token (2.x) or "user:password" (1.8 with auth on);
	// empty sends no Authorization header. It is a secret.
	Token string
	// Org is the organization (2.x); InfluxDB 1.8 ignores it.
	Org string
	// Bucket is the bucket (2.x) or "database/retention_policy" (1.8).
	Bucket string
	// MeasurementPrefix is put before CheckMeasurement and ChangeMeasurement.
	MeasurementPrefix string
	// Timeout bounds one write request.
	Timeout time.Duration
	// TLS configures https:// URLs.
	TLS TLSOptions
}

var _ sinks.Opener = (*Config)(nil)

// TLSOptions are the `tls` block's settings (shared with the http check).
type TLSOptions = tlsblock.Options

// String describes the sink without its token, for logs and test failures.
func (c *Config) String() string {
	tok := "none"
	if c.Token != "" {
		tok = "(sensitive)"
	}
	return fmt.Sprintf("influxdb{url=%s org=%q bucket=%q token=%s}", c.URL, c.Org, c.Bucket, tok)
}

// GoString keeps the token out of %#v as well.
func (c *Config) GoString() string { return c.String() }

// Measurements returns the names of the check and state-change measurements.
func (c *Config) Measurements() (check, change string) {
	return c.MeasurementPrefix + CheckMeasurement, c.MeasurementPrefix + ChangeMeasurement
}

func build(cfg cty.Value, env sinks.Env) (sinks.Opener, hcl.Diagnostics) {
	if !cfg.IsKnown() {
		return nil, nil // validate --unknown-env: nothing to check yet
	}
	a := dsl.NewAttrs(cfg, env.Body, env.Block)
	out := &Config{Timeout: DefaultTimeout, MeasurementPrefix: DefaultMeasurementPrefix}
	complete := true
	unknown := func(name string) {
		if a.IsUnknown(name) {
			complete = false
		}
	}

	if raw, ok := a.String("url"); ok {
		if u := validateURL(a, raw); u != "" {
			out.URL = u
		} else {
			complete = false
		}
	} else {
		complete = false // unknown, or the spec already reported it missing
	}

	if tok, ok := a.String("token"); ok {
		// Never echo the token: a diagnostic is printed and logged.
		if strings.ContainsAny(tok, "\r\n") {
			a.Errorf("token", "Invalid token", "The token contains a line break, which an HTTP header cannot carry; check how it is read (a trailing newline from a file, for instance).")
			complete = false
		}
		out.Token = tok
	} else {
		unknown("token")
	}

	if org, ok := a.String("org"); ok {
		out.Org = org
	} else {
		unknown("org")
	}

	if b, ok := a.String("bucket"); ok {
		if strings.TrimSpace(b) == "" {
			a.Errorf("bucket", "Empty bucket", "Attribute \"bucket\" must name the bucket (InfluxDB 2.x) or \"database/retention_policy\" (InfluxDB 1.8), such as \"satellite/autogen\".")
			complete = false
		}
		out.Bucket = b
	} else {
		complete = false
	}

	if p, ok := a.String("measurement_prefix"); ok {
		switch {
		case strings.HasPrefix(p, "_"):
			a.Errorf("measurement_prefix", "Invalid measurement prefix", "InfluxDB keeps names that start with \"_\" for itself; choose a prefix such as \"satellite_\".")
			complete = false
		case strings.ContainsFunc(p, func(r rune) bool { return r < ' ' || r == 0x7f }):
			a.Errorf("measurement_prefix", "Invalid measurement prefix", "The prefix contains a control character, which InfluxDB's line protocol cannot carry in a measurement name.")
			complete = false
		}
		out.MeasurementPrefix = p
	} else {
		unknown("measurement_prefix")
	}

	if d, ok := a.Duration("timeout"); ok {
		if d <= 0 {
			a.Errorf("timeout", "Invalid timeout", "Attribute \"timeout\" must be a positive duration, such as \"10s\".")
			complete = false
		}
		out.Timeout = d
	} else if a.IsSet("timeout") {
		complete = false // unknown, or Duration reported it
	}

	if t, ok := a.Nested("tls"); ok {
		if !tlsblock.Build(t, env.BaseDir, &out.TLS) {
			complete = false
		}
		if out.URL != "" && strings.HasPrefix(out.URL, "http://") {
			// Point at a setting in the block: the block itself has no
			// attribute range to give.
			t.Warnf(tlsblock.FirstSet(t), "TLS settings for an http:// URL", "The tls block only applies to https:// URLs; %s is plain HTTP, so the block is not used.", out.URL)
		}
		a.Merge(t)
	} else {
		unknown("tls")
	}

	if !complete || a.Diags.HasErrors() {
		return nil, a.Diags
	}
	return out, a.Diags
}

// validateURL returns the URL to use, or "" after reporting what is wrong.
func validateURL(a *dsl.Attrs, raw string) string {
	if !strings.Contains(raw, "://") {
		a.Errorf("url", "Missing URL scheme", "The url %q has no scheme; write it with http:// or https://, such as %q.", raw, "http://"+raw)
		return ""
	}
	u, err := url.Parse(raw)
	if err != nil {
		if ue, ok := err.(*url.Error); ok {
			err = ue.Err
		}
		a.Errorf("url", "Invalid URL", "The url is not a URL: %s.", err)
		return ""
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		a.Errorf("url", "Unsupported URL scheme", "The url %q has scheme %q; InfluxDB is reached over http:// or https://, such as \"https://influx.internal:8086\".", u.Redacted(), u.Scheme)
	case u.User != nil:
		// Credentials in the URL would show up wherever the URL is logged.
		a.Errorf("url", "Credentials in the URL", "The url %q carries a user name or password; put them in the token attribute instead (InfluxDB 1.8: token = \"user:password\", from a sensitive variable or env()).", u.Redacted())
	case u.Host == "":
		a.Errorf("url", "URL without a host", "The url %q has no host; write it like \"http://127.0.0.1:8086\".", u.Redacted())
	case u.RawQuery != "" || u.Fragment != "":
		a.Errorf("url", "URL with a query", "The url %q has a query or fragment; give the server's base URL only, such as \"http://127.0.0.1:8086\" (a path prefix is allowed for a server behind a proxy).", u.Redacted())
	default:
		return u.String()
	}
	return ""
}
