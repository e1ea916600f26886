// Package metrics is the `metrics` check type: it scrapes a Prometheus
// text or OpenMetrics endpoint over HTTP(S) and turns the series it names
// into the check's own metrics, for thresholds and asserts: a gauge's value,
// a counter's rate or increase over a window, a histogram's quantile.
//
// The exposition is parsed with the Prometheus project's parser
// (github.com/prometheus/common/expfmt). Rates, increases and quantiles
// compare the newest scrape with an older one, so the checker keeps the
// samples of earlier runs (values.go); a value that cannot be computed yet
// is absent from the run's metrics and the run is unknown.
package metrics

import (
	_ "embed"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/zclconf/go-cty/cty"

	"github.com/satellite-hq/satellite/checks"
	"github.com/satellite-hq/satellite/internal/tlsblock"
)

//go:embed sample.hcl
var sample string

// Type is the first label of `check "metrics" "NAME"`.
const Type = "metrics"

// The metrics every run reports besides the check's own values.
const (
	// MetricScrapeMs is the time from sending the request to the end of
	// parsing, in milliseconds.
	MetricScrapeMs = "scrape_ms"
	// MetricSamples is the number of sample lines in the exposition (as
	// Prometheus' scrape_samples_scraped counts them: one per bucket).
	MetricSamples = "samples"
	// MetricBodyBytes is the size of the (decompressed) body.
	MetricBodyBytes = "body_bytes"
)

// fixedMetrics are the metrics of every run, in the order they are listed.
var fixedMetrics = []string{MetricScrapeMs, MetricSamples, MetricBodyBytes}

// Limits and defaults.
const (
	// DefaultMaxBody bounds the body that is read, unless max_body says otherwise.
	DefaultMaxBody = 32 << 20
	// MaxMaxBody is the largest max_body allowed.
	MaxMaxBody = 1 << 30
	// maxErrorText bounds a parser's message in a run's error.
	maxErrorText = 300
)

// valueBlock is `value "NAME" { ... }`.
const valueBlock = "value"

// valueSpec is the schema of one value block.
var valueSpec = hcldec.ObjectSpec{
	"name":               &hcldec.BlockLabelSpec{Index: 0, Name: "name"},
	"gauge":              &hcldec.AttrSpec{Name: "gauge", Type: cty.String},
	"rate":               &hcldec.AttrSpec{Name: "rate", Type: cty.String},
	"increase":           &hcldec.AttrSpec{Name: "increase", Type: cty.String},
	"histogram_quantile": &hcldec.AttrSpec{Name: "histogram_quantile", Type: cty.Number},
	"metric":             &hcldec.AttrSpec{Name: "metric", Type: cty.String},
	"over":               &hcldec.AttrSpec{Name: "over", Type: cty.DynamicPseudoType},
	"match":              &hcldec.AttrSpec{Name: "match", Type: cty.Map(cty.String)},
	"aggregate":          &hcldec.AttrSpec{Name: "aggregate", Type: cty.String},
	"scale":              &hcldec.AttrSpec{Name: "scale", Type: cty.Number},
}

// Spec is the schema of the type's own attributes and blocks.
var Spec = hcldec.ObjectSpec{
	"url":      &hcldec.AttrSpec{Name: "url", Type: cty.String, Required: true},
	"headers":  &hcldec.AttrSpec{Name: "headers", Type: cty.Map(cty.String)},
	"max_body": &hcldec.AttrSpec{Name: "max_body", Type: cty.String},
	"tls":      tlsblock.Spec(),
	"value":    &hcldec.BlockListSpec{TypeName: valueBlock, Nested: valueSpec},
}

// ResultAttrs are the extra attributes of `result` for assert.
var ResultAttrs = map[string]cty.Type{
	"content_type": cty.String,
	"status_code":  cty.Number,
}

func init() {
	checks.Register(&checks.Registration{
		Type:          Type,
		Spec:          Spec,
		Metrics:       fixedMetrics,
		ConfigMetrics: ValueNames,
		Result:        ResultAttrs,
		Build:         Build,
		Sample:        sample,
		Doc:           "Values from a Prometheus or OpenMetrics endpoint: gauges, rates, increases and histogram quantiles.",
	})
}

// valueBlocks returns the value blocks of body in source order, from its
// syntax alone, for their labels and ranges.
func valueBlocks(body hcl.Body) []*hcl.Block {
	if body == nil {
		return nil
	}
	content, _, _ := body.PartialContent(&hcl.BodySchema{Blocks: []hcl.BlockHeaderSchema{{Type: valueBlock, LabelNames: []string{"name"}}}})
	if content == nil {
		return nil
	}
	return content.Blocks
}

// ValueNames is the registration's ConfigMetrics: the labels of the value
// blocks of a check's body, which are metrics that thresholds and asserts
// may name. It reads the syntax only, so that a body whose values do not
// decode still declares its names.
func ValueNames(body hcl.Body) []string {
	var names []string
	for _, b := range valueBlocks(body) {
		if len(b.Labels) == 1 {
			names = append(names, b.Labels[0])
		}
	}
	return names
}
