package agent

import (
	"github.com/hashicorp/hcl/v2"

	"github.com/satellite-hq/satellite/dsl"
	"github.com/satellite-hq/satellite/engine"
)

// Load reads and compiles the config at paths as a node would run it: the
// engine's plan, plus what the node's other parts (the mesh) require of the
// config. validate, run --once, the agent's start and every reload load
// through here, so they judge a config alike.
func Load(paths []string, opts dsl.Options) (*dsl.Config, *engine.Plan, hcl.Diagnostics) {
	return engine.Load(paths, opts)
}
