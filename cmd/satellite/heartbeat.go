package main

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/spf13/cobra"

	"github.com/satellite-hq/satellite/api"
)

type heartbeatFlags struct {
	agentFlags
	fail    bool
	message string
	quiet   bool
}

func newHeartbeatCmd() *cobra.Command {
	var f heartbeatFlags
	cmd := &cobra.Command{
		Use:   "heartbeat NAME [--fail] [--message TEXT]",
		Short: "Post a heartbeat to a heartbeat check of the local agent",
		Long: `Heartbeat tells the local agent (its API, --addr) that a job has run, for the
heartbeat check NAME (check "heartbeat" "NAME"): the check passes while such
heartbeats come at least once every "within", and is critical when they stop.
NAME may be the full address (heartbeat.NAME); an instance of a for_each check
is NAME["key"], quoted as in its address.

--fail reports that the job failed: the check is critical at once, until the
next heartbeat without --fail. --message says something the check shows (the
first 256 bytes, on one line).

The heartbeat needs the agent's full API token, or the check's own token
(its token_file): give either with --token-file. The read token is not enough.
An agent whose API has no token takes heartbeats without one for the checks
without a token_file.

Exit codes: 0 recorded, 1 the agent refused (no such heartbeat check on that
node, a bad name), 2 usage, 3 no answer from the agent (unreachable, token
missing or refused).`,
		Example: `  satellite heartbeat backup --token-file /etc/satellite/heartbeat-backup.token
  backup.sh || satellite heartbeat backup --fail --message "backup.sh exited $?" --token-file ...
  satellite heartbeat 'dump["orders"]' -q`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return runHeartbeat(cmd, &f, args[0]) },
	}
	f.add(cmd, false, api.DefaultClientTimeout)
	fl := cmd.Flags()
	fl.BoolVar(&f.fail, "fail", false, "report that the job failed (?status=fail)")
	fl.StringVar(&f.message, "message", "", "a short message the check shows")
	fl.BoolVarP(&f.quiet, "quiet", "q", false, "print nothing when the heartbeat is recorded (for cron, which mails any output)")
	return cmd
}

func runHeartbeat(cmd *cobra.Command, f *heartbeatFlags, name string) error {
	stdout, stderr := cmd.OutOrStdout(), cmd.ErrOrStderr()
	name = strings.TrimSpace(name)
	if _, err := api.ParseHeartbeatName(url.PathEscape(name)); err != nil {
		return fmt.Errorf("NAME: %s", cell(err.Error()))
	}
	if len(f.message) > api.MaxHeartbeatBody {
		return fmt.Errorf("--message is longer than %d KiB", api.MaxHeartbeatBody>>10)
	}
	c, ctx, err := f.connect(cmd)
	if err != nil {
		return err
	}
	defer c.Close()
	hb, err := c.Heartbeat(ctx, name, f.fail, f.message)
	if err != nil {
		return heartbeatError(stderr, err, f.tokenGiven())
	}
	if f.quiet {
		return nil
	}
	what := ""
	if hb.Status == "fail" {
		what = ", reporting a failure"
	}
	fmt.Fprintf(stdout, "Heartbeat of %s recorded at %s%s.\n", cell(hb.Check), hb.At.Local().Format(historyTimeLayout), what)
	return nil
}

// heartbeatError says why the heartbeat was not recorded: a refused token
// is exit 3 with a hint at the tokens a heartbeat takes, another refusal 1.
func heartbeatError(stderr io.Writer, err error, tokenGiven bool) error {
	var se *api.StatusError
	switch {
	case errors.As(err, &se) && se.Code == http.StatusUnauthorized && !tokenGiven:
		fmt.Fprintf(stderr, "Error: the agent at %s needs a token for this heartbeat (401 unauthorized): the check's token_file or the agent's api.token_file, with --token-file.\n", se.URL)
	case errors.As(err, &se) && se.Code == http.StatusUnauthorized:
		fmt.Fprintf(stderr, "Error: the agent at %s refused the token (401 unauthorized): it is neither the check's token_file nor the agent's api.token_file (or the check has no token_file, and needs the full token).\n", se.URL)
	case errors.As(err, &se) && se.Code == http.StatusForbidden:
		fmt.Fprintf(stderr, "Error: the agent at %s refused the read token for a heartbeat (403 forbidden): give the check's token_file or the agent's api.token_file.\n", se.URL)
	default:
		return keyringError(stderr, err, tokenGiven)
	}
	return exitError{exitNoAgent}
}
