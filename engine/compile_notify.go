package engine

import (
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/satellite-hq/satellite/notify"
)

// Notifier is a declared notifier: its type's Notifier and the engine's
// routing and timing meta-arguments (docs/notify.md).
type Notifier struct {
	// Address is TYPE.NAME.
	Address  string
	Type     string
	Name     string
	Notifier notify.Notifier
	// MinSeverity is notify.SeverityCritical (the default) or
	// notify.SeverityWarning.
	MinSeverity string
	// SendOnResolved sends recoveries (default true).
	SendOnResolved bool
	// RemindEvery resends an open problem this often; 0 (the default) never.
	RemindEvery time.Duration
	// GroupWait gathers the alerts that fire within it into one message.
	GroupWait time.Duration
	// MaxPerMinute bounds the messages sent per minute; what comes over it
	// is folded into one summary message.
	MaxPerMinute int
	DeclRange    hcl.Range
}

// Notifier defaults.
const (
	DefaultGroupWait    = 10 * time.Second
	DefaultMaxPerMinute = 10
)

// A notifierArg is one meta-argument of notifier blocks, as sinkArg.
type notifierArg struct {
	name   string
	decode func(c *compiler, n *Notifier, a *hcl.Attribute, ctx *hcl.EvalContext)
}

var notifierMetaArgs = []notifierArg{
	{"min_severity", func(c *compiler, n *Notifier, a *hcl.Attribute, ctx *hcl.EvalContext) {
		if v, ok := c.eval(a, ctx).String(); ok {
			if v != notify.SeverityWarning && v != notify.SeverityCritical {
				c.errf(a.Expr.Range().Ptr(), "Invalid min_severity", "min_severity must be \"warning\" or \"critical\", not %q.", v)
				return
			}
			n.MinSeverity = v
		}
	}},
	{"send_on_resolved", func(c *compiler, n *Notifier, a *hcl.Attribute, ctx *hcl.EvalContext) {
		if v, ok := c.eval(a, ctx).Bool(); ok {
			n.SendOnResolved = v
		}
	}},
	{"remind_every", func(c *compiler, n *Notifier, a *hcl.Attribute, ctx *hcl.EvalContext) {
		if d, ok := c.eval(a, ctx).Duration(); ok {
			if reg, _ := notify.Lookup(n.Type); reg != nil && reg.NoReminders && d > 0 {
				c.errf(a.Expr.Range().Ptr(), "Reminders not supported", "A %s notifier keeps an incident open by itself; remind_every would page again for the same incident.", n.Type)
				return
			}
			if d != 0 && d < time.Minute {
				c.errf(a.Expr.Range().Ptr(), "Invalid remind_every", "remind_every must be at least 1m (or 0 for no reminders), not %s.", d)
				return
			}
			n.RemindEvery = d
		}
	}},
	{"group_wait", func(c *compiler, n *Notifier, a *hcl.Attribute, ctx *hcl.EvalContext) {
		if d, ok := c.eval(a, ctx).Duration(); ok {
			if d < 0 || d > 10*time.Minute {
				c.errf(a.Expr.Range().Ptr(), "Invalid group_wait", "group_wait must be between 0s and 10m, not %s.", d)
				return
			}
			n.GroupWait = d
		}
	}},
	{"max_per_minute", func(c *compiler, n *Notifier, a *hcl.Attribute, ctx *hcl.EvalContext) {
		if v, ok := c.eval(a, ctx).Int(); ok {
			if v < 1 || v > 10000 {
				c.errf(a.Expr.Range().Ptr(), "Invalid max_per_minute", "max_per_minute must be between 1 and 10000, not %d.", v)
				return
			}
			n.MaxPerMinute = int(v)
		}
	}},
}

var notifierMetaSchema = func() *hcl.BodySchema {
	s := &hcl.BodySchema{}
	for _, m := range notifierMetaArgs {
		s.Attributes = append(s.Attributes, hcl.AttributeSchema{Name: m.name})
	}
	return s
}()

// compileNotifiers decodes every notifier block: the meta-arguments, then
// the type's body, which the type's Build turns into the notifier.
func (c *compiler) compileNotifiers() {
	seen := map[string]*Notifier{}
	for _, rb := range c.cfg.Notifiers {
		addr := rb.Type + "." + rb.Name
		reg, ok := notify.Lookup(rb.Type)
		if !ok {
			c.errf(rb.TypeRange.Ptr(), "Unknown notifier type",
				"There is no notifier type %q.%s The types are: %s.", rb.Type, didYouMean(rb.Type, notify.Types()), strings.Join(notify.Types(), ", "))
			continue
		}
		if prev, dup := seen[addr]; dup {
			c.errf(rb.NameRange.Ptr(), "Duplicate notifier", "A notifier %s was already declared at %s.", addr, rangeString(prev.DeclRange))
			continue
		}
		ctx := c.cfg.EvalContext(rb.BaseDir)
		meta, remain, diags := c.splitBody(rb.Body, notifierMetaSchema, rb.Type, reg.Spec)
		c.diags = append(c.diags, diags...)
		n := &Notifier{Address: addr, Type: rb.Type, Name: rb.Name, DeclRange: rb.DefRange,
			MinSeverity: notify.SeverityCritical, SendOnResolved: true, GroupWait: DefaultGroupWait, MaxPerMinute: DefaultMaxPerMinute}
		seen[addr] = n
		for i := range notifierMetaArgs {
			if a, ok := meta.Attributes[notifierMetaArgs[i].name]; ok {
				notifierMetaArgs[i].decode(c, n, a, ctx)
			}
		}
		val, diags := decodeTyped(remain, reg.Spec, ctx)
		c.diags = append(c.diags, diags...)
		if diags.HasErrors() {
			continue
		}
		val, _ = val.UnmarkDeep() // secrets go to receivers; notifiers never print them
		nt, diags := reg.Build(val, notify.Env{Body: remain, Block: rb.DefRange, BaseDir: rb.BaseDir, Address: addr})
		c.diags = append(c.diags, diags...)
		n.Notifier = nt
		c.plan.Notifiers = append(c.plan.Notifiers, n)
	}
	sort.SliceStable(c.plan.Notifiers, func(i, j int) bool { return c.plan.Notifiers[i].Address < c.plan.Notifiers[j].Address })
}

// resolveMeshNotify resolves mesh { notify = [...] } into Plan.MeshNotify.
func (c *compiler) resolveMeshNotify() {
	if c.cfg.Mesh == nil || c.cfg.Mesh.Notify == nil {
		return
	}
	for _, r := range c.blockRefList(c.cfg.Mesh.Notify, "notifier") {
		if c.plan.NotifierByAddress(r.addr) == nil {
			c.errf(r.rng.Ptr(), "Reference to undeclared notifier", "No notifier %s is declared.%s", "notifier."+r.addr, didYouMean("notifier."+r.addr, c.refs.notifierList))
			continue
		}
		c.plan.MeshNotify = append(c.plan.MeshNotify, r.addr)
	}
	c.plan.MeshNotify = dedupeKeepNil(c.plan.MeshNotify)
}

// warnUnroutedNotifiers warns about a notifier that no check routes to (on
// any node): declared, it would never send anything.
func (c *compiler) warnUnroutedNotifiers() {
	if len(c.plan.Notifiers) == 0 {
		return
	}
	routed := map[string]bool{}
	for _, a := range c.plan.MeshNotify {
		routed[a] = true
	}
	for _, ch := range c.allInstances() {
		for _, a := range ch.Notify {
			routed[a] = true
		}
	}
	for _, n := range c.plan.Notifiers {
		if !routed[n.Address] {
			c.warnf(n.DeclRange.Ptr(), "Notifier without routes", "No check routes to notifier.%s, so it will never send anything: add it to a check's notify, to notify in defaults, or (for cluster alerts) to notify in the mesh block.", n.Address)
		}
	}
}

// NotifierByAddress returns the plan's notifier with that address.
func (p *Plan) NotifierByAddress(addr string) *Notifier {
	i := sort.Search(len(p.Notifiers), func(i int) bool { return p.Notifiers[i].Address >= addr })
	if i < len(p.Notifiers) && p.Notifiers[i].Address == addr {
		return p.Notifiers[i]
	}
	return nil
}
