package main

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/satellite-hq/satellite/api"
)

// notifyTestTimeout is the default --timeout of notify test: the
// receiver's own timeout (10 s by default) and the agent's answer.
const notifyTestTimeout = 30 * time.Second

type notifyFlags struct {
	agentFlags
	format string
}

func newNotifyCmd() *cobra.Command {
	var f notifyFlags
	cmd := &cobra.Command{
		Use:   "notify",
		Short: "Work with the running agent's notifiers",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	f.add(cmd, true, notifyTestTimeout)
	test := &cobra.Command{
		Use:   "test NOTIFIER",
		Short: "Send a test message through a notifier and print what its receiver answered",
		Long: `Test asks the local agent (its API, --addr) to send a test message through one
of its notifiers now (no group_wait, no rate limit), and prints the receiver's
answer: its status and the start of its body. NOTIFIER is TYPE.NAME as the
config declares it (notifier "webhook" "ops" is webhook.ops; notifier.webhook.ops
is taken too). It needs the full API token.

Exit codes: 0 the receiver took the message, 1 it refused it or could not be
reached (the reason on stderr), 2 usage or no such notifier, 3 no answer from
the agent.`,
		Example: `  satellite notify test webhook.ops
  satellite notify test slack.oncall --format json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return runNotifyTest(cmd, &f, args[0]) },
	}
	test.Flags().StringVar(&f.format, "format", "text", "output format: text or json")
	cmd.AddCommand(test)
	return cmd
}

func runNotifyTest(cmd *cobra.Command, f *notifyFlags, notifier string) error {
	stdout, stderr := cmd.OutOrStdout(), cmd.ErrOrStderr()
	if f.format != "text" && f.format != "json" {
		return fmt.Errorf("--format must be text or json, not %q", f.format)
	}
	c, ctx, err := f.connect(cmd)
	if err != nil {
		return err
	}
	defer c.Close()
	ans, err := c.NotifyTest(ctx, notifier)
	var se *api.StatusError
	switch {
	case errors.As(err, &se) && se.Code == http.StatusNotFound:
		fmt.Fprintf(stderr, "Error: %s\n", cell(cmp.Or(ans.Error, se.Message)))
		return exitError{exitUsage}
	case err != nil:
		return keyringError(stderr, err, f.tokenGiven())
	}
	if f.format == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(ans); err != nil {
			return exitError{exitFailed}
		}
	} else {
		status := "no answer"
		if ans.Status != 0 {
			status = fmt.Sprintf("%d %s", ans.Status, http.StatusText(ans.Status))
		}
		if ans.Delivered {
			fmt.Fprintf(stdout, "Sent a test message through notifier.%s: the receiver answered %s.\n", ans.Notifier, strings.TrimSpace(status))
		} else {
			fmt.Fprintf(stdout, "The test message through notifier.%s was not delivered: %s.\n", ans.Notifier, cell(ans.Error))
		}
		if a := strings.TrimSpace(ans.Answer); a != "" {
			fmt.Fprintf(stdout, "Its answer: %s\n", cell(a))
		}
	}
	if !ans.Delivered {
		return exitError{exitFailed}
	}
	return nil
}
