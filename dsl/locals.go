package dsl

import (
	"fmt"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
)

type local struct {
	attr *hcl.Attribute
	dir  string
	deps []string
	// whole: the expression reads `local` as a whole (local, local["x"]).
	whole bool
}

// locals evaluates every local in dependency order; a cycle is an error
// that names each local in it.
func (l *loader) locals() {
	all := map[string]*local{}
	for _, fb := range l.blocks["locals"] {
		attrs, diags := fb.block.Body.JustAttributes()
		l.diags = append(l.diags, diags...)
		for name, a := range attrs {
			if prev, dup := all[name]; dup {
				l.diags = append(l.diags, errDiag("Duplicate local",
					fmt.Sprintf("A local named %q was already defined at %s.", name, rangeString(prev.attr.NameRange)),
					a.NameRange.Ptr()))
				continue
			}
			lc := &local{attr: a, dir: fb.dir}
			for _, tr := range a.Expr.Variables() {
				if tr.RootName() != "local" {
					continue
				}
				if len(tr) < 2 {
					lc.whole = true
					continue
				}
				if step, ok := tr[1].(hcl.TraverseAttr); ok {
					lc.deps = append(lc.deps, step.Name)
				} else {
					lc.whole = true
				}
			}
			all[name] = lc
		}
	}
	names := make([]string, 0, len(all))
	for n := range all {
		names = append(names, n)
	}
	sort.Strings(names)

	// Depth-first topological order; a grey node met again closes a cycle.
	const (
		white = iota
		grey
		black
	)
	color := map[string]int{}
	var order []string
	var stack []string
	var visit func(n string)
	visit = func(n string) {
		color[n] = grey
		stack = append(stack, n)
		for _, dep := range all[n].deps {
			if _, ok := all[dep]; !ok {
				continue // an unknown local: evaluation says so, with a suggestion
			}
			switch color[dep] {
			case white:
				visit(dep)
			case grey:
				i := len(stack) - 1
				for stack[i] != dep {
					i--
				}
				cycle := append(append([]string(nil), stack[i:]...), dep)
				for j := range cycle {
					cycle[j] = "local." + cycle[j]
				}
				l.diags = append(l.diags, errDiag("Cycle among locals",
					fmt.Sprintf("These locals refer to each other in a circle, so none of them can be evaluated: %s.", strings.Join(cycle, " → ")),
					all[dep].attr.NameRange.Ptr()))
				for _, c := range stack[i:] {
					l.cfg.locals[c] = cty.DynamicVal
				}
			}
		}
		stack = stack[:len(stack)-1]
		color[n] = black
		order = append(order, n)
	}
	for _, n := range names {
		if color[n] == white {
			visit(n)
		}
	}

	l.cfg.base = &hcl.EvalContext{
		Variables: map[string]cty.Value{
			"var":  l.varsObject(),
			"node": l.cfg.nodeValue(),
		},
		Functions: l.cfg.fe.functions("."),
	}
	for _, n := range order {
		if _, failed := l.cfg.locals[n]; failed {
			continue
		}
		lc := all[n]
		ctx := l.cfg.EvalContext(lc.dir)
		ctx.Variables = map[string]cty.Value{"local": l.localsFor(lc, all)}
		v, diags := lc.attr.Expr.Value(ctx)
		l.diags = append(l.diags, diags...)
		if diags.HasErrors() {
			v = cty.DynamicVal
		} else if v.Type().IsSetType() {
			// Only functions build sets, and their wrappers measured it;
			// measuring again would sort it again (cty sorts a set to
			// iterate it), a second per 100,000 elements.
		} else if err := l.budget.check(v); err != nil {
			l.diags = append(l.diags, limitDiag(err, lc.attr.Expr.Range().Ptr()))
			v = cty.DynamicVal
		}
		l.cfg.locals[n] = v
	}
	l.cfg.base.Variables["local"] = cty.ObjectVal(l.cfg.locals)
}

// localsFor is `local` for evaluating lc: only the locals it refers to, so
// that evaluating n locals takes time linear in n, not quadratic (an object
// of every local per local: 20,000 locals took more than a minute). When it
// refers to a local that does not exist, it gets every local, for the
// error's suggestion.
func (l *loader) localsFor(lc *local, all map[string]*local) cty.Value {
	if lc.whole {
		return cty.ObjectVal(l.cfg.locals)
	}
	m := make(map[string]cty.Value, len(lc.deps))
	for _, d := range lc.deps {
		v, ok := l.cfg.locals[d]
		if !ok {
			if _, declared := all[d]; declared {
				continue // not evaluated: a cycle, reported
			}
			return cty.ObjectVal(l.cfg.locals)
		}
		m[d] = v
	}
	return cty.ObjectVal(m)
}
