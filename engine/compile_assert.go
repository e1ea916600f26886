package engine

import (
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/satellite-hq/satellite/checks"
	"github.com/satellite-hq/satellite/dsl"
)

// assertBlock is `assert { condition = ... }` in a check.
var assertBlock = hcl.BlockHeaderSchema{Type: "assert"}

var assertSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{{Name: "condition", Required: true}, {Name: "error_message"}},
}

// assert checks the condition against an unknown `result` of the type's
// result type, so references to attributes the type lacks are caught now.
func (c *compiler) assert(ch *Check, reg *checks.Registration, b *hcl.Block, ctx *hcl.EvalContext) {
	content, diags := b.Body.Content(assertSchema)
	c.diags = append(c.diags, diags...)
	cond, ok := content.Attributes["condition"]
	if !ok {
		return
	}
	rctx := ctx.NewChild()
	rctx.Variables = map[string]cty.Value{"result": cty.UnknownVal(reg.ResultType())}
	v, diags := cond.Expr.Value(rctx)
	c.diags = append(c.diags, suggestResult(diags, reg)...)
	if !diags.HasErrors() && v.Type() != cty.DynamicPseudoType && v.Type() != cty.Bool {
		c.errf(cond.Expr.Range().Ptr(), "Invalid assert condition", "The condition must be true or false, not %s; compare it with something, such as result.body == \"ok\".", v.Type().FriendlyName())
	}
	a := Assert{Condition: cond.Expr}
	if m, ok := content.Attributes["error_message"]; ok {
		mv, diags := m.Expr.Value(rctx)
		c.diags = append(c.diags, suggestResult(diags, reg)...)
		if !diags.HasErrors() && mv.ContainsMarked() {
			// The message is the check's output: in logs, the API, history
			// and every sink.
			c.errf(m.Expr.Range().Ptr(), "Sensitive value not allowed",
				"%s", dsl.SensitiveDetail("error_message", "it becomes the check's output, which is logged, stored, shown by the API and sent to every sink"))
			return
		}
		a.ErrorMessage = m.Expr
	}
	ch.Asserts = append(ch.Asserts, a)
}

var unsupportedAttr = regexp.MustCompile(`does not have an attribute named "([^"]+)"\.$`)

// suggestResult adds a "did you mean" to errors about attributes of
// `result` that the type does not have, and lists the ones it has.
func suggestResult(diags hcl.Diagnostics, reg *checks.Registration) hcl.Diagnostics {
	if len(diags) == 0 {
		return diags
	}
	names := make([]string, 0)
	for n := range reg.ResultType().AttributeTypes() {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, d := range diags {
		m := unsupportedAttr.FindStringSubmatch(d.Detail)
		if d.Summary != "Unsupported attribute" || m == nil || d.Expression == nil {
			continue
		}
		isResult := false
		for _, tr := range d.Expression.Variables() {
			if tr.RootName() == "result" {
				isResult = true
			}
		}
		if isResult {
			d.Detail = fmt.Sprintf("The result of a %q check has no attribute %q.%s Its attributes: %s.", reg.Type, m[1], didYouMean(m[1], names), strings.Join(names, ", "))
		}
	}
	return diags
}
