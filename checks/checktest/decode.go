package checktest

import (
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"

	"github.com/satellite-hq/satellite/checks"
	"github.com/satellite-hq/satellite/engine"
)

// Decoded is one check block of a source, its type's body decoded with the
// registered spec, ready for Build.
type Decoded struct {
	Val   cty.Value
	Env   checks.Env
	Diags hcl.Diagnostics
}

// DecodeChecks parses src (file name test.hcl) and decodes every
// `check "typ" ...` block as engine.Compile does (other blocks are skipped), without running Build.
// env supplies BaseDir and Agent; Body, Spec and Block are filled in.
func DecodeChecks(t testing.TB, typ, src string, env checks.Env, ctx *hcl.EvalContext) []Decoded {
	t.Helper()
	reg, ok := checks.Lookup(typ)
	if !ok {
		t.Fatalf("check type %q is not registered", typ)
	}
	f, diags := hclsyntax.ParseConfig([]byte(src), "test.hcl", hcl.InitialPos)
	if diags.HasErrors() {
		t.Fatalf("parse: %s", diags)
	}
	// Other top-level blocks (an agent block in a sample) are not ours.
	content, _, diags := f.Body.PartialContent(&hcl.BodySchema{Blocks: []hcl.BlockHeaderSchema{{Type: "check", LabelNames: []string{"type", "name"}}}})
	if diags.HasErrors() {
		t.Fatalf("content: %s", diags)
	}
	var out []Decoded
	for _, blk := range content.Blocks {
		if blk.Labels[0] != typ {
			t.Fatalf("block type %q, want %q", blk.Labels[0], typ)
		}
		body, diags := engine.TypeBody(blk.Body)
		if diags.HasErrors() {
			t.Fatalf("meta-arguments: %s", diags)
		}
		val, diags := hcldec.Decode(body, reg.Spec, ctx)
		e := env
		e.Body, e.Spec, e.Block = body, reg.Spec, blk.DefRange
		out = append(out, Decoded{Val: val, Env: e, Diags: diags})
	}
	return out
}

// VarContext is an evaluation context with var.* set, nil without vars.
func VarContext(vars map[string]cty.Value) *hcl.EvalContext {
	if vars == nil {
		return nil
	}
	return &hcl.EvalContext{Variables: map[string]cty.Value{"var": cty.ObjectVal(vars)}}
}
