package engine_test

import (
	"strings"
	"testing"

	"github.com/satellite-hq/satellite/checks"
	"github.com/satellite-hq/satellite/dsl"
	"github.com/satellite-hq/satellite/engine"
	"github.com/satellite-hq/satellite/sinks"
)

// Every registered type's sample must validate on its own, so the samples
// that document the types can be trusted.
func TestRegisteredSamplesValidate(t *testing.T) {
	type sample struct{ kind, typ, src string }
	var all []sample
	for _, typ := range checks.Types() {
		reg, _ := checks.Lookup(typ)
		all = append(all, sample{"check", typ, reg.Sample})
	}
	for _, typ := range sinks.Types() {
		reg, _ := sinks.Lookup(typ)
		all = append(all, sample{"sink", typ, reg.Sample})
	}
	if len(all) < 3 {
		t.Fatalf("expected the http, tcp and sqlite types at least, got %d", len(all))
	}
	for _, s := range all {
		t.Run(s.kind+"/"+s.typ, func(t *testing.T) {
			if strings.TrimSpace(s.src) == "" {
				t.Fatal("the registration has no sample")
			}
			opts := dsl.Options{LookupEnv: func(string) (string, bool) { return "", false }, UnknownEnv: true}
			cfg, diags := dsl.LoadSource(s.typ+"-sample.hcl", []byte(s.src), opts)
			if !diags.HasErrors() {
				plan, more := engine.Compile(cfg)
				diags = append(diags, more...)
				if plan != nil {
					n := len(plan.Checks) + len(plan.Sinks)
					if n == 0 {
						t.Fatal("the sample declares nothing")
					}
					for _, c := range plan.Checks {
						if c.Type != s.typ && s.kind == "check" {
							t.Errorf("the %s sample declares a %s check", s.typ, c.Type)
						}
					}
				}
			}
			if len(diags) > 0 {
				var sb strings.Builder
				_ = dsl.WriteDiagnostics(&sb, diags, cfg.Files, false, nil)
				t.Fatalf("the sample does not validate cleanly:\n%s", sb.String())
			}
		})
	}
}
