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
	a.Diags = append(a.Diags, &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  summary,
		Detail:   fmt.Sprintf(format, args...),
		Subject:  &rng,
	})
}

// Warnf records a warning about an attribute.
func (a *Attrs) Warnf(name, summary, format string, args ...any) {
	rng := a.Range(name)
	a.Diags = append(a.Diags, &hcl.Diagnostic{
		Severity: hcl.DiagWarning,
		Summary:  summary,
		Detail:   fmt.Sprintf(format, args...),
		Subject:  &rng,
	})
}

func (a *Attrs) get(name string) cty.Value {
	if a.val.IsNull() || !a.val.IsKnown() || !a.val.Type().IsObjectType() || !a.val.Type().HasAttribute(name) {
		return cty.NullVal(cty.DynamicPseudoType)
	}
	return a.val.GetAttr(name)
}

// Value returns the raw value of an attribute.
func (a *Attrs) Value(name string) cty.Value { return a.get(name) }

// IsSet reports whether the attribute has a value (unknown counts as set).
func (a *Attrs) IsSet(name string) bool { return !a.get(name).IsNull() }

// IsUnknown reports whether the attribute's value is not known yet.
func (a *Attrs) IsUnknown(name string) bool { return !a.get(name).IsWhollyKnown() }

func (a *Attrs) convert(name string, want cty.Type) (cty.Value, bool) {
	v := a.get(name)
	if v.IsNull() || !v.IsWhollyKnown() {
		return cty.NilVal, false
	}
	v, _ = v.Unmark()
	c, err := convert.Convert(v, want)
	if err != nil {
		a.Errorf(name, "Incorrect attribute value type", "Inappropriate value for attribute %q: %s.", name, err)
		return cty.NilVal, false
	}
	return c, !c.IsNull()
}

// String returns a string attribute.
func (a *Attrs) String(name string) (string, bool) {
	v, ok := a.convert(name, cty.String)
	if !ok {
		return "", false
	}
	return v.AsString(), true
}

// StringOr returns a string attribute or def when unset or unknown.
func (a *Attrs) StringOr(name, def string) string {
	if s, ok := a.String(name); ok {
		return s
	}
	return def
}

// Bool returns a bool attribute.
func (a *Attrs) Bool(name string) (bool, bool) {
	v, ok := a.convert(name, cty.Bool)
	if !ok {
		return false, false
	}
	return v.True(), true
}

// Number returns a number attribute as a float64.
func (a *Attrs) Number(name string) (float64, bool) {
	v, ok := a.convert(name, cty.Number)
	if !ok {
		return 0, false
	}
	f, _ := v.AsBigFloat().Float64()
	return f, true
}

// Int returns a whole-number attribute; a fraction is an error.
func (a *Attrs) Int(name string) (int64, bool) {
	v, ok := a.convert(name, cty.Number)
	if !ok {
		return 0, false
	}
	bf := v.AsBigFloat()
	if !bf.IsInt() {
		a.Errorf(name, "Invalid number", "Attribute %q must be a whole number, not %s.", name, bf.Text('g', -1))
		return 0, false
	}
	i, acc := bf.Int64()
	if acc != big.Exact {
		a.Errorf(name, "Invalid number", "Attribute %q is out of range.", name)
		return 0, false
	}
	return i, true
}

// Duration returns a duration attribute, written as a Go duration string
// ("1m30s") or a number of seconds.
func (a *Attrs) Duration(name string) (time.Duration, bool) {
	v := a.get(name)
	if v.IsNull() || !v.IsWhollyKnown() {
		return 0, false
	}
	v, _ = v.Unmark()
	d, err := DurationValue(v)
	if err != nil {
		a.Errorf(name, "Invalid duration", "Attribute %q: %s.", name, err)
		return 0, false
	}
	return d, true
}

// StringList returns a list (or set) of strings.
func (a *Attrs) StringList(name string) ([]string, bool) {
	v, ok := a.convert(name, cty.List(cty.String))
	if !ok {
		return nil, false
	}
	out := make([]string, 0, v.LengthInt())
	for it := v.ElementIterator(); it.Next(); {
		_, e := it.Element()
		if e.IsNull() {
			a.Errorf(name, "Invalid value", "Attribute %q must not contain null.", name)
			return nil, false
		}
		out = append(out, e.AsString())
	}
	return out, true
}

// StringMap returns a map of strings.
func (a *Attrs) StringMap(name string) (map[string]string, bool) {
	v, ok := a.convert(name, cty.Map(cty.String))
	if !ok {
		return nil, false
	}
	out := make(map[string]string, v.LengthInt())
	for it := v.ElementIterator(); it.Next(); {
		k, e := it.Element()
		if e.IsNull() {
			a.Errorf(name, "Invalid value", "Attribute %q must not contain null values.", name)
			return nil, false
		}
		out[k.AsString()] = e.AsString()
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
