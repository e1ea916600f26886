package dsl

import (
	"fmt"
	"math/big"
	"path/filepath"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
)

// Attrs reads a decoded block value (an object from hcldec) for a type's
// Build function. Every getter tolerates null and unknown values (the latter
// come from `validate --unknown-env`): it reports ok=false and Build skips the
// check of that value. Errors are collected as diagnostics pointing at the
// attribute in the source.
type Attrs struct {
	val   cty.Value
	body  hcl.Body
	path  []string
	block hcl.Range
	// Diags collects what the getters and Errorf found.
	Diags hcl.Diagnostics
}

// NewAttrs wraps the decoded value of body. block is the range used when an
// attribute cannot be located.
func NewAttrs(val cty.Value, body hcl.Body, block hcl.Range) *Attrs {
	return &Attrs{val: val, body: body, block: block}
}

// Nested returns the reader of a nested block decoded as an object (a
// hcldec.BlockSpec). Its diagnostics are appended to the parent's.
func (a *Attrs) Nested(name string) (*Attrs, bool) {
	v := a.get(name)
	if v.IsNull() || !v.IsKnown() || !v.Type().IsObjectType() {
		return nil, false
	}
	path := append(append([]string(nil), a.path...), name)
	return &Attrs{val: v, body: a.body, path: path, block: a.block}, true
}

// Merge appends the diagnostics of a nested reader.
func (a *Attrs) Merge(n *Attrs) {
	if n != nil {
		a.Diags = append(a.Diags, n.Diags...)
		n.Diags = nil
	}
}

// Range returns the source range of an attribute, or of the block when the
// attribute is not set.
func (a *Attrs) Range(name string) hcl.Range {
	if a.body == nil {
		return a.block
	}
	var spec hcldec.Spec = &hcldec.AttrSpec{Name: name, Type: cty.DynamicPseudoType}
	for i := len(a.path) - 1; i >= 0; i-- {
		spec = &hcldec.BlockSpec{TypeName: a.path[i], Nested: spec}
	}
	rng := hcldec.SourceRange(a.body, spec)
	if rng.Filename == "" {
		return a.block
	}
	return rng
}

// Errorf records an error about an attribute.
func (a *Attrs) Errorf(name, summary, format string, args ...any) {
	rng := a.Range(name)
	a.Diags = append(a.Diags, newDiag(hcl.DiagError, summary, fmt.Sprintf(format, args...), rng))
}

// Warnf records a warning about an attribute.
func (a *Attrs) Warnf(name, summary, format string, args ...any) {
	rng := a.Range(name)
	a.Diags = append(a.Diags, newDiag(hcl.DiagWarning, summary, fmt.Sprintf(format, args...), rng))
}

func newDiag(sev hcl.DiagnosticSeverity, summary, detail string, rng hcl.Range) *hcl.Diagnostic {
	return &hcl.Diagnostic{Severity: sev, Summary: summary, Detail: detail, Subject: &rng}
}

func (a *Attrs) get(name string) cty.Value {
	if a.val.IsNull() || !a.val.IsKnown() || !a.val.Type().IsObjectType() || !a.val.Type().HasAttribute(name) {
		return cty.NullVal(cty.DynamicPseudoType)
	}
	return a.val.GetAttr(name)
}

// attr is the attribute name of the decoded body, for the conversions.
func (a *Attrs) attr(name string) AttrValue {
	return AttrValue{name: name, val: a.get(name), attrs: a, diags: &a.Diags}
}

// Value returns the raw value of an attribute.
func (a *Attrs) Value(name string) cty.Value { return a.get(name) }

// IsSet reports whether the attribute has a value (unknown counts as set).
func (a *Attrs) IsSet(name string) bool { return !a.get(name).IsNull() }

// IsUnknown reports whether the attribute's value is not known yet.
func (a *Attrs) IsUnknown(name string) bool { return !a.get(name).IsWhollyKnown() }

// String returns a string attribute.
func (a *Attrs) String(name string) (string, bool) { return a.attr(name).String() }

// StringOr returns a string attribute or def when unset or unknown.
func (a *Attrs) StringOr(name, def string) string {
	if s, ok := a.String(name); ok {
		return s
	}
	return def
}

// Bool returns a bool attribute.
func (a *Attrs) Bool(name string) (bool, bool) { return a.attr(name).Bool() }

// Number returns a number attribute as a float64.
func (a *Attrs) Number(name string) (float64, bool) { return a.attr(name).Number() }

// Int returns a whole-number attribute; a fraction is an error.
func (a *Attrs) Int(name string) (int64, bool) { return a.attr(name).Int() }

// Duration returns a duration attribute, written as a Go duration string
// ("1m30s") or a number of seconds.
func (a *Attrs) Duration(name string) (time.Duration, bool) { return a.attr(name).Duration() }

// StringList returns a list (or set) of strings.
func (a *Attrs) StringList(name string) ([]string, bool) { return a.attr(name).StringList() }

// StringMap returns a map of strings.
func (a *Attrs) StringMap(name string) (map[string]string, bool) { return a.attr(name).StringMap() }

// AttrValue is one attribute's value on its way to a Go value, with what its
// diagnostics need: the attribute's name and where it is written.
//
// Its methods are the one implementation of satellite's value conversions
// and of their diagnostics. Attrs reads a type's decoded body through them,
// and the engine reads the meta-arguments (interval, labels, send ...) it
// evaluates itself through EvalAttr, so a value is accepted, or refused with
// the same words, wherever it is written.
//
// Every method tolerates null and unknown values (the latter come from
// `validate --unknown-env`): it reports ok=false and records nothing, and the
// caller skips the checks of that value. A conversion error is recorded with
// the attribute's expression as its subject and also reports ok=false.
type AttrValue struct {
	name string
	val  cty.Value
	// expr locates errors when the value was evaluated from it (EvalAttr);
	// otherwise attrs does, in the decoded body.
	expr  hcl.Expression
	attrs *Attrs
	diags *hcl.Diagnostics
}

// EvalAttr evaluates an attribute of a body's content in ctx. Errors of the
// evaluation, and later those of the returned value's conversions, are
// appended to diags. A value that could not be evaluated reads as null.
func EvalAttr(a *hcl.Attribute, ctx *hcl.EvalContext, diags *hcl.Diagnostics) AttrValue {
	v, d := a.Expr.Value(ctx)
	*diags = append(*diags, d...)
	if d.HasErrors() {
		v = cty.NullVal(cty.DynamicPseudoType)
	}
	return AttrValue{name: a.Name, val: v, expr: a.Expr, diags: diags}
}

// Range is where the attribute's value is written.
func (v AttrValue) Range() hcl.Range {
	if v.expr != nil {
		return v.expr.Range()
	}
	return v.attrs.Range(v.name)
}

func (v AttrValue) errorf(summary, format string, args ...any) {
	*v.diags = append(*v.diags, newDiag(hcl.DiagError, summary, fmt.Sprintf(format, args...), v.Range()))
}

// known returns the value without marks; ok is false for null and unknown
// values, which are no error.
func (v AttrValue) known() (cty.Value, bool) {
	val := v.val
	if val.IsNull() || !val.IsWhollyKnown() {
		return cty.NilVal, false
	}
	if val.ContainsMarked() {
		val, _ = val.UnmarkDeep()
	}
	return val, true
}

func (v AttrValue) convert(want cty.Type) (cty.Value, bool) {
	val, ok := v.known()
	if !ok {
		return cty.NilVal, false
	}
	c, err := convert.Convert(val, want)
	if err != nil {
		v.errorf("Incorrect attribute value type", "Inappropriate value for attribute %q: %s.", v.name, err)
		return cty.NilVal, false
	}
	return c, !c.IsNull()
}

// String returns the value as a string.
func (v AttrValue) String() (string, bool) {
	c, ok := v.convert(cty.String)
	if !ok {
		return "", false
	}
	return c.AsString(), true
}

// Bool returns the value as a bool.
func (v AttrValue) Bool() (bool, bool) {
	c, ok := v.convert(cty.Bool)
	if !ok {
		return false, false
	}
	return c.True(), true
}

// Number returns the value as a float64.
func (v AttrValue) Number() (float64, bool) {
	c, ok := v.convert(cty.Number)
	if !ok {
		return 0, false
	}
	f, _ := c.AsBigFloat().Float64()
	return f, true
}

// Int returns the value as a whole number; a fraction is an error.
func (v AttrValue) Int() (int64, bool) {
	c, ok := v.convert(cty.Number)
	if !ok {
		return 0, false
	}
	bf := c.AsBigFloat()
	if !bf.IsInt() {
		v.errorf("Invalid number", "Attribute %q must be a whole number, not %s.", v.name, bf.Text('g', -1))
		return 0, false
	}
	i, acc := bf.Int64()
	if acc != big.Exact {
		v.errorf("Invalid number", "Attribute %q is out of range.", v.name)
		return 0, false
	}
	return i, true
}

// Duration returns the value as a duration, written as a Go duration string
// ("1m30s") or a number of seconds.
func (v AttrValue) Duration() (time.Duration, bool) {
	val, ok := v.known()
	if !ok {
		return 0, false
	}
	d, err := DurationValue(val)
	if err != nil {
		v.errorf("Invalid duration", "Attribute %q: %s.", v.name, err)
		return 0, false
	}
	return d, true
}

// StringList returns the value as a list (or set) of strings.
func (v AttrValue) StringList() ([]string, bool) {
	c, ok := v.convert(cty.List(cty.String))
	if !ok {
		return nil, false
	}
	out := make([]string, 0, c.LengthInt())
	for it := c.ElementIterator(); it.Next(); {
		_, e := it.Element()
		if e.IsNull() {
			v.errorf("Invalid value", "Attribute %q must not contain null.", v.name)
			return nil, false
		}
		out = append(out, e.AsString())
	}
	return out, true
}

// StringMap returns the value, a map or an object, as a map of strings.
func (v AttrValue) StringMap() (map[string]string, bool) {
	val, ok := v.known()
	if !ok {
		return nil, false
	}
	return v.stringMap(val)
}

// stringMap is StringMap of a known value without marks.
func (v AttrValue) stringMap(val cty.Value) (map[string]string, bool) {
	ty := val.Type()
	if !ty.IsObjectType() && !ty.IsMapType() {
		v.errorf("Incorrect attribute value type", "Inappropriate value for attribute %q: a map of strings is required, such as { key = \"value\" }, not %s.", v.name, ty.FriendlyName())
		return nil, false
	}
	// Element by element: converting the whole object builds a conversion
	// per call, which is most of the cost of a small map.
	out := make(map[string]string, val.LengthInt())
	for it := val.ElementIterator(); it.Next(); {
		k, e := it.Element()
		if e.IsNull() {
			v.errorf("Invalid value", "Attribute %q must not contain null values.", v.name)
			return nil, false
		}
		s, err := convert.Convert(e, cty.String)
		if err != nil {
			v.errorf("Incorrect attribute value type", "Inappropriate value for attribute %q: the value of %q is %s, not a string.", v.name, k.AsString(), e.Type().FriendlyName())
			return nil, false
		}
		out[k.AsString()] = s.AsString()
	}
	return out, true
}

// DurationValue parses a duration: a string such as "1m30s" or a number of seconds.
func DurationValue(v cty.Value) (time.Duration, error) {
	switch {
	case v.Type() == cty.String:
		s := v.AsString()
		d, err := time.ParseDuration(s)
		if err != nil {
			return 0, fmt.Errorf("%q is not a duration; write it like \"30s\", \"5m\" or \"1h30m\"", s)
		}
		if d < 0 {
			return 0, fmt.Errorf("%q is negative", s)
		}
		return d, nil
	case v.Type() == cty.Number:
		f, _ := v.AsBigFloat().Float64()
		if f < 0 {
			return 0, fmt.Errorf("%v seconds is negative", f)
		}
		if f > float64(1<<62)/float64(time.Second) {
			return 0, fmt.Errorf("%v seconds is too long", f)
		}
		return time.Duration(f * float64(time.Second)), nil
	default:
		return 0, fmt.Errorf("a duration must be a string like \"30s\", not %s", v.Type().FriendlyName())
	}
}

// ResolvePath makes a relative path from a config file relative to that
// file's folder, baseDir; absolute and empty paths are returned as they are.
func ResolvePath(baseDir, p string) string {
	if p == "" || filepath.IsAbs(p) || baseDir == "" {
		return p
	}
	return filepath.Join(baseDir, p)
}
