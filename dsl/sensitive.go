package dsl

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
)

// Sensitive values are marked (cty marks) in every expression that reads
// a sensitive variable, so that what is derived from one is known to be
// sensitive too: templates, functions and for expressions carry the mark.
// What becomes an identifier or a tag (for_each keys, which make check
// addresses; labels; agent.tags and agent.name, which serf gossips to every
// peer) refuses a marked value, as Terraform refuses sensitive for_each:
// an address or a tag is printed, logged, stored and sent everywhere, so
// redaction could not follow it. Values given to the types' Build are
// unmarked, and redacted by value (Config.Secrets) where they are printed.

// sensitiveMark marks sensitive values.
type sensitiveMarker struct{}

var sensitiveMark = sensitiveMarker{}

// IsSensitive reports whether v is, or contains, a sensitive value.
func IsSensitive(v cty.Value) bool { return v.ContainsMarked() }

// Sensitive reports whether the value is, or contains, a sensitive value.
func (v AttrValue) Sensitive() bool { return v.val.ContainsMarked() }

// RefuseSensitive records an error and returns true when the value is
// sensitive; what says what the attribute becomes ("check addresses").
func (v AttrValue) RefuseSensitive(what string) bool {
	if !v.Sensitive() {
		return false
	}
	v.refuseSensitive(what)
	return true
}

func (v AttrValue) refuseSensitive(what string) {
	v.errorf("Sensitive value not allowed", "%s", SensitiveDetail(v.name, what))
}

// NonSensitiveStringMap is StringMap refusing a sensitive value (see
// RefuseSensitive), with one walk of the value for both.
func (v AttrValue) NonSensitiveStringMap(what string) (map[string]string, bool) {
	val := v.val
	if val.IsNull() || !val.IsWhollyKnown() {
		return nil, false
	}
	if val.ContainsMarked() {
		v.refuseSensitive(what)
		return nil, false
	}
	return v.stringMap(val)
}

// SensitiveDetail explains why a sensitive value cannot be used for name.
func SensitiveDetail(name, what string) string {
	return fmt.Sprintf("The value of %s is derived from a sensitive variable, and %s: it would be printed, logged, stored and sent where redaction cannot follow it. Use a value that is not sensitive here.", name, what)
}

// varsObject is `var` in expressions, sensitive variables marked.
func (l *loader) varsObject() cty.Value {
	if len(l.sensitive) == 0 {
		return cty.ObjectVal(l.cfg.vars)
	}
	m := make(map[string]cty.Value, len(l.cfg.vars))
	for k, v := range l.cfg.vars {
		if l.sensitive[k] {
			v = v.Mark(sensitiveMark)
		}
		m[k] = v
	}
	return cty.ObjectVal(m)
}

// sensitiveValue records a value offered to a sensitive variable, valid or
// not: its strings are redacted from every message, and where it is written
// (rng, when it is in a config or variables file) is masked in the sources
// printed with diagnostics.
func (l *loader) sensitiveValue(v cty.Value, rng hcl.Range) {
	if v != cty.NilVal {
		v, _ = v.UnmarkDeep()
		l.cfg.secrets = append(l.cfg.secrets, stringLeaves(v)...)
		if v.IsKnown() && !v.IsNull() && (v.Type() == cty.Number || v.Type() == cty.Bool) {
			if s, err := formatPrimitive(v); err == nil && len(s) >= 4 {
				l.cfg.secrets = append(l.cfg.secrets, s)
			}
		}
	}
	if rng.Filename != "" {
		l.sensitiveRanges = append(l.sensitiveRanges, rng)
	}
}

func formatPrimitive(v cty.Value) (string, error) {
	if v.Type() == cty.Number {
		return v.AsBigFloat().Text('f', -1), nil
	}
	return "", errors.New("not a number")
}

// maskSensitiveSources replaces, in the sources kept for printing
// diagnostics (Config.Files), every place a sensitive value is written with
// "(sensitive)" (the rest of a value that spans lines is blanked), so that
// no snippet shows one, even a value that failed its type check and so was
// never known as a secret. The parsed files, and the hash, keep the source.
func (l *loader) maskSensitiveSources() {
	byFile := map[string][]hcl.Range{}
	for _, r := range l.sensitiveRanges {
		byFile[r.Filename] = append(byFile[r.Filename], r)
	}
	for name, rngs := range byFile {
		f := l.sources[name]
		if f == nil || f.Bytes == nil {
			continue
		}
		src := append([]byte(nil), f.Bytes...)
		for _, r := range rngs {
			if r.Start.Byte < 0 || r.End.Byte > len(src) || r.Start.Byte >= r.End.Byte {
				continue
			}
			seg := src[r.Start.Byte:r.End.Byte]
			masked := bytes.Repeat([]byte(" "), len(seg))
			for i, c := range seg {
				if c == '\n' || c == '\r' {
					masked[i] = c
				}
			}
			copy(masked, "(sensitive)"[:min(len("(sensitive)"), len(masked))])
			if len(seg) < len("(sensitive)") {
				copy(masked, bytes.Repeat([]byte("*"), len(seg)))
			}
			copy(src[r.Start.Byte:], masked)
		}
		l.sources[name] = &hcl.File{Body: f.Body, Bytes: src, Nav: f.Nav}
	}
	l.cfg.Files = l.sources
}

// literalCtx is the context of what must be a literal (a variable's
// default, a variables file, --var): no variables, no functions but the
// budget's own, which the instrumented syntax calls.
func (l *loader) literalCtx() *hcl.EvalContext {
	if l.litCtx == nil {
		fns := l.budget.instrumentFuncs()
		for name := range l.cfg.fe.rawFunctions() {
			fns[name] = noCallsFunc
		}
		fns["file"] = noCallsFunc
		l.litCtx = &hcl.EvalContext{Functions: fns}
	}
	return l.litCtx
}

var noCallsFunc = function.New(&function.Spec{
	VarParam: &function.Parameter{Name: "args", Type: cty.DynamicPseudoType, AllowNull: true, AllowUnknown: true, AllowMarked: true, AllowDynamicType: true},
	Type:     function.StaticReturnType(cty.DynamicPseudoType),
	Impl: func([]cty.Value, cty.Type) (cty.Value, error) {
		return cty.NilVal, errors.New("function calls are not allowed here: a variable's default, a variables file and --var take literal values")
	},
})

// limitDiag is the diagnostic of a limit reached by a value at rng.
func limitDiag(err error, rng *hcl.Range) *hcl.Diagnostic {
	var le *LimitError
	if errors.As(err, &le) {
		return errDiag("Over the limit "+le.Name, le.Error(), rng)
	}
	return errDiag("Invalid value", err.Error(), rng)
}
