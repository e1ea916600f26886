package engine

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"

	"github.com/satellite-hq/satellite/checks"
	"github.com/satellite-hq/satellite/dsl"
)

// metaSchema holds what every check takes whatever its type: the
// meta-arguments of checkMetaArgs, for_each, and the threshold and assert
// blocks. The rest of the body belongs to the type.
var metaSchema = &hcl.BodySchema{
	Attributes: append(attrSchema(metaArgNames(false)...), hcl.AttributeSchema{Name: "for_each"}),
	Blocks:     []hcl.BlockHeaderSchema{thresholdBlock, assertBlock},
}

// TypeBody returns the part of a check block's body that belongs to its
// type: the body without the meta-arguments. Tests of check types use it to
// decode a body exactly as Compile does.
func TypeBody(body hcl.Body) (hcl.Body, hcl.Diagnostics) {
	_, remain, diags := body.PartialContent(metaSchema)
	return remain, diags
}

func (c *compiler) compileChecks() {
	for _, rb := range c.cfg.Checks {
		c.compileCheck(rb)
	}
}

func (c *compiler) compileCheck(rb *dsl.RawBlock) {
	blockAddr := rb.Type + "." + rb.Name
	reg, ok := checks.Lookup(rb.Type)
	if !ok {
		c.errf(rb.TypeRange.Ptr(), "Unknown check type",
			"There is no check type %q.%s The types are: %s.", rb.Type, didYouMean(rb.Type, checks.Types()), strings.Join(checks.Types(), ", "))
		return
	}
	if prev, dup := c.byBlock[blockAddr]; dup {
		where := "elsewhere"
		if len(prev) > 0 {
			where = "at " + rangeString(prev[0].DeclRange)
		}
		c.errf(rb.NameRange.Ptr(), "Duplicate check", "A check %s was already declared %s; two checks cannot share an address.", blockAddr, where)
		return
	}
	c.byBlock[blockAddr] = nil
	if c.instances >= c.cfg.Limits.MaxChecks {
		c.tooManyChecks(rb.DefRange.Ptr(), 1)
		return
	}
	meta, remain, diags := c.splitBody(rb.Body, metaSchema, rb.Type, reg.Spec)
	c.diags = append(c.diags, diags...)
	base := c.evalContext(rb.BaseDir)

	instances := []instance{{known: true}}
	if a, ok := meta.Attributes["for_each"]; ok {
		c.forEachBlocks[blockAddr] = true
		instances = c.forEach(a, base)
		if len(instances) == 1 && !instances[0].known {
			c.forEachUnknown[blockAddr] = true
		}
	}
	for _, in := range instances {
		ctx := base
		addr := blockAddr
		if in.each != cty.NilVal {
			ctx = base.NewChild()
			ctx.Variables = map[string]cty.Value{"each": in.each}
			if in.known {
				addr = fmt.Sprintf("%s[%s]", blockAddr, strconv.Quote(in.key))
			}
		}
		c.instances++
		ch := c.compileInstance(rb, reg, meta, remain, ctx, addr, in.key)
		c.byBlock[blockAddr] = append(c.byBlock[blockAddr], ch)
		if in.known {
			ch.inPlan = true
			c.plan.Checks = append(c.plan.Checks, ch)
		}
	}
}

// instance is one for_each element; known is false when for_each itself is
// not known yet.
type instance struct {
	key   string
	each  cty.Value
	known bool
}

// forEach evaluates for_each into instances; an unknown collection yields one
// instance with unknown each.key and each.value, so the body is still checked.
func (c *compiler) forEach(a *hcl.Attribute, ctx *hcl.EvalContext) []instance {
	unknown := []instance{{each: cty.ObjectVal(map[string]cty.Value{"key": cty.UnknownVal(cty.String), "value": cty.DynamicVal})}}
	v, diags := a.Expr.Value(ctx)
	c.diags = append(c.diags, diags...)
	if diags.HasErrors() {
		return nil
	}
	// Keys become check addresses; values (each.value) may be sensitive.
	// (A set cannot hold marked elements: cty marks the set instead.)
	if v.IsMarked() {
		c.errf(a.Expr.Range().Ptr(), "Sensitive value not allowed",
			"%s", dsl.SensitiveDetail("for_each", "its keys become check addresses, which are in logs, the API, metrics labels, sink tags and the spool; only the values of a map may be sensitive (each.value)"))
		return nil
	}
	if !v.IsKnown() {
		return unknown
	}
	if v.IsNull() {
		c.errf(a.Expr.Range().Ptr(), "Invalid for_each", "for_each must be a map or a set of strings, not null.")
		return nil
	}
	// Every step below is linear in the number of instances, or n log n:
	// a set is sorted each time it is iterated (cty), so it is iterated
	// once, after the instance count is checked.
	ty := v.Type()
	if ty.IsMapType() || ty.IsObjectType() || ty.IsSetType() {
		if n := int64(v.LengthInt()); n > c.cfg.Limits.MaxChecks-c.instances {
			c.tooManyChecks(a.Expr.Range().Ptr(), int(n))
			return nil
		}
	}
	var out []instance
	switch {
	case ty.IsMapType() || ty.IsObjectType():
		out = make([]instance, 0, v.LengthInt())
		for it := v.ElementIterator(); it.Next(); {
			k, val := it.Element()
			if !val.IsWhollyKnown() {
				return unknown
			}
			out = append(out, instance{key: k.AsString(), known: true,
				each: cty.ObjectVal(map[string]cty.Value{"key": k, "value": val})})
		}
	case ty.IsSetType():
		if !ty.ElementType().Equals(cty.String) {
			if !v.IsWhollyKnown() {
				return unknown
			}
			sv, err := convert.Convert(v, cty.Set(cty.String))
			if err != nil {
				c.errf(a.Expr.Range().Ptr(), "Invalid for_each", "for_each must be a map or a set of strings; this set has elements of type %s.", ty.ElementType().FriendlyName())
				return nil
			}
			v = sv
		}
		elems := v.AsValueSlice()
		out = make([]instance, 0, len(elems))
		for _, val := range elems {
			if !val.IsKnown() {
				return unknown
			}
			if val.IsNull() {
				c.errf(a.Expr.Range().Ptr(), "Invalid for_each", "for_each must not contain null.")
				return nil
			}
			out = append(out, instance{key: val.AsString(), known: true,
				each: cty.ObjectVal(map[string]cty.Value{"key": val, "value": val})})
		}
	default:
		if !v.IsWhollyKnown() {
			return unknown
		}
		hint := ""
		if ty.IsListType() || ty.IsTupleType() {
			hint = " Convert a list with toset(...)."
		}
		c.errf(a.Expr.Range().Ptr(), "Invalid for_each", "for_each must be a map or a set of strings, not %s.%s", ty.FriendlyName(), hint)
		return nil
	}
	sort.Slice(out, func(i, j int) bool { return out[i].key < out[j].key })
	return out
}

// tooManyChecks reports a block whose n instances would pass max_checks.
func (c *compiler) tooManyChecks(rng *hcl.Range, n int) {
	if c.checksRefused {
		return
	}
	c.checksRefused = true
	c.errf(rng, "Over the limit max_checks",
		"This would make %d check instance(s), after the %d declared before it; the config may declare at most max_checks = %d. %s",
		n, c.instances, c.cfg.Limits.MaxChecks, dsl.LimitHint("max_checks"))
}

// compileInstance compiles one instance of a check block: its meta-arguments
// over the template, its threshold and assert blocks, then the type's body,
// which the type's Build turns into the checker.
func (c *compiler) compileInstance(rb *dsl.RawBlock, reg *checks.Registration, meta *hcl.BodyContent, remain hcl.Body, ctx *hcl.EvalContext, addr, key string) *Check {
	ch := c.newInstance()
	ch.Address, ch.Key = addr, key
	reg = reg.ForBody(remain) // the metrics a check names in its own body
	ch.Type, ch.Name, ch.Registration, ch.DeclRange = rb.Type, rb.Name, reg, rb.DefRange
	ch.evalCtx = ctx
	c.decodeMeta(ch, meta, ctx)

	for _, b := range meta.Blocks {
		switch b.Type {
		case thresholdBlock.Type:
			c.threshold(ch, reg, b, ctx)
		case assertBlock.Type:
			c.assert(ch, reg, b, ctx)
		}
	}

	val, diags := decodeTyped(remain, reg.Spec, ctx)
	c.diags = append(c.diags, diags...)
	if !diags.HasErrors() {
		if err := c.cfg.CheckValue(val); err != nil {
			c.diags = append(c.diags, dsl.LimitDiagnostic(err, rb.DefRange.Ptr()))
			return ch
		}
		// Types see plain values; secrets are redacted by value.
		val, _ = val.UnmarkDeep()
		checker, diags := reg.Build(val, checks.Env{
			Body: remain, Spec: reg.Spec, Block: rb.DefRange, BaseDir: rb.BaseDir,
			Address: addr, Agent: c.cfg.Agent, Asserts: len(ch.Asserts) > 0,
			Logger: c.checkLog.With("check", addr),
		})
		c.diags = append(c.diags, diags...)
		ch.Checker = checker
		ch.body = val
	}
	return ch
}
