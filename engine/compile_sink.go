package engine

import (
	"math"
	"sort"
	"strings"

	"github.com/dustin/go-humanize"
	"github.com/hashicorp/hcl/v2"

	"github.com/satellite-hq/satellite/sinks"
)

// A sinkArg is one meta-argument of sink blocks, read by the engine whatever
// the sink's type: its name (in sinkMetaSchema, so splitBody keeps it from
// the type's body) and its decoder. The defaults are newSink's.
type sinkArg struct {
	name   string
	decode func(c *compiler, s *Sink, a *hcl.Attribute, ctx *hcl.EvalContext)
}

var sinkMetaArgs = []sinkArg{
	{"send", func(c *compiler, s *Sink, a *hcl.Attribute, ctx *hcl.EvalContext) {
		if v, ok := c.eval(a, ctx).String(); ok {
			if v != "results" && v != "changes" {
				c.errf(a.Expr.Range().Ptr(), "Invalid send", "send must be \"results\" (every run) or \"changes\" (state changes only), not %q.", v)
			}
			s.Send = v
		}
	}},
	{"batch_size", func(c *compiler, s *Sink, a *hcl.Attribute, ctx *hcl.EvalContext) {
		if n, ok := c.eval(a, ctx).Int(); ok {
			if n < 1 || n > 100000 {
				c.errf(a.Expr.Range().Ptr(), "Invalid batch_size", "batch_size must be between 1 and 100000, not %d.", n)
			}
			s.BatchSize = int(n)
		}
	}},
	{"flush_interval", func(c *compiler, s *Sink, a *hcl.Attribute, ctx *hcl.EvalContext) {
		if d, ok := c.eval(a, ctx).Duration(); ok {
			if d <= 0 {
				c.errf(a.Expr.Range().Ptr(), "Invalid flush_interval", "flush_interval must be longer than zero.")
			}
			s.FlushInterval = d
		}
	}},
	{"spool_max", func(c *compiler, s *Sink, a *hcl.Attribute, ctx *hcl.EvalContext) {
		if v, ok := c.eval(a, ctx).String(); ok {
			n, err := humanize.ParseBytes(v)
			if err != nil || n == 0 || n > math.MaxInt64 {
				c.errf(a.Expr.Range().Ptr(), "Invalid spool_max", "spool_max must be a size such as \"256MiB\" or \"1GB\", not %q.", v)
			}
			s.SpoolMax = int64(min(n, math.MaxInt64))
		}
	}},
}

var sinkMetaSchema = func() *hcl.BodySchema {
	s := &hcl.BodySchema{}
	for _, m := range sinkMetaArgs {
		s.Attributes = append(s.Attributes, hcl.AttributeSchema{Name: m.name})
	}
	return s
}()

// newSink is a sink with the meta-arguments' defaults.
func newSink(addr, typ, name string, decl hcl.Range) *Sink {
	return &Sink{Address: addr, Type: typ, Name: name, DeclRange: decl,
		Send: "results", BatchSize: DefaultBatchSize, FlushInterval: DefaultFlushInterval, SpoolMax: DefaultSpoolMax}
}

// compileSinks decodes every sink block: the meta-arguments, then the type's
// body, which the type's Build turns into the sink's opener.
func (c *compiler) compileSinks() {
	seen := map[string]*Sink{}
	for _, rb := range c.cfg.Sinks {
		addr := rb.Type + "." + rb.Name
		reg, ok := sinks.Lookup(rb.Type)
		if !ok {
			c.errf(rb.TypeRange.Ptr(), "Unknown sink type",
				"There is no sink type %q.%s The types are: %s.", rb.Type, didYouMean(rb.Type, sinks.Types()), strings.Join(sinks.Types(), ", "))
			continue
		}
		if prev, dup := seen[addr]; dup {
			c.errf(rb.NameRange.Ptr(), "Duplicate sink", "A sink %s was already declared at %s.", addr, rangeString(prev.DeclRange))
			continue
		}
		ctx := c.cfg.EvalContext(rb.BaseDir)
		meta, remain, diags := c.splitBody(rb.Body, sinkMetaSchema, rb.Type, reg.Spec)
		c.diags = append(c.diags, diags...)
		s := newSink(addr, rb.Type, rb.Name, rb.DefRange)
		seen[addr] = s
		for i := range sinkMetaArgs {
			if a, ok := meta.Attributes[sinkMetaArgs[i].name]; ok {
				sinkMetaArgs[i].decode(c, s, a, ctx)
			}
		}
		val, diags := decodeTyped(remain, reg.Spec, ctx)
		c.diags = append(c.diags, diags...)
		if diags.HasErrors() {
			continue
		}
		val, _ = val.UnmarkDeep() // secrets may go to sinks (tokens); redacted by value
		op, diags := reg.Build(val, sinks.Env{Body: remain, Block: rb.DefRange, BaseDir: rb.BaseDir, DataDir: c.cfg.Agent.DataDir})
		c.diags = append(c.diags, diags...)
		s.Opener = op
		c.plan.Sinks = append(c.plan.Sinks, s)
	}
	sort.SliceStable(c.plan.Sinks, func(i, j int) bool { return c.plan.Sinks[i].Address < c.plan.Sinks[j].Address })
}
