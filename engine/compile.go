package engine

import (
	"fmt"
	"strings"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"

	"github.com/satellite-hq/satellite/dsl"
)

// The compiler is split by concern, as Terraform's internal/configs is, each
// schema next to its decoder:
//
//	compile.go             Compile, the phases in their order, shared helpers
//	compile_meta.go        the meta-arguments of checks (and of defaults)
//	compile_defaults.go    the defaults block
//	compile_check.go       check blocks, for_each instances, the type's body
//	compile_threshold.go   threshold blocks
//	compile_assert.go      assert blocks
//	compile_sink.go        sink blocks and their meta-arguments
//	compile_refs.go        depends_on and sinks references, the dependency
//	                       graph, its order and its cycle reports
//	compile_fingerprint.go what identifies a check across reloads
//
// Values are read through dsl.AttrValue, the same conversions (and the same
// diagnostics) as a type's Build gets from dsl.Attrs.

type compiler struct {
	cfg   *dsl.Config
	plan  *Plan
	diags hcl.Diagnostics
	// template is where every check instance starts: the meta-arguments'
	// built-in defaults with the defaults block decoded over them.
	template *Check
	// checkLog is the parent of every check's logger.
	checkLog hclog.Logger
	// byBlock maps "TYPE.NAME" to its instances; forEachUnknown marks blocks
	// whose instances are not known (validate --unknown-env).
	byBlock        map[string][]*Check
	forEachBlocks  map[string]bool
	forEachUnknown map[string]bool
	// refs indexes what references may name, for the resolve phase.
	refs *refIndex
	// instances counts the check instances declared, for max_checks;
	// checksRefused reports its limit once.
	instances     int64
	checksRefused bool
	// splitSchemas are splitBody's merged schemas, by meta schema and type;
	// evalCtxs the evaluation contexts, by folder (Config.EvalContext
	// builds a new one each call).
	splitSchemas map[splitSchemaKey]*splitSchema
	evalCtxs     map[string]*hcl.EvalContext
}

// phases are Compile's steps in their order: the sinks and the defaults are
// known before any check is decoded; references are resolved only once every
// check is declared; the graph is ordered and checked once they are resolved;
// fingerprints come last, over the final settings.
var phases = []struct {
	name string
	run  func(*compiler)
}{
	{"sinks", (*compiler).compileSinks},
	{"notifiers", (*compiler).compileNotifiers},
	{"defaults", (*compiler).compileDefaults},
	{"checks", (*compiler).compileChecks},
	{"maintenance", (*compiler).compileMaintenance},
	{"references", (*compiler).resolve},
	{"order", (*compiler).order},
	{"dependency placement", (*compiler).warnDependencies},
	{"mesh notify", (*compiler).resolveMeshNotify},
	{"unrouted notifiers", (*compiler).warnUnroutedNotifiers},
	{"fingerprints", (*compiler).fingerprints},
}

// Compile turns a loaded config into a plan for the node the config was
// evaluated for. Every check is compiled and validated whatever its only_on;
// Check.Runs tells which ones this node runs. What other parts of a node
// require of the config (the mesh's tag limits) is theirs to check: see
// agent.Load.
func Compile(cfg *dsl.Config) (*Plan, hcl.Diagnostics) {
	c := &compiler{
		cfg:            cfg,
		plan:           &Plan{Config: cfg, Node: cfg.Node, Hash: cfg.Hash},
		checkLog:       cfg.Logger().Named("check"),
		byBlock:        map[string][]*Check{},
		forEachBlocks:  map[string]bool{},
		forEachUnknown: map[string]bool{},
	}
	for _, p := range phases {
		p.run(c)
	}
	// The diagnostics of limits name them; then the budget is disarmed for
	// what a running agent evaluates (see dsl's budget.go).
	diags := cfg.LimitDiagnostics(dedupeDiags(c.diags))
	cfg.EndLoad()
	return c.plan, diags
}

// dedupeDiags drops repeats: the instances of a for_each check share their
// source, so they would report each error once per instance.
func dedupeDiags(diags hcl.Diagnostics) hcl.Diagnostics {
	type key struct {
		sev             hcl.DiagnosticSeverity
		summary, detail string
		rng             hcl.Range
	}
	seen := map[key]bool{}
	out := diags[:0]
	for _, d := range diags {
		k := key{sev: d.Severity, summary: d.Summary, detail: d.Detail}
		if d.Subject != nil {
			k.rng = *d.Subject
		}
		if !seen[k] {
			seen[k] = true
			out = append(out, d)
		}
	}
	return out
}

func (c *compiler) errf(rng *hcl.Range, summary, format string, args ...any) {
	c.diags = append(c.diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: summary, Detail: fmt.Sprintf(format, args...), Subject: rng})
}

func (c *compiler) warnf(rng *hcl.Range, summary, format string, args ...any) {
	c.diags = append(c.diags, &hcl.Diagnostic{Severity: hcl.DiagWarning, Summary: summary, Detail: fmt.Sprintf(format, args...), Subject: rng})
}

// evalContext is Config.EvalContext(baseDir), built once per folder: a
// context is only read (instances and asserts evaluate in children of it).
func (c *compiler) evalContext(baseDir string) *hcl.EvalContext {
	ctx, ok := c.evalCtxs[baseDir]
	if !ok {
		ctx = c.cfg.EvalContext(baseDir)
		if c.evalCtxs == nil {
			c.evalCtxs = map[string]*hcl.EvalContext{}
		}
		c.evalCtxs[baseDir] = ctx
	}
	return ctx
}

// eval evaluates a meta-argument for reading with dsl's conversions; its
// errors are the compiler's.
func (c *compiler) eval(a *hcl.Attribute, ctx *hcl.EvalContext) dsl.AttrValue {
	return dsl.EvalAttr(a, ctx, &c.diags)
}

// attrSchema is a body schema of the given attribute names.
func attrSchema(names ...string) []hcl.AttributeSchema {
	out := make([]hcl.AttributeSchema, len(names))
	for i, n := range names {
		out[i] = hcl.AttributeSchema{Name: n}
	}
	return out
}

// splitSchema is what splitBody needs of a meta schema and a type's spec,
// built once per compile and type: the merged schema, whose names the
// unknown-argument errors suggest, and the names it holds.
type splitSchema struct {
	merged        *hcl.BodySchema
	attrs, blocks map[string]bool
}

func newSplitSchema(meta *hcl.BodySchema, spec hcldec.Spec) *splitSchema {
	s := &splitSchema{merged: &hcl.BodySchema{}, attrs: map[string]bool{}, blocks: map[string]bool{}}
	s.merged.Attributes = append(s.merged.Attributes, meta.Attributes...)
	s.merged.Blocks = append(s.merged.Blocks, meta.Blocks...)
	implied := hcldec.ImpliedSchema(spec)
	for _, a := range implied.Attributes {
		a.Required = false
		s.merged.Attributes = append(s.merged.Attributes, a)
	}
	s.merged.Blocks = append(s.merged.Blocks, implied.Blocks...)
	for _, a := range s.merged.Attributes {
		s.attrs[a.Name] = true
	}
	for _, b := range s.merged.Blocks {
		s.blocks[b.Type] = true
	}
	return s
}

// splitSchemaKey names a cached splitSchema: the meta schema (of checks,
// sinks or notifiers) and the type.
type splitSchemaKey struct {
	meta *hcl.BodySchema
	typ  string
}

// splitSchema returns the cached splitSchema of meta and a type's spec.
func (c *compiler) splitSchema(meta *hcl.BodySchema, typ string, spec hcldec.Spec) *splitSchema {
	k := splitSchemaKey{meta, typ}
	s, ok := c.splitSchemas[k]
	if !ok {
		s = newSplitSchema(meta, spec)
		if c.splitSchemas == nil {
			c.splitSchemas = map[splitSchemaKey]*splitSchema{}
		}
		c.splitSchemas[k] = s
	}
	return s
}

// allKnown reports whether every argument and block of a native syntax
// body is named in the merged schema, when Content(merged) has no
// "Unsupported" error to report (hclsyntax reports nothing "Duplicate";
// its other errors are not splitBody's).
func (s *splitSchema) allKnown(body hcl.Body) bool {
	b, ok := body.(*hclsyntax.Body)
	if !ok {
		return false
	}
	for name := range b.Attributes {
		if !s.attrs[name] {
			return false
		}
	}
	for _, blk := range b.Blocks {
		if !s.blocks[blk.Type] {
			return false
		}
	}
	return true
}

// splitBody separates meta-arguments from the type's own body and reports
// unknown arguments once, with suggestions drawn from both. typ names the
// type whose spec it is, for the cached merged schema.
func (c *compiler) splitBody(body hcl.Body, meta *hcl.BodySchema, typ string, spec hcldec.Spec) (*hcl.BodyContent, hcl.Body, hcl.Diagnostics) {
	var diags hcl.Diagnostics
	if spec != nil {
		// Content of the merged schema only finds the unknown arguments;
		// a native syntax body whose names are all known has none.
		if s := c.splitSchema(meta, typ, spec); !s.allKnown(body) {
			_, d := body.Content(s.merged)
			for _, diag := range d {
				if strings.HasPrefix(diag.Summary, "Unsupported") || strings.HasPrefix(diag.Summary, "Duplicate") {
					diags = append(diags, diag)
				}
			}
		}
	}
	content, remain, d := body.PartialContent(meta)
	for _, diag := range d {
		if !strings.HasPrefix(diag.Summary, "Unsupported") && !strings.HasPrefix(diag.Summary, "Duplicate") {
			diags = append(diags, diag)
		}
	}
	return content, remain, diags
}

// decodeTyped decodes the type's part of a body, dropping the unknown
// argument errors that splitBody already reported.
func decodeTyped(remain hcl.Body, spec hcldec.Spec, ctx *hcl.EvalContext) (cty.Value, hcl.Diagnostics) {
	val, d := hcldec.Decode(remain, spec, ctx)
	var diags hcl.Diagnostics
	for _, diag := range d {
		if !strings.HasPrefix(diag.Summary, "Unsupported") && !strings.HasPrefix(diag.Summary, "Duplicate") {
			diags = append(diags, diag)
		}
	}
	return val, diags
}

func didYouMean(given string, candidates []string) string {
	if s := dsl.Suggest(given, candidates); s != "" {
		return fmt.Sprintf(" Did you mean %q?", s)
	}
	return ""
}

func rangeString(r hcl.Range) string {
	return fmt.Sprintf("%s:%d:%d", r.Filename, r.Start.Line, r.Start.Column)
}
