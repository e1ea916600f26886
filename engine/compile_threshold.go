package engine

import (
	"strings"

	"github.com/hashicorp/hcl/v2"

	"github.com/satellite-hq/satellite/checks"
)

// thresholdBlock is `threshold "METRIC" { ... }` in a check.
var thresholdBlock = hcl.BlockHeaderSchema{Type: "threshold", LabelNames: []string{"metric"}}

var thresholdSchema = &hcl.BodySchema{
	Attributes: attrSchema("warn", "crit", "direction"),
}

// threshold decodes a threshold block: a metric the type reports, warn
// and/or crit on the right sides of each other for the direction.
func (c *compiler) threshold(ch *Check, reg *checks.Registration, b *hcl.Block, ctx *hcl.EvalContext) {
	metric := b.Labels[0]
	if !reg.HasMetric(metric) {
		hint := didYouMean(metric, reg.Metrics)
		list := "none"
		if len(reg.Metrics) > 0 {
			list = strings.Join(reg.Metrics, ", ")
		}
		c.errf(b.LabelRanges[0].Ptr(), "Unknown metric", "Checks of type %q do not report a metric %q.%s Its metrics: %s.", reg.Type, metric, hint, list)
		return
	}
	for _, t := range ch.Thresholds {
		if t.Metric == metric {
			c.errf(b.LabelRanges[0].Ptr(), "Duplicate threshold", "This check already has a threshold on %q.", metric)
			return
		}
	}
	content, diags := b.Body.Content(thresholdSchema)
	c.diags = append(c.diags, diags...)
	t := Threshold{Metric: metric}
	num := func(name string) *float64 {
		a, ok := content.Attributes[name]
		if !ok {
			return nil
		}
		v, ok := c.eval(a, ctx).Number()
		if !ok {
			return nil
		}
		return &v
	}
	t.Warn, t.Crit = num("warn"), num("crit")
	if a, ok := content.Attributes["direction"]; ok {
		if v, ok := c.eval(a, ctx).String(); ok {
			switch v {
			case "above":
			case "below":
				t.Below = true
			default:
				c.errf(a.Expr.Range().Ptr(), "Invalid direction", "direction must be \"above\" (high values are bad, the default) or \"below\" (low values are bad), not %q.", v)
			}
		}
	}
	_, hasW := content.Attributes["warn"]
	_, hasC := content.Attributes["crit"]
	if !hasW && !hasC {
		c.errf(b.DefRange.Ptr(), "Empty threshold", "A threshold needs warn, crit or both.")
	}
	if t.Warn != nil && t.Crit != nil {
		wRng := content.Attributes["warn"].Expr.Range().Ptr()
		switch {
		case !t.Below && *t.Warn > *t.Crit:
			c.errf(wRng, "warn on the wrong side of crit",
				"With direction \"above\" high values are bad, so warn (%g) must not be above crit (%g). Swap them, or set direction = \"below\".", *t.Warn, *t.Crit)
		case t.Below && *t.Warn < *t.Crit:
			c.errf(wRng, "warn on the wrong side of crit",
				"With direction \"below\" low values are bad, so warn (%g) must not be below crit (%g). Swap them, or set direction = \"above\".", *t.Warn, *t.Crit)
		}
	}
	ch.Thresholds = append(ch.Thresholds, t)
}
