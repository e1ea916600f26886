package dsl

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// TestLoadNumbersEvaluations checks the numbering of the instrumented
// evaluations when Load's workers instrument the files in parallel: every
// `for` and instrumented template of every file has its own number, the
// budget has a slot for each, and a template's slot holds its literal bytes.
func TestLoadNumbersEvaluations(t *testing.T) {
	dir := t.TempDir()
	for i, src := range []string{
		"locals {\n  a = [for x in range(3) : \"${x}-${upper(\"q\")}\"]\n  b = { for k, v in {p = 1} : k => v if v > 0 }\n}\n",
		"check \"http\" \"x\" {\n  url = \"http://${local.h}:${local.p + 1}/${lower(\"A\")}\"\n  labels = { t = \"${local.h}${local.h}${local.h}${local.h}${local.h}\" }\n}\n",
		"locals {\n  h = \"h\"\n  p = 1\n  c = [for s in [\"a\", \"b\"] : [for t in [s] : \"${t}!${s}?\"]]\n}\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, string(rune('a'+i))+".hcl"), []byte(src), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cfg, diags := Load([]string{dir}, Options{LookupEnv: func(string) (string, bool) { return "", false }})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	b := cfg.budget
	if len(b.acc) != len(b.lit) || len(b.acc) == 0 {
		t.Fatalf("acc %d, lit %d slots", len(b.acc), len(b.lit))
	}
	seen := map[int64]bool{}
	for _, p := range cfg.Paths {
		body := cfg.Files[p].Body.(*hclsyntax.Body)
		hclsyntax.VisitAll(body, func(n hclsyntax.Node) hcl.Diagnostics {
			switch e := n.(type) {
			case *hclsyntax.FunctionCallExpr:
				if e.Name != fnForColl && e.Name != fnTmplFirst {
					return nil
				}
				lit, ok := e.Args[0].(*hclsyntax.LiteralValueExpr)
				if !ok || lit.Val.Type() != cty.Number {
					t.Errorf("%s: id is %#v", e.Name, e.Args[0])
					return nil
				}
				id, _ := lit.Val.AsBigFloat().Int64()
				if id < 0 || id >= int64(len(b.lit)) || seen[id] {
					t.Errorf("%s: id %d out of range or repeated", e.Name, id)
				}
				seen[id] = true
			case *hclsyntax.TemplateExpr:
				var lit, id int64 = 0, -1
				for _, part := range e.Parts {
					switch p := part.(type) {
					case *hclsyntax.LiteralValueExpr:
						if p.Val.Type() == cty.String {
							lit += int64(len(p.Val.AsString()))
						}
					case *hclsyntax.FunctionCallExpr:
						if p.Name == fnTmplFirst {
							id, _ = p.Args[0].(*hclsyntax.LiteralValueExpr).Val.AsBigFloat().Int64()
						}
					}
				}
				if id >= 0 && id < int64(len(b.lit)) && b.lit[id] != lit {
					t.Errorf("template %d at %s: %d literal bytes, budget has %d", id, e.SrcRange, lit, b.lit[id])
				}
			}
			return nil
		})
	}
	t.Logf("%d evaluations over %d files", len(seen), len(cfg.Paths))
	if len(seen) != len(b.lit) {
		t.Errorf("%d evaluations numbered, budget has %d slots", len(seen), len(b.lit))
	}
}
