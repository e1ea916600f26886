// Command satellite is the declarative health-check engine: validate, fmt,
// and (later) run the agent.
package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	_ "github.com/satellite-hq/satellite/checks/all"
	_ "github.com/satellite-hq/satellite/sinks/all"
)

// Exit codes shared by the commands (CLI.md).
const (
	exitOK      = 0
	exitFailed  = 1
	exitUsage   = 2
	exitNoAgent = 3
)

// exitError carries an exit code through cobra; the message, if any, was
// already printed.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit %d", e.code) }

func main() {
	os.Exit(execute(os.Args[1:]))
}

func execute(args []string) int {
	root := newRootCmd()
	root.SetArgs(args)
	err := root.Execute()
	if err == nil {
		return exitOK
	}
	var ee exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	// Anything else is a usage error from cobra: unknown flag, bad arguments.
	fmt.Fprintf(os.Stderr, "Error: %s\nRun 'satellite --help' for usage.\n", err)
	return exitUsage
}

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "satellite",
		Short:         "Declarative health checks for clusters",
		Long:          "satellite runs the health checks that HCL files describe, on every node of a cluster,\nand tells from any node how the whole cluster is.",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newValidateCmd(), newFmtCmd(), newVersionCmd())
	return root
}
