// Package plugin is the sink type "plugin": a sink written by a third party
// as a separate program (with the sinkplugin package), which satellite
// starts, configures and feeds over github.com/hashicorp/go-plugin's gRPC
// protocol, and restarts with backoff when it crashes.
package plugin

import (
	_ "embed"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"

	"github.com/satellite-hq/satellite/dsl"
	"github.com/satellite-hq/satellite/sinks"
)

// Defaults of the optional attributes.
const (
	// DefaultStartTimeout bounds the plugin's start and its Configure.
	DefaultStartTimeout = 10 * time.Second
	// DefaultWriteTimeout bounds one Write; a plugin that takes longer is
	// deemed hung and restarted.
	DefaultWriteTimeout = time.Minute
)

//go:embed sample.hcl
var sample string

// spec is the schema of a `sink "plugin"` body. config and the durations are
// dynamic so that build reports a wrong type with its own advice, and a
// duration may be a number of seconds.
var spec = hcldec.ObjectSpec{
	"command":       &hcldec.AttrSpec{Name: "command", Type: cty.String, Required: true},
	"args":          &hcldec.AttrSpec{Name: "args", Type: cty.List(cty.String)},
	"config":        &hcldec.AttrSpec{Name: "config", Type: cty.DynamicPseudoType},
	"start_timeout": &hcldec.AttrSpec{Name: "start_timeout", Type: cty.DynamicPseudoType},
	"write_timeout": &hcldec.AttrSpec{Name: "write_timeout", Type: cty.DynamicPseudoType},
}

func init() {
	sinks.Register(&sinks.Registration{
		Type:   "plugin",
		Spec:   spec,
		Build:  build,
		Sample: sample,
		Doc:    "Sends the results to a sink plugin: a separate program written with the sinkplugin package.",
	})
}

// Config is a built `sink "plugin"` block, not yet opened.
type Config struct {
	// Command is the plugin program, run directly, not through a shell. A
	// relative path (when the config folder was given as one) is taken from
	// the agent's working folder, never looked up in $PATH.
	Command string
	// Args are the program's arguments.
	Args []string
	// Config is passed to the plugin's Configure. Its values may be secrets:
	// they are never logged, and String and GoString leave them out.
	Config map[string]string
	// Dir is the plugin's working folder, the folder of the declaring file,
	// so that relative paths in Config mean what they mean in the config.
	Dir string
	// StartTimeout bounds starting the plugin and its Configure.
	StartTimeout time.Duration
	// WriteTimeout bounds one Write.
	WriteTimeout time.Duration
}

var _ sinks.Opener = (*Config)(nil)

// String describes the sink without the values of Config, which may be
// secrets.
func (c *Config) String() string {
	keys := make([]string, 0, len(c.Config))
	for k := range c.Config {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return fmt.Sprintf("plugin %s %q (config keys: %s)", c.Command, c.Args, strings.Join(keys, ", "))
}

// GoString is String, so that %#v does not print the config values either.
func (c *Config) GoString() string { return c.String() }

func build(cfg cty.Value, env sinks.Env) (sinks.Opener, hcl.Diagnostics) {
	a := dsl.NewAttrs(cfg, env.Body, env.Block)
	out := &Config{Dir: env.BaseDir, StartTimeout: DefaultStartTimeout, WriteTimeout: DefaultWriteTimeout}
	known := true

	if c, ok := a.String("command"); ok {
		switch {
		case strings.TrimSpace(c) == "":
			a.Errorf("command", "Empty command", "Attribute \"command\" must name the plugin program, such as \"/usr/lib/satellite/plugins/satellite-sink-pager\"; a relative path is taken from the folder of this file.")
			known = false
		default:
			if !filepath.IsAbs(c) && env.BaseDir != "" {
				c = filepath.Join(env.BaseDir, c)
			}
			out.Command = filepath.Clean(c)
		}
	} else {
		known = false
	}

	if a.IsSet("args") {
		if args, ok := a.StringList("args"); ok {
			out.Args = args
		} else {
			known = false
		}
	}

	if a.IsSet("config") {
		if m, ok := configMap(a); ok {
			out.Config = m
		} else {
			known = false
		}
	}

	for _, d := range []struct {
		name string
		dst  *time.Duration
	}{{"start_timeout", &out.StartTimeout}, {"write_timeout", &out.WriteTimeout}} {
		if v, ok := a.Duration(d.name); ok {
			if v <= 0 {
				a.Errorf(d.name, "Invalid "+d.name, "Attribute %q must be longer than zero, such as \"10s\".", d.name)
				known = false
			}
			*d.dst = v
		} else if a.IsSet(d.name) {
			known = false // unknown, or the getter reported an error
		}
	}

	if !known || a.Diags.HasErrors() {
		return nil, a.Diags
	}
	return out, a.Diags
}

// configMap reads `config`, a map of strings. Numbers and bools become
// strings, as HCL converts them; anything with structure does not, and the
// error says how to pass it.
func configMap(a *dsl.Attrs) (map[string]string, bool) {
	v := a.Value("config")
	if !v.IsWhollyKnown() {
		return nil, false
	}
	// A value that came from a sensitive variable may be marked; what
	// matters here is its type.
	v, _ = v.UnmarkDeep()
	m, err := convert.Convert(v, cty.Map(cty.String))
	if err != nil {
		a.Errorf("config", "Invalid config", "Attribute \"config\" must be a map of strings, such as { routing_key = env(\"PAGER_KEY\") }: %s. Pass a value with structure as a string, with jsonencode(...).", err)
		return nil, false
	}
	out := make(map[string]string, m.LengthInt())
	for it := m.ElementIterator(); it.Next(); {
		k, e := it.Element()
		if e.IsNull() {
			a.Errorf("config", "Invalid config", "The value of %q in attribute \"config\" is null; leave the key out instead.", k.AsString())
			return nil, false
		}
		out[k.AsString()] = e.AsString()
	}
	return out, true
}
