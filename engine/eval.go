package engine

import (
	"math/big"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"

	"github.com/satellite-hq/satellite/dsl"
)

// evalAs evaluates an attribute and converts it. ok is false on an error
// (reported) and for null or unknown values (not an error: unknowns come
// from validate --unknown-env).
func (c *compiler) evalAs(a *hcl.Attribute, ctx *hcl.EvalContext, want cty.Type, what string) (cty.Value, bool) {
	v, diags := a.Expr.Value(ctx)
	c.diags = append(c.diags, diags...)
	if diags.HasErrors() {
		return cty.NilVal, false
	}
	v, _ = v.UnmarkDeep()
	if !v.IsWhollyKnown() || v.IsNull() {
		return cty.NilVal, false
	}
	out, err := convert.Convert(v, want)
	if err != nil {
		c.errf(a.Expr.Range().Ptr(), "Incorrect attribute value type", "%s must be %s: %s.", a.Name, what, err)
		return cty.NilVal, false
	}
	return out, true
}

func (c *compiler) evalString(a *hcl.Attribute, ctx *hcl.EvalContext) (string, bool) {
	v, ok := c.evalAs(a, ctx, cty.String, "a string")
	if !ok {
		return "", false
	}
	return v.AsString(), true
}

func (c *compiler) evalNumber(a *hcl.Attribute, ctx *hcl.EvalContext) (float64, bool) {
	v, ok := c.evalAs(a, ctx, cty.Number, "a number")
	if !ok {
		return 0, false
	}
	f, _ := v.AsBigFloat().Float64()
	return f, true
}

func (c *compiler) evalInt(a *hcl.Attribute, ctx *hcl.EvalContext) (int64, bool) {
	v, ok := c.evalAs(a, ctx, cty.Number, "a whole number")
	if !ok {
		return 0, false
	}
	bf := v.AsBigFloat()
	n, acc := bf.Int64()
	if !bf.IsInt() || acc != big.Exact {
		c.errf(a.Expr.Range().Ptr(), "Invalid number", "%s must be a whole number.", a.Name)
		return 0, false
	}
	return n, true
}

// evalCount reads a count of runs (at least 1, at most 100).
func (c *compiler) evalCount(a *hcl.Attribute, ctx *hcl.EvalContext, def int) int {
	n, ok := c.evalInt(a, ctx)
	if !ok {
		return def
	}
	if n < 1 || n > 100 {
		c.errf(a.Expr.Range().Ptr(), "Invalid "+a.Name, "%s must be between 1 and 100, not %d.", a.Name, n)
		return def
	}
	return int(n)
}

func (c *compiler) evalDuration(a *hcl.Attribute, ctx *hcl.EvalContext) (time.Duration, bool) {
	v, diags := a.Expr.Value(ctx)
	c.diags = append(c.diags, diags...)
	if diags.HasErrors() {
		return 0, false
	}
	v, _ = v.UnmarkDeep()
	if !v.IsWhollyKnown() || v.IsNull() {
		return 0, false
	}
	d, err := dsl.DurationValue(v)
	if err != nil {
		c.errf(a.Expr.Range().Ptr(), "Invalid duration", "%s: %s.", a.Name, err)
		return 0, false
	}
	return d, true
}

func (c *compiler) evalStringMap(a *hcl.Attribute, ctx *hcl.EvalContext) (map[string]string, bool) {
	v, diags := a.Expr.Value(ctx)
	c.diags = append(c.diags, diags...)
	if diags.HasErrors() {
		return nil, false
	}
	v, _ = v.UnmarkDeep()
	if !v.IsWhollyKnown() || v.IsNull() {
		return nil, false
	}
	ty := v.Type()
	if !ty.IsObjectType() && !ty.IsMapType() {
		c.errf(a.Expr.Range().Ptr(), "Incorrect attribute value type", "%s must be a map of strings, such as { role = \"master\" }, not %s.", a.Name, ty.FriendlyName())
		return nil, false
	}
	// Element by element: converting the whole object builds a conversion
	// per call, which is most of the cost of a label map.
	out := make(map[string]string, v.LengthInt())
	for it := v.ElementIterator(); it.Next(); {
		k, e := it.Element()
		if e.IsNull() {
			c.errf(a.Expr.Range().Ptr(), "Invalid value", "%s must not contain null values.", a.Name)
			return nil, false
		}
		s, err := convert.Convert(e, cty.String)
		if err != nil {
			c.errf(a.Expr.Range().Ptr(), "Incorrect attribute value type", "%s must be a map of strings: the value of %q is %s.", a.Name, k.AsString(), e.Type().FriendlyName())
			return nil, false
		}
		out[k.AsString()] = s.AsString()
	}
	return out, true
}
