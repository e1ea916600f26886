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
	meta, remain, diags := splitBody(rb.Body, metaSchema, reg.Spec)
	c.diags = append(c.diags, diags...)
	base := c.cfg.EvalContext(rb.BaseDir)

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
	v, _ = v.Unmark()
	if !v.IsWhollyKnown() {
		return unknown
	}
	if v.IsNull() {
		c.errf(a.Expr.Range().Ptr(), "Invalid for_each", "for_each must be a map or a set of strings, not null.")
		return nil
	}
	ty := v.Type()
	var out []instance
	switch {
	case ty.IsMapType() || ty.IsObjectType():
		for it := v.ElementIterator(); it.Next(); {
			k, val := it.Element()
			out = append(out, instance{key: k.AsString(), known: true,
				each: cty.ObjectVal(map[string]cty.Value{"key": k, "value": val})})
		}
	case ty.IsSetType():
		if !ty.ElementType().Equals(cty.String) {
			sv, err := convert.Convert(v, cty.Set(cty.String))
			if err != nil {
				c.errf(a.Expr.Range().Ptr(), "Invalid for_each", "for_each must be a map or a set of strings; this set has elements of type %s.", ty.ElementType().FriendlyName())
				return nil
			}
			v = sv
		}
		for it := v.ElementIterator(); it.Next(); {
			_, val := it.Element()
			if val.IsNull() {
				c.errf(a.Expr.Range().Ptr(), "Invalid for_each", "for_each must not contain null.")
				return nil
			}
			out = append(out, instance{key: val.AsString(), known: true,
				each: cty.ObjectVal(map[string]cty.Value{"key": val, "value": val})})
		}
	default:
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

// compileInstance compiles one instance of a check block: its meta-arguments
// over the template, its threshold and assert blocks, then the type's body,
// which the type's Build turns into the checker.
func (c *compiler) compileInstance(rb *dsl.RawBlock, reg *checks.Registration, meta *hcl.BodyContent, remain hcl.Body, ctx *hcl.EvalContext, addr, key string) *Check {
	ch := c.newInstance()
	ch.Address, ch.Key = addr, key
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
		checker, diags := reg.Build(val, checks.Env{
			Body: remain, Spec: reg.Spec, Block: rb.DefRange, BaseDir: rb.BaseDir,
			Agent:  c.cfg.Agent,
			Logger: c.checkLog.With("check", addr),
		})
		c.diags = append(c.diags, diags...)
		ch.Checker = checker
		ch.body = val
	}
	return ch
}
