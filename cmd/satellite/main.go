// Command satellite is the declarative health-check engine: validate, fmt,
// and (later) run the agent.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/pprof"

	"github.com/spf13/cobra"

	_ "github.com/satellite-hq/satellite/checks/all"
	_ "github.com/satellite-hq/satellite/notify/all"
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
	stop := startProfile(os.Getenv("SATELLITE_CPUPROFILE"))
	code := execute(os.Args[1:])
	stop()
	writeHeapProfile(os.Getenv("SATELLITE_MEMPROFILE"))
	os.Exit(code)
}

// writeHeapProfile writes the heap profile (what is in use, after a
// collection, and what was allocated) to path at exit, when path is set
// (SATELLITE_MEMPROFILE).
func writeHeapProfile(path string) {
	if path == "" {
		return
	}
	f, err := os.Create(path)
	if err == nil {
		runtime.GC()
		err = pprof.WriteHeapProfile(f)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "Error: SATELLITE_MEMPROFILE: %v\n", err)
	}
}

// startProfile writes a CPU profile of the whole process to path until the
// returned function is called, when path is set (SATELLITE_CPUPROFILE, for
// `go tool pprof`; BENCHMARKS.md shows its use). The agent writes it when
// it stops on SIGINT or SIGTERM.
func startProfile(path string) (stop func()) {
	if path == "" {
		return func() {}
	}
	f, err := os.Create(path)
	if err == nil {
		err = pprof.StartCPUProfile(f)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "Error: SATELLITE_CPUPROFILE: %v\n", err)
		return func() {}
	}
	return func() {
		pprof.StopCPUProfile()
		_ = f.Close()
	}
}

// execute runs the command line args with the process's standard streams and
// returns the exit code.
func execute(args []string) int {
	return run(args, os.Stdout, os.Stderr)
}

// run runs the command line args, writing results to stdout and diagnostics
// to stderr, and returns the exit code. Colour is used only when a writer is
// a terminal (*os.File) and NO_COLOR is not set.
func run(args []string, stdout, stderr io.Writer) int {
	root := newRootCmd()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.Execute()
	if err == nil {
		return exitOK
	}
	var ee exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	// Anything else is a usage error from cobra: unknown flag, bad arguments.
	fmt.Fprintf(stderr, "Error: %s\nRun 'satellite --help' for usage.\n", err)
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
	root.AddCommand(newValidateCmd(), newRunCmd(), newFmtCmd(), newHistoryCmd(), newVersionCmd(),
		newStatusCmd(), newMembersCmd(), newKeygenCmd(), newKeyringCmd(), newNotifyCmd(), newSilenceCmd(), newHeartbeatCmd(),
		newRolloutCmd(), newManCmd())
	return root
}
