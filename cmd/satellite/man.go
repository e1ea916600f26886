package main

import (
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
)

// newManCmd writes a man page for every command. It is hidden: the Debian
// package's build runs it (deploy/deb/stage.sh).
func newManCmd() *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:   "man --dir DIR",
		Short: "Write the man pages of every command",
		Long: `Man writes a man page (section 1) for satellite and for each of its commands
into DIR, which it creates when missing: satellite.1, satellite-validate.1,
satellite-keyring-install.1, ... Files of the same names there are replaced.
The pages are dated SOURCE_DATE_EPOCH (seconds since 1970) when it is set,
for reproducible builds, else today.

Exit codes: 0 every page written, 1 a page could not be written, 2 usage.`,
		Example: `  satellite man --dir bin/man && gzip -9n bin/man/*.1`,
		Hidden:  true,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			date, err := manDate(os.Getenv("SOURCE_DATE_EPOCH"))
			if err != nil {
				fmt.Fprintf(cmd.ErrOrStderr(), "Error: %s\n", err)
				return exitError{exitUsage}
			}
			n, err := writeManPages(cmd.Root(), dir, date)
			if err != nil {
				fmt.Fprintf(cmd.ErrOrStderr(), "Error: writing the man pages: %s\n", err)
				return exitError{exitFailed}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Wrote %d man pages into %s.\n", n, dir)
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "the directory to write the pages into (required)")
	_ = cmd.MarkFlagRequired("dir")
	return cmd
}

// manDate is the pages' date: SOURCE_DATE_EPOCH when set
// (reproducible-builds.org), else now.
func manDate(epoch string) (time.Time, error) {
	if epoch == "" {
		return time.Now().UTC(), nil
	}
	s, err := strconv.ParseInt(epoch, 10, 64)
	if err != nil || s < 0 {
		return time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH must be seconds since 1970, not %q", epoch)
	}
	return time.Unix(s, 0).UTC(), nil
}

// writeManPages writes a page for root and every command under it that
// is not hidden, with cobra's own generator (cobra/doc, through
// go-md2man), and returns how many it wrote.
func writeManPages(root *cobra.Command, dir string, date time.Time) (int, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, err
	}
	root.InitDefaultCompletionCmd()
	root.DisableAutoGenTag = true // the date is in the header; no "generated on" line
	// No Title: each page gets its command path (SATELLITE-VALIDATE).
	header := &doc.GenManHeader{Section: "1", Date: &date,
		Source: "satellite " + version, Manual: "satellite manual"}
	if err := doc.GenManTree(root, header, dir); err != nil {
		return 0, err
	}
	n := 0
	var count func(c *cobra.Command)
	count = func(c *cobra.Command) {
		if !c.IsAvailableCommand() && c != root {
			return
		}
		n++
		for _, sub := range c.Commands() {
			count(sub)
		}
	}
	count(root)
	return n, nil
}
