package sqlite

import (
	"context"
	_ "embed"
	"path/filepath"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/zclconf/go-cty/cty"

	"github.com/satellite-hq/satellite/dsl"
	"github.com/satellite-hq/satellite/sinks"
)

// DefaultRetention is how long rows are kept when `retention` is not set.
const DefaultRetention = 168 * time.Hour

// HistoryFile is the name of the agent's local history under agent.data_dir.
const HistoryFile = "history.db"

//go:embed sample.hcl
var sample string

// spec is the schema of a `sink "sqlite"` body. retention is dynamic so that
// dsl.Attrs.Duration can accept a number of seconds as well as a string.
var spec = hcldec.ObjectSpec{
	"path": &hcldec.AttrSpec{Name: "path", Type: cty.String, Required: true},
	"retention": &hcldec.DefaultSpec{
		Primary: &hcldec.AttrSpec{Name: "retention", Type: cty.DynamicPseudoType},
		Default: &hcldec.LiteralSpec{Value: cty.StringVal(DefaultRetention.String())},
	},
}

func init() {
	sinks.Register(&sinks.Registration{
		Type:   "sqlite",
		Spec:   spec,
		Build:  build,
		Sample: sample,
		Doc:    "Stores every result, and the state changes, in a local SQLite file.",
	})
}

// Config is a built `sink "sqlite"` block, not yet opened.
type Config struct {
	// Path is the database file, absolute or relative to the working directory.
	Path string
	// Retention is how long rows are kept.
	Retention time.Duration
}

var _ sinks.Opener = (*Config)(nil)

// Open opens (creating it if needed) the database file.
func (c *Config) Open(ctx context.Context) (sinks.Sink, error) {
	db, err := Open(ctx, c.Path, c.Retention)
	if err != nil {
		return nil, err
	}
	return db, nil
}

func build(cfg cty.Value, env sinks.Env) (sinks.Opener, hcl.Diagnostics) {
	a := dsl.NewAttrs(cfg, env.Body, env.Block)
	out := &Config{Retention: DefaultRetention}
	known := true

	if p, ok := a.String("path"); ok {
		switch {
		case p == "":
			a.Errorf("path", "Empty path", "Attribute \"path\" must name the SQLite database file, such as \"/var/lib/satellite/archive.db\".")
			known = false
		default:
			if !filepath.IsAbs(p) && env.BaseDir != "" {
				p = filepath.Join(env.BaseDir, p)
			}
			p = filepath.Clean(p)
			// Writing the same results into the agent's own history file
			// would duplicate every row and fight over retention.
			if env.DataDir != "" && p == filepath.Clean(filepath.Join(env.DataDir, HistoryFile)) {
				a.Errorf("path", "Path is the local history", "The file %q is the agent's local history (agent.data_dir); a sqlite sink needs a file of its own. Set agent.history = false to stop keeping the local history, or choose another path.", p)
				known = false
			}
			out.Path = p
		}
	} else {
		known = false
	}

	if d, ok := a.Duration("retention"); ok {
		if d <= 0 {
			a.Errorf("retention", "Invalid retention", "Attribute \"retention\" must be a positive duration, such as \"168h\" (7 days).")
			known = false
		}
		out.Retention = d
	} else if a.IsSet("retention") {
		// Unknown, or the getter already reported an error.
		known = false
	}

	if !known || a.Diags.HasErrors() {
		return nil, a.Diags
	}
	return out, a.Diags
}
