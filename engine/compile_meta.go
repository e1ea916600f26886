package engine

import (
	"time"

	"github.com/hashicorp/hcl/v2"
)

// A metaArg is one meta-argument of check blocks: an argument the engine
// reads itself, whatever the check's type. Everything about it is its entry
// in checkMetaArgs, so adding one (a future `notify = [notifier.T.N]`, say)
// is one entry here plus a fixture under testdata/ (and the Check field it
// fills, if it is a new setting):
//
//   - name puts it in the check schema, so splitBody keeps it from the
//     type's body (and TypeBody from the type tests');
//   - defaults puts it in the defaults block's schema too: decode then runs
//     on the template every check instance starts from, so a value set in
//     defaults is every check's default, and the check's own decode, run on
//     the instance, overrides (or, for labels, merges over) it;
//   - init sets the built-in default on that template;
//   - decode reads the attribute, validates it and writes the Check; the
//     same function serves defaults and checks, so a rule is written once;
//   - finish runs on every instance once all its meta-arguments are decoded,
//     with the check's own attribute (nil when the check does not set it):
//     derived values and rules across arguments, such as timeout < interval;
//   - resolve runs on every instance once every check is declared: it turns
//     references kept by decode into addresses;
//   - fingerprint writes the evaluated setting into the check's fingerprint,
//     so that a reload tells a changed check from an unchanged one.
//
// An instance is a shallow copy of the template, with Labels cloned: decode
// may change Labels in place, and must replace any other map or slice it
// changes. The entries run in the table's order; the fingerprint depends on
// it.
type metaArg struct {
	name        string
	defaults    bool
	init        func(ch *Check)
	decode      func(c *compiler, ch *Check, a *hcl.Attribute, ctx *hcl.EvalContext)
	finish      func(c *compiler, ch *Check, own *hcl.Attribute)
	resolve     func(c *compiler, ch *Check)
	fingerprint func(fp *fingerprinter, ch *Check)
}

var checkMetaArgs = []metaArg{
	{
		// interval and timeout: the scheduling rules, for defaults and checks alike.
		name: "interval", defaults: true,
		init: func(ch *Check) { ch.Interval = DefaultInterval },
		decode: func(c *compiler, ch *Check, a *hcl.Attribute, ctx *hcl.EvalContext) {
			if v, ok := c.eval(a, ctx).Duration(); ok {
				if v < time.Second {
					c.errf(a.Expr.Range().Ptr(), "Interval too short", "The interval must be at least 1s, not %s.", v)
				}
				ch.Interval = v
			}
		},
		finish: func(c *compiler, ch *Check, own *hcl.Attribute) {
			if own == nil && ch.Interval <= 0 {
				ch.Interval = DefaultInterval // defaults' interval was refused
			}
		},
		fingerprint: func(fp *fingerprinter, ch *Check) { fp.field(ch.Interval.String()) },
	},
	{
		// A timeout of 0 is unset: the instance derives one from its interval.
		name: "timeout", defaults: true,
		decode: func(c *compiler, ch *Check, a *hcl.Attribute, ctx *hcl.EvalContext) {
			ch.Timeout = 0 // an unknown timeout is not the default's
			if v, ok := c.eval(a, ctx).Duration(); ok {
				if v <= 0 {
					c.errf(a.Expr.Range().Ptr(), "Invalid timeout", "The timeout must be longer than zero.")
				}
				ch.Timeout = v
			}
		},
		finish: func(c *compiler, ch *Check, own *hcl.Attribute) {
			rng := ch.DeclRange.Ptr()
			switch {
			case own != nil:
				rng = own.Expr.Range().Ptr()
			case ch.Timeout == 0:
				ch.Timeout = min(DefaultTimeout, ch.Interval/2)
			}
			if ch.Timeout >= ch.Interval && ch.Interval > 0 && ch.Timeout > 0 {
				c.errf(rng, "Timeout not shorter than interval",
					"The timeout (%s) must be shorter than the interval (%s), so that a run ends before the next one is due.", ch.Timeout, ch.Interval)
			}
		},
		fingerprint: func(fp *fingerprinter, ch *Check) { fp.field(ch.Timeout.String()) },
	},
	{
		name: "only_on",
		decode: func(c *compiler, ch *Check, a *hcl.Attribute, ctx *hcl.EvalContext) {
			if m, ok := c.eval(a, ctx).StringMap(); ok {
				ch.OnlyOn = m
				if len(m) == 0 {
					c.warnf(a.Expr.Range().Ptr(), "Empty only_on", "only_on = {} matches every node; remove it, or list the tags a node needs.")
				}
			}
		},
		finish: func(c *compiler, ch *Check, _ *hcl.Attribute) {
			ch.Runs = matches(ch.OnlyOn, c.cfg.Node.Tags)
		},
		fingerprint: func(fp *fingerprinter, ch *Check) { fp.sortedMap(ch.OnlyOn) },
	},
	{
		// The check's labels are merged over those of defaults.
		name: "labels", defaults: true,
		init: func(ch *Check) { ch.Labels = map[string]string{} },
		decode: func(c *compiler, ch *Check, a *hcl.Attribute, ctx *hcl.EvalContext) {
			if m, ok := c.eval(a, ctx).NonSensitiveStringMap("labels are the tags of every result in the sinks (InfluxDB tags, Prometheus labels) and are shown by the API"); ok {
				for k, v := range m {
					ch.Labels[k] = v
				}
			}
		},
		fingerprint: func(fp *fingerprinter, ch *Check) { fp.sortedMap(ch.Labels) },
	},
	{
		name: "failures_before_critical", defaults: true,
		init: func(ch *Check) { ch.FailuresBeforeCritical = 1 },
		decode: func(c *compiler, ch *Check, a *hcl.Attribute, ctx *hcl.EvalContext) {
			ch.FailuresBeforeCritical = c.runCount(a, ctx, ch.FailuresBeforeCritical)
		},
		fingerprint: func(fp *fingerprinter, ch *Check) { fp.int(ch.FailuresBeforeCritical) },
	},
	{
		name: "successes_before_passing", defaults: true,
		init: func(ch *Check) { ch.SuccessesBeforePassing = 1 },
		decode: func(c *compiler, ch *Check, a *hcl.Attribute, ctx *hcl.EvalContext) {
			ch.SuccessesBeforePassing = c.runCount(a, ctx, ch.SuccessesBeforePassing)
		},
		fingerprint: func(fp *fingerprinter, ch *Check) { fp.int(ch.SuccessesBeforePassing) },
	},
	{
		// References, resolved in compile_refs.go once every check is declared.
		name:    "depends_on",
		decode:  func(c *compiler, ch *Check, a *hcl.Attribute, _ *hcl.EvalContext) { ch.deps = c.depRefs(a) },
		resolve: (*compiler).resolveDeps,
		fingerprint: func(fp *fingerprinter, ch *Check) {
			for _, d := range ch.DependsOn {
				fp.field(d)
			}
			fp.field("")
		},
	},
	{
		// Unset, a check's results go to every sink (Sinks nil); set, to the
		// ones listed, none for [].
		name: "sinks", defaults: true,
		decode: func(c *compiler, ch *Check, a *hcl.Attribute, _ *hcl.EvalContext) {
			ch.sinkRefs = c.blockRefList(a, "sink")
			ch.Sinks = []string{}
		},
		resolve: (*compiler).resolveSinks,
		fingerprint: func(fp *fingerprinter, ch *Check) {
			if ch.Sinks == nil {
				fp.field("*")
			}
			for _, s := range ch.Sinks {
				fp.field(s)
			}
			fp.field("")
		},
	},
	{
		// Unset, a check notifies nobody (Notify nil); defaults may route
		// every check.
		name: "notify", defaults: true,
		decode: func(c *compiler, ch *Check, a *hcl.Attribute, _ *hcl.EvalContext) {
			ch.notifyRefs = c.blockRefList(a, "notifier")
			ch.Notify = nil
		},
		resolve: (*compiler).resolveNotify,
		fingerprint: func(fp *fingerprinter, ch *Check) {
			for _, s := range ch.Notify {
				fp.field(s)
			}
			fp.field("")
		},
	},
}

// runCount reads a number of runs (at least 1, at most 100); def is kept
// when the value is refused or unknown.
func (c *compiler) runCount(a *hcl.Attribute, ctx *hcl.EvalContext, def int) int {
	n, ok := c.eval(a, ctx).Int()
	if !ok {
		return def
	}
	if n < 1 || n > 100 {
		c.errf(a.Expr.Range().Ptr(), "Invalid "+a.Name, "%s must be between 1 and 100, not %d.", a.Name, n)
		return def
	}
	return int(n)
}

// matches reports whether a node with tags satisfies only_on.
func matches(onlyOn, tags map[string]string) bool {
	for k, v := range onlyOn {
		if tags[k] != v {
			return false
		}
	}
	return true
}

// metaArgNames returns the names of the check meta-arguments; with
// defaultsOnly, those the defaults block may set.
func metaArgNames(defaultsOnly bool) []string {
	var out []string
	for _, m := range checkMetaArgs {
		if m.defaults || !defaultsOnly {
			out = append(out, m.name)
		}
	}
	return out
}

// newInstance starts a check instance from the template.
func (c *compiler) newInstance() *Check {
	ch := new(Check)
	*ch = *c.template
	labels := make(map[string]string, len(c.template.Labels))
	for k, v := range c.template.Labels {
		labels[k] = v
	}
	ch.Labels = labels
	return ch
}

// decodeMeta decodes the check meta-arguments of an instance, then finishes
// them.
func (c *compiler) decodeMeta(ch *Check, meta *hcl.BodyContent, ctx *hcl.EvalContext) {
	for i := range checkMetaArgs {
		m := &checkMetaArgs[i]
		if a, ok := meta.Attributes[m.name]; ok {
			m.decode(c, ch, a, ctx)
		}
	}
	for i := range checkMetaArgs {
		m := &checkMetaArgs[i]
		if m.finish != nil {
			m.finish(c, ch, meta.Attributes[m.name])
		}
	}
}
