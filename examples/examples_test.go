// Package examples holds runnable configs; this test validates every one.
package examples

import (
	"os"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"

	_ "github.com/satellite-hq/satellite/checks/all"
	"github.com/satellite-hq/satellite/dsl"
	"github.com/satellite-hq/satellite/engine"
	_ "github.com/satellite-hq/satellite/notify/all"
	_ "github.com/satellite-hq/satellite/sinks/all"
)

func TestExamplesValidate(t *testing.T) {
	entries, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range entries {
		if !e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		n++
		t.Run(e.Name(), func(t *testing.T) {
			cfg, diags := dsl.Load([]string{e.Name()}, dsl.Options{
				LookupEnv: func(string) (string, bool) { return "", false },
			})
			var plan *engine.Plan
			if !diags.HasErrors() {
				var more []*hcl.Diagnostic
				plan, more = engine.Compile(cfg)
				diags = append(diags, more...)
			}
			if len(diags) > 0 {
				var sb strings.Builder
				_ = dsl.WriteDiagnostics(&sb, diags, cfg.Files, false, nil)
				t.Fatalf("example %s has diagnostics:\n%s", e.Name(), sb.String())
			}
			if len(plan.Running()) == 0 {
				t.Fatalf("example %s runs no check", e.Name())
			}
		})
	}
	if n == 0 {
		t.Fatal("no examples found")
	}
}

// The quickstart shows one of each: a dependency, a threshold, an assert.
func TestQuickstartShape(t *testing.T) {
	cfg, diags := dsl.Load([]string{"quickstart"}, dsl.Options{})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	plan, diags := engine.Compile(cfg)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	var deps, thresholds, asserts int
	for _, c := range plan.Checks {
		deps += len(c.DependsOn)
		thresholds += len(c.Thresholds)
		asserts += len(c.Asserts)
	}
	if deps == 0 || thresholds == 0 || asserts == 0 {
		t.Fatalf("quickstart should show depends_on, threshold and assert: %d, %d, %d", deps, thresholds, asserts)
	}
	if plan.Config.API.Listen != "127.0.0.1:7575" {
		t.Fatalf("quickstart API on %s", plan.Config.API.Listen)
	}
}
