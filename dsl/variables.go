package dsl

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/ext/typeexpr"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
)

var variableSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "type"},
		{Name: "default"},
		{Name: "description"},
		{Name: "sensitive"},
	},
	Blocks: []hcl.BlockHeaderSchema{{Type: "validation"}},
}

var validationSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "condition", Required: true},
		{Name: "error_message", Required: true},
	},
}

type varDecl struct {
	v           *Variable
	defaults    *typeexpr.Defaults
	hasDefault  bool
	validations []*hcl.Block
	// valueRange is where the final value came from, for errors about it.
	valueRange *hcl.Range
}

// variables declares the variables and sets their values, lowest precedence
// first: default, environment, auto var files, --var-file, --var.
func (l *loader) variables(autoVars []string) {
	decls := map[string]*varDecl{}
	var order []string
	for _, fb := range l.blocks["variable"] {
		b := fb.block
		name := b.Labels[0]
		if prev, dup := decls[name]; dup {
			l.diags = append(l.diags, errDiag("Duplicate variable",
				fmt.Sprintf("A variable named %q was already declared at %s.", name, rangeString(prev.v.DeclRange)),
				b.DefRange.Ptr()))
			continue
		}
		d := l.declareVariable(b)
		decls[name] = d
		order = append(order, name)
	}

	// Values: the environment, then files, then --var.
	for _, name := range order {
		d := decls[name]
		raw, ok := l.opts.LookupEnv(VarEnvPrefix + name)
		if !ok {
			continue
		}
		l.setVarFromString(d, raw, fmt.Sprintf("the environment variable %s%s", VarEnvPrefix, name))
	}
	for _, f := range autoVars {
		l.varFile(f, decls)
	}
	for _, f := range l.opts.VarFiles {
		l.varFile(f, decls)
	}
	for _, arg := range l.opts.Vars {
		name, raw, ok := strings.Cut(arg, "=")
		if !ok || !hclsyntax.ValidIdentifier(name) {
			l.diags = append(l.diags, errDiag("Invalid --var option",
				fmt.Sprintf("The option --var %q must be written NAME=VALUE.", arg), nil))
			continue
		}
		d, ok := decls[name]
		if !ok {
			l.diags = append(l.diags, errDiag("Value for undeclared variable",
				fmt.Sprintf("A variable named %q was given with --var but is not declared.%s", name, suggestIn(name, order, " Did you mean %q?")), nil))
			continue
		}
		l.setVarFromString(d, raw, "--var "+name)
	}

	for _, name := range order {
		d := decls[name]
		if _, ok := l.cfg.vars[name]; !ok {
			if !d.hasDefault {
				l.diags = append(l.diags, errDiag("No value for required variable",
					fmt.Sprintf("The variable %q has no default, so it needs a value: set it in a *.auto.vars.hcl file, with --var-file, --var %s=VALUE or the environment variable %s%s.", name, name, VarEnvPrefix, name),
					d.v.DeclRange.Ptr()))
				l.cfg.vars[name] = cty.DynamicVal
				continue
			}
			l.cfg.vars[name] = d.v.Default
		}
		if d.v.Sensitive {
			l.cfg.secrets = append(l.cfg.secrets, stringLeaves(l.cfg.vars[name])...)
		}
		if err := l.budget.check(l.cfg.vars[name]); err != nil {
			rng := d.valueRange
			if rng == nil {
				rng = d.v.DeclRange.Ptr()
			}
			l.diags = append(l.diags, limitDiag(err, rng))
			l.cfg.vars[name] = cty.DynamicVal
		}
	}
	l.cfg.secrets = redactionList(l.cfg.secrets)
	l.sensitive = map[string]bool{}
	for _, name := range order {
		if decls[name].v.Sensitive {
			l.sensitive[name] = true
		}
	}

	varObj := l.varsObject()
	for _, name := range order {
		l.validateVariable(decls[name], varObj)
		l.cfg.Variables = append(l.cfg.Variables, decls[name].v)
	}
}

func (l *loader) declareVariable(b *hcl.Block) *varDecl {
	v := &Variable{Name: b.Labels[0], Type: cty.DynamicPseudoType, DeclRange: b.DefRange}
	d := &varDecl{v: v}
	content, diags := b.Body.Content(variableSchema)
	l.diags = append(l.diags, diags...)
	if a, ok := content.Attributes["type"]; ok {
		ty, defs, diags := typeexpr.TypeConstraintWithDefaults(a.Expr)
		l.diags = append(l.diags, diags...)
		if !diags.HasErrors() {
			v.Type, d.defaults = ty, defs
		}
	}
	if a, ok := content.Attributes["description"]; ok {
		val, diags := a.Expr.Value(l.literalCtx())
		l.diags = append(l.diags, diags...)
		if !diags.HasErrors() && val.Type() == cty.String && val.IsKnown() && !val.IsNull() {
			v.Description = val.AsString()
		}
	}
	if a, ok := content.Attributes["sensitive"]; ok {
		val, diags := a.Expr.Value(l.literalCtx())
		l.diags = append(l.diags, diags...)
		if !diags.HasErrors() {
			if val.Type() != cty.Bool || val.IsNull() {
				l.diags = append(l.diags, errDiag("Invalid sensitive value", "sensitive must be true or false.", a.Expr.Range().Ptr()))
			} else {
				v.Sensitive = val.True()
			}
		}
	}
	if a, ok := content.Attributes["default"]; ok {
		val, diags := a.Expr.Value(l.literalCtx())
		l.diags = append(l.diags, diags...)
		if v.Sensitive {
			l.sensitiveValue(val, a.Expr.Range())
		}
		if !diags.HasErrors() {
			conv, ok := l.convertVar(d, val, a.Expr.Range().Ptr(), "Invalid default value for variable")
			v.Default, d.hasDefault = conv, true
			d.valueRange = a.Expr.Range().Ptr()
			if !ok {
				// Reported; go on with an unknown value rather than also
				// asking for one.
				v.Default = cty.DynamicVal
			}
		}
	}
	for _, vb := range content.Blocks {
		vc, diags := vb.Body.Content(validationSchema)
		l.diags = append(l.diags, diags...)
		if !diags.HasErrors() {
			d.validations = append(d.validations, &hcl.Block{Type: "validation", Body: vb.Body, DefRange: vb.DefRange})
			_ = vc
		}
	}
	return d
}

// convertVar applies the type's optional-attribute defaults and converts.
func (l *loader) convertVar(d *varDecl, val cty.Value, rng *hcl.Range, summary string) (cty.Value, bool) {
	if d.defaults != nil {
		val = d.defaults.Apply(val)
	}
	conv, err := convert.Convert(val, d.v.Type)
	if err != nil {
		l.diags = append(l.diags, errDiag(summary,
			fmt.Sprintf("The value for variable %q is not of type %s: %s.", d.v.Name, d.v.Type.FriendlyNameForConstraint(), err), rng))
		return cty.NilVal, false
	}
	return conv, true
}

// setVarFromString reads a value given as text (from --var or the
// environment): a plain string for string variables, an HCL expression of
// literals for everything else. Errors point at the variable's declaration
// and name where the value came from.
func (l *loader) setVarFromString(d *varDecl, raw, from string) {
	d.valueRange = d.v.DeclRange.Ptr()
	if d.v.Type == cty.String {
		l.cfg.vars[d.v.Name] = cty.StringVal(raw)
		return
	}
	fail := func(err string) {
		l.diags = append(l.diags, errDiag("Invalid value for variable",
			fmt.Sprintf("The value given by %s is not of type %s: %s.", from, d.v.Type.FriendlyNameForConstraint(), err),
			d.v.DeclRange.Ptr()))
		l.cfg.vars[d.v.Name] = cty.DynamicVal
	}
	val := cty.StringVal(raw)
	if d.v.Sensitive {
		l.sensitiveValue(val, hcl.Range{})
	}
	if depth := exprDepth([]byte(raw), from, l.cfg.Limits.MaxDepth); depth.max > l.cfg.Limits.MaxDepth {
		fail(fmt.Sprintf("the value nests deeper than max_depth = %d", l.cfg.Limits.MaxDepth))
		return
	}
	expr, diags := hclsyntax.ParseExpression([]byte(raw), from, hcl.InitialPos)
	if !diags.HasErrors() {
		expr = l.budget.expr(expr)
		if v, diags := expr.Value(l.literalCtx()); !diags.HasErrors() {
			val = v
		}
	}
	// Otherwise take it as a string, as Terraform does for unquoted words,
	// and let the type conversion judge it.
	if d.defaults != nil {
		val = d.defaults.Apply(val)
	}
	conv, err := convert.Convert(val, d.v.Type)
	if err != nil {
		fail(err.Error())
		return
	}
	l.cfg.vars[d.v.Name] = conv
}

func (l *loader) varFile(path string, decls map[string]*varDecl) {
	src, err := readRegular(path, maxConfigFile, "a variables file")
	if err != nil {
		l.diags = append(l.diags, errDiag("Cannot read variables file", err.Error(), nil))
		return
	}
	f, diags, depth := parseFile(path, src)
	if f != nil {
		l.sources[path] = f
	}
	l.diags = append(l.diags, diags...)
	if f == nil || diags.HasErrors() {
		return
	}
	if depth.max > l.cfg.Limits.MaxDepth {
		depth = depth.exact()
	}
	if depth.max > l.cfg.Limits.MaxDepth {
		l.diags = append(l.diags, depthDiag(depth.first[l.cfg.Limits.MaxDepth], l.cfg.Limits.MaxDepth))
		return
	}
	if body, ok := f.Body.(*hclsyntax.Body); ok {
		l.budget.instrumentBody(body, false)
	}
	attrs, diags := f.Body.JustAttributes()
	l.diags = append(l.diags, diags...)
	names := make([]string, 0, len(attrs))
	for n := range attrs {
		names = append(names, n)
	}
	sort.Strings(names)
	declared := make([]string, 0, len(decls))
	for n := range decls {
		declared = append(declared, n)
	}
	for _, n := range names {
		a := attrs[n]
		d, ok := decls[n]
		if !ok {
			l.diags = append(l.diags, warnDiag("Value for undeclared variable",
				fmt.Sprintf("The file sets %q, but no variable of that name is declared; the value is ignored.%s", n, suggestIn(n, declared, " Did you mean %q?")),
				a.NameRange.Ptr()))
			continue
		}
		val, diags := a.Expr.Value(l.literalCtx())
		l.diags = append(l.diags, diags...)
		if d.v.Sensitive {
			l.sensitiveValue(val, a.Expr.Range())
		}
		if diags.HasErrors() {
			continue
		}
		if conv, ok := l.convertVar(d, val, a.Expr.Range().Ptr(), "Invalid value for variable"); ok {
			l.cfg.vars[n] = conv
			d.valueRange = a.Expr.Range().Ptr()
		}
	}
}

func (l *loader) validateVariable(d *varDecl, varObj cty.Value) {
	val := l.cfg.vars[d.v.Name]
	if !val.IsWhollyKnown() {
		return
	}
	if l.valCtx == nil {
		l.valCtx = &hcl.EvalContext{
			Variables: map[string]cty.Value{"var": varObj},
			Functions: l.cfg.fe.functions("."),
		}
	}
	ctx := l.valCtx
	for _, vb := range d.validations {
		content, _ := vb.Body.Content(validationSchema)
		cond := content.Attributes["condition"]
		msgAttr := content.Attributes["error_message"]
		if cond == nil || msgAttr == nil {
			continue
		}
		res, diags := cond.Expr.Value(ctx)
		l.diags = append(l.diags, diags...)
		res, _ = res.UnmarkDeep()
		if diags.HasErrors() || !res.IsKnown() {
			continue
		}
		res, err := convert.Convert(res, cty.Bool)
		if err != nil || res.IsNull() {
			l.diags = append(l.diags, errDiag("Invalid validation condition",
				"The condition must be true or false.", cond.Expr.Range().Ptr()))
			continue
		}
		if res.True() {
			continue
		}
		msg := "The value is not valid."
		if m, diags := msgAttr.Expr.Value(ctx); !diags.HasErrors() && m.Type() == cty.String && m.IsKnown() && !m.IsNull() {
			m, _ = m.UnmarkDeep()
			msg = m.AsString()
		}
		if d.v.Sensitive {
			msg = Redact(msg, l.cfg.secrets)
		}
		subject := cond.Expr.Range().Ptr()
		if d.valueRange != nil {
			subject = d.valueRange
		}
		l.diags = append(l.diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Invalid value for variable",
			Detail:   fmt.Sprintf("%s\n\nThis was checked by the validation rule at %s.", msg, rangeString(cond.Expr.Range())),
			Subject:  subject,
		})
	}
}

// stringLeaves returns every string inside a value.
func stringLeaves(v cty.Value) []string {
	var out []string
	_ = cty.Walk(v, func(_ cty.Path, v cty.Value) (bool, error) {
		if v.IsKnown() && !v.IsNull() && v.Type() == cty.String && v.AsString() != "" {
			out = append(out, v.AsString())
		}
		return true, nil
	})
	return out
}

// redactionList adds to each secret its Go-quoted form where that differs
// (quotes, backslashes, control characters), because messages that print a
// value with %q show that form, and sorts the longest first so a secret
// containing another is redacted whole.
func redactionList(secrets []string) []string {
	out := make([]string, 0, len(secrets))
	seen := map[string]bool{}
	add := func(s string) {
		if s != "" && !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	for _, s := range secrets {
		add(s)
		if q := strconv.Quote(s); q[1:len(q)-1] != s {
			add(q[1 : len(q)-1])
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return len(out[i]) > len(out[j]) })
	return out
}
