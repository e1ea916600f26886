package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/satellite-hq/satellite/api"
	"github.com/satellite-hq/satellite/mesh"
)

// keyringTimeout is the default --timeout of keyring: serf's key manager
// waits for every member's answer for its query timeout, which grows with
// the mesh (about 13 s at 1,000 members with serf's LAN defaults).
const keyringTimeout = time.Minute

type keyringFlags struct {
	agentFlags
	showKeys bool
}

func newKeyringCmd() *cobra.Command {
	var f keyringFlags
	cmd := &cobra.Command{
		Use:   "keyring",
		Short: "Rotate the gossip encryption key of the running mesh",
		Long: `Keyring lists and changes the gossip keys of every member of the mesh, through
the local agent's API (--addr) and serf's key manager. It needs the full API
token (api.token_file): the keys are secrets.

To rotate the key: make a new one with 'satellite keygen', install it
everywhere, make it the key that encrypts, then remove the old one (and put
the new key in every node's encrypt_key_file, so that a restarted node has it):

  satellite keyring install NEWKEY
  satellite keyring use NEWKEY
  satellite keyring remove OLDKEY

KEY is a base64 key, or - to read it from the standard input (a key on the
command line is seen by other users in the process list).

list shows each key by its fingerprint (the start of its SHA-256), how many
members have it and how many encrypt with it; --show-keys prints the keys too.

Exit codes: 0 every member answered, 1 some member did not answer or failed
(named on stderr) or the agent has no mesh, 2 usage (a malformed KEY), 3 no
answer from the agent (unreachable, token refused).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	f.add(cmd, true, keyringTimeout)

	list := &cobra.Command{
		Use:   "list",
		Short: "List the keys every member has",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runKeyring(cmd, &f, "list", nil)
		},
	}
	list.Flags().BoolVar(&f.showKeys, "show-keys", false, "print the keys themselves, not only their fingerprints")
	cmd.AddCommand(list)
	for _, op := range []struct{ name, short string }{
		{mesh.KeyringInstall, "Install a key on every member, besides the keys they have"},
		{mesh.KeyringUse, "Make an installed key the one every member encrypts with"},
		{mesh.KeyringRemove, "Remove a key from every member (not the one in use)"},
	} {
		cmd.AddCommand(&cobra.Command{
			Use:   op.name + " KEY",
			Short: op.short,
			Args:  cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				return runKeyring(cmd, &f, op.name, args)
			},
		})
	}
	return cmd
}

func runKeyring(cmd *cobra.Command, f *keyringFlags, op string, args []string) error {
	stdout, stderr := cmd.OutOrStdout(), cmd.ErrOrStderr()
	var key string
	if op != "list" {
		var err error
		if key, err = readKey(args[0], cmd.InOrStdin()); err != nil {
			return err
		}
	}
	c, ctx, err := f.connect(cmd)
	if err != nil {
		return err
	}
	defer c.Close()
	var ans api.KeyringAnswer
	if op == "list" {
		ans, err = c.Keyring(ctx)
	} else {
		ans, err = c.KeyringOp(ctx, op, key)
	}
	if err != nil {
		return keyringError(stderr, err, f.tokenGiven())
	}

	if op == "list" {
		if err := writeKeyringTable(stdout, ans.KeyringResult, f.showKeys); err != nil {
			fmt.Fprintf(stderr, "Error: %s\n", err)
			return exitError{exitFailed}
		}
	} else {
		fp := api.KeyFingerprint(key)
		switch op {
		case mesh.KeyringInstall:
			fmt.Fprintf(stdout, "Installed key %s on %d of %d members.\n", fp, answered(ans.KeyringResult), ans.NumNodes)
		case mesh.KeyringUse:
			fmt.Fprintf(stdout, "Key %s now encrypts the gossip of %d of %d members.\n", fp, answered(ans.KeyringResult), ans.NumNodes)
		case mesh.KeyringRemove:
			fmt.Fprintf(stdout, "Removed key %s from %d of %d members.\n", fp, answered(ans.KeyringResult), ans.NumNodes)
		}
	}
	if ans.Complete() {
		return nil
	}
	reportIncomplete(stderr, ans)
	return exitError{exitFailed}
}

// answered counts the members that answered without an error.
func answered(st mesh.KeyringResult) int { return max(st.NumResp-st.NumErr, 0) }

// reportIncomplete names the members that failed, and counts those that did
// not answer (serf's answer does not name them).
func reportIncomplete(w io.Writer, ans api.KeyringAnswer) {
	if silent := ans.NumNodes - ans.NumResp; silent > 0 {
		fmt.Fprintf(w, "Error: %d of %d members did not answer; run the command again once they are back (satellite members shows which are not alive).\n", silent, ans.NumNodes)
	}
	nodes := make([]string, 0, len(ans.Errors))
	for n := range ans.Errors {
		nodes = append(nodes, n)
	}
	sort.Strings(nodes)
	if len(nodes) > 0 || ans.NumErr > 0 {
		fmt.Fprintf(w, "Error: %d member(s) failed:\n", max(ans.NumErr, len(nodes)))
	}
	for _, n := range nodes {
		fmt.Fprintf(w, "  %s: %s\n", cell(n), cell(ans.Errors[n]))
	}
	if ans.Error != "" && len(nodes) == 0 {
		fmt.Fprintf(w, "  %s\n", cell(ans.Error))
	}
}

// keyringError prints why the request failed: exit 3 when the agent gave no
// usable answer, 1 when it answered that it cannot (no mesh, the keyring
// failed).
func keyringError(stderr io.Writer, err error, tokenGiven bool) error {
	var se *api.StatusError
	if errors.As(err, &se) && se.Code != http.StatusUnauthorized && se.Code != http.StatusForbidden {
		msg := se.Message
		if msg == "" {
			msg = se.Error()
		}
		fmt.Fprintf(stderr, "Error: %s\n", cell(msg))
		return exitError{exitFailed}
	}
	return agentError(stderr, err, tokenGiven)
}

// readKey takes KEY from the argument, or from the first line of stdin for
// "-", and checks it. The error never quotes the key.
func readKey(arg string, stdin io.Reader) (string, error) {
	key := arg
	if arg == "-" {
		line, err := bufio.NewReader(io.LimitReader(stdin, 4<<10)).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return "", fmt.Errorf("reading the key from the standard input: %w", err)
		}
		key = line
	}
	key = strings.TrimSpace(key)
	if err := api.CheckKey(key); err != nil {
		return "", fmt.Errorf("KEY: %w", err)
	}
	return key, nil
}

// writeKeyringTable lists the keys, the one in use first, then how many
// members answered.
func writeKeyringTable(w io.Writer, st mesh.KeyringResult, showKeys bool) error {
	keys := make([]string, 0, len(st.Keys))
	for k := range st.Keys {
		keys = append(keys, k)
	}
	for k := range st.PrimaryKeys {
		if _, ok := st.Keys[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Slice(keys, func(i, j int) bool {
		a, b := keys[i], keys[j]
		if st.PrimaryKeys[a] != st.PrimaryKeys[b] {
			return st.PrimaryKeys[a] > st.PrimaryKeys[b]
		}
		if st.Keys[a] != st.Keys[b] {
			return st.Keys[a] > st.Keys[b]
		}
		return api.KeyFingerprint(a) < api.KeyFingerprint(b)
	})
	var out bytes.Buffer
	tw := tabwriter.NewWriter(&out, 0, 0, 2, ' ', 0)
	header := "FINGERPRINT\tIN USE ON\tINSTALLED ON"
	if showKeys {
		header += "\tKEY"
	}
	fmt.Fprintln(tw, header)
	for _, k := range keys {
		row := fmt.Sprintf("%s\t%d/%d\t%d/%d", api.KeyFingerprint(k), st.PrimaryKeys[k], st.NumNodes, st.Keys[k], st.NumNodes)
		if showKeys {
			row += "\t" + cell(k)
		}
		fmt.Fprintln(tw, row)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(&out, "\n%d of %d members answered.\n", answered(st), st.NumNodes)
	_, err := io.WriteString(w, trimLines(out.String()))
	return err
}
