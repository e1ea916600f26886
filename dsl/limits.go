package dsl

import (
	"fmt"
	"math/big"
	"sort"
	"strconv"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
)

// Limits bound what loading a config may cost, so that no config (a typo, a
// generator gone wrong, a hostile commit) can crash or hang validate, or an
// agent on reload: a limit that is reached is an error at the place that
// reached it, and a node keeps its running plan.
//
// They are set in `agent { limits { ... } }`, read before anything else is
// evaluated (so only literal numbers), and can be overridden with
// `validate --limit NAME=N` (Options.Limits). The defaults were chosen from
// measurements (see the report in docs/language.md "Limits"):
//
//   - MaxDepth 256: HCL's parser and evaluator and cty recurse once per level
//     of nesting; 100,000 parentheses overflow Go's 1 GB stack (a fatal
//     error, not a panic). One level costs up to ~10 KB of stack, so 256 is
//     ~2.5 MB, and real configs nest less than 20 deep. The depth is counted
//     on the tokens before the parser runs; it can be raised up to
//     MaxDepthCeiling.
//   - MaxValueBytes 16 MiB: a value is its strings' bytes plus 8 per element,
//     number or bool; file() reads up to 4 MiB, so the limit leaves room for a
//     few files' worth of text in one value. A doubling chain of locals stops
//     at the first local over it instead of asking for terabytes.
//   - MaxChecks 100,000 check instances: compiling one costs ~20-50 µs and a
//     few KB, so the default compiles in a few seconds.
//   - MaxEvalSteps 8,000,000: a function call or a template part costs 4
//     steps, a `for` iteration 2, plus one per element of a collection and
//     per 16 bytes of string they build. Measured on a 2-CPU machine, a step
//     is up to ~1 µs of work (nested fors of templates, the worst case), so
//     a load that spends the whole budget ends within ~8 s, having built at
//     most ~128 MB of strings. A for_each of 100,000 instances with a
//     template and a function per instance takes ~2.5 million.
type Limits struct {
	MaxDepth      int64
	MaxValueBytes int64
	MaxChecks     int64
	MaxEvalSteps  int64
}

// MaxDepthCeiling is the most max_depth can be raised to: beyond it the
// parsers' recursion would need hundreds of megabytes of stack.
const MaxDepthCeiling = 4096

// DefaultLimits are the limits of a config without `agent { limits {} }`.
var DefaultLimits = Limits{
	MaxDepth:      256,
	MaxValueBytes: 16 << 20,
	MaxChecks:     100_000,
	MaxEvalSteps:  8_000_000,
}

// limitNames are the attribute names of `agent { limits {} }` and of
// `validate --limit`, in the order documented.
var limitNames = []string{"max_depth", "max_value_bytes", "max_checks", "max_eval_steps"}

func (l *Limits) field(name string) *int64 {
	switch name {
	case "max_depth":
		return &l.MaxDepth
	case "max_value_bytes":
		return &l.MaxValueBytes
	case "max_checks":
		return &l.MaxChecks
	case "max_eval_steps":
		return &l.MaxEvalSteps
	}
	return nil
}

// Get returns the limit called name (max_depth, ...), and whether it exists.
func (l Limits) Get(name string) (int64, bool) {
	p := l.field(name)
	if p == nil {
		return 0, false
	}
	return *p, true
}

// LimitNames returns the names of the limits.
func LimitNames() []string { return append([]string(nil), limitNames...) }

// ParseLimitFlags reads `--limit NAME=N` arguments into overrides.
func ParseLimitFlags(args []string) (map[string]int64, error) {
	out := map[string]int64{}
	for _, a := range args {
		name, val, ok := strings.Cut(a, "=")
		if !ok {
			return nil, fmt.Errorf("--limit must be NAME=N, such as max_checks=200000, not %q", a)
		}
		var probe Limits
		if probe.field(name) == nil {
			return nil, fmt.Errorf("--limit %s: there is no such limit; the limits are %s", name, strings.Join(limitNames, ", "))
		}
		n, err := strconv.ParseInt(val, 10, 64)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("--limit %s=%s: the value must be a whole number of at least 1", name, val)
		}
		if name == "max_depth" && n > MaxDepthCeiling {
			return nil, fmt.Errorf("--limit max_depth=%d: max_depth can be at most %d", n, MaxDepthCeiling)
		}
		out[name] = n
	}
	return out, nil
}

// limitHint tells how to raise a limit.
func limitHint(name string) string {
	return fmt.Sprintf("If the config really needs more, raise it with agent { limits { %s = N } } (or validate --limit %s=N).", name, name)
}

// LimitError is the error of a function call, `for` iteration or template
// that went over a limit.
type LimitError struct {
	Name  string // the limit: max_value_bytes, ...
	Limit int64
	What  string // what went over, as a sentence
}

func (e *LimitError) Error() string {
	return fmt.Sprintf("%s This is over the limit %s = %d. %s", e.What, e.Name, e.Limit, limitHint(e.Name))
}

var agentLimitsSchema = &hcl.BodySchema{Blocks: []hcl.BlockHeaderSchema{{Type: "limits"}}}

// readLimits reads `agent { limits {} }` of the first agent block, then
// applies the overrides. Values must be literal whole numbers: they are read
// before variables, locals and functions exist.
func (l *loader) readLimits() {
	lim := DefaultLimits
	if fb, ok := l.first("agent"); ok {
		content, _, _ := fb.block.Body.PartialContent(agentLimitsSchema)
		for i, b := range content.Blocks {
			if i > 0 {
				l.diags = append(l.diags, errDiag("Duplicate limits block",
					fmt.Sprintf("The agent block takes one limits block; the first is at %s.", rangeString(content.Blocks[0].DefRange)),
					b.DefRange.Ptr()))
				continue
			}
			attrs, diags := b.Body.JustAttributes()
			l.diags = append(l.diags, diags...)
			names := make([]string, 0, len(attrs))
			for n := range attrs {
				names = append(names, n)
			}
			sort.Strings(names)
			for _, n := range names {
				a := attrs[n]
				p := lim.field(n)
				if p == nil {
					l.diags = append(l.diags, errDiag("Unsupported limit",
						fmt.Sprintf("There is no limit %q.%s The limits are %s.", n, suggestIn(n, limitNames, " Did you mean %q?"), strings.Join(limitNames, ", ")),
						a.NameRange.Ptr()))
					continue
				}
				v, d := a.Expr.Value(nil)
				if d.HasErrors() || v.Type() != cty.Number || v.IsNull() || !v.IsKnown() {
					l.diags = append(l.diags, errDiag("Invalid limit",
						fmt.Sprintf("%s must be a literal whole number: limits are read before variables, locals and functions.", n),
						a.Expr.Range().Ptr()))
					continue
				}
				bf := v.AsBigFloat()
				i, acc := bf.Int64()
				if !bf.IsInt() || acc != big.Exact || i < 1 {
					l.diags = append(l.diags, errDiag("Invalid limit", fmt.Sprintf("%s must be a whole number of at least 1.", n), a.Expr.Range().Ptr()))
					continue
				}
				if n == "max_depth" && i > MaxDepthCeiling {
					l.diags = append(l.diags, errDiag("Invalid limit", fmt.Sprintf("max_depth can be at most %d.", MaxDepthCeiling), a.Expr.Range().Ptr()))
					continue
				}
				*p = i
			}
		}
	}
	for n, v := range l.opts.Limits {
		if p := lim.field(n); p != nil {
			*p = v
		}
	}
	l.cfg.Limits = lim
	l.budget.limits = lim
}

// checkDepths reports the files that nest deeper than max_depth: each file
// was measured, up to the ceiling, before it was parsed.
// It reports whether any did.
func (l *loader) checkDepths() bool {
	found := false
	for _, fd := range l.depths {
		if fd.max > l.cfg.Limits.MaxDepth {
			fd = fd.exact()
		}
		if fd.max > l.cfg.Limits.MaxDepth {
			pos := fd.first[min(int(l.cfg.Limits.MaxDepth), len(fd.first)-1)]
			l.diags = append(l.diags, depthDiag(pos, l.cfg.Limits.MaxDepth))
			found = true
		}
	}
	return found
}

func depthDiag(rng hcl.Range, limit int64) *hcl.Diagnostic {
	if limit == MaxDepthCeiling {
		return errDiag("Nesting too deep",
			fmt.Sprintf("The config nests deeper than %d levels here, the most max_depth can be raised to, so the file is not parsed: HCL's parser recurses once per level of brackets, braces, parentheses, templates, blocks and operators.", limit),
			&rng)
	}
	return errDiag("Nesting too deep",
		fmt.Sprintf("The config nests deeper than max_depth = %d here (brackets, braces, parentheses, template interpolations and directives, blocks, and operators, each chain of operators nesting once per operator). HCL's parser recurses once per level, so nesting is bounded before parsing. %s", limit, limitHint("max_depth")),
		&rng)
}
