package main

import (
	"fmt"

	"github.com/hashicorp/hcl/v2"
	"github.com/spf13/cobra"

	"github.com/satellite-hq/satellite/dsl"
)

func newValidateCmd() *cobra.Command {
	var f configFlags
	cmd := &cobra.Command{
		Use:   "validate [PATH...]",
		Short: "Check a config: parse, compile, print diagnostics",
		Long: `Validate parses and compiles the config at PATH (files or directories; default
$SATELLITE_CONFIG, else /etc/satellite, else .) and prints every error and
warning with FILE:LINE:COL. On success it prints how many checks and sinks
this node would run, and the config hash.

Exit codes: 0 valid (warnings allowed), 1 invalid, 2 usage.`,
		Example: `  satellite validate examples/quickstart
  satellite validate --unknown-env --tags role=master /etc/satellite
  satellite validate --format json checks.d`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := f.validateFormat(); err != nil {
				return err
			}
			tuneShortRunGC()
			cfg, plan, diags, err := loadPlan(configPaths(args), &f)
			if err != nil {
				return err
			}
			stdout, stderr := cmd.OutOrStdout(), cmd.ErrOrStderr()
			if f.format == "json" {
				if err := dsl.WriteJSONDiagnostics(stdout, diags, secretsOf(cfg)); err != nil {
					return exitError{exitFailed}
				}
			} else if len(diags) > 0 {
				printDiags(stderr, cfg, diags)
				fmt.Fprintln(stderr)
			}
			if diags.HasErrors() || plan == nil {
				errs := 0
				for _, d := range diags {
					if d.Severity == hcl.DiagError {
						errs++
					}
				}
				if f.format == "text" {
					if errs == 0 {
						// Only warnings, but nothing to compile: no config files.
						fmt.Fprintln(stderr, "Invalid: no config files were read.")
					} else {
						fmt.Fprintf(stderr, "Invalid: %d error(s).\n", errs)
					}
				}
				return exitError{exitFailed}
			}
			running := plan.Running()
			node := plan.Node.Name
			if node == "" {
				node = "this node"
			}
			line := fmt.Sprintf("Valid: %s would run %s of %s and %s; config hash %s.",
				node, plural(len(running), "check"), plural(len(plan.Checks), "declared"), plural(len(plan.Sinks), "sink"), plan.Hash)
			if f.format == "json" {
				fmt.Fprintln(stderr, line)
			} else {
				fmt.Fprintln(stdout, line)
			}
			return nil
		},
	}
	f.register(cmd, true)
	return cmd
}

func plural(n int, word string) string {
	if word == "declared" {
		return fmt.Sprintf("%d declared", n)
	}
	if n == 1 {
		return fmt.Sprintf("1 %s", word)
	}
	return fmt.Sprintf("%d %ss", n, word)
}
