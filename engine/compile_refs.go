package engine

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
)

// References are decoded with the check (depends_on, sinks) as static
// traversals, kept on the Check, and resolved here once every check is
// declared: then the dependency graph is ordered and its cycles reported.

// maxCycleReports bounds the cycle errors: a badly tangled config has more
// cycles than anybody reads.
const maxCycleReports = 5

// depRef is a depends_on entry: check.TYPE.NAME, optionally ["key"].
type depRef struct {
	typ, name string
	key       *string
	rng       hcl.Range
}

// sinkRef is a sinks or notify entry: sink.TYPE.NAME, notifier.TYPE.NAME.
type sinkRef struct {
	addr string
	rng  hcl.Range
}

// depRefs reads depends_on: a list of static references check.TYPE.NAME,
// optionally with a literal ["key"].
func (c *compiler) depRefs(a *hcl.Attribute) []depRef {
	exprs, diags := hcl.ExprList(a.Expr)
	if diags.HasErrors() {
		c.errf(a.Expr.Range().Ptr(), "Invalid depends_on", "depends_on must be a list of check references, such as [check.tcp.etcd].")
		return nil
	}
	var out []depRef
	for _, e := range exprs {
		rng := e.Range()
		tr, diags := hcl.AbsTraversalForExpr(e)
		if diags.HasErrors() {
			if computedIndex(e) {
				c.errf(&rng, "Computed index in depends_on",
					"depends_on needs static references: an index computed from each.key or another expression cannot be resolved before the checks exist. Write the key as a literal, such as check.tcp.port[\"kubelet\"], or depend on the whole check, check.tcp.port.")
			} else {
				c.errf(&rng, "Invalid depends_on reference", "Each element must be a reference to a check, such as check.tcp.etcd or check.tcp.port[\"kubelet\"].")
			}
			continue
		}
		ref, ok := parseCheckRef(tr)
		if !ok {
			c.errf(&rng, "Invalid depends_on reference", "Each element must be a reference to a check, such as check.tcp.etcd or check.tcp.port[\"kubelet\"].")
			continue
		}
		ref.rng = rng
		out = append(out, ref)
	}
	return out
}

// computedIndex reports whether an expression is a reference with a
// non-literal index.
func computedIndex(e hcl.Expression) bool {
	for _, v := range e.Variables() {
		if v.RootName() != "check" {
			return true
		}
	}
	return false
}

func parseCheckRef(tr hcl.Traversal) (depRef, bool) {
	if len(tr) < 3 || len(tr) > 4 || tr.RootName() != "check" {
		return depRef{}, false
	}
	t, ok1 := tr[1].(hcl.TraverseAttr)
	n, ok2 := tr[2].(hcl.TraverseAttr)
	if !ok1 || !ok2 {
		return depRef{}, false
	}
	ref := depRef{typ: t.Name, name: n.Name}
	if len(tr) == 4 {
		idx, ok := tr[3].(hcl.TraverseIndex)
		if !ok || idx.Key.Type() != cty.String || !idx.Key.IsKnown() || idx.Key.IsNull() {
			return depRef{}, false
		}
		k := idx.Key.AsString()
		ref.key = &k
	}
	return ref, true
}

// blockRefList reads a list of static references ROOT.TYPE.NAME (sinks
// = [sink.influxdb.tsdb], notify = [notifier.slack.ops]); what names the
// attribute's values in the errors ("sink", "notifier").
func (c *compiler) blockRefList(a *hcl.Attribute, root string) []sinkRef {
	example := map[string]string{"sink": "sink.influxdb.tsdb", "notifier": "notifier.slack.ops"}[root]
	exprs, diags := hcl.ExprList(a.Expr)
	if diags.HasErrors() {
		c.errf(a.Expr.Range().Ptr(), "Invalid "+a.Name, "%s must be a list of %s references, such as [%s].", a.Name, root, example)
		return nil
	}
	var out []sinkRef
	for _, e := range exprs {
		rng := e.Range()
		tr, diags := hcl.AbsTraversalForExpr(e)
		var t, n hcl.TraverseAttr
		ok := !diags.HasErrors() && len(tr) == 3 && tr.RootName() == root
		if ok {
			var ok1, ok2 bool
			t, ok1 = tr[1].(hcl.TraverseAttr)
			n, ok2 = tr[2].(hcl.TraverseAttr)
			ok = ok1 && ok2
		}
		if !ok {
			c.errf(&rng, "Invalid "+root+" reference", "Each element must be a reference to a %s, such as %s.", root, example)
			continue
		}
		out = append(out, sinkRef{addr: t.Name + "." + n.Name, rng: rng})
	}
	return out
}

// refIndex is what references may name, built once for the resolve phase.
type refIndex struct {
	sinkAddrs, notifierAddrs map[string]bool
	// sinkList, notifierList and blockList are the candidates for "did you
	// mean".
	sinkList, notifierList, blockList []string
	// reported keeps one error per reference, not one per instance.
	reported map[hcl.Range]bool
}

// resolve turns every instance's references into addresses and reports the
// ones that point nowhere: each meta-argument's resolve, in table order.
func (c *compiler) resolve() {
	ix := &refIndex{sinkAddrs: map[string]bool{}, notifierAddrs: map[string]bool{}, reported: map[hcl.Range]bool{}}
	for _, n := range c.plan.Notifiers {
		ix.notifierAddrs[n.Address] = true
		ix.notifierList = append(ix.notifierList, "notifier."+n.Address)
	}
	for _, rb := range c.cfg.Sinks {
		a := rb.Type + "." + rb.Name
		if !ix.sinkAddrs[a] {
			ix.sinkAddrs[a] = true
			ix.sinkList = append(ix.sinkList, "sink."+a)
		}
	}
	for b := range c.byBlock {
		ix.blockList = append(ix.blockList, "check."+b)
	}
	c.refs = ix
	for _, ch := range c.allInstances() {
		for i := range checkMetaArgs {
			if r := checkMetaArgs[i].resolve; r != nil {
				r(c, ch)
			}
		}
	}
}

// reportRef records an error about a reference once, whichever instance holds it.
func (c *compiler) reportRef(rng hcl.Range, summary, format string, args ...any) {
	if !c.refs.reported[rng] {
		c.refs.reported[rng] = true
		c.errf(rng.Ptr(), summary, format, args...)
	}
}

// resolveSinks resolves an instance's sinks references into ch.Sinks.
func (c *compiler) resolveSinks(ch *Check) {
	for _, r := range ch.sinkRefs {
		if !c.refs.sinkAddrs[r.addr] {
			c.reportRef(r.rng, "Reference to undeclared sink", "No sink %s is declared.%s", "sink."+r.addr, didYouMean("sink."+r.addr, c.refs.sinkList))
			continue
		}
		ch.Sinks = append(ch.Sinks, r.addr)
	}
	ch.Sinks = dedupeKeepNil(ch.Sinks)
}

// resolveNotify resolves an instance's notify references into ch.Notify.
func (c *compiler) resolveNotify(ch *Check) {
	for _, r := range ch.notifyRefs {
		if !c.refs.notifierAddrs[r.addr] {
			c.reportRef(r.rng, "Reference to undeclared notifier", "No notifier %s is declared.%s", "notifier."+r.addr, didYouMean("notifier."+r.addr, c.refs.notifierList))
			continue
		}
		ch.Notify = append(ch.Notify, r.addr)
	}
	ch.Notify = dedupeKeepNil(ch.Notify)
}

// resolveDeps resolves an instance's depends_on into ch.DependsOn: a whole
// block stands for every known instance of it.
func (c *compiler) resolveDeps(ch *Check) {
	for _, r := range ch.deps {
		blockAddr := r.typ + "." + r.name
		insts, ok := c.byBlock[blockAddr]
		if !ok {
			c.reportRef(r.rng, "Reference to undeclared check", "No check %s is declared.%s", "check."+blockAddr, didYouMean("check."+blockAddr, c.refs.blockList))
			continue
		}
		if r.key == nil && blockAddr == ch.Type+"."+ch.Name {
			c.reportRef(r.rng, "Dependency cycle", "check.%s depends on itself (%s → %s): a check, or every instance of a for_each check, cannot depend on its own block.", blockAddr, blockAddr, blockAddr)
			continue
		}
		if r.key == nil {
			for _, in := range insts {
				if in.inPlan {
					ch.DependsOn = append(ch.DependsOn, in.Address)
				}
			}
			continue
		}
		if !c.forEachBlocks[blockAddr] {
			c.reportRef(r.rng, "Index into a single check", "check.%s has no for_each, so it cannot be indexed; write check.%s.", blockAddr, blockAddr)
			continue
		}
		if c.forEachUnknown[blockAddr] {
			continue
		}
		want := fmt.Sprintf("%s[%s]", blockAddr, strconv.Quote(*r.key))
		found := false
		var keys []string
		for _, in := range insts {
			keys = append(keys, in.Key)
			if in.Address == want {
				found = true
			}
		}
		if !found {
			c.reportRef(r.rng, "Reference to undeclared check", "check.%s has no instance %q.%s Its keys: %s.", blockAddr, *r.key, didYouMean(*r.key, keys), strings.Join(keys, ", "))
			continue
		}
		ch.DependsOn = append(ch.DependsOn, want)
	}
	ch.DependsOn = dedupe(ch.DependsOn)
}

// allInstances returns every instance, the placeholders of unknown for_each
// included, by address.
func (c *compiler) allInstances() []*Check {
	var out []*Check
	for _, insts := range c.byBlock {
		out = append(out, insts...)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Address < out[j].Address })
	return out
}

func dedupe(s []string) []string {
	if len(s) < 2 {
		return s
	}
	seen := map[string]bool{}
	out := s[:0]
	for _, v := range s {
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out
}

func dedupeKeepNil(s []string) []string {
	if s == nil {
		return nil
	}
	return dedupe(s)
}

// order sorts the plan's checks so dependencies come first, and reports
// every cycle with all the checks in it.
func (c *compiler) order() {
	byAddr := map[string]*Check{}
	addrs := make([]string, 0, len(c.plan.Checks))
	for _, ch := range c.plan.Checks {
		byAddr[ch.Address] = ch
		addrs = append(addrs, ch.Address)
	}
	sort.Strings(addrs)
	const (
		white = iota
		grey
		black
	)
	color := map[string]int{}
	var stack []string
	ordered := make([]*Check, 0, len(addrs))
	reported := map[string]bool{}
	more := 0
	var visit func(a string)
	visit = func(a string) {
		color[a] = grey
		stack = append(stack, a)
		ch := byAddr[a]
		for _, dep := range ch.DependsOn {
			if _, ok := byAddr[dep]; !ok {
				continue
			}
			switch color[dep] {
			case white:
				visit(dep)
			case grey:
				if len(reported) >= maxCycleReports {
					more++ // past the cap: count, without building the cycle
					continue
				}
				i := len(stack) - 1
				for stack[i] != dep {
					i--
				}
				cycle := append([]string(nil), stack[i:]...)
				key := cycleKey(cycle)
				if !reported[key] {
					reported[key] = true
					names := append(append([]string(nil), cycle...), dep)
					first := byAddr[cycle[0]]
					next := dep
					if len(cycle) > 1 {
						next = cycle[1]
					}
					c.errf(refTo(first, byAddr[next]), "Dependency cycle",
						"These checks depend on each other in a circle, so none of them could ever run: %s. Remove one of the depends_on entries.", strings.Join(names, " → "))
				}
			}
		}
		stack = stack[:len(stack)-1]
		color[a] = black
		ordered = append(ordered, ch)
	}
	for _, a := range addrs {
		if color[a] == white {
			visit(a)
		}
	}
	if more > 0 {
		c.errf(nil, "More dependency cycles", "%d more dependencies close a cycle; fix the cycles above and validate again.", more)
	}
	c.plan.Checks = ordered
}

func cycleKey(cycle []string) string {
	s := append([]string(nil), cycle...)
	sort.Strings(s)
	return strings.Join(s, "\x00")
}

// refTo returns the range of the depends_on entry of ch that names target.
func refTo(ch, target *Check) *hcl.Range {
	for _, r := range ch.deps {
		if r.typ == target.Type && r.name == target.Name && (r.key == nil || *r.key == target.Key) {
			rr := r.rng
			return &rr
		}
	}
	return ch.DeclRange.Ptr()
}

// warnDependencies warns where a dependency may not run on a node that runs
// its dependent: there the dependency is ignored.
func (c *compiler) warnDependencies() {
	byAddr := map[string]*Check{}
	for _, ch := range c.plan.Checks {
		byAddr[ch.Address] = ch
	}
	warned := map[string]bool{}
	for _, ch := range c.plan.Checks {
		for _, dep := range ch.DependsOn {
			d := byAddr[dep]
			if d == nil {
				continue
			}
			var missing []string
			for k, v := range d.OnlyOn {
				if ch.OnlyOn[k] != v {
					missing = append(missing, fmt.Sprintf("%s = %q", k, v))
				}
			}
			if len(missing) == 0 {
				continue
			}
			sort.Strings(missing)
			key := ch.Type + "." + ch.Name + "→" + dep
			if warned[key] {
				continue
			}
			warned[key] = true
			rng := ch.DeclRange.Ptr()
			for _, r := range ch.deps {
				if strings.HasPrefix(dep, r.typ+"."+r.name) {
					rr := r.rng
					rng = &rr
					break
				}
			}
			c.warnf(rng, "Dependency may not run here",
				"%s runs only on nodes with %s, but %s does not require that, so on some nodes that run %s the dependency does not run and is ignored.",
				dep, strings.Join(missing, ", "), ch.Address, ch.Address)
		}
	}
}
