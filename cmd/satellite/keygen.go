package main

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"

	"github.com/spf13/cobra"
)

// gossipKeySize is the size of a key keygen makes: AES-256, the largest
// serf takes.
const gossipKeySize = 32

func newKeygenCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "keygen",
		Short: "Print a new gossip encryption key",
		Long: `Keygen prints a new random 32-byte key (AES-256), in base64, for the mesh's
encrypt_key_file, or for 'satellite keyring install' when rotating the key of
a running mesh. It contacts nothing.

Exit code: 0.`,
		Example: `  (umask 077; satellite keygen > /etc/satellite/gossip.key)`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			key, err := newGossipKey()
			if err != nil {
				fmt.Fprintf(cmd.ErrOrStderr(), "Error: %s\n", err)
				return exitError{exitFailed}
			}
			fmt.Fprintln(cmd.OutOrStdout(), key)
			return nil
		},
	}
}

// newGossipKey returns a new random key in standard base64.
func newGossipKey() (string, error) {
	b := make([]byte, gossipKeySize)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("reading random bytes: %w", err)
	}
	return base64.StdEncoding.EncodeToString(b), nil
}
