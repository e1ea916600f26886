package main

import (
	"bytes"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/satellite-hq/satellite/api"
	"github.com/satellite-hq/satellite/health"
)

// The serf tags the mesh sets on every member (besides agent.tags), shown
// in columns of their own rather than in TAGS.
const (
	tagRole    = "role"
	tagHash    = "hash"
	tagVersion = "version"
	// tagBoot is the mesh's boot ID, for ordering digests: of no use to a
	// person, so not shown.
	tagBoot = "boot"
)

// aloneMessage is what members prints when the agent has no mesh.
const aloneMessage = "this agent runs alone (no mesh block)"

type membersFlags struct {
	agentFlags
	format string
}

func newMembersCmd() *cobra.Command {
	var f membersFlags
	cmd := &cobra.Command{
		Use:   "members",
		Short: "List the mesh members the local agent knows",
		Long: `Members asks the local agent (its API, --addr) for the mesh members and prints
one row per member: name, gossip address, serf status (alive, leaving, left,
failed), role, config hash, version, and its other tags. When members run
different config hashes, a last line says so: a config rollout in progress,
or stuck. --format json prints the API's answer, indented.

Exit codes: 0 done, 2 usage, 3 no answer from the agent.`,
		Example: `  satellite members
  satellite members --format json | jq -r '.[] | select(.status != "alive") | .name'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runMembers(cmd, &f) },
	}
	f.add(cmd, false, api.DefaultClientTimeout)
	cmd.Flags().StringVar(&f.format, "format", "table", "output format: table or json")
	return cmd
}

func runMembers(cmd *cobra.Command, f *membersFlags) error {
	stdout, stderr := cmd.OutOrStdout(), cmd.ErrOrStderr()
	if f.format != "table" && f.format != "json" {
		return fmt.Errorf("--format must be table or json, not %q", f.format)
	}
	c, ctx, err := f.connect(cmd)
	if err != nil {
		return err
	}
	defer c.Close()
	ms, raw, err := c.Members(ctx)
	if err != nil {
		return agentError(stderr, err, f.tokenGiven())
	}
	if f.format == "json" {
		if err := writeIndented(stdout, raw); err != nil {
			fmt.Fprintf(stderr, "Error: %s\n", err)
			return exitError{exitNoAgent}
		}
		return nil
	}
	if len(ms) == 0 {
		fmt.Fprintln(stdout, aloneMessage)
		return nil
	}
	if err := writeMembersTable(stdout, ms, useColor(stdout)); err != nil {
		fmt.Fprintf(stderr, "Error: %s\n", err)
		return exitError{exitFailed}
	}
	return nil
}

// writeMembersTable writes one row per member, sorted by name, and a line
// when the members that have not left run different config hashes.
func writeMembersTable(w io.Writer, ms []health.Member, color bool) error {
	ms = append([]health.Member(nil), ms...)
	sort.SliceStable(ms, func(i, j int) bool { return ms[i].Name < ms[j].Name })
	var out bytes.Buffer
	tw := tabwriter.NewWriter(&out, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "NAME\tADDR\t%s\tROLE\tCONFIG\tVERSION\tTAGS\n", paint("STATUS", "", color))
	var hashes []string
	for _, m := range ms {
		// A foreign member (a plain serf agent) is marked, and runs no config.
		role := orDash(cell(m.Tags[tagRole]))
		if m.Foreign {
			role = "(foreign)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", cell(m.Name), orDash(cell(m.Addr)),
			paint(orDash(cell(m.Status)), m.Status, color), role,
			orDash(cell(m.Tags[tagHash])), orDash(cell(m.Tags[tagVersion])), orDash(otherTags(m.Tags)))
		// A member that left runs nothing: its hash says nothing of a rollout.
		if m.Status != "left" && !m.Foreign {
			hashes = append(hashes, m.Tags[tagHash])
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if _, split := majorityHash(hashes); split != "" {
		fmt.Fprintf(&out, "\n%s\n", split)
	}
	_, err := io.WriteString(w, trimLines(out.String()))
	return err
}

// otherTags lists the tags without a column of their own, sorted, as
// k=v,k2=v2.
func otherTags(tags map[string]string) string {
	keys := make([]string, 0, len(tags))
	for k := range tags {
		switch k {
		case tagRole, tagHash, tagVersion, tagBoot:
			continue
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = cell(k) + "=" + cell(tags[k])
	}
	return strings.Join(parts, ",")
}
