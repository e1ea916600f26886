package agent

import (
	"github.com/hashicorp/hcl/v2"

	"github.com/satellite-hq/satellite/dsl"
	"github.com/satellite-hq/satellite/engine"
	"github.com/satellite-hq/satellite/mesh"
)

// Load reads and compiles the config at paths as a node would run it: the
// engine's plan, plus what the node's other parts (the mesh) require of the
// config. validate, run --once, the agent's start and every reload load
// through here, so they judge a config alike. Diagnostics are sorted by file
// and position.
func Load(paths []string, opts dsl.Options) (*dsl.Config, *engine.Plan, hcl.Diagnostics) {
	cfg, plan, diags := engine.Load(paths, opts)
	if plan == nil {
		return cfg, plan, diags
	}
	diags = append(diags, mesh.ConfigDiagnostics(cfg)...)
	engine.SortDiagnostics(diags)
	return cfg, plan, diags
}
