package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/satellite-hq/satellite/api"
	"github.com/satellite-hq/satellite/health"
)

// Defaults of `rollout status --wait`.
const (
	rolloutWaitTimeout = 5 * time.Minute
	rolloutInterval    = 2 * time.Second
	// rolloutNodesShown is how many node names a row of the table shows
	// before "+N more"; --format json has them all.
	rolloutNodesShown = 5
)

// configHashRE is what `satellite validate` prints as the config hash.
var configHashRE = regexp.MustCompile(`^[0-9a-f]{8}$`)

// newRolloutCmd is `satellite rollout`, with its one subcommand, status.
func newRolloutCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "rollout",
		Short: "Follow a config rollout across the mesh",
		Long: `Rollout follows a config rollout: after config management has put new check
files on the nodes and reloaded them, "rollout status" tells whether every
alive member of the mesh runs the same config hash.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newRolloutStatusCmd())
	return cmd
}

type rolloutFlags struct {
	agentFlags
	wait     bool
	interval time.Duration
	format   string
	hash     string
}

func newRolloutStatusCmd() *cobra.Command {
	var f rolloutFlags
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Tell whether every alive member runs one config hash",
		Long: `Status asks the local agent (its API, --addr) for the mesh members, as
"satellite members" does, and tells whether every alive satellite member runs
the same config hash (the serf tag hash, the hash "satellite validate"
prints). Failed, leaving and left members and foreign members (plain serf
agents) do not count; they are listed. An agent without a mesh block is a
mesh of one.

When they differ it prints, per hash, how many members run it and which, and
names the members behind: those that do not run the target hash, which is
--hash when given, else the hash of the local agent (the node config
management has just updated and where this command runs).

--hash H succeeds only when every alive member runs H. --wait asks again
every --interval until the members agree or --timeout has passed (then it
exits 1 naming the members that did not move); progress goes to stderr when
it is a terminal. --format json prints one JSON object for scripts.

Exit codes: 0 every alive member runs one hash (H with --hash), 1 they differ,
2 usage, 3 no answer from the agent.`,
		Example: `  satellite rollout status
  satellite rollout status --wait --timeout 2m
  satellite rollout status --hash "$(satellite validate /etc/satellite | sed -n 's/.*config hash \([0-9a-f]*\)\.$/\1/p')" --wait
  satellite rollout status --format json | jq -r '.behind[]'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runRolloutStatus(cmd, &f) },
	}
	f.add(cmd, false, api.DefaultClientTimeout)
	cmd.Flags().Lookup("timeout").Usage = fmt.Sprintf("give up on the agent after this long; with --wait, on agreement (then %s unless given)", rolloutWaitTimeout)
	cmd.Flags().BoolVar(&f.wait, "wait", false, "ask again until every alive member runs one hash, or --timeout")
	cmd.Flags().DurationVar(&f.interval, "interval", rolloutInterval, "with --wait: how often to ask")
	cmd.Flags().StringVar(&f.format, "format", "text", "output format: text or json")
	cmd.Flags().StringVar(&f.hash, "hash", "", "succeed only when every alive member runs this config hash (8 hex digits, as satellite validate prints it)")
	return cmd
}

// rolloutGroup is the members that run one hash.
type rolloutGroup struct {
	Hash  string   `json:"hash"`
	Count int      `json:"count"`
	Nodes []string `json:"nodes"`
}

// rolloutOther is a member that does not count.
type rolloutOther struct {
	Name    string `json:"name"`
	Status  string `json:"status"`
	Hash    string `json:"hash,omitempty"`
	Foreign bool   `json:"foreign,omitempty"`
}

// rolloutReport is the answer of `rollout status`, and its JSON.
type rolloutReport struct {
	// Agree: every alive member runs one hash (Target, with --hash).
	Agree bool `json:"agree"`
	// Target is the hash the members should run: --hash, else the local
	// agent's; TargetFrom says which ("flag" or "local").
	Target     string `json:"target"`
	TargetFrom string `json:"target_from"`
	Alive      int    `json:"alive"`
	// Hashes groups the alive members by hash, most members first.
	Hashes []rolloutGroup `json:"hashes"`
	// Behind are the alive members that do not run Target, sorted.
	Behind []string `json:"behind"`
	// NotCounted are the failed, leaving, left and foreign members.
	NotCounted []rolloutOther `json:"not_counted"`
	// Alone: the agent has no mesh; the local node is the only member.
	Alone bool `json:"alone,omitempty"`
	// Waited is how long --wait waited; TimedOut that it gave up.
	Waited   float64 `json:"waited_seconds"`
	TimedOut bool    `json:"timed_out,omitempty"`
	// Moved are the members whose hash changed while --wait waited.
	Moved []string `json:"moved,omitempty"`
}

func runRolloutStatus(cmd *cobra.Command, f *rolloutFlags) error {
	stdout, stderr := cmd.OutOrStdout(), cmd.ErrOrStderr()
	if f.format != "text" && f.format != "json" {
		return fmt.Errorf("--format must be text or json, not %q", f.format)
	}
	if f.hash != "" && !configHashRE.MatchString(f.hash) {
		return fmt.Errorf("--hash must be a config hash, the 8 hex digits satellite validate prints (like 8e36d244), not %q", f.hash)
	}
	if f.interval <= 0 {
		return fmt.Errorf("--interval must be more than 0, not %s", f.interval)
	}
	// The whole command's limit: --timeout, or with --wait its own default.
	limit := f.timeout
	if f.wait && !cmd.Flags().Changed("timeout") {
		limit = rolloutWaitTimeout
	}
	// Each request is bounded as the other commands' are, and by what is
	// left of the wait (the context below).
	af := f.agentFlags
	if f.wait {
		af.timeout = min(limit, api.DefaultClientTimeout)
	}
	c, ctx, err := af.connect(cmd)
	if err != nil {
		return err
	}
	defer c.Close()
	if f.wait {
		var stop context.CancelFunc
		ctx, stop = signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
		defer stop()
	}
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()

	start := time.Now()
	rep, err := rolloutOnce(ctx, c, f.hash)
	if err != nil {
		return agentError(stderr, err, f.tokenGiven())
	}
	if f.wait && !rep.Agree {
		rep, err = rolloutWait(ctx, c, f, rep, stderr)
		if err != nil {
			return agentError(stderr, err, f.tokenGiven())
		}
	}
	rep.Waited = time.Since(start).Round(time.Millisecond).Seconds()
	if err := writeRollout(stdout, rep, f); err != nil {
		fmt.Fprintf(stderr, "Error: %s\n", err)
		return exitError{exitFailed}
	}
	if !rep.Agree {
		return exitError{exitFailed}
	}
	return nil
}

// rolloutWait asks again every interval until the members agree or ctx
// ends. A lost agent (restarting with its package) is asked again; a
// refused token is not. It returns the last report, or the last error
// when the last attempt had no answer.
func rolloutWait(ctx context.Context, c *api.Client, f *rolloutFlags, first rolloutReport, stderr io.Writer) (rolloutReport, error) {
	progress := isTerminal(stderr)
	initial := hashesByNode(first)
	rep := first
	var lastErr error
	tick := time.NewTicker(f.interval)
	defer tick.Stop()
	defer func() {
		if progress {
			fmt.Fprint(stderr, "\r\x1b[K")
		}
	}()
	start := time.Now()
	for {
		if progress {
			fmt.Fprintf(stderr, "\r\x1b[K%s", rolloutProgress(rep, lastErr, time.Since(start)))
		}
		select {
		case <-ctx.Done():
			if lastErr != nil {
				return rep, lastErr
			}
			rep.TimedOut = true
			rep.Moved = movedNodes(initial, rep)
			return rep, nil
		case <-tick.C:
		}
		next, err := rolloutOnce(ctx, c, f.hash)
		if err != nil {
			if ctx.Err() != nil {
				continue // the deadline, seen above
			}
			if refused(err) {
				return rep, err
			}
			lastErr = err
			continue
		}
		rep, lastErr = next, nil
		if rep.Agree {
			rep.Moved = movedNodes(initial, rep)
			return rep, nil
		}
	}
}

// refused reports whether the agent answered with a refusal that asking
// again will not change: a token refused, no such endpoint.
func refused(err error) bool {
	var se *api.StatusError
	if !errors.As(err, &se) {
		return false
	}
	switch se.Code {
	case http.StatusUnauthorized, http.StatusForbidden, http.StatusNotFound, http.StatusBadRequest:
		return true
	}
	return false
}

func rolloutProgress(rep rolloutReport, lastErr error, waited time.Duration) string {
	s := fmt.Sprintf("%s waiting: ", waited.Truncate(time.Second))
	if lastErr != nil {
		return s + truncate("no answer from the agent: "+lastErr.Error(), 100)
	}
	on := 0
	for _, g := range rep.Hashes {
		if g.Hash == rep.Target {
			on = g.Count
		}
	}
	return s + fmt.Sprintf("%d of %d alive members run %s; behind: %s", on, rep.Alive, orDash(rep.Target), abbreviate(rep.Behind, rolloutNodesShown))
}

// rolloutOnce asks the agent for its members (and its own hash) and judges.
func rolloutOnce(ctx context.Context, c *api.Client, want string) (rolloutReport, error) {
	ms, _, err := c.Members(ctx)
	if err != nil {
		return rolloutReport{}, err
	}
	var local health.Node
	if want == "" || len(ms) == 0 {
		if local, _, err = c.LocalStatus(ctx); err != nil {
			return rolloutReport{}, err
		}
	}
	alone := len(ms) == 0
	if alone {
		ms = []health.Member{{Name: local.Name, Status: "alive", Tags: map[string]string{tagHash: local.ConfigHash}}}
	}
	rep := judgeRollout(ms, want, local.ConfigHash)
	rep.Alone = alone
	return rep, nil
}

// judgeRollout groups the alive satellite members by config hash. The
// target is want, else local (the local agent's hash).
func judgeRollout(ms []health.Member, want, local string) rolloutReport {
	rep := rolloutReport{Target: want, TargetFrom: "flag", Hashes: []rolloutGroup{}, Behind: []string{}, NotCounted: []rolloutOther{}}
	if want == "" {
		rep.Target, rep.TargetFrom = local, "local"
	}
	byHash := map[string]*rolloutGroup{}
	ms = append([]health.Member(nil), ms...)
	sort.SliceStable(ms, func(i, j int) bool { return ms[i].Name < ms[j].Name })
	for _, m := range ms {
		h := m.Tags[tagHash]
		if m.Foreign || m.Status != "alive" {
			rep.NotCounted = append(rep.NotCounted, rolloutOther{Name: m.Name, Status: m.Status, Hash: h, Foreign: m.Foreign})
			continue
		}
		rep.Alive++
		g := byHash[h]
		if g == nil {
			g = &rolloutGroup{Hash: h}
			byHash[h] = g
		}
		g.Count++
		g.Nodes = append(g.Nodes, m.Name)
		if h != rep.Target || h == "" {
			rep.Behind = append(rep.Behind, m.Name)
		}
	}
	for _, g := range byHash {
		rep.Hashes = append(rep.Hashes, *g)
	}
	sort.Slice(rep.Hashes, func(i, j int) bool {
		a, b := rep.Hashes[i], rep.Hashes[j]
		if a.Count != b.Count {
			return a.Count > b.Count
		}
		return a.Hash < b.Hash
	})
	// One hash, and a known one: a member without a hash tag has not
	// told what it runs yet.
	rep.Agree = len(rep.Hashes) == 1 && rep.Hashes[0].Hash != ""
	if rep.Agree && want != "" {
		rep.Agree = rep.Hashes[0].Hash == want
	}
	if rep.Agree {
		rep.Target = rep.Hashes[0].Hash
		rep.Behind = []string{}
	}
	return rep
}

func hashesByNode(rep rolloutReport) map[string]string {
	m := map[string]string{}
	for _, g := range rep.Hashes {
		for _, n := range g.Nodes {
			m[n] = g.Hash
		}
	}
	return m
}

// movedNodes are the alive members whose hash is not the one they ran at
// the start of the wait.
func movedNodes(initial map[string]string, rep rolloutReport) []string {
	var moved []string
	for n, h := range hashesByNode(rep) {
		if was, ok := initial[n]; ok && was != h {
			moved = append(moved, n)
		}
	}
	sort.Strings(moved)
	return moved
}

// abbreviate joins names, at most n of them, then "+K more".
func abbreviate(names []string, n int) string {
	if len(names) == 0 {
		return "-"
	}
	shown := make([]string, 0, n)
	for i, name := range names {
		if i == n {
			break
		}
		shown = append(shown, cell(name))
	}
	s := strings.Join(shown, ", ")
	if len(names) > n {
		s += fmt.Sprintf(", +%d more", len(names)-n)
	}
	return s
}

func writeRollout(w io.Writer, rep rolloutReport, f *rolloutFlags) error {
	if f.format == "json" {
		b, err := json.MarshalIndent(rep, "", "  ")
		if err != nil {
			return err
		}
		_, err = w.Write(append(b, '\n'))
		return err
	}
	var out bytes.Buffer
	members := plural(rep.Alive, "alive member")
	switch {
	case rep.Agree && rep.Alone:
		fmt.Fprintf(&out, "Rollout done: this agent runs alone (no mesh block), with config hash %s.\n", cell(rep.Target))
	case rep.Agree:
		fmt.Fprintf(&out, "Rollout done: %s %s config hash %s.\n", allOf(rep.Alive, members), verbS(rep.Alive, "run"), cell(rep.Target))
	default:
		why := fmt.Sprintf("%s run %d config hashes", members, len(rep.Hashes))
		if len(rep.Hashes) == 1 {
			why = fmt.Sprintf("%s %s %s", allOf(rep.Alive, members), verbS(rep.Alive, "run"), orDash(cell(rep.Hashes[0].Hash)))
		}
		if rep.TimedOut {
			fmt.Fprintf(&out, "Rollout not done after %s: %s.\n", time.Duration(rep.Waited*float64(time.Second)).Round(time.Second), why)
		} else {
			fmt.Fprintf(&out, "Rollout not done: %s.\n", why)
		}
		tw := tabwriter.NewWriter(&out, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "\nHASH\tCOUNT\tNODES")
		for _, g := range rep.Hashes {
			mark := ""
			if g.Hash == rep.Target && g.Hash != "" {
				mark = " (target)"
			}
			fmt.Fprintf(tw, "%s%s\t%d\t%s\n", orDash(cell(g.Hash)), mark, g.Count, abbreviate(g.Nodes, rolloutNodesShown))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		from := "the local agent's"
		if rep.TargetFrom == "flag" {
			from = "--hash"
		}
		verb := "do not run"
		if len(rep.Behind) == 1 {
			verb = "does not run"
		}
		if rep.TimedOut {
			verb = "did not move to"
		}
		if rep.Target == "" {
			fmt.Fprintf(&out, "\nBehind: %s (the local agent has no config hash yet).\n", abbreviate(rep.Behind, len(rep.Behind)))
		} else {
			fmt.Fprintf(&out, "\n%s %s %s (%s).\n", plural(len(rep.Behind), "member"), verb, cell(rep.Target), from)
			fmt.Fprintf(&out, "Behind: %s\n", abbreviate(rep.Behind, len(rep.Behind)))
		}
	}
	if len(rep.NotCounted) > 0 {
		parts := make([]string, len(rep.NotCounted))
		for i, o := range rep.NotCounted {
			what := cell(o.Status)
			if o.Foreign {
				what = "foreign, " + what
			} else if o.Hash != "" {
				what += ", " + cell(o.Hash)
			}
			parts[i] = fmt.Sprintf("%s (%s)", cell(o.Name), what)
		}
		fmt.Fprintf(&out, "Not counted: %s\n", strings.Join(parts, ", "))
	}
	_, err := io.WriteString(w, trimLines(out.String()))
	return err
}

// verbS is verb for n things: "run", or "runs" for one.
func verbS(n int, verb string) string {
	if n == 1 {
		return verb + "s"
	}
	return verb
}

// allOf is "all 3 alive members", or "the 1 alive member".
func allOf(n int, what string) string {
	if n == 1 {
		return "the " + what
	}
	return "all " + what
}
