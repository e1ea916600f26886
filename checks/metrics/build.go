package metrics

import (
	"fmt"
	"maps"
	"math"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/satellite-hq/satellite/internal/httpurl"

	"golang.org/x/net/http/httpguts"

	"github.com/dustin/go-humanize"
	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/satellite-hq/satellite/checks"
	"github.com/satellite-hq/satellite/dsl"
	"github.com/satellite-hq/satellite/internal/tlsblock"
)

// MinOver is the shortest window of a rate, increase or quantile.
const MinOver = time.Second

// kind is what a value block computes.
type kind int

const (
	kindGauge kind = iota
	kindRate
	kindIncrease
	kindQuantile
)

// kindAttrs are the attributes that choose a value's kind, in kind order.
var kindAttrs = []string{"gauge", "rate", "increase", "histogram_quantile"}

func (k kind) String() string { return kindAttrs[k] }

// aggregation combines the matching series of a value.
type aggregation int

const (
	aggSum aggregation = iota
	aggMax
	aggMin
)

var aggNames = []string{"sum", "max", "min"}

func (a aggregation) String() string { return aggNames[a] }

// matcher is one label of a value's match: the label must equal value
// (an empty value matches a series without the label, as in PromQL).
type matcher struct{ name, value string }

// valueConfig is one validated value block.
type valueConfig struct {
	name     string
	kind     kind
	metric   string // the series' name; for a quantile, the histogram's base name
	quantile float64
	over     time.Duration
	match    []matcher // sorted by label name
	agg      aggregation
	scale    float64
}

// validValueName is what a value's label may be: it becomes a metric name,
// read in asserts as result.NAME and written to sinks.
var validValueName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// reservedNames may not name a value: the type's own metrics and the
// attributes every `result` has.
var reservedNames = func() map[string]bool {
	m := map[string]bool{"error": true, "detail": true, "status": true, "duration_ms": true}
	for _, n := range fixedMetrics {
		m[n] = true
	}
	for n := range ResultAttrs {
		m[n] = true
	}
	return m
}()

// Build validates a decoded `metrics` body and returns its checker. It does
// no I/O; a nil Checker comes back when a value it needs is unknown or
// invalid.
func Build(cfg cty.Value, env checks.Env) (checks.Checker, hcl.Diagnostics) {
	if !cfg.IsKnown() {
		return nil, nil // nothing to check yet (validate --unknown-env)
	}
	a := dsl.NewAttrs(cfg, env.Body, env.Block)
	c := newChecker()
	complete := true

	if u, ok := dsl.Required(a, "url", `the metrics endpoint to scrape, such as "https://127.0.0.1:2379/metrics"`, a.String); ok {
		if parsed := httpurl.Validate(a, u, httpurl.Hints{
			Needs: "a metrics check scrapes", Example: "http://127.0.0.1:9100/metrics",
			Host: `write it like "http://127.0.0.1:9100/metrics"`,
		}); parsed != nil {
			c.url = parsed
		} else {
			complete = false
		}
	} else {
		complete = false
	}

	if hs, ok := a.StringMap("headers"); ok {
		if !buildHeaders(a, hs, c) {
			complete = false
		}
	} else if a.IsUnknown("headers") {
		complete = false
	}

	if s, ok := a.String("max_body"); ok {
		n, err := humanize.ParseBytes(s)
		switch {
		case err != nil || n == 0:
			a.Errorf("max_body", "Invalid max_body", "max_body must be a size such as \"32MiB\" or \"4MB\" (or a number of bytes), not %q.", s)
			complete = false
		case n > MaxMaxBody:
			a.Errorf("max_body", "max_body too large", "max_body %q is more than %s; a check reads at most that much.", s, humanize.IBytes(MaxMaxBody))
			complete = false
		}
		c.maxBody = int64(n)
	} else if a.IsUnknown("max_body") {
		complete = false
	}

	if !tlsblock.FromBlock(a, env.BaseDir, &c.tls) {
		complete = false
	}

	values, ok := buildValues(a, env)
	if !ok {
		complete = false
	}
	c.setValues(values)

	if a.Diags.HasErrors() || !complete {
		return nil, a.Diags
	}
	return c, a.Diags
}

// buildValues validates the value blocks; ok is false when one is invalid
// or not known yet.
func buildValues(a *dsl.Attrs, env checks.Env) ([]valueConfig, bool) {
	list := a.Value(valueBlock)
	if list.IsNull() {
		return nil, true
	}
	if !list.IsKnown() {
		return nil, false
	}
	blocks := valueBlocks(env.Body)
	seen := map[string]bool{}
	var out []valueConfig
	complete := true
	i := 0
	for it := list.ElementIterator(); it.Next(); i++ {
		_, v := it.Element()
		var blk *hcl.Block
		if i < len(blocks) {
			blk = blocks[i]
		}
		var body hcl.Body
		rng, labelRng := env.Block, env.Block
		if blk != nil {
			body, rng = blk.Body, blk.DefRange
			if len(blk.LabelRanges) > 0 {
				labelRng = blk.LabelRanges[0]
			}
		}
		va := dsl.NewAttrs(v, body, rng)
		name := va.StringOr("name", "")
		switch {
		case !validValueName.MatchString(name):
			errorAt(va, labelRng, "Invalid value name", "The value name %q must be letters, digits and underscores, not starting with a digit, such as \"wal_fsync_p99_ms\": it becomes a metric name, read as result.NAME.", name)
			complete = false
		case reservedNames[name]:
			errorAt(va, labelRng, "Reserved value name", "%q is a metric or result attribute of every metrics check; name the value something else, such as %q.", name, "value_"+name)
			complete = false
		case seen[name]:
			errorAt(va, labelRng, "Duplicate value", "Another value block of this check is named %q; give each a name of its own.", name)
			complete = false
		}
		seen[name] = true
		vc, ok := buildValue(va, name, rng)
		a.Diags = append(a.Diags, va.Diags...)
		if !ok {
			complete = false
		}
		out = append(out, vc)
	}
	return out, complete
}

// buildValue validates one value block; ok is false when it is invalid or
// not known yet.
func buildValue(va *dsl.Attrs, name string, block hcl.Range) (valueConfig, bool) {
	vc := valueConfig{name: name, scale: 1}
	complete := true
	var set []string
	for _, k := range kindAttrs {
		if va.IsSet(k) {
			set = append(set, k)
		}
	}
	switch len(set) {
	case 0:
		errorAt(va, block, "Value without a kind", "The value %q needs exactly one of gauge = \"NAME\", rate = \"NAME\", increase = \"NAME\" or histogram_quantile = 0.99 with metric = \"NAME\".", name)
		return vc, false
	case 1:
	default:
		va.Errorf(set[1], "Value with two kinds", "The value %q sets both %s and %s; a value is one of gauge, rate, increase or histogram_quantile: split it into two value blocks.", name, set[0], set[1])
		return vc, false
	}
	vc.kind = kind(slices.Index(kindAttrs, set[0]))

	if vc.kind == kindQuantile {
		if q, ok := va.Number("histogram_quantile"); ok {
			if q < 0 || q > 1 || math.IsNaN(q) {
				va.Errorf("histogram_quantile", "Invalid quantile", "histogram_quantile is the quantile to compute, from 0 to 1 (0.99 for the 99th percentile), not %g.", q)
				complete = false
			}
			vc.quantile = q
		} else {
			complete = false
		}
		if m, ok := dsl.Required(va, "metric", `the histogram's name (without _bucket), such as "etcd_disk_wal_fsync_duration_seconds"`, va.String); ok {
			if validMetricName(va, "metric", m) {
				vc.metric = m
				if base, found := strings.CutSuffix(m, "_bucket"); found && base != "" {
					va.Warnf("metric", "Histogram named by its _bucket series", "metric names a histogram by its base name: the series %q belong to the histogram %q. Write metric = %q, unless the histogram really is named %q.", m, base, base, m)
				}
			} else {
				complete = false
			}
		} else {
			complete = false
		}
	} else {
		if m, ok := va.String(set[0]); ok {
			if validMetricName(va, set[0], m) {
				vc.metric = m
			} else {
				complete = false
			}
		} else {
			complete = false
		}
		if va.IsSet("metric") {
			va.Errorf("metric", "metric without histogram_quantile", "metric names the histogram of histogram_quantile; a %s names its series itself: %s = \"NAME\".", set[0], set[0])
			complete = false
		}
	}

	if vc.kind == kindGauge {
		if va.IsSet("over") {
			va.Errorf("over", "over on a gauge", "A gauge is read from the newest scrape alone; over is the window of rate, increase and histogram_quantile. Remove it, or use rate or increase.")
			complete = false
		}
	} else if d, ok := dsl.Required(va, "over", `the window the `+set[0]+` is computed over, such as "5m"`, va.Duration); ok {
		if d < MinOver {
			va.Errorf("over", "Window too short", "over must be at least %s: it is the time between the two scrapes compared, not %s.", MinOver, d)
			complete = false
		}
		vc.over = d
	} else {
		complete = false
	}

	if m, ok := va.StringMap("match"); ok {
		for _, label := range slices.Sorted(maps.Keys(m)) {
			switch {
			case label == "" || !utf8.ValidString(label):
				va.Errorf("match", "Invalid label name", "match has the label name %q; a label name is a non-empty string.", label)
				complete = false
			case label == "__name__":
				va.Errorf("match", "Matching the metric name", "match must not name __name__: the %s attribute names the metric.", set[0])
				complete = false
			case label == "le" && vc.kind == kindQuantile:
				va.Errorf("match", "Matching a bucket", "match must not name le: le is the bucket label, and histogram_quantile reads every bucket of the matching series.")
				complete = false
			}
			vc.match = append(vc.match, matcher{name: label, value: m[label]})
		}
	} else if va.IsUnknown("match") {
		complete = false
	}

	if s, ok := va.String("aggregate"); ok {
		i := slices.Index(aggNames, s)
		if i < 0 {
			va.Errorf("aggregate", "Invalid aggregate", "aggregate must be \"sum\" (the default), \"max\" or \"min\", not %q.", s)
			complete = false
		} else {
			vc.agg = aggregation(i)
		}
	} else if va.IsUnknown("aggregate") {
		complete = false
	}

	if f, ok := va.Number("scale"); ok {
		if f == 0 || math.IsInf(f, 0) || math.IsNaN(f) {
			va.Errorf("scale", "Invalid scale", "scale multiplies the value (1000 turns seconds into milliseconds); it must be a finite number other than 0, not %g.", f)
			complete = false
		}
		vc.scale = f
	} else if va.IsUnknown("scale") {
		complete = false
	}
	return vc, complete
}

// validMetricName reports an empty or invalid metric name on attr.
func validMetricName(va *dsl.Attrs, attr, m string) bool {
	switch {
	case m == "":
		va.Errorf(attr, "Empty metric name", "%s must name a metric, such as \"process_open_fds\".", attr)
		return false
	case !utf8.ValidString(m) || strings.ContainsAny(m, "\n{}"):
		va.Errorf(attr, "Invalid metric name", "%q is not a metric name; write the series' name alone, such as \"process_open_fds\", and labels in match.", m)
		return false
	}
	return true
}

// errorAt records an error at rng, for what has no attribute of its own (a
// block label, the block).
func errorAt(va *dsl.Attrs, rng hcl.Range, summary, format string, args ...any) {
	va.Diags = append(va.Diags, &hcl.Diagnostic{
		Severity: hcl.DiagError, Summary: summary, Detail: fmt.Sprintf(format, args...), Subject: rng.Ptr(),
	})
}

// buildHeaders checks and sets the request headers; Host sets the Host.
func buildHeaders(a *dsl.Attrs, hs map[string]string, c *Checker) bool {
	ok := true
	for _, name := range slices.Sorted(maps.Keys(hs)) {
		value := hs[name]
		switch {
		case !isToken(name):
			a.Errorf("headers", "Invalid header name", "%q is not a valid HTTP header name: use letters, digits and -, such as \"Authorization\".", name)
			ok = false
		case !validHeaderValue(value):
			a.Errorf("headers", "Invalid header value", "The value of header %q contains a line break or control character, which HTTP does not allow.", name)
			ok = false
		case strings.EqualFold(name, "Host"):
			c.host = value
		case strings.EqualFold(name, "Accept"):
			a.Errorf("headers", "Accept header set", "The metrics check sends its own Accept header, offering OpenMetrics and the Prometheus text format; remove Accept from headers.")
			ok = false
		default:
			c.header.Add(name, value)
		}
	}
	return ok
}

// isToken reports whether s is an RFC 9110 token (methods, header names).
func isToken(s string) bool { return httpguts.ValidHeaderFieldName(s) }

// validHeaderValue rejects control characters other than tab (RFC 9110
// field-value).
func validHeaderValue(v string) bool { return httpguts.ValidHeaderFieldValue(v) }
