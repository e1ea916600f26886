package dsl_test

import (
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"

	"github.com/satellite-hq/satellite/dsl"
)

var requiredSpec = hcldec.ObjectSpec{
	"path":    &hcldec.AttrSpec{Name: "path", Type: cty.String},
	"command": &hcldec.AttrSpec{Name: "command", Type: cty.List(cty.String)},
	"address": &hcldec.AttrSpec{Name: "address", Type: cty.String},
	"file":    &hcldec.AttrSpec{Name: "file", Type: cty.String},
}

// block is the range Attrs falls back to; attrsOf reads src as the body of a
// block with that header.
var block = hcl.Range{Filename: "test.hcl", Start: hcl.Pos{Line: 1, Column: 1}, End: hcl.Pos{Line: 1, Column: 20}}

func attrsOf(t *testing.T, src string, vars map[string]cty.Value) *dsl.Attrs {
	t.Helper()
	f, diags := hclsyntax.ParseConfig([]byte(src), "test.hcl", hcl.Pos{Line: 2, Column: 1})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	var ctx *hcl.EvalContext
	if vars != nil {
		ctx = &hcl.EvalContext{Variables: map[string]cty.Value{"var": cty.ObjectVal(vars)}}
	}
	val, diags := hcldec.Decode(f.Body, requiredSpec, ctx)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	return dsl.NewAttrs(val, f.Body, block)
}

func oneError(t *testing.T, a *dsl.Attrs, summary, detail string, line int) {
	t.Helper()
	if len(a.Diags) != 1 {
		t.Fatalf("%d diagnostics, want 1: %s", len(a.Diags), a.Diags)
	}
	d := a.Diags[0]
	if d.Severity != hcl.DiagError || d.Summary != summary || d.Detail != detail {
		t.Errorf("got %q: %q, want %q: %q", d.Summary, d.Detail, summary, detail)
	}
	if d.Subject == nil || d.Subject.Start.Line != line {
		t.Errorf("subject %v, want line %d", d.Subject, line)
	}
}

func TestRequired(t *testing.T) {
	a := attrsOf(t, "path = \"/etc/hosts\"\ncommand = [\"/bin/true\", \"-x\"]\n", nil)
	if p, ok := dsl.Required(a, "path", "the file", a.String); !ok || p != "/etc/hosts" {
		t.Errorf("path %q, %v", p, ok)
	}
	if argv, ok := dsl.Required(a, "command", "the command", a.StringList); !ok || len(argv) != 2 || argv[1] != "-x" {
		t.Errorf("command %q, %v", argv, ok)
	}
	if len(a.Diags) > 0 {
		t.Fatal(a.Diags)
	}

	// Not set: the error says what the attribute is for, with a % kept as it is.
	a = attrsOf(t, "file = \"x\"\n", nil)
	if p, ok := dsl.Required(a, "path", `the file to check, such as "/etc/hosts" (100%)`, a.String); ok || p != "" {
		t.Errorf("missing path: %q, %v", p, ok)
	}
	oneError(t, a, "Missing required argument", `The argument "path" is required: the file to check, such as "/etc/hosts" (100%).`, 2)
	if got, want := *a.Diags[0].Subject, a.Range("path"); got != want {
		t.Errorf("subject %v, want %v, where a.Errorf puts an absent attribute", got, want)
	}

	// Unknown: not ok, and no error.
	a = attrsOf(t, "path = var.p\n", map[string]cty.Value{"p": cty.UnknownVal(cty.String)})
	if _, ok := dsl.Required(a, "path", "the file", a.String); ok || len(a.Diags) > 0 {
		t.Errorf("unknown path: ok %v, %s", ok, a.Diags)
	}

	// Set but invalid: the getter's error only, not a second one saying it is missing.
	a = attrsOf(t, "path = \"x\"\ncommand = [\"/bin/true\", null]\n", nil)
	if _, ok := dsl.Required(a, "command", "the command", a.StringList); ok {
		t.Error("a command holding null is ok")
	}
	oneError(t, a, "Invalid value", `Attribute "command" must not contain null.`, 3)
}

func TestKnown(t *testing.T) {
	vars := map[string]cty.Value{"u": cty.UnknownVal(cty.String), "l": cty.UnknownVal(cty.List(cty.String))}
	a := attrsOf(t, "command = [\"a\", var.u]\npath = var.u\nfile = \"f\"\n", vars)
	// A known list with an unknown element is known: Build checks the rest.
	v, ok := a.Known("command")
	if !ok || v.LengthInt() != 2 || v.Index(cty.NumberIntVal(1)).IsKnown() {
		t.Errorf("command %#v, %v", v, ok)
	}
	if _, ok := a.Known("path"); ok {
		t.Error("an unknown path is known")
	}
	if _, ok := a.Known("address"); ok {
		t.Error("an unset address is known")
	}
	if v, ok := a.Known("file"); !ok || v.AsString() != "f" {
		t.Errorf("file %#v, %v", v, ok)
	}
	a = attrsOf(t, "command = var.l\n", vars)
	if _, ok := dsl.Required(a, "command", "the command", a.Known); ok || len(a.Diags) > 0 {
		t.Errorf("unknown list: ok %v, %s", ok, a.Diags)
	}
}

func TestExactlyOne(t *testing.T) {
	for _, src := range []string{"address = \"a:1\"\n", "file = \"f\"\n"} {
		a := attrsOf(t, src, nil)
		if !a.ExactlyOne("address", "file", "both", "Missing source", "Set one.") || len(a.Diags) > 0 {
			t.Errorf("%q: %s", src, a.Diags)
		}
	}

	a := attrsOf(t, "address = \"a:1\"\nfile = \"f\"\n", nil)
	if a.ExactlyOne("address", "file", "Set either address or file, not both (100%).", "Missing source", "Set one.") {
		t.Error("both set is fine")
	}
	oneError(t, a, "Both address and file", "Set either address or file, not both (100%).", 3) // on the second

	a = attrsOf(t, "path = \"x\"\n", nil)
	if a.ExactlyOne("address", "file", "both", "Missing certificate source", "Set address or file.") {
		t.Error("neither set is fine")
	}
	oneError(t, a, "Missing certificate source", "Set address or file.", block.Start.Line)
	if *a.Diags[0].Subject != block {
		t.Errorf("subject %v, want the block %v", a.Diags[0].Subject, block)
	}

	// Unknown counts as set.
	a = attrsOf(t, "file = var.f\n", map[string]cty.Value{"f": cty.UnknownVal(cty.String)})
	if !a.ExactlyOne("address", "file", "both", "Missing", "Set one.") {
		t.Error(a.Diags)
	}
}
