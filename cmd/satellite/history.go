package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
	"github.com/spf13/cobra"

	"github.com/satellite-hq/satellite/dsl"
	"github.com/satellite-hq/satellite/engine"
	"github.com/satellite-hq/satellite/health"
	"github.com/satellite-hq/satellite/sinks/sqlite"
)

// historyTimeLayout is how the table shows a time, in the local zone.
const historyTimeLayout = "2006-01-02 15:04:05"

// historyErrorWidth is the most runes of an error the table shows; the
// JSON output has all of it.
const historyErrorWidth = 60

type historyFlags struct {
	vars     []string
	varFiles []string
	db       string
	node     string
	check    string
	since    string
	limit    int
	format   string
}

func newHistoryCmd() *cobra.Command {
	var f historyFlags
	cmd := &cobra.Command{
		Use:   "history [PATH...]",
		Short: "Show the state changes from the local SQLite history",
		Long: `History prints the state changes of checks, newest first, from the SQLite
history that the agent running the config at PATH keeps: the file ` + sqlite.HistoryFile + `
under agent.data_dir (PATH defaults to $SATELLITE_CONFIG, else /etc/satellite,
else .). Only the agent block matters, but the config must be valid. --db names
the file instead, and no config is read.

--since takes a Go duration back from now (24h, 90m) or a time (RFC 3339, such
as 2024-05-01T12:00:00Z, or a local date 2024-05-01); 0 means all of it.
--limit 0 shows every change.

The table shows local times and cuts long errors; --format json prints every
field in full, times in UTC.

Exit codes: 0 done (also with no changes), 1 no history file or it cannot be
read, 2 usage or an invalid config.`,
		Example: `  satellite history
  satellite history --since 2h --check 'http.apiserver["a"]'
  satellite history --db /var/lib/satellite/history.db --format json | jq '.[0]'`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runHistory(cmd, args, &f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.db, "db", "", "read this history file instead of the one of the config at PATH")
	fl.StringVar(&f.node, "node", "", "only the changes of this node")
	fl.StringVar(&f.check, "check", "", `only the changes of this check address, such as 'http.apiserver["a"]'`)
	fl.StringVar(&f.since, "since", "24h", "only changes since a duration ago (24h) or a time (RFC 3339, or a local date 2006-01-02); 0 for all")
	fl.IntVar(&f.limit, "limit", 100, "show at most this many changes, the newest; 0 for all")
	fl.StringVar(&f.format, "format", "table", "output format: table or json")
	fl.StringArrayVar(&f.vars, "var", nil, "set a variable, NAME=VALUE (repeatable), if agent needs one")
	fl.StringArrayVar(&f.varFiles, "var-file", nil, "read variable values from an HCL file (repeatable)")
	return cmd
}

func runHistory(cmd *cobra.Command, args []string, f *historyFlags) error {
	stdout, stderr := cmd.OutOrStdout(), cmd.ErrOrStderr()
	// Usage errors are returned plainly: run prints them and exits 2.
	if f.format != "table" && f.format != "json" {
		return fmt.Errorf("--format must be table or json, not %q", f.format)
	}
	if f.limit < 0 {
		return fmt.Errorf("--limit must be 0 (all) or more, not %d", f.limit)
	}
	now := time.Now()
	since, err := health.ParseSince(f.since, now, time.Local)
	if err != nil {
		return err
	}
	if f.db != "" && len(args) > 0 {
		return errors.New("--db names the history file; give either --db or config PATHs, not both")
	}

	path, fromConfig := f.db, false
	if path == "" {
		var code int
		path, code = historyPath(configPaths(args), f, stderr)
		if code != exitOK {
			return exitError{code}
		}
		fromConfig = true
	}

	// sqlite.Open creates a missing file; a reader must not leave an empty
	// history behind, so the file has to exist first.
	st, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if fromConfig {
			fmt.Fprintf(stderr, "Error: no history at %s: the agent has not run with this config, or agent.history = false.\n", path)
		} else {
			fmt.Fprintf(stderr, "Error: no history at %s: there is no such file.\n", path)
		}
		return exitError{exitFailed}
	case err != nil:
		fmt.Fprintf(stderr, "Error: cannot read the history: %s\n", err)
		return exitError{exitFailed}
	case st.IsDir():
		fmt.Fprintf(stderr, "Error: no history at %s: it is a directory, not a history file.\n", path)
		return exitError{exitFailed}
	}

	ctx := cmd.Context()
	// Retention 0: reading never deletes rows.
	db, err := sqlite.Open(ctx, path, 0)
	if err != nil {
		fmt.Fprintf(stderr, "Error: cannot open the history: %s\n", err)
		if errors.Is(err, fs.ErrPermission) {
			fmt.Fprintln(stderr, "Reading it needs write access to the file and its folder (SQLite's write-ahead log); run as the agent's user.")
		}
		return exitError{exitFailed}
	}
	defer db.Close()
	changes, err := db.StateChanges(ctx, health.Query{Node: f.node, Check: f.check, Since: since, Limit: f.limit})
	if err != nil {
		fmt.Fprintf(stderr, "Error: %s\n", err)
		return exitError{exitFailed}
	}

	if f.format == "json" {
		if changes == nil {
			changes = []health.Change{} // [] rather than null
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(changes); err != nil {
			fmt.Fprintf(stderr, "Error: %s\n", err)
			return exitError{exitFailed}
		}
		return nil
	}

	if len(changes) == 0 {
		fmt.Fprintln(stderr, noChanges(f, since))
		return nil
	}
	if err := writeHistoryTable(stdout, changes, useColor(stdout)); err != nil {
		fmt.Fprintf(stderr, "Error: %s\n", err)
		return exitError{exitFailed}
	}
	if f.limit > 0 && len(changes) == f.limit {
		fmt.Fprintf(stderr, "Showing the newest %d; --limit 0 shows all of them.\n", f.limit)
	}
	return nil
}

// historyPath loads the config at paths and returns the history file under
// its agent.data_dir, or an exit code after printing why there is none.
func historyPath(paths []string, f *historyFlags, stderr io.Writer) (string, int) {
	// Only the agent block is needed, so checks are not compiled: dsl.Load
	// decodes agent and reports the errors of the config's own structure.
	cfg, diags := dsl.Load(paths, dsl.Options{Vars: f.vars, VarFiles: f.varFiles})
	engine.SortDiagnostics(diags)
	if diags.HasErrors() {
		var errs hcl.Diagnostics
		for _, d := range diags {
			if d.Severity == hcl.DiagError {
				errs = append(errs, d)
			}
		}
		printDiags(stderr, cfg, errs)
		fmt.Fprintf(stderr, "\nInvalid config: %d error(s). Fix it, or name the history file with --db.\n", len(errs))
		return "", exitUsage
	}
	if cfg == nil || len(cfg.Files) == 0 {
		fmt.Fprintf(stderr, "Error: no config files were read at %s, so the history file is not known. Name the config, or the file with --db.\n", strings.Join(paths, ", "))
		return "", exitUsage
	}
	path := filepath.Join(cfg.Agent.DataDir, sqlite.HistoryFile)
	if !cfg.Agent.History {
		// A file may be left from when it was on; show it, but say so.
		fmt.Fprintf(stderr, "Note: agent.history = false in this config; %s is not kept up to date.\n", path)
	}
	return path, exitOK
}

// noChanges is the message for an empty answer, naming the filters.
func noChanges(f *historyFlags, since time.Time) string {
	var b strings.Builder
	b.WriteString("No state changes")
	if f.check != "" {
		fmt.Fprintf(&b, " of %s", f.check)
	}
	if f.node != "" {
		fmt.Fprintf(&b, " on %s", f.node)
	}
	if !since.IsZero() {
		fmt.Fprintf(&b, " since %s", since.Local().Format(historyTimeLayout))
	}
	b.WriteString(".")
	return b.String()
}

// ANSI colours of a status. Every code has the same length, so that the
// tabwriter, which counts them as text, still aligns the column.
var statusColor = map[string]string{
	"passing":  "\x1b[32m",
	"warning":  "\x1b[33m",
	"critical": "\x1b[31m",
	"blocked":  "\x1b[35m",
}

const (
	colorDefault = "\x1b[39m"
	colorReset   = "\x1b[0m"
)

// writeHistoryTable writes changes as an aligned table; with color, the
// FROM → TO cell takes the colour of the new status.
func writeHistoryTable(w io.Writer, changes []health.Change, color bool) error {
	var buf bytes.Buffer
	tw := tabwriter.NewWriter(&buf, 0, 0, 2, ' ', 0)
	transition := "FROM → TO"
	if color {
		transition = colorDefault + transition + colorReset
	}
	fmt.Fprintf(tw, "TIME\tNODE\tCHECK\t%s\tERROR\n", transition)
	for _, c := range changes {
		prev := c.Previous
		if prev == "" {
			prev = "-"
		}
		transition := cell(prev) + " → " + cell(c.Status)
		if color {
			code, ok := statusColor[c.Status]
			if !ok {
				code = colorDefault
			}
			transition = code + transition + colorReset
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n",
			c.Time.Local().Format(historyTimeLayout), cell(c.Node), cell(c.Check), transition,
			truncate(cell(c.Error), historyErrorWidth))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	// A row without an error would end in the padding of the column before.
	var out strings.Builder
	for line := range strings.Lines(buf.String()) {
		out.WriteString(strings.TrimRight(line, " \n"))
		out.WriteByte('\n')
	}
	_, err := io.WriteString(w, out.String())
	return err
}

// cell makes s safe for one table cell: runs of white space (newlines,
// tabs) become one space, and other control and format characters, which
// could drive the terminal or reorder the text (an error may quote whatever
// a server answered), become '?'.
func cell(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || r == utf8.RuneError {
			return '?'
		}
		return r
	}, s)
}

// truncate cuts s to at most n runes, the last being an ellipsis.
func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}
