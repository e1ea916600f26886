package dsl

import (
	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
)

// Required reads a required attribute with get (a.String, a.StringList,
// a.Known ...). An attribute that is not set is an error, "Missing required
// argument", placed as a.Errorf places one about an absent attribute, whose
// detail says what the attribute is for: "The argument "NAME" is required:
// WHAT.", with what such as `the file to check, such as "/etc/hosts"`. ok is
// false then, and also when get reports false: the value is unknown
// (validate --unknown-env), or get found it invalid and said so itself.
func Required[T any](a *Attrs, name, what string, get func(name string) (T, bool)) (T, bool) {
	if !a.IsSet(name) {
		a.Errorf(name, "Missing required argument", "The argument %q is required: %s.", name, what)
		var zero T
		return zero, false
	}
	return get(name)
}

// Known returns an attribute's value, unmarked, when it is set and known;
// the elements of a known list or map may still be unknown (validate
// --unknown-env), for Build to check the ones that are known.
func (a *Attrs) Known(name string) (cty.Value, bool) {
	v, _ := a.get(name).UnmarkDeep()
	return v, !v.IsNull() && v.IsKnown()
}

// ExactlyOne checks that exactly one of two attributes is set, and reports
// whether it is. Both set is an error on second, "Both FIRST and SECOND",
// with the detail both; neither is an error on the block, with the summary
// and detail of missing.
func (a *Attrs) ExactlyOne(first, second, both, missingSummary, missingDetail string) bool {
	hasFirst, hasSecond := a.IsSet(first), a.IsSet(second)
	switch {
	case hasFirst && hasSecond:
		a.Errorf(second, "Both "+first+" and "+second, "%s", both)
		return false
	case !hasFirst && !hasSecond:
		blk := a.block // neither attribute is there to point at
		a.Diags = append(a.Diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  missingSummary,
			Detail:   missingDetail,
			Subject:  &blk,
		})
		return false
	}
	return true
}
