package dsl

import (
	"errors"
	"fmt"
	"strings"
	"sync/atomic"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
)

// The evaluation budget bounds what evaluating a config can cost, in steps
// (max_eval_steps) and in the size of each value it builds (max_value_bytes).
//
// HCL gives no hook inside an evaluation, so the budget hooks in where the
// cost is: every function is wrapped (it charges its arguments and result
// and refuses a result over max_value_bytes, and the functions whose result
// can be far larger than their arguments, such as format("%01000000000d"),
// join and replace, are checked before they run); and the parsed native
// syntax is instrumented: the collection, key, value and condition of every
// `for` expression, each interpolation of a template and the source of a
// splat are wrapped in a call to one of the budget's own functions (named so
// that no config can call them), which charge a step each, and add up what
// one `for` or template builds, so that it stops at max_value_bytes instead
// of after building terabytes. Expressions that other code reads statically
// (traversals, tuples of them, variable types) keep their node types.
//
// Steps are counted while a config is loaded and compiled; then the budget
// is disarmed (Config.EndLoad), and the wrappers only refuse values over
// max_value_bytes, without shared state, so the expressions a running agent
// evaluates (asserts) are safe to evaluate concurrently.
type budget struct {
	limits Limits
	armed  atomic.Bool
	steps  int64
	// acc[id] is what the current evaluation of `for` or template id has
	// built, lit[id] a template's literal bytes.
	acc, lit []int64
	// exhausted is the first over-budget error; stepsReported keeps it to
	// one diagnostic per load.
	exhausted     *LimitError
	stepsReported bool
}

// Step costs, in rough proportion to what they take (a step is up to ~1 µs
// of work): a function call and a template part (which converts its value
// to a string) cost more than a for iteration.
const (
	costCall = 4
	costPart = 4
	costItem = 2
)

// Names of the instrumentation functions: spaces make them impossible to
// write in a config.
const (
	fnForColl   = "satellite for collection"
	fnForItem   = "satellite for item"
	fnForCond   = "satellite for condition"
	fnTmplFirst = "satellite template first"
	fnTmplPart  = "satellite template part"
	fnSplat     = "satellite splat"
)

func newBudget() *budget {
	b := &budget{limits: DefaultLimits}
	b.armed.Store(true)
	return b
}

// charge takes n steps from the budget.
func (b *budget) charge(n int64) error {
	if !b.armed.Load() {
		return nil
	}
	b.steps += n
	if b.steps > b.limits.MaxEvalSteps {
		if b.exhausted == nil {
			b.exhausted = &LimitError{Name: "max_eval_steps", Limit: b.limits.MaxEvalSteps,
				What: "Evaluating the config takes too much work: function calls, for iterations and template parts, and the strings and collections they build, add up to more steps than the budget."}
		}
		return b.exhausted
	}
	return nil
}

// measure returns a value's size in bytes (strings' bytes, 8 per element,
// number and bool), stopping once it is over max, and the steps it cost: one
// per element and per 16 bytes of string. A value nested deeper than
// maxDepth is an error: cty and the encoders recurse over values.
func measure(v cty.Value, max, maxDepth int64) (size, cost int64, err error) {
	var walk func(v cty.Value, depth int64) error
	walk = func(v cty.Value, depth int64) error {
		if depth > maxDepth {
			return &LimitError{Name: "max_depth", Limit: maxDepth, What: "The value built here is nested too deep."}
		}
		if v.IsMarked() {
			v, _ = v.Unmark()
		}
		if !v.IsKnown() || v.IsNull() {
			size++
			return nil
		}
		ty := v.Type()
		switch {
		case ty == cty.String:
			n := int64(len(v.AsString()))
			size += n
			cost += n / 16
		case ty.IsPrimitiveType() || ty.IsCapsuleType():
			size += 8
		case ty.IsCollectionType() || ty.IsTupleType() || ty.IsObjectType():
			for it := v.ElementIterator(); it.Next(); {
				k, e := it.Element()
				size += 8
				cost++
				if k.Type() == cty.String && (ty.IsMapType() || ty.IsObjectType()) {
					size += int64(len(k.AsString()))
				}
				if size > max {
					return nil
				}
				if err := walk(e, depth+1); err != nil {
					return err
				}
				if size > max {
					return nil
				}
			}
		}
		return nil
	}
	err = walk(v, 0)
	return size, cost, err
}

// shallow is the number of elements of a collection, 0 for anything else.
func shallow(v cty.Value) int64 {
	if v.IsMarked() {
		v, _ = v.Unmark()
	}
	if !v.IsKnown() || v.IsNull() || !v.CanIterateElements() {
		return 0
	}
	return int64(v.LengthInt())
}

func (b *budget) sizeError(size int64) *LimitError {
	return &LimitError{Name: "max_value_bytes", Limit: b.limits.MaxValueBytes,
		What: fmt.Sprintf("The value built here is larger than %d bytes (strings count their bytes, and every element, number and bool 8).", b.limits.MaxValueBytes)}
}

// check measures a value built by an evaluation, charges the measuring and
// refuses a value over max_value_bytes or max_depth.
func (b *budget) check(v cty.Value) error {
	size, cost, err := measure(v, b.limits.MaxValueBytes, b.limits.MaxDepth)
	if err != nil {
		return err
	}
	if err := b.charge(cost); err != nil {
		return err
	}
	if size > b.limits.MaxValueBytes {
		return b.sizeError(size)
	}
	return nil
}

// add adds v's size to what evaluation id has built, charging weight steps
// and the measuring.
func (b *budget) add(id int64, v cty.Value, weight int64) error {
	if b.armed.Load() && id >= 0 && id < int64(len(b.acc)) && b.acc[id] > b.limits.MaxValueBytes {
		// Over already: HCL goes on with the other iterations and parts;
		// they fail without being measured or charged.
		return b.sizeError(b.acc[id])
	}
	size, cost, err := measure(v, b.limits.MaxValueBytes, b.limits.MaxDepth)
	if err != nil {
		return err
	}
	if !b.armed.Load() {
		// Running: no shared state, each part on its own.
		if size > b.limits.MaxValueBytes {
			return b.sizeError(size)
		}
		return nil
	}
	if err := b.charge(weight + cost); err != nil {
		return err
	}
	if id >= 0 && id < int64(len(b.acc)) {
		b.acc[id] += size
		if b.acc[id] > b.limits.MaxValueBytes {
			return b.sizeError(b.acc[id])
		}
	}
	return nil
}

func (b *budget) reset(id int64, to int64) {
	if b.armed.Load() && id >= 0 && id < int64(len(b.acc)) {
		b.acc[id] = to
	}
}

var passParam = function.Parameter{Name: "value", Type: cty.DynamicPseudoType, AllowNull: true, AllowUnknown: true, AllowMarked: true, AllowDynamicType: true}
var idParam = function.Parameter{Name: "id", Type: cty.Number}

// passFunc returns its value unchanged, after hook.
func passFunc(withID bool, hook func(id int64, v cty.Value) error) function.Function {
	params := []function.Parameter{passParam}
	if withID {
		params = []function.Parameter{idParam, passParam}
	}
	return function.New(&function.Spec{
		Params: params,
		Type: func(args []cty.Value) (cty.Type, error) {
			return args[len(args)-1].Type(), nil
		},
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			var id int64 = -1
			if withID {
				id, _ = args[0].AsBigFloat().Int64()
			}
			v := args[len(args)-1]
			if err := hook(id, v); err != nil {
				return cty.NilVal, err
			}
			return v, nil
		},
	})
}

// instrumentFuncs are the functions the instrumented syntax calls.
func (b *budget) instrumentFuncs() map[string]function.Function {
	return map[string]function.Function{
		fnForColl: passFunc(true, func(id int64, v cty.Value) error {
			b.reset(id, 0)
			return b.charge(1 + shallow(v))
		}),
		fnForItem: passFunc(true, func(id int64, v cty.Value) error { return b.add(id, v, costItem) }),
		fnForCond: passFunc(false, func(int64, cty.Value) error { return b.charge(1) }),
		fnTmplFirst: passFunc(true, func(id int64, v cty.Value) error {
			if id >= 0 && id < int64(len(b.lit)) {
				b.reset(id, b.lit[id])
			}
			return b.add(id, v, costPart)
		}),
		fnTmplPart: passFunc(true, func(id int64, v cty.Value) error { return b.add(id, v, costPart) }),
		fnSplat:    passFunc(false, func(_ int64, v cty.Value) error { return b.charge(1 + shallow(v)) }),
	}
}

// instrumenter instruments native syntax: it numbers the `for` and
// template evaluations it wraps from 0, and budget.adopt renumbers them
// after those already adopted. Load's workers each instrument their files,
// in parallel, and the loader adopts them in file order: the numbering is
// the same as one instrumentation of every file in turn.
type instrumenter struct {
	// lit[id] is a template's literal bytes (0 for a for); ids are the id
	// arguments written, each to be given its evaluation's number.
	lit []int64
	ids []idNode
}

type idNode struct {
	lit *hclsyntax.LiteralValueExpr
	id  int64
}

// adopt numbers in's evaluations after those b has, so that b counts
// them. in's expressions must not be evaluated before.
func (b *budget) adopt(in *instrumenter) {
	base := int64(len(b.acc))
	b.acc = append(b.acc, make([]int64, len(in.lit))...)
	b.lit = append(b.lit, in.lit...)
	for _, n := range in.ids {
		n.lit.Val = cty.NumberIntVal(base + n.id)
	}
	in.lit, in.ids = nil, nil
}

// instrumentBody rewrites the expressions of a native syntax body in place.
func (b *budget) instrumentBody(body *hclsyntax.Body, inVariable bool) {
	var in instrumenter
	in.body(body, inVariable)
	b.adopt(&in)
}

// expr instruments an expression tree (see instrumenter.expr).
func (b *budget) expr(e hclsyntax.Expression) hclsyntax.Expression {
	var in instrumenter
	e = in.expr(e)
	b.adopt(&in)
	return e
}

// body rewrites the expressions of a native syntax body in place; skip
// says which attributes to leave as they are (variable types).
func (in *instrumenter) body(body *hclsyntax.Body, inVariable bool) {
	for name, a := range body.Attributes {
		if inVariable && name == "type" {
			continue
		}
		a.Expr = in.expr(a.Expr)
	}
	for _, blk := range body.Blocks {
		in.body(blk.Body, blk.Type == "variable")
	}
}

// maxPlainParts is how many reading-only parts a template may have and be
// left uninstrumented.
const maxPlainParts = 4

func onlyTraversals(parts []hclsyntax.Expression) bool {
	for _, p := range parts {
		switch p.(type) {
		case *hclsyntax.LiteralValueExpr, *hclsyntax.ScopeTraversalExpr:
		default:
			return false
		}
	}
	return true
}

func (in *instrumenter) newID(lit int64) int64 {
	in.lit = append(in.lit, lit)
	return int64(len(in.lit) - 1)
}

func call(name string, rng hcl.Range, args ...hclsyntax.Expression) *hclsyntax.FunctionCallExpr {
	return &hclsyntax.FunctionCallExpr{Name: name, Args: args, NameRange: rng, OpenParenRange: rng, CloseParenRange: rng}
}

// idLit is the id argument of evaluation id; its value is set by adopt.
func (in *instrumenter) idLit(id int64, rng hcl.Range) hclsyntax.Expression {
	n := &hclsyntax.LiteralValueExpr{SrcRange: rng}
	in.ids = append(in.ids, idNode{lit: n, id: id})
	return n
}

// expr instruments an expression tree; the tree is no deeper than
// max_depth, which was checked on its tokens.
func (in *instrumenter) expr(e hclsyntax.Expression) hclsyntax.Expression {
	switch e := e.(type) {
	case *hclsyntax.ForExpr:
		id := in.newID(0)
		e.CollExpr = call(fnForColl, e.CollExpr.Range(), in.idLit(id, e.CollExpr.Range()), in.expr(e.CollExpr))
		if e.KeyExpr != nil {
			e.KeyExpr = call(fnForItem, e.KeyExpr.Range(), in.idLit(id, e.KeyExpr.Range()), in.expr(e.KeyExpr))
		}
		e.ValExpr = call(fnForItem, e.ValExpr.Range(), in.idLit(id, e.ValExpr.Range()), in.expr(e.ValExpr))
		if e.CondExpr != nil {
			e.CondExpr = call(fnForCond, e.CondExpr.Range(), in.expr(e.CondExpr))
		}
	case *hclsyntax.TemplateExpr:
		var lit int64
		n := 0
		for _, p := range e.Parts {
			if l, ok := p.(*hclsyntax.LiteralValueExpr); ok && l.Val.Type() == cty.String && l.Val.IsKnown() && !l.Val.IsNull() {
				lit += int64(len(l.Val.AsString()))
			} else {
				n++
			}
		}
		if n == 0 {
			return e
		}
		if n <= maxPlainParts && onlyTraversals(e.Parts) {
			// "${var.host}:${each.value}": a few parts that only read
			// values, each within max_value_bytes, so the template is
			// within a few times that, and what it goes into measures it
			// (a local, a for, a function, a check's body). Most templates
			// are such, and are left as they are.
			return e
		}
		id := in.newID(lit)
		first := true
		for i, p := range e.Parts {
			if l, ok := p.(*hclsyntax.LiteralValueExpr); ok && l.Val.Type() == cty.String {
				continue
			}
			name := fnTmplPart
			if first {
				name, first = fnTmplFirst, false
			}
			e.Parts[i] = call(name, p.Range(), in.idLit(id, p.Range()), in.expr(p))
		}
	case *hclsyntax.TemplateJoinExpr:
		e.Tuple = in.expr(e.Tuple)
	case *hclsyntax.TemplateWrapExpr:
		e.Wrapped = in.expr(e.Wrapped)
	case *hclsyntax.SplatExpr:
		e.Source = call(fnSplat, e.Source.Range(), in.expr(e.Source))
		e.Each = in.expr(e.Each)
	case *hclsyntax.FunctionCallExpr:
		for i := range e.Args {
			e.Args[i] = in.expr(e.Args[i])
		}
	case *hclsyntax.ConditionalExpr:
		e.Condition = in.expr(e.Condition)
		e.TrueResult = in.expr(e.TrueResult)
		e.FalseResult = in.expr(e.FalseResult)
	case *hclsyntax.BinaryOpExpr:
		e.LHS = in.expr(e.LHS)
		e.RHS = in.expr(e.RHS)
	case *hclsyntax.UnaryOpExpr:
		e.Val = in.expr(e.Val)
	case *hclsyntax.ParenthesesExpr:
		e.Expression = in.expr(e.Expression)
	case *hclsyntax.TupleConsExpr:
		for i := range e.Exprs {
			e.Exprs[i] = in.expr(e.Exprs[i])
		}
	case *hclsyntax.ObjectConsExpr:
		for i := range e.Items {
			e.Items[i].KeyExpr = in.expr(e.Items[i].KeyExpr)
			e.Items[i].ValueExpr = in.expr(e.Items[i].ValueExpr)
		}
	case *hclsyntax.ObjectConsKeyExpr:
		if _, isTraversal := e.Wrapped.(*hclsyntax.ScopeTraversalExpr); !isTraversal {
			e.Wrapped = in.expr(e.Wrapped)
		}
	case *hclsyntax.IndexExpr:
		e.Collection = in.expr(e.Collection)
		e.Key = in.expr(e.Key)
	case *hclsyntax.RelativeTraversalExpr:
		e.Source = in.expr(e.Source)
	}
	return e
}

// wrapFunc makes f charge the budget and refuse results over the limits;
// pre, when set, refuses arguments whose result would be too large before f
// runs.
func (b *budget) wrapFunc(f function.Function, pre func(args []cty.Value) error) function.Function {
	return b.wrapFuncMeasuring(f, pre, false)
}

// wrapFuncMeasuring is wrapFunc; with byArgs, the arguments are measured
// instead of the result, which is no larger (conversions, set functions):
// iterating a set sorts it, which is slow for a large one.
func (b *budget) wrapFuncMeasuring(f function.Function, pre func(args []cty.Value) error, byArgs bool) function.Function {
	// The wrapper lets marked values through to f, which handles them: a
	// second unmarking would walk every argument again. Its type is f's,
	// except when every argument is known, where f is called and decides:
	// computing a type twice (concat of a large tuple) is costly too.
	params := f.Params()
	for i := range params {
		params[i].AllowMarked = true
	}
	var varParam *function.Parameter
	if vp := f.VarParam(); vp != nil {
		p := *vp
		p.AllowMarked = true
		varParam = &p
	}
	return function.New(&function.Spec{
		Description: f.Description(),
		Params:      params,
		VarParam:    varParam,
		Type: func(args []cty.Value) (cty.Type, error) {
			for _, a := range args {
				if !a.IsKnown() {
					return f.ReturnTypeForValues(args)
				}
			}
			return cty.DynamicPseudoType, nil
		},
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			var n int64 = costCall
			for _, a := range args {
				n += shallow(a)
			}
			if err := b.charge(n); err != nil {
				return cty.NilVal, err
			}
			if pre != nil {
				if err := pre(args); err != nil {
					return cty.NilVal, err
				}
			}
			v, err := f.Call(args)
			if err != nil {
				return v, err
			}
			if byArgs {
				var total int64
				for _, a := range args {
					size, cost, err := measure(a, b.limits.MaxValueBytes, b.limits.MaxDepth)
					if err != nil {
						return cty.NilVal, err
					}
					if err := b.charge(cost); err != nil {
						return cty.NilVal, err
					}
					total += size
				}
				if total > b.limits.MaxValueBytes {
					return cty.NilVal, b.sizeError(total)
				}
				return v, nil
			}
			if err := b.check(v); err != nil {
				return cty.NilVal, err
			}
			return v, nil
		},
	})
}

// rewriteLimitDiags turns the "Error in function call" diagnostics of a
// limit into ones that name it, drops the instrumentation's function names,
// and keeps one max_eval_steps error: once the budget is spent, every
// evaluation fails with it.
func rewriteLimitDiags(diags hcl.Diagnostics, seenSteps *bool) hcl.Diagnostics {
	out := diags[:0]
	type key struct {
		name string
		rng  hcl.Range
	}
	seen := map[key]bool{}
	for _, d := range diags {
		if x, ok := d.Extra.(hclsyntax.FunctionCallDiagExtra); ok {
			var le *LimitError
			if err := x.FunctionCallError(); err != nil && errors.As(err, &le) {
				if le.Name == "max_eval_steps" {
					if *seenSteps {
						continue
					}
					*seenSteps = true
				}
				// Every iteration of a for over a limit fails alike.
				k := key{name: le.Name}
				if d.Subject != nil {
					k.rng = *d.Subject
				}
				if seen[k] {
					continue
				}
				seen[k] = true
				nd := *d
				nd.Summary = "Over the limit " + le.Name
				nd.Detail = le.Error()
				nd.Extra = nil
				d = &nd
			}
		}
		if strings.Contains(d.Detail, `"satellite `) {
			nd := *d
			for _, n := range []string{fnForColl, fnForItem, fnForCond, fnTmplFirst, fnTmplPart, fnSplat} {
				nd.Detail = strings.ReplaceAll(nd.Detail, `"`+n+`"`, "(satellite's limits)")
			}
			d = &nd
		}
		out = append(out, d)
	}
	return out
}

// LimitDiagnostics rewrites the diagnostics of limits reached during
// evaluation so that they name the limit; engine.Compile runs its
// diagnostics through it. A spent budget that no diagnostic reported (an
// error swallowed by try()) is reported here, once.
func (c *Config) LimitDiagnostics(diags hcl.Diagnostics) hcl.Diagnostics {
	if c.budget == nil {
		var seen bool
		return rewriteLimitDiags(diags, &seen)
	}
	diags = rewriteLimitDiags(diags, &c.budget.stepsReported)
	if c.budget.exhausted != nil && !c.budget.stepsReported {
		c.budget.stepsReported = true
		diags = append(diags, errDiag("Over the limit max_eval_steps", c.budget.exhausted.Error(), nil))
	}
	return diags
}

// EndLoad disarms the evaluation budget: a loaded and compiled config is
// evaluated again only by a running agent (asserts), where each value is
// still bounded by max_value_bytes but no steps are counted.
func (c *Config) EndLoad() {
	if c.budget != nil {
		c.budget.armed.Store(false)
	}
}

// StepsUsed returns the evaluation steps the load has taken so far.
func (c *Config) StepsUsed() int64 {
	if c.budget == nil {
		return 0
	}
	return c.budget.steps
}

// CheckValue charges the budget for a value the engine built (a check's
// decoded body) and refuses one over max_value_bytes or max_depth, so that
// what every instance of a check copies adds up to the budget.
func (c *Config) CheckValue(v cty.Value) error {
	if c.budget == nil {
		return nil
	}
	return c.budget.check(v)
}

// LimitDiagnostic is the diagnostic of an error from CheckValue at rng.
func LimitDiagnostic(err error, rng *hcl.Range) *hcl.Diagnostic { return limitDiag(err, rng) }

// LimitHint tells how to raise the limit called name.
func LimitHint(name string) string { return limitHint(name) }
