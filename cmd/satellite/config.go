package main

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/spf13/cobra"

	"github.com/satellite-hq/satellite/agent"
	"github.com/satellite-hq/satellite/dsl"
	"github.com/satellite-hq/satellite/engine"
)

// configFlags are the flags of every command that reads a config.
type configFlags struct {
	vars       []string
	varFiles   []string
	tags       string
	unknownEnv bool
	format     string
	limits     []string
}

func (f *configFlags) register(cmd *cobra.Command, withTags bool) {
	fl := cmd.Flags()
	fl.StringArrayVar(&f.vars, "var", nil, "set a variable, NAME=VALUE (repeatable)")
	fl.StringArrayVar(&f.varFiles, "var-file", nil, "read variable values from an HCL file (repeatable)")
	fl.StringVar(&f.format, "format", "text", "output format: text or json")
	if withTags {
		fl.StringVar(&f.tags, "tags", "", "pretend to be a node with these tags, k=v,k2=v2 (counts what it would run)")
		fl.BoolVar(&f.unknownEnv, "unknown-env", false, "treat env(), file() and hostname() as unknown values (CI machines without the nodes' secrets)")
		fl.StringArrayVar(&f.limits, "limit", nil, "override a limit of agent { limits {} }, NAME=N: "+strings.Join(dsl.LimitNames(), ", ")+" (repeatable)")
	}
}

func (f *configFlags) validateFormat() error {
	if f.format != "text" && f.format != "json" {
		return fmt.Errorf("--format must be text or json, not %q", f.format)
	}
	return nil
}

func parseTags(s string) (map[string]string, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	out := map[string]string{}
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("--tags wants k=v pairs separated by commas, got %q", kv)
		}
		out[k] = v
	}
	return out, nil
}

// configPaths applies CLI.md's defaults: the arguments, else
// $SATELLITE_CONFIG, else /etc/satellite when it exists, else ".".
func configPaths(args []string) []string {
	if len(args) > 0 {
		return args
	}
	var fromEnv []string
	for _, p := range strings.Split(os.Getenv("SATELLITE_CONFIG"), string(os.PathListSeparator)) {
		// Empty elements ("a::b", a trailing ":") are skipped, as in $PATH
		// lists people write by hand, rather than read as "".
		if p != "" {
			fromEnv = append(fromEnv, p)
		}
	}
	if len(fromEnv) > 0 {
		return fromEnv
	}
	if st, err := os.Stat("/etc/satellite"); err == nil && st.IsDir() {
		return []string{"/etc/satellite"}
	}
	return []string{"."}
}

// loadPlan loads and compiles a config; the plan is nil when nothing
// could be read.
func loadPlan(paths []string, f *configFlags) (*dsl.Config, *engine.Plan, hcl.Diagnostics, error) {
	opts, err := f.loadOptions()
	if err != nil {
		return nil, nil, nil, err
	}
	cfg, plan, diags := agent.Load(paths, opts)
	return cfg, plan, diags, nil
}

// loadOptions turns the flags into dsl options.
func (f *configFlags) loadOptions() (dsl.Options, error) {
	tags, err := parseTags(f.tags)
	if err != nil {
		return dsl.Options{}, err
	}
	limits, err := dsl.ParseLimitFlags(f.limits)
	if err != nil {
		return dsl.Options{}, err
	}
	return dsl.Options{Vars: f.vars, VarFiles: f.varFiles, UnknownEnv: f.unknownEnv, NodeTags: tags, Limits: limits}, nil
}

// useColor reports whether w is a terminal (a character device) and colour is
// welcome (NO_COLOR is not set).
func useColor(w io.Writer) bool {
	// no-color.org: NO_COLOR set and not empty turns colour off.
	return os.Getenv("NO_COLOR") == "" && isTerminal(w)
}

func printDiags(w io.Writer, cfg *dsl.Config, diags hcl.Diagnostics) {
	var files map[string]*hcl.File
	if cfg != nil {
		files = cfg.Files
	}
	_ = dsl.WriteDiagnostics(w, diags, files, useColor(w), secretsOf(cfg))
}

// secretsOf returns what to redact from output, nil without a config.
func secretsOf(cfg *dsl.Config) []string {
	if cfg == nil {
		return nil
	}
	return cfg.Secrets()
}
