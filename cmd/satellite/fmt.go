package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/spf13/cobra"

	"github.com/satellite-hq/satellite/dsl"
)

func newFmtCmd() *cobra.Command {
	var check bool
	cmd := &cobra.Command{
		Use:   "fmt [PATH...]",
		Short: "Rewrite HCL files in canonical form",
		Long: `Fmt rewrites the HCL files at PATH (files, or the *.hcl files of directories,
variable files included; default $SATELLITE_CONFIG, else /etc/satellite, else .)
in canonical form and lists the files it changed. JSON files are left alone.

With --check nothing is written: the files that would change are listed and
the exit code is 1 when there are any. A file with syntax errors is reported
and left as it is (exit 1).`,
		RunE: func(cmd *cobra.Command, args []string) error {
			files, err := fmtFiles(configPaths(args))
			if err != nil {
				fmt.Fprintf(cmd.ErrOrStderr(), "Error: %s\n", err)
				return exitError{exitFailed}
			}
			failed, changed := false, 0
			for _, path := range files {
				src, err := os.ReadFile(path)
				if err != nil {
					fmt.Fprintf(cmd.ErrOrStderr(), "Error: %s\n", err)
					failed = true
					continue
				}
				_, diags := hclsyntax.ParseConfig(src, path, hcl.InitialPos)
				if diags.HasErrors() {
					f := map[string]*hcl.File{path: {Bytes: src}}
					_ = dsl.WriteDiagnostics(cmd.ErrOrStderr(), diags, f, useColor(cmd.ErrOrStderr()), nil)
					failed = true
					continue
				}
				out := hclwrite.Format(src)
				if bytes.Equal(out, src) {
					continue
				}
				changed++
				fmt.Fprintln(cmd.OutOrStdout(), path)
				if check {
					continue
				}
				st, err := os.Stat(path)
				if err == nil {
					err = os.WriteFile(path, out, st.Mode().Perm())
				}
				if err != nil {
					fmt.Fprintf(cmd.ErrOrStderr(), "Error: %s\n", err)
					failed = true
				}
			}
			if failed || (check && changed > 0) {
				return exitError{exitFailed}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&check, "check", false, "only list the files that would change; exit 1 if any")
	return cmd
}

// fmtFiles expands paths: a file as it is (unless it is JSON), a directory's
// *.hcl files.
func fmtFiles(paths []string) ([]string, error) {
	var out []string
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		if !st.IsDir() {
			// JSON files are left alone, also when named explicitly.
			if !strings.HasSuffix(p, ".json") {
				out = append(out, p)
			}
			continue
		}
		entries, err := os.ReadDir(p)
		if err != nil {
			return nil, err
		}
		var names []string
		for _, e := range entries {
			if !e.IsDir() && strings.HasSuffix(e.Name(), ".hcl") {
				names = append(names, e.Name())
			}
		}
		sort.Strings(names)
		for _, n := range names {
			out = append(out, filepath.Join(p, n))
		}
	}
	return out, nil
}
