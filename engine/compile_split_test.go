package engine

import (
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	hcljson "github.com/hashicorp/hcl/v2/json"
	"github.com/zclconf/go-cty/cty"
)

// splitBodyEach is splitBody as it was, the merged schema built and
// Content run for every body: what the cached schema and the skipped
// Content must keep.
func splitBodyEach(body hcl.Body, meta *hcl.BodySchema, spec hcldec.Spec) (*hcl.BodyContent, hcl.Diagnostics) {
	var diags hcl.Diagnostics
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
	content, _, d := body.PartialContent(meta)
	for _, diag := range d {
		if !strings.HasPrefix(diag.Summary, "Unsupported") && !strings.HasPrefix(diag.Summary, "Duplicate") {
			diags = append(diags, diag)
		}
	}
	return content, diags
}

func diagStrings(diags hcl.Diagnostics) []string {
	var out []string
	for _, d := range diags {
		out = append(out, fmt.Sprintf("%d|%s|%s|%v", d.Severity, d.Summary, d.Detail, d.Subject))
	}
	sort.Strings(out) // Content reports attributes in map order
	return out
}

func TestSplitBodyCached(t *testing.T) {
	spec := hcldec.ObjectSpec{
		"address": &hcldec.AttrSpec{Name: "address", Type: cty.String, Required: true},
		"expect":  &hcldec.AttrSpec{Name: "expect", Type: cty.String},
		"tls":     &hcldec.BlockSpec{TypeName: "tls", Nested: hcldec.ObjectSpec{"ca": &hcldec.AttrSpec{Name: "ca", Type: cty.String}}},
	}
	bodies := []string{
		`address = "x"`,
		"address = \"x\"\ninterval = \"5s\"\nlabels = { a = \"b\" }\nthreshold \"latency_ms\" {\n  warn = 1\n}\nassert {\n  condition = true\n}\ntls {\n  ca = \"c\"\n}",
		"adress = \"x\"",
		"address = \"x\"\nintervl = \"5s\"",
		"address = \"x\"\nthreshold = 3",
		"address = \"x\"\ntls = {}",
		"address = \"x\"\nthresold \"latency_ms\" {}",
		"address = \"x\"\ninterval \"x\" {}",
		"address = \"x\"\nassert \"label\" {}\nthreshold {}",
		"",
	}
	c := &compiler{}
	for i, src := range bodies {
		f, diags := hclsyntax.ParseConfig([]byte(src), "a.hcl", hcl.InitialPos)
		if diags.HasErrors() {
			t.Fatalf("body %d: %v", i, diags)
		}
		check := func(name string, body hcl.Body) {
			for range 2 { // the second time from the cache
				want, wantDiags := splitBodyEach(body, metaSchema, spec)
				got, _, gotDiags := c.splitBody(body, metaSchema, "test", spec)
				if g, w := diagStrings(gotDiags), diagStrings(wantDiags); strings.Join(g, "\n") != strings.Join(w, "\n") {
					t.Errorf("%s %d: diagnostics\n%s\nwant\n%s", name, i, strings.Join(g, "\n"), strings.Join(w, "\n"))
				}
				if len(got.Attributes) != len(want.Attributes) || len(got.Blocks) != len(want.Blocks) {
					t.Errorf("%s %d: content %d attributes %d blocks, want %d and %d", name, i, len(got.Attributes), len(got.Blocks), len(want.Attributes), len(want.Blocks))
				}
			}
		}
		check("hcl", f.Body)
		// A body that has hidden attributes already (a remain body).
		_, remain, _ := f.Body.PartialContent(&hcl.BodySchema{Attributes: []hcl.AttributeSchema{{Name: "intervl"}}})
		check("remain", remain)
	}
	jf, diags := hcljson.Parse([]byte(`{"address": "x", "adress": "y", "interval": "5s", "interval": "6s"}`), "a.hcl.json")
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	got, _, gotDiags := c.splitBody(jf.Body, metaSchema, "test", spec)
	_, wantDiags := splitBodyEach(jf.Body, metaSchema, spec)
	if g, w := diagStrings(gotDiags), diagStrings(wantDiags); strings.Join(g, "\n") != strings.Join(w, "\n") || got == nil {
		t.Errorf("json: diagnostics %v, want %v", g, w)
	}
}
