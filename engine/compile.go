package engine

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
	ctyjson "github.com/zclconf/go-cty/cty/json"

	"github.com/satellite-hq/satellite/checks"
	"github.com/satellite-hq/satellite/dsl"
	"github.com/satellite-hq/satellite/sinks"
)

// metaSchema holds the meta-arguments every check takes; the rest of the
// body belongs to the type.
var metaSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "interval"},
		{Name: "timeout"},
		{Name: "only_on"},
		{Name: "depends_on"},
		{Name: "labels"},
		{Name: "sinks"},
		{Name: "failures_before_critical"},
		{Name: "successes_before_passing"},
		{Name: "for_each"},
	},
	Blocks: []hcl.BlockHeaderSchema{
		{Type: "threshold", LabelNames: []string{"metric"}},
		{Type: "assert"},
	},
}

var defaultsSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "interval"},
		{Name: "timeout"},
		{Name: "labels"},
		{Name: "sinks"},
		{Name: "failures_before_critical"},
		{Name: "successes_before_passing"},
	},
}

var sinkMetaSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "send"},
		{Name: "batch_size"},
		{Name: "flush_interval"},
		{Name: "spool_max"},
	},
}

var thresholdSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{{Name: "warn"}, {Name: "crit"}, {Name: "direction"}},
}

var assertSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{{Name: "condition", Required: true}, {Name: "error_message"}},
}

// maxCycleReports bounds the cycle errors: a badly tangled config has more
// cycles than anybody reads.
const maxCycleReports = 5

// serfTagLimit is serf's limit on a member's encoded tags.
const serfTagLimit = 512

// reservedTagBytes is what the mesh adds to agent.tags (API address, config
// hash, version, boot ID), encoded, with room to spare.
const reservedTagBytes = 128

type compiler struct {
	cfg      *dsl.Config
	plan     *Plan
	diags    hcl.Diagnostics
	defaults checkDefaults
	// byBlock maps "TYPE.NAME" to its instances; forEachUnknown marks blocks
	// whose instances are not known (validate --unknown-env).
	byBlock        map[string][]*Check
	forEachBlocks  map[string]bool
	forEachUnknown map[string]bool
	deps           map[*Check][]depRef
	sinkRefs       map[*Check][]sinkRef
}

type checkDefaults struct {
	interval, timeout  time.Duration
	labels             map[string]string
	sinks              []sinkRef
	sinksSet           bool
	failures, recovers int
}

type depRef struct {
	typ, name string
	key       *string
	rng       hcl.Range
}

type sinkRef struct {
	addr string
	rng  hcl.Range
}

// Compile turns a loaded config into a plan for the node the config was
// evaluated for. Every check is compiled and validated whatever its only_on;
// Check.Runs tells which ones this node runs.
func Compile(cfg *dsl.Config) (*Plan, hcl.Diagnostics) {
	c := &compiler{
		cfg:            cfg,
		plan:           &Plan{Config: cfg, Node: cfg.Node, Hash: cfg.Hash},
		byBlock:        map[string][]*Check{},
		forEachBlocks:  map[string]bool{},
		forEachUnknown: map[string]bool{},
		deps:           map[*Check][]depRef{},
		sinkRefs:       map[*Check][]sinkRef{},
	}
	c.checkTags()
	c.compileSinks()
	c.compileDefaults()
	for _, rb := range cfg.Checks {
		c.compileCheck(rb)
	}
	c.resolve()
	c.order()
	c.warnDependencies()
	for _, ch := range c.plan.Checks {
		if ch.body != cty.NilVal {
			ch.Fingerprint = c.fingerprint(ch, ch.body)
		}
	}
	return c.plan, dedupeDiags(c.diags)
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

// MeshTagKeys returns the serf tags the mesh sets itself (the API address,
// the peer endpoint's port, the config hash, the version, the boot ID);
// agent tags may not use them.
func MeshTagKeys() []string { return []string{"api", "peer", "hash", "version", "boot"} }

// checkTags enforces serf's limit on encoded tags, and keeps the mesh's own
// tag keys free.
func (c *compiler) checkTags() {
	for _, k := range MeshTagKeys() {
		if _, taken := c.cfg.Agent.Tags[k]; taken {
			rng := c.cfg.Agent.TagsRange
			var subj *hcl.Range
			if rng.Filename != "" {
				subj = &rng
			}
			c.errf(subj, "Reserved tag",
				"The tag %q is set by satellite itself in the mesh (%s); give this one another name.", k, strings.Join(MeshTagKeys(), ", "))
		}
	}
	n := msgpackMapSize(c.cfg.Node.Tags) + 1 + reservedTagBytes
	if n > serfTagLimit {
		rng := c.cfg.Agent.TagsRange
		var subj *hcl.Range
		if rng.Filename != "" {
			subj = &rng
		}
		c.errf(subj, "Tags too large",
			"The node's tags take %d bytes once encoded, with %d bytes kept for the tags satellite adds itself; serf allows %d bytes in all. Use fewer or shorter tags.",
			n, reservedTagBytes, serfTagLimit)
	}
}

// msgpackMapSize is the size of a map[string]string encoded as msgpack, as
// serf encodes tags.
func msgpackMapSize(m map[string]string) int {
	str := func(s string) int {
		switch n := len(s); {
		case n < 32:
			return 1 + n
		case n < 256:
			return 2 + n
		case n < 65536:
			return 3 + n
		default:
			return 5 + n
		}
	}
	size := 1
	if len(m) >= 16 {
		size = 3
	}
	for k, v := range m {
		size += str(k) + str(v)
	}
	return size
}

// splitBody separates meta-arguments from the type's own body and reports
// unknown arguments once, with suggestions drawn from both.
func splitBody(body hcl.Body, meta *hcl.BodySchema, spec hcldec.Spec) (*hcl.BodyContent, hcl.Body, hcl.Diagnostics) {
	var diags hcl.Diagnostics
	if spec != nil {
		merged := &hcl.BodySchema{}
		merged.Attributes = append(merged.Attributes, meta.Attributes...)
		merged.Blocks = append(merged.Blocks, meta.Blocks...)
		implied := hcldec.ImpliedSchema(spec)
		for _, a := range implied.Attributes {
			a.Required = false
			merged.Attributes = append(merged.Attributes, a)
		}
		merged.Blocks = append(merged.Blocks, implied.Blocks...)
		_, d := body.Content(merged)
		for _, diag := range d {
			if strings.HasPrefix(diag.Summary, "Unsupported") || strings.HasPrefix(diag.Summary, "Duplicate") {
				diags = append(diags, diag)
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
		meta, remain, diags := splitBody(rb.Body, sinkMetaSchema, reg.Spec)
		c.diags = append(c.diags, diags...)
		s := &Sink{Address: addr, Type: rb.Type, Name: rb.Name, DeclRange: rb.DefRange,
			Send: "results", BatchSize: DefaultBatchSize, FlushInterval: DefaultFlushInterval, SpoolMax: DefaultSpoolMax}
		seen[addr] = s
		if a, ok := meta.Attributes["send"]; ok {
			if v, ok := c.evalString(a, ctx); ok {
				if v != "results" && v != "changes" {
					c.errf(a.Expr.Range().Ptr(), "Invalid send", "send must be \"results\" (every run) or \"changes\" (state changes only), not %q.", v)
				}
				s.Send = v
			}
		}
		if a, ok := meta.Attributes["batch_size"]; ok {
			if n, ok := c.evalInt(a, ctx); ok {
				if n < 1 || n > 100000 {
					c.errf(a.Expr.Range().Ptr(), "Invalid batch_size", "batch_size must be between 1 and 100000, not %d.", n)
				}
				s.BatchSize = int(n)
			}
		}
		if a, ok := meta.Attributes["flush_interval"]; ok {
			if d, ok := c.evalDuration(a, ctx); ok {
				if d <= 0 {
					c.errf(a.Expr.Range().Ptr(), "Invalid flush_interval", "flush_interval must be longer than zero.")
				}
				s.FlushInterval = d
			}
		}
		if a, ok := meta.Attributes["spool_max"]; ok {
			if v, ok := c.evalString(a, ctx); ok {
				n, err := humanize.ParseBytes(v)
				if err != nil || n == 0 || n > math.MaxInt64 {
					c.errf(a.Expr.Range().Ptr(), "Invalid spool_max", "spool_max must be a size such as \"256MiB\" or \"1GB\", not %q.", v)
				}
				s.SpoolMax = int64(min(n, math.MaxInt64))
			}
		}
		val, diags := decodeTyped(remain, reg.Spec, ctx)
		c.diags = append(c.diags, diags...)
		if diags.HasErrors() {
			continue
		}
		op, diags := reg.Build(val, sinks.Env{Body: remain, Block: rb.DefRange, BaseDir: rb.BaseDir, DataDir: c.cfg.Agent.DataDir})
		c.diags = append(c.diags, diags...)
		s.Opener = op
		c.plan.Sinks = append(c.plan.Sinks, s)
	}
	sort.SliceStable(c.plan.Sinks, func(i, j int) bool { return c.plan.Sinks[i].Address < c.plan.Sinks[j].Address })
}

func (c *compiler) compileDefaults() {
	d := &c.defaults
	d.failures, d.recovers = 1, 1
	rb := c.cfg.Defaults
	if rb == nil {
		return
	}
	content, diags := rb.Body.Content(defaultsSchema)
	c.diags = append(c.diags, diags...)
	ctx := c.cfg.EvalContext(rb.BaseDir)
	if a, ok := content.Attributes["interval"]; ok {
		if v, ok := c.evalDuration(a, ctx); ok {
			if v < time.Second {
				c.errf(a.Expr.Range().Ptr(), "Interval too short", "The interval must be at least 1s, not %s.", v)
			}
			d.interval = v
		}
	}
	if a, ok := content.Attributes["timeout"]; ok {
		if v, ok := c.evalDuration(a, ctx); ok {
			if v <= 0 {
				c.errf(a.Expr.Range().Ptr(), "Invalid timeout", "The timeout must be longer than zero.")
			}
			d.timeout = v
		}
	}
	if a, ok := content.Attributes["labels"]; ok {
		d.labels, _ = c.evalStringMap(a, ctx)
	}
	if a, ok := content.Attributes["sinks"]; ok {
		d.sinks, d.sinksSet = c.sinkRefList(a), true
	}
	if a, ok := content.Attributes["failures_before_critical"]; ok {
		d.failures = c.evalCount(a, ctx, d.failures)
	}
	if a, ok := content.Attributes["successes_before_passing"]; ok {
		d.recovers = c.evalCount(a, ctx, d.recovers)
	}
}

func (c *compiler) compileCheck(rb *dsl.RawBlock) {
	blockAddr := rb.Type + "." + rb.Name
	reg, ok := checks.Lookup(rb.Type)
	if !ok {
		c.errf(rb.TypeRange.Ptr(), "Unknown check type",
			"There is no check type %q.%s The types are: %s.", rb.Type, didYouMean(rb.Type, checks.Types()), strings.Join(checks.Types(), ", "))
		return
	}
	if prev, dup := c.byBlock[blockAddr]; dup {
		where := "elsewhere"
		if len(prev) > 0 {
			where = "at " + rangeString(prev[0].DeclRange)
		}
		c.errf(rb.NameRange.Ptr(), "Duplicate check", "A check %s was already declared %s; two checks cannot share an address.", blockAddr, where)
		return
	}
	c.byBlock[blockAddr] = nil
	meta, remain, diags := splitBody(rb.Body, metaSchema, reg.Spec)
	c.diags = append(c.diags, diags...)
	base := c.cfg.EvalContext(rb.BaseDir)

	instances := []instance{{known: true}}
	if a, ok := meta.Attributes["for_each"]; ok {
		c.forEachBlocks[blockAddr] = true
		instances = c.forEach(a, base)
		if len(instances) == 1 && !instances[0].known {
			c.forEachUnknown[blockAddr] = true
		}
	}
	for _, in := range instances {
		ctx := base
		addr := blockAddr
		if in.each != cty.NilVal {
			ctx = base.NewChild()
			ctx.Variables = map[string]cty.Value{"each": in.each}
			if in.known {
				addr = fmt.Sprintf("%s[%s]", blockAddr, strconv.Quote(in.key))
			}
		}
		ch := c.compileInstance(rb, reg, meta, remain, ctx)
		ch.Address, ch.Key = addr, in.key
		ch.evalCtx = ctx
		c.byBlock[blockAddr] = append(c.byBlock[blockAddr], ch)
		if in.known {
			ch.inPlan = true
			c.plan.Checks = append(c.plan.Checks, ch)
		}
	}
}

// instance is one for_each element; known is false when for_each itself is
// not known yet.
type instance struct {
	key   string
	each  cty.Value
	known bool
}

// forEach evaluates for_each into instances; an unknown collection yields one
// instance with unknown each.key and each.value, so the body is still checked.
func (c *compiler) forEach(a *hcl.Attribute, ctx *hcl.EvalContext) []instance {
	unknown := []instance{{each: cty.ObjectVal(map[string]cty.Value{"key": cty.UnknownVal(cty.String), "value": cty.DynamicVal})}}
	v, diags := a.Expr.Value(ctx)
	c.diags = append(c.diags, diags...)
	if diags.HasErrors() {
		return nil
	}
	v, _ = v.Unmark()
	if !v.IsWhollyKnown() {
		return unknown
	}
	if v.IsNull() {
		c.errf(a.Expr.Range().Ptr(), "Invalid for_each", "for_each must be a map or a set of strings, not null.")
		return nil
	}
	ty := v.Type()
	var out []instance
	switch {
	case ty.IsMapType() || ty.IsObjectType():
		for it := v.ElementIterator(); it.Next(); {
			k, val := it.Element()
			out = append(out, instance{key: k.AsString(), known: true,
				each: cty.ObjectVal(map[string]cty.Value{"key": k, "value": val})})
		}
	case ty.IsSetType():
		if !ty.ElementType().Equals(cty.String) {
			sv, err := convert.Convert(v, cty.Set(cty.String))
			if err != nil {
				c.errf(a.Expr.Range().Ptr(), "Invalid for_each", "for_each must be a map or a set of strings; this set has elements of type %s.", ty.ElementType().FriendlyName())
				return nil
			}
			v = sv
		}
		for it := v.ElementIterator(); it.Next(); {
			_, val := it.Element()
			if val.IsNull() {
				c.errf(a.Expr.Range().Ptr(), "Invalid for_each", "for_each must not contain null.")
				return nil
			}
			out = append(out, instance{key: val.AsString(), known: true,
				each: cty.ObjectVal(map[string]cty.Value{"key": val, "value": val})})
		}
	default:
		hint := ""
		if ty.IsListType() || ty.IsTupleType() {
			hint = " Convert a list with toset(...)."
		}
		c.errf(a.Expr.Range().Ptr(), "Invalid for_each", "for_each must be a map or a set of strings, not %s.%s", ty.FriendlyName(), hint)
		return nil
	}
	sort.Slice(out, func(i, j int) bool { return out[i].key < out[j].key })
	return out
}

func (c *compiler) compileInstance(rb *dsl.RawBlock, reg *checks.Registration, meta *hcl.BodyContent, remain hcl.Body, ctx *hcl.EvalContext) *Check {
	d := c.defaults
	ch := &Check{
		Type: rb.Type, Name: rb.Name, Registration: reg, DeclRange: rb.DefRange,
		FailuresBeforeCritical: d.failures, SuccessesBeforePassing: d.recovers,
	}
	attr := func(name string) *hcl.Attribute { return meta.Attributes[name] }

	// Interval and timeout.
	ch.Interval = DefaultInterval
	if d.interval > 0 {
		ch.Interval = d.interval
	}
	if a := attr("interval"); a != nil {
		if v, ok := c.evalDuration(a, ctx); ok {
			if v < time.Second {
				c.errf(a.Expr.Range().Ptr(), "Interval too short", "The interval must be at least 1s, not %s.", v)
			}
			ch.Interval = v
		}
	}
	timeoutRng := rb.DefRange.Ptr()
	switch {
	case attr("timeout") != nil:
		a := attr("timeout")
		timeoutRng = a.Expr.Range().Ptr()
		if v, ok := c.evalDuration(a, ctx); ok {
			if v <= 0 {
				c.errf(timeoutRng, "Invalid timeout", "The timeout must be longer than zero.")
			}
			ch.Timeout = v
		}
	case d.timeout > 0:
		ch.Timeout = d.timeout
	default:
		ch.Timeout = min(DefaultTimeout, ch.Interval/2)
	}
	if ch.Timeout >= ch.Interval && ch.Interval > 0 && ch.Timeout > 0 {
		c.errf(timeoutRng, "Timeout not shorter than interval",
			"The timeout (%s) must be shorter than the interval (%s), so that a run ends before the next one is due.", ch.Timeout, ch.Interval)
	}

	if a := attr("only_on"); a != nil {
		if m, ok := c.evalStringMap(a, ctx); ok {
			ch.OnlyOn = m
			if len(m) == 0 {
				c.warnf(a.Expr.Range().Ptr(), "Empty only_on", "only_on = {} matches every node; remove it, or list the tags a node needs.")
			}
		}
	}
	ch.Runs = matches(ch.OnlyOn, c.cfg.Node.Tags)

	if a := attr("depends_on"); a != nil {
		c.deps[ch] = c.depRefs(a)
	}

	ch.Labels = map[string]string{}
	for k, v := range d.labels {
		ch.Labels[k] = v
	}
	if a := attr("labels"); a != nil {
		if m, ok := c.evalStringMap(a, ctx); ok {
			for k, v := range m {
				ch.Labels[k] = v
			}
		}
	}
	if a := attr("sinks"); a != nil {
		c.sinkRefs[ch] = c.sinkRefList(a)
		ch.Sinks = []string{}
	} else if d.sinksSet {
		c.sinkRefs[ch] = d.sinks
		ch.Sinks = []string{}
	}
	if a := attr("failures_before_critical"); a != nil {
		ch.FailuresBeforeCritical = c.evalCount(a, ctx, ch.FailuresBeforeCritical)
	}
	if a := attr("successes_before_passing"); a != nil {
		ch.SuccessesBeforePassing = c.evalCount(a, ctx, ch.SuccessesBeforePassing)
	}

	for _, b := range meta.Blocks {
		switch b.Type {
		case "threshold":
			c.threshold(ch, reg, b, ctx)
		case "assert":
			c.assert(ch, reg, b, ctx)
		}
	}

	// The type's own body.
	val, diags := decodeTyped(remain, reg.Spec, ctx)
	c.diags = append(c.diags, diags...)
	if !diags.HasErrors() {
		checker, diags := reg.Build(val, checks.Env{
			Body: remain, Spec: reg.Spec, Block: rb.DefRange, BaseDir: rb.BaseDir,
			Agent: c.cfg.Agent,
		})
		c.diags = append(c.diags, diags...)
		ch.Checker = checker
		ch.body = val
	}
	return ch
}

func matches(onlyOn, tags map[string]string) bool {
	for k, v := range onlyOn {
		if tags[k] != v {
			return false
		}
	}
	return true
}

func (c *compiler) threshold(ch *Check, reg *checks.Registration, b *hcl.Block, ctx *hcl.EvalContext) {
	metric := b.Labels[0]
	if !reg.HasMetric(metric) {
		hint := didYouMean(metric, reg.Metrics)
		list := "none"
		if len(reg.Metrics) > 0 {
			list = strings.Join(reg.Metrics, ", ")
		}
		c.errf(b.LabelRanges[0].Ptr(), "Unknown metric", "Checks of type %q do not report a metric %q.%s Its metrics: %s.", reg.Type, metric, hint, list)
		return
	}
	for _, t := range ch.Thresholds {
		if t.Metric == metric {
			c.errf(b.LabelRanges[0].Ptr(), "Duplicate threshold", "This check already has a threshold on %q.", metric)
			return
		}
	}
	content, diags := b.Body.Content(thresholdSchema)
	c.diags = append(c.diags, diags...)
	t := Threshold{Metric: metric}
	num := func(name string) *float64 {
		a, ok := content.Attributes[name]
		if !ok {
			return nil
		}
		v, ok := c.evalNumber(a, ctx)
		if !ok {
			return nil
		}
		return &v
	}
	t.Warn, t.Crit = num("warn"), num("crit")
	if a, ok := content.Attributes["direction"]; ok {
		if v, ok := c.evalString(a, ctx); ok {
			switch v {
			case "above":
			case "below":
				t.Below = true
			default:
				c.errf(a.Expr.Range().Ptr(), "Invalid direction", "direction must be \"above\" (high values are bad, the default) or \"below\" (low values are bad), not %q.", v)
			}
		}
	}
	_, hasW := content.Attributes["warn"]
	_, hasC := content.Attributes["crit"]
	if !hasW && !hasC {
		c.errf(b.DefRange.Ptr(), "Empty threshold", "A threshold needs warn, crit or both.")
	}
	if t.Warn != nil && t.Crit != nil {
		wRng := content.Attributes["warn"].Expr.Range().Ptr()
		switch {
		case !t.Below && *t.Warn > *t.Crit:
			c.errf(wRng, "warn on the wrong side of crit",
				"With direction \"above\" high values are bad, so warn (%g) must not be above crit (%g). Swap them, or set direction = \"below\".", *t.Warn, *t.Crit)
		case t.Below && *t.Warn < *t.Crit:
			c.errf(wRng, "warn on the wrong side of crit",
				"With direction \"below\" low values are bad, so warn (%g) must not be below crit (%g). Swap them, or set direction = \"above\".", *t.Warn, *t.Crit)
		}
	}
	ch.Thresholds = append(ch.Thresholds, t)
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
		_, diags := m.Expr.Value(rctx)
		c.diags = append(c.diags, suggestResult(diags, reg)...)
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

func (c *compiler) sinkRefList(a *hcl.Attribute) []sinkRef {
	exprs, diags := hcl.ExprList(a.Expr)
	if diags.HasErrors() {
		c.errf(a.Expr.Range().Ptr(), "Invalid sinks", "sinks must be a list of sink references, such as [sink.influxdb.tsdb].")
		return nil
	}
	var out []sinkRef
	for _, e := range exprs {
		rng := e.Range()
		tr, diags := hcl.AbsTraversalForExpr(e)
		if diags.HasErrors() || len(tr) != 3 || tr.RootName() != "sink" {
			c.errf(&rng, "Invalid sink reference", "Each element must be a reference to a sink, such as sink.influxdb.tsdb.")
			continue
		}
		t, ok1 := tr[1].(hcl.TraverseAttr)
		n, ok2 := tr[2].(hcl.TraverseAttr)
		if !ok1 || !ok2 {
			c.errf(&rng, "Invalid sink reference", "Each element must be a reference to a sink, such as sink.influxdb.tsdb.")
			continue
		}
		out = append(out, sinkRef{addr: t.Name + "." + n.Name, rng: rng})
	}
	return out
}

// resolve turns references into addresses and reports the ones that point nowhere.
func (c *compiler) resolve() {
	sinkAddrs := map[string]bool{}
	var sinkList []string
	for _, rb := range c.cfg.Sinks {
		a := rb.Type + "." + rb.Name
		if !sinkAddrs[a] {
			sinkAddrs[a] = true
			sinkList = append(sinkList, "sink."+a)
		}
	}
	var blockList []string
	for b := range c.byBlock {
		blockList = append(blockList, "check."+b)
	}
	reported := map[hcl.Range]bool{}
	for _, ch := range c.allInstances() {
		for _, r := range c.sinkRefs[ch] {
			if !sinkAddrs[r.addr] {
				if !reported[r.rng] {
					reported[r.rng] = true
					c.errf(r.rng.Ptr(), "Reference to undeclared sink", "No sink %s is declared.%s", "sink."+r.addr, didYouMean("sink."+r.addr, sinkList))
				}
				continue
			}
			ch.Sinks = append(ch.Sinks, r.addr)
		}
		for _, r := range c.deps[ch] {
			blockAddr := r.typ + "." + r.name
			insts, ok := c.byBlock[blockAddr]
			if !ok {
				if !reported[r.rng] {
					reported[r.rng] = true
					c.errf(r.rng.Ptr(), "Reference to undeclared check", "No check %s is declared.%s", "check."+blockAddr, didYouMean("check."+blockAddr, blockList))
				}
				continue
			}
			if r.key == nil && blockAddr == ch.Type+"."+ch.Name {
				if !reported[r.rng] {
					reported[r.rng] = true
					c.errf(r.rng.Ptr(), "Dependency cycle", "check.%s depends on itself (%s → %s): a check, or every instance of a for_each check, cannot depend on its own block.", blockAddr, blockAddr, blockAddr)
				}
				continue
			}
			if r.key == nil {
				for _, in := range insts {
					if c.known(in) {
						ch.DependsOn = append(ch.DependsOn, in.Address)
					}
				}
				continue
			}
			if !c.forEachBlocks[blockAddr] {
				if !reported[r.rng] {
					reported[r.rng] = true
					c.errf(r.rng.Ptr(), "Index into a single check", "check.%s has no for_each, so it cannot be indexed; write check.%s.", blockAddr, blockAddr)
				}
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
				if !reported[r.rng] {
					reported[r.rng] = true
					c.errf(r.rng.Ptr(), "Reference to undeclared check", "check.%s has no instance %q.%s Its keys: %s.", blockAddr, *r.key, didYouMean(*r.key, keys), strings.Join(keys, ", "))
				}
				continue
			}
			ch.DependsOn = append(ch.DependsOn, want)
		}
		ch.DependsOn = dedupe(ch.DependsOn)
		ch.Sinks = dedupeKeepNil(ch.Sinks)
	}
}

// known reports whether an instance is in the plan (its for_each was known).
func (c *compiler) known(ch *Check) bool { return ch.inPlan }

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
					c.errf(refTo(c.deps[first], first, byAddr[next]), "Dependency cycle",
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
func refTo(refs []depRef, ch, target *Check) *hcl.Range {
	for _, r := range refs {
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
			for _, r := range c.deps[ch] {
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

// fingerprint identifies what a check does, so a reload can tell an
// unchanged check (which keeps its state) from a changed one: every
// evaluated setting and the source of its asserts, not where it sits.
func (c *compiler) fingerprint(ch *Check, body cty.Value) string {
	h := sha256.New()
	var buf []byte
	field := func(s string) {
		buf = append(buf[:0], s...)
		buf = append(buf, 0)
		h.Write(buf)
	}
	field(ch.Address)
	field(ch.Type)
	field(ch.Interval.String())
	field(ch.Timeout.String())
	sortedMap := func(m map[string]string) {
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			field(k)
			field(m[k])
		}
		field("")
	}
	sortedMap(ch.OnlyOn)
	sortedMap(ch.Labels)
	field(strconv.Itoa(ch.FailuresBeforeCritical))
	field(strconv.Itoa(ch.SuccessesBeforePassing))
	for _, d := range ch.DependsOn {
		field(d)
	}
	field("")
	if ch.Sinks == nil {
		field("*")
	}
	for _, sk := range ch.Sinks {
		field(sk)
	}
	field("")
	for _, t := range ch.Thresholds {
		fmt.Fprintf(h, "t|%s|%v|%s|%s\n", t.Metric, t.Below, fmtPtr(t.Warn), fmtPtr(t.Crit))
	}
	for _, a := range ch.Asserts {
		fmt.Fprintf(h, "a|%s|%s\n", c.source(a.Condition), c.source(a.ErrorMessage))
	}
	if body.IsWhollyKnown() {
		if b, err := ctyjson.Marshal(body, body.Type()); err == nil {
			h.Write(b)
		}
	}
	if ch.evalCtx != nil {
		if each, ok := ch.evalCtx.Variables["each"]; ok && each.IsWhollyKnown() {
			if b, err := ctyjson.Marshal(each, each.Type()); err == nil {
				h.Write(b)
			}
		}
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

func fmtPtr(f *float64) string {
	if f == nil {
		return "-"
	}
	return strconv.FormatFloat(*f, 'g', -1, 64)
}

// source is the text of an expression, "" for none.
func (c *compiler) source(e hcl.Expression) string {
	if e == nil {
		return ""
	}
	rng := e.Range()
	if f := c.cfg.Files[rng.Filename]; f != nil && rng.End.Byte <= len(f.Bytes) && rng.Start.Byte <= rng.End.Byte {
		return string(rng.SliceBytes(f.Bytes))
	}
	return ""
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

// TypeBody returns the part of a check block's body that belongs to its
// type: the body without the meta-arguments. Tests of check types use it to
// decode a body exactly as Compile does.
func TypeBody(body hcl.Body) (hcl.Body, hcl.Diagnostics) {
	_, remain, diags := body.PartialContent(metaSchema)
	return remain, diags
}
