package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/user"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/satellite-hq/satellite/api"
	"github.com/satellite-hq/satellite/notify/silence"
)

type silenceFlags struct {
	agentFlags
	node, check string
	forDur      string
	until       string
	reason      string
	author      string
	all         bool
	expired     bool
	// The formats of add, list and expire: their defaults differ.
	addFormat, listFormat, expireFormat string
}

func newSilenceCmd() *cobra.Command {
	var f silenceFlags
	cmd := &cobra.Command{
		Use:   "silence",
		Short: "Hold back the notifications about some checks for a while",
		Long: `Silence makes, lists and ends silences through the local agent's API (--addr).
A silence holds back the notifications about the checks whose address matches
--check on the nodes whose name matches --node, until it ends: the checks still
run and their results are recorded; when a silence ends and a check is still
failing, its problem is sent then. A silence made on any node holds on every
member of the mesh, across restarts, also for a node that is down.

Globs are those of Go's path.Match: * any run of characters, ? one character,
[a-z] a class, \ quotes the next character; they match the whole name, and
case counts. --node and --check are "*" (everything) by default; a silence of
every check on every node needs --all.

add and expire need the full API token; list is fine with the read token.

Exit codes: 0 done, 1 the agent refused (a bad request, an unknown ID, an agent
without silences), 2 usage, 3 no answer from the agent (unreachable, token
missing or refused).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	f.add(cmd, true, api.DefaultClientTimeout)

	add := &cobra.Command{
		Use:   "add --for DURATION --reason TEXT [--node GLOB] [--check GLOB]",
		Short: "Silence the notifications about some checks for a while",
		Example: `  satellite silence add --node node-c --for 2h --reason "kernel upgrade, OPS-1234"
  satellite silence add --check 'http.*' --until 2026-11-25T18:00:00Z --reason "API migration"
  satellite silence add --all --for 30m --reason "network maintenance"`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runSilenceAdd(cmd, &f, time.Now()) },
	}
	fl := add.Flags()
	fl.StringVar(&f.node, "node", silence.Any, "the nodes: a glob on their names")
	fl.StringVar(&f.check, "check", silence.Any, "the checks: a glob on their addresses (TYPE.NAME)")
	fl.StringVar(&f.forDur, "for", "", "how long: a duration such as 90m, 2h or 48h (at most 90 days)")
	fl.StringVar(&f.until, "until", "", "until when, instead of --for: an RFC 3339 time such as 2026-11-25T18:00:00Z")
	fl.StringVar(&f.reason, "reason", "", fmt.Sprintf("why, for whoever sees the silence (required; at most %d bytes)", silence.MaxReason))
	fl.StringVar(&f.author, "author", "", "who (default $USER@hostname)")
	fl.BoolVar(&f.all, "all", false, "silence every check on every node")
	fl.StringVar(&f.addFormat, "format", "text", "output format: text or json")
	cmd.AddCommand(add)

	list := &cobra.Command{
		Use:   "list",
		Short: "List the active silences",
		Long: `List shows the active silences, the one ending first first: ID, the globs,
when it ends (in how long, and the local time), author and reason. --expired
adds those that ended (by themselves or expired early) within the last day or
so. --format json prints the API's answer, indented.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runSilenceList(cmd, &f, time.Now()) },
	}
	list.Flags().BoolVar(&f.expired, "expired", false, "also the silences that ended")
	list.Flags().StringVar(&f.listFormat, "format", "table", "output format: table or json")
	cmd.AddCommand(list)

	expire := &cobra.Command{
		Use:   "expire ID",
		Short: "End a silence now",
		Long: `Expire ends a silence now, on every member. The notifications it held back
are sent then for the checks that are still failing.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return runSilenceExpire(cmd, &f, args[0], time.Now()) },
	}
	expire.Flags().StringVar(&f.expireFormat, "format", "text", "output format: text or json")
	cmd.AddCommand(expire)
	return cmd
}

// silenceRequest checks add's flags and makes the request; its errors are
// usage errors.
func silenceRequest(f *silenceFlags, now time.Time) (api.SilenceRequest, silence.Silence, error) {
	req := api.SilenceRequest{Node: f.node, Check: f.check, Author: f.author, Reason: f.reason, All: f.all}
	if req.Author == "" {
		req.Author = defaultAuthor()
	}
	created := now.UTC().Truncate(time.Second)
	draft := silence.Silence{Node: req.Node, Check: req.Check, Author: req.Author, Reason: req.Reason, Created: created}
	switch {
	case f.forDur != "" && f.until != "":
		return req, draft, errors.New("give --for or --until, not both")
	case f.forDur != "":
		d, err := time.ParseDuration(f.forDur)
		if err != nil {
			return req, draft, fmt.Errorf("--for %q is not a duration such as 90m, 2h or 48h (there is no d unit)", f.forDur)
		}
		if d < silence.MinDuration || d > silence.MaxDuration {
			return req, draft, fmt.Errorf("--for must be from %s to %s (90 days), not %s", silence.MinDuration, silence.MaxDuration, d)
		}
		req.Duration, draft.Expires = d.String(), created.Add(d)
	case f.until != "":
		t, err := time.Parse(time.RFC3339, f.until)
		if err != nil {
			return req, draft, fmt.Errorf("--until %q is not an RFC 3339 time such as 2026-11-25T18:00:00Z", f.until)
		}
		if !t.After(now) {
			return req, draft, fmt.Errorf("--until %s is past", t.Format(time.RFC3339))
		}
		req.Expires, draft.Expires = t.Format(time.RFC3339), t
	default:
		return req, draft, errors.New("give how long: --for DURATION (such as 2h) or --until TIME")
	}
	// The agent checks it again; this says what is wrong without asking it.
	draft, err := silence.Prepare(draft)
	if err != nil {
		return req, draft, err
	}
	switch {
	case draft.Everything() && !f.all:
		return req, draft, errors.New(`--node and --check are both "*": this silences every check on every node; add --all if that is what you mean`)
	case f.all && !draft.Everything():
		return req, draft, errors.New("--all silences every check on every node: it goes without --node and --check")
	}
	return req, draft, nil
}

// defaultAuthor is $USER@hostname, cut to what a silence takes.
func defaultAuthor() string {
	name := os.Getenv("USER")
	if name == "" {
		if u, err := user.Current(); err == nil {
			name = u.Username
		}
	}
	host, _ := os.Hostname()
	author := name
	switch {
	case name != "" && host != "":
		author = name + "@" + host
	case name == "":
		author = host
	}
	author = strings.ReplaceAll(cell(author), " ", "_")
	if author == "" {
		return "unknown"
	}
	for len(author) > silence.MaxAuthor {
		_, size := utf8.DecodeLastRuneInString(author)
		author = author[:len(author)-size]
	}
	return author
}

func checkFormat(format string, allowed ...string) error {
	for _, a := range allowed {
		if format == a {
			return nil
		}
	}
	return fmt.Errorf("--format must be %s, not %q", strings.Join(allowed, " or "), format)
}

func runSilenceAdd(cmd *cobra.Command, f *silenceFlags, now time.Time) error {
	stdout, stderr := cmd.OutOrStdout(), cmd.ErrOrStderr()
	if err := checkFormat(f.addFormat, "text", "json"); err != nil {
		return err
	}
	req, _, err := silenceRequest(f, now)
	if err != nil {
		return err
	}
	c, ctx, err := f.connect(cmd)
	if err != nil {
		return err
	}
	defer c.Close()
	sl, err := c.AddSilence(ctx, req)
	if err != nil {
		return keyringError(stderr, err, f.tokenGiven())
	}
	if f.addFormat == "json" {
		return writeSilenceJSON(stdout, stderr, sl)
	}
	fmt.Fprintf(stdout, "Silence %s: %s, until %s (in %s).\n", cell(sl.ID), silenceScope(sl),
		sl.Expires.Local().Format(historyTimeLayout), span(sl.Expires.Sub(now)))
	return nil
}

func runSilenceList(cmd *cobra.Command, f *silenceFlags, now time.Time) error {
	stdout, stderr := cmd.OutOrStdout(), cmd.ErrOrStderr()
	if err := checkFormat(f.listFormat, "table", "json"); err != nil {
		return err
	}
	c, ctx, err := f.connect(cmd)
	if err != nil {
		return err
	}
	defer c.Close()
	list, raw, err := c.Silences(ctx, f.expired)
	if err != nil {
		return keyringError(stderr, err, f.tokenGiven())
	}
	if f.listFormat == "json" {
		if err := writeIndented(stdout, raw); err != nil {
			fmt.Fprintf(stderr, "Error: %s\n", err)
			return exitError{exitNoAgent}
		}
		return nil
	}
	if len(list) == 0 {
		if f.expired {
			fmt.Fprintln(stdout, "No silences.")
		} else {
			fmt.Fprintln(stdout, "No active silences.")
		}
		return nil
	}
	if err := writeSilenceTable(stdout, list, now); err != nil {
		fmt.Fprintf(stderr, "Error: %s\n", err)
		return exitError{exitFailed}
	}
	return nil
}

func runSilenceExpire(cmd *cobra.Command, f *silenceFlags, id string, now time.Time) error {
	stdout, stderr := cmd.OutOrStdout(), cmd.ErrOrStderr()
	if err := checkFormat(f.expireFormat, "text", "json"); err != nil {
		return err
	}
	id = strings.TrimSpace(id)
	if !silence.IsID(id) {
		return fmt.Errorf("ID: a silence ID is 16 hex digits (satellite silence list shows them), not %q", truncate(cell(id), 40))
	}
	c, ctx, err := f.connect(cmd)
	if err != nil {
		return err
	}
	defer c.Close()
	sl, err := c.ExpireSilence(ctx, id)
	if err != nil {
		return keyringError(stderr, err, f.tokenGiven())
	}
	if f.expireFormat == "json" {
		return writeSilenceJSON(stdout, stderr, sl)
	}
	if sl.ExpiredAt.IsZero() {
		fmt.Fprintf(stdout, "Silence %s had already ended, at %s.\n", cell(sl.ID), sl.Expires.Local().Format(historyTimeLayout))
		return nil
	}
	fmt.Fprintf(stdout, "Expired silence %s: %s is no longer silenced.\n", cell(sl.ID), silenceScope(sl))
	return nil
}

func writeSilenceJSON(stdout, stderr io.Writer, sl silence.Silence) error {
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(sl); err != nil {
		fmt.Fprintf(stderr, "Error: %s\n", err)
		return exitError{exitFailed}
	}
	return nil
}

// silenceScope says what a silence covers: "check http.* on node node-c",
// "every check on every node".
func silenceScope(sl silence.Silence) string {
	check, node := "check "+cell(sl.Check), "node "+cell(sl.Node)
	if sl.Check == silence.Any {
		check = "every check"
	}
	if sl.Node == silence.Any {
		node = "every node"
	}
	return check + " on " + node
}

// writeSilenceTable writes one row per silence, in the agent's order (by
// end).
func writeSilenceTable(w io.Writer, list []silence.Silence, now time.Time) error {
	var out bytes.Buffer
	tw := tabwriter.NewWriter(&out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNODE\tCHECK\tEXPIRES\tAUTHOR\tREASON")
	for _, sl := range list {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", cell(sl.ID), orDash(cell(sl.Node)), orDash(cell(sl.Check)),
			silenceEnds(sl, now), orDash(cell(sl.Author)), orDash(cell(sl.Reason)))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := io.WriteString(w, trimLines(out.String()))
	return err
}

// silenceEnds is the EXPIRES cell: "in 1h59m (2026-11-25 13:58:10)",
// "ended 3h ago (...)", "expired 5m ago (...)" for one expired early.
func silenceEnds(sl silence.Silence, now time.Time) string {
	end := sl.End()
	at := end.Local().Format(historyTimeLayout)
	switch {
	case sl.Active(now):
		return fmt.Sprintf("in %s (%s)", span(end.Sub(now)), at)
	case !sl.ExpiredAt.IsZero() && sl.ExpiredAt.Before(sl.Expires):
		return fmt.Sprintf("expired %s ago (%s)", span(now.Sub(end)), at)
	}
	return fmt.Sprintf("ended %s ago (%s)", span(now.Sub(end)), at)
}

// span says a duration in at most two units, to the minute from a minute
// on: "45s", "59m", "2h", "1h59m", "3d", "3d4h".
func span(d time.Duration) string {
	d = max(d, 0)
	if d < time.Minute {
		return fmt.Sprintf("%ds", int(d/time.Second))
	}
	d = d.Round(time.Minute)
	day := 24 * time.Hour
	two := func(a int, ua string, b int, ub string) string {
		if b == 0 {
			return fmt.Sprintf("%d%s", a, ua)
		}
		return fmt.Sprintf("%d%s%d%s", a, ua, b, ub)
	}
	switch {
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d/time.Minute))
	case d < day:
		return two(int(d/time.Hour), "h", int(d%time.Hour/time.Minute), "m")
	}
	return two(int(d/day), "d", int(d%day/time.Hour), "h")
}
