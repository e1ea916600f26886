package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/spf13/cobra"

	"github.com/satellite-hq/satellite/agent"
	"github.com/satellite-hq/satellite/api"
	"github.com/satellite-hq/satellite/checks"
	"github.com/satellite-hq/satellite/dsl"
	"github.com/satellite-hq/satellite/engine"
	"github.com/satellite-hq/satellite/health"
)

type runFlags struct {
	configFlags
	once      bool
	checks    []string
	noSinks   bool
	logLevel  string
	logJSON   bool
	apiListen string
}

func newRunCmd() *cobra.Command {
	var f runFlags
	cmd := &cobra.Command{
		Use:   "run [PATH...]",
		Short: "Run the agent: schedule checks, serve the API, write the history and sinks",
		Long: `Run starts the agent on the config at PATH (default $SATELLITE_CONFIG, else
/etc/satellite, else .). It runs until SIGINT or SIGTERM, then lets runs in
flight finish and flushes the history and sinks; SIGHUP reloads the config
(an invalid config is refused and the old one keeps running).

Under systemd (Type=notify) it reports READY=1 once the API listens and the
first round of checks has started, RELOADING=1/READY=1 around a SIGHUP
reload and STOPPING=1 at shutdown, and pings the watchdog (WatchdogSec=)
while its run loop makes progress. GET /readyz answers 200 once every check
has run once.

With --once it runs every selected check once instead (dependencies first),
prints a table (or --format json) and exits.

Exit codes: 0 clean stop (--once: nothing critical), 1 runtime failure
(--once: something critical), 2 config invalid at start.`,
		Example: `  satellite run /etc/satellite/node.hcl /etc/satellite/checks.d
  satellite run --once --check http.apiserver examples/quickstart
  satellite run --once --format json --no-sinks checks.d`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := f.validateFormat(); err != nil {
				return err
			}
			if !f.once && (len(f.checks) > 0 || f.noSinks) {
				return errors.New("--check and --no-sinks go with --once")
			}
			level := hclog.LevelFromString(f.logLevel)
			if level == hclog.NoLevel {
				return fmt.Errorf("--log-level must be trace, debug, info, warn or error, not %q", f.logLevel)
			}
			log := hclog.New(&hclog.LoggerOptions{
				Name: "satellite", Level: level, JSONFormat: f.logJSON,
				Output: cmd.ErrOrStderr(), Color: hclog.ColorOff,
			})
			if f.once {
				return runOnce(cmd, &f, configPaths(args), log)
			}
			return runAgent(cmd, &f, configPaths(args), log)
		},
	}
	f.register(cmd, false)
	fl := cmd.Flags()
	fl.BoolVar(&f.once, "once", false, "run every selected check once, print the results and exit")
	fl.StringArrayVar(&f.checks, "check", nil, "with --once: run this check (TYPE.NAME, repeatable) and its dependencies")
	fl.BoolVar(&f.noSinks, "no-sinks", false, "with --once: do not write the results to the history or the sinks")
	fl.StringVar(&f.logLevel, "log-level", "info", "trace, debug, info, warn or error")
	fl.BoolVar(&f.logJSON, "log-json", false, "write logs as JSON lines")
	fl.StringVar(&f.apiListen, "api-listen", "", "override api.listen (HOST:PORT)")
	_ = fl.MarkHidden("api-listen")
	return cmd
}

func runAgent(cmd *cobra.Command, f *runFlags, paths []string, log hclog.Logger) error {
	opts, err := f.loadOptions()
	if err != nil {
		return err
	}
	tuneAgentMemory(log)
	if f.apiListen != "" {
		// The override bypasses validate, which judges api.listen: the
		// same rules here, as a usage error before anything starts.
		if _, _, err := net.SplitHostPort(f.apiListen); err != nil {
			return fmt.Errorf("--api-listen must be HOST:PORT, such as 127.0.0.1:7575: %w", err)
		}
	}
	a, cfg, diags, err := agent.New(agent.Options{Paths: paths, Load: opts, Logger: log, Version: version, Listen: f.apiListen})
	if len(diags) > 0 {
		printDiags(cmd.ErrOrStderr(), cfg, diags)
	}
	if err != nil {
		fmt.Fprintf(cmd.ErrOrStderr(), "\nThe config is invalid; the agent did not start.\n")
		return exitError{exitUsage}
	}
	if f.apiListen != "" && !api.IsLoopback(f.apiListen) && cfg.API.TokenFile == "" {
		fmt.Fprintf(cmd.ErrOrStderr(), "Error: --api-listen %s is not a loopback address, so the API needs a token: set api.token_file. The agent did not start.\n", f.apiListen)
		return exitError{exitUsage}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	reloadDone := make(chan struct{})
	go func() {
		defer close(reloadDone)
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				log.Info("SIGHUP: reloading the config")
				// Under systemd: RELOADING=1 before, READY=1 after.
				a.SignalReload(ctx)
			}
		}
	}()
	err = a.Run(ctx)
	stop()
	// A SIGHUP reload still compiling (the agent refuses to apply it now)
	// does not hold up the exit for long.
	select {
	case <-reloadDone:
	case <-time.After(reloadExitWait):
		log.Warn("exiting with a reload still compiling; it was not applied")
	}
	if err != nil {
		log.Error("the agent failed", "error", err)
		return exitError{exitFailed}
	}
	return nil
}

// reloadExitWait bounds the wait, at exit, for a SIGHUP reload that is
// still compiling.
const reloadExitWait = 2 * time.Second

func runOnce(cmd *cobra.Command, f *runFlags, paths []string, log hclog.Logger) error {
	tuneShortRunGC()
	opts, err := f.loadOptions()
	if err != nil {
		return err
	}
	opts.Logger = log
	cfg, plan, diags := agent.Load(paths, opts)
	if len(diags) > 0 {
		printDiags(cmd.ErrOrStderr(), cfg, diags)
	}
	if diags.HasErrors() || plan == nil {
		return exitError{exitUsage}
	}
	selected := plan.Running()
	if len(f.checks) > 0 {
		selected = selected[:0:0]
		for _, addr := range f.checks {
			c, ok := plan.Check(addr)
			if !ok {
				var all []string
				for _, c := range plan.Checks {
					all = append(all, c.Address)
				}
				hint := ""
				if s := dsl.Suggest(addr, all); s != "" {
					hint = fmt.Sprintf(" Did you mean %q?", s)
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "Error: no check %s in this config.%s\n", addr, hint)
				return exitError{exitUsage}
			}
			selected = append(selected, c)
		}
		selected = engine.WithDependencies(plan, selected)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	progress := newProgress(cmd.ErrOrStderr(), len(selected))
	events := engine.RunOnce(ctx, selected, engine.OnceOptions{
		MaxConcurrent: cfg.Agent.MaxConcurrent,
		Logger:        log,
		OnEvent:       func(e engine.Event) { progress.step(e.Check.Address) },
	})
	progress.done()

	if !f.noSinks {
		if err := agent.WriteOnce(ctx, cfg, plan, events, log); err != nil {
			log.Error("writing the results", "error", cfg.Redact(err.Error()))
		}
	}

	node := health.Node{Name: cfg.Agent.Name, ConfigHash: plan.Hash, Version: version, ObservedAt: time.Now().UTC()}
	critical := false
	for _, e := range events {
		p := engine.ProbeOf(e.Check, e.State)
		p.Error, p.Detail = cfg.Redact(p.Error), cfg.Redact(p.Detail)
		node.Probes = append(node.Probes, p)
		if e.State.Status == checks.StatusCritical || e.State.Status == checks.StatusBlocked {
			critical = true
		}
	}
	node.Status = health.NodeStateOf(node.Probes)
	out := cmd.OutOrStdout()
	if f.format == "json" {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(node); err != nil {
			return exitError{exitFailed}
		}
	} else {
		printProbes(out, node.Probes, useColor(out))
	}
	if critical {
		return exitError{exitFailed}
	}
	return nil
}

// printProbes prints a results table for people.
func printProbes(w io.Writer, probes []health.Probe, color bool) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CHECK\tSTATUS\tDURATION\tERROR")
	counts := map[checks.Status]int{}
	for _, p := range probes {
		counts[p.Status]++
		// A check's error (an exec's output, an error_message) and a
		// for_each key come from outside: control characters are replaced,
		// as status and history do, so that a run cannot retitle or clear
		// the operator's terminal.
		errText := truncate(cell(p.Error), 100)
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", cell(p.Checker), colorStatus(p.Status, color), formatMS(p.DurationMS), errText)
	}
	_ = tw.Flush()
	fmt.Fprintf(w, "\n%d passing, %d warning, %d critical, %d blocked\n",
		counts[checks.StatusPassing], counts[checks.StatusWarning], counts[checks.StatusCritical], counts[checks.StatusBlocked])
}

func formatMS(ms float64) string {
	if ms == 0 {
		return "-"
	}
	if ms < 10 {
		return fmt.Sprintf("%.1fms", ms)
	}
	return fmt.Sprintf("%.0fms", ms)
}

func colorStatus(s checks.Status, color bool) string {
	if !color {
		return string(s)
	}
	code := map[checks.Status]string{
		checks.StatusPassing: "32", checks.StatusWarning: "33", checks.StatusCritical: "31", checks.StatusBlocked: "35",
	}[s]
	if code == "" {
		return string(s)
	}
	return "\x1b[" + code + "m" + string(s) + "\x1b[0m"
}

// progress shows "[n/total] address" on a terminal, and nothing elsewhere.
type progress struct {
	w     io.Writer
	total int
	n     int
	on    bool
	mu    chan struct{}
}

func newProgress(w io.Writer, total int) *progress {
	p := &progress{w: w, total: total, on: useColor(w) && total > 1, mu: make(chan struct{}, 1)}
	return p
}

func (p *progress) step(addr string) {
	if !p.on {
		return
	}
	p.mu <- struct{}{}
	p.n++
	fmt.Fprintf(p.w, "\r\x1b[K[%d/%d] %s", p.n, p.total, cell(addr))
	<-p.mu
}

func (p *progress) done() {
	if p.on {
		fmt.Fprint(p.w, "\r\x1b[K")
	}
}
