package engine

import (
	"sort"

	"github.com/hashicorp/hcl/v2"

	"github.com/satellite-hq/satellite/dsl"
)

// Load reads and compiles the config at paths. The plan is nil when nothing
// could be read; diagnostics are sorted by file and position.
func Load(paths []string, opts dsl.Options) (*dsl.Config, *Plan, hcl.Diagnostics) {
	cfg, diags := dsl.Load(paths, opts)
	if cfg == nil || len(cfg.Files) == 0 {
		return cfg, nil, diags
	}
	plan, more := Compile(cfg)
	diags = append(diags, more...)
	SortDiagnostics(diags)
	return cfg, plan, diags
}

// SortDiagnostics orders diagnostics by file and position, those without a
// place first, keeping the order of equal ones.
func SortDiagnostics(diags hcl.Diagnostics) {
	sort.SliceStable(diags, func(i, j int) bool {
		a, b := diags[i].Subject, diags[j].Subject
		switch {
		case a == nil || b == nil:
			return a == nil && b != nil
		case a.Filename != b.Filename:
			return a.Filename < b.Filename
		default:
			return a.Start.Byte < b.Start.Byte
		}
	})
}
