// Command peers measures satellite beside the tools a user would pick
// instead, goss and Gatus, with their binaries from ../shared/peers (built
// from their public sources; see its README). Run it with `make
// bench-peers`.
//
// Every comparison runs whole processes, alternating satellite and the peer
// (and, with -before, an older satellite) run by run so that the machine's
// noise falls on all of them alike, and prints medians and ratios:
//
//   - start-up: `satellite version` beside `goss --help`;
//   - `satellite run --once --no-sinks --format json` of 200 http checks
//     against a loopback server, beside `goss validate` of the same 200;
//   - `satellite validate` of those 200 checks;
//   - an agent with 200 http checks every 5 s and its SQLite history,
//     beside Gatus with the same 200 endpoints and SQLite storage, all
//     running at once for -window: CPU seconds and peak RSS of each.
//
// The figures go in BENCHMARKS.md ("Beside the peers") with the command
// line. Without the peer binaries it says so and exits 0.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"
)

type options struct {
	peers   string
	sat     string
	before  string
	runs    int
	window  time.Duration
	checks  int
	agentN  int
	jsonOut bool
}

func main() {
	var o options
	flag.StringVar(&o.peers, "peers", "../shared/peers", "the folder of the peer binaries (goss, gatus)")
	flag.StringVar(&o.sat, "satellite", "", "the satellite binary to measure (default: build one as a release is built)")
	flag.StringVar(&o.before, "before", "", "an older satellite binary, measured in the same runs")
	flag.IntVar(&o.runs, "runs", 20, "runs of each command, alternated")
	flag.DurationVar(&o.window, "window", 40*time.Second, "how long the agents are measured side by side")
	flag.IntVar(&o.checks, "checks", 200, "http checks in each config")
	flag.IntVar(&o.agentN, "agent-checks", 0, "http checks of the agents (default: -checks)")
	flag.BoolVar(&o.jsonOut, "json", false, "print the rows as JSON")
	flag.Parse()
	if o.agentN == 0 {
		o.agentN = o.checks
	}
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "bench-peers:", err)
		os.Exit(1)
	}
}

// row is one comparison: each tool's median, by name.
type row struct {
	Work   string             `json:"work"`
	Unit   string             `json:"unit"`
	Values map[string]float64 `json:"values"`
	Order  []string           `json:"order"`
	Peer   string             `json:"peer,omitempty"` // the tool the ratios divide by
}

func run(o options) error {
	goss, gatus := filepath.Join(o.peers, "goss"), filepath.Join(o.peers, "gatus")
	if !executable(goss) || !executable(gatus) {
		fmt.Printf("bench-peers: skipped: no goss and gatus binaries in %s (see its README)\n", o.peers)
		return nil
	}
	dir, err := os.MkdirTemp("", "satellite-bench-peers-")
	if err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(dir) }()
	if o.sat == "" {
		o.sat = filepath.Join(dir, "satellite")
		fmt.Fprintln(os.Stderr, "building satellite (CGO_ENABLED=0, -trimpath, -s -w) ...")
		if err := build(o.sat); err != nil {
			return err
		}
	}
	// Every binary is measured from a copy made now, in one folder: two
	// copies of one binary made at different times started 20% apart here
	// (where their pages sit in the page cache), more than the changes
	// being measured.
	fresh := func(name, path string) (string, error) {
		b, err := os.ReadFile(path)
		if err != nil {
			return "", err
		}
		out := filepath.Join(dir, "bin", name)
		if err := os.MkdirAll(filepath.Dir(out), 0o700); err != nil {
			return "", err
		}
		return out, os.WriteFile(out, b, 0o700)
	}
	for _, p := range []*string{&o.sat, &o.before, &goss, &gatus} {
		if *p == "" {
			continue
		}
		name := filepath.Base(*p)
		if p == &o.before {
			name = "satellite-before"
		}
		if *p, err = fresh(name, *p); err != nil {
			return err
		}
	}
	sats := []tool{{name: "satellite", path: o.sat}}
	if o.before != "" {
		sats = append(sats, tool{name: "before", path: o.before})
	}

	srv, port, err := serve()
	if err != nil {
		return err
	}
	defer func() { _ = srv.Close() }()
	cfg, err := writeConfigs(dir, port, o.checks)
	if err != nil {
		return err
	}

	var rows []row
	// Start-up.
	cmds := map[string][]string{"goss": {goss, "--help"}}
	for _, s := range sats {
		cmds[s.name] = []string{s.path, "version"}
	}
	wall, cpu, err := alternate(o.runs, cmds, "start-up")
	if err != nil {
		return err
	}
	rows = append(rows, mkrow("start-up: `satellite version` vs `goss --help`, wall", "ms", wall, sats, "goss"),
		mkrow("start-up, CPU", "ms", cpu, sats, "goss"))

	// run --once beside goss validate.
	cmds = map[string][]string{"goss": {goss, "-g", cfg.goss, "validate"}}
	for _, s := range sats {
		cmds[s.name] = []string{s.path, "run", "--once", "--no-sinks", "--format", "json", cfg.once}
	}
	wall, cpu, err = alternate(o.runs, cmds, "run --once")
	if err != nil {
		return err
	}
	what := fmt.Sprintf("`run --once --no-sinks --format json` of %d http checks vs `goss validate`", o.checks)
	rows = append(rows, mkrow(what+", wall", "ms", wall, sats, "goss"), mkrow(what+", CPU", "ms", cpu, sats, "goss"))

	// validate alone.
	cmds = map[string][]string{}
	for _, s := range sats {
		cmds[s.name] = []string{s.path, "validate", cfg.once}
	}
	wall, _, err = alternate(o.runs, cmds, "validate")
	if err != nil {
		return err
	}
	rows = append(rows, mkrow(fmt.Sprintf("`validate` of the %d checks, wall", o.checks), "ms", wall, sats, ""))

	// The agents side by side.
	agents, err := sideBySide(o, dir, port, sats, gatus)
	if err != nil {
		return err
	}
	rows = append(rows, agents...)
	return print(os.Stdout, rows, o.jsonOut)
}

type tool struct {
	name, path string
	keepAlive  bool // the agent's checks set keep_alive = true
}

func executable(path string) bool {
	st, err := os.Stat(path)
	return err == nil && !st.IsDir() && st.Mode()&0o111 != 0
}

// build builds satellite as a release is built: static, without paths or
// symbols.
func build(out string) error {
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", out, "./cmd/satellite")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	return cmd.Run()
}

// serve answers 200 "ok" on every path of a loopback port, as the peers'
// httpd.go does, from this process: not from any measured one.
func serve() (*http.Server, int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, 0, err
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "ok\n")
	}), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }() // ends with srv.Close
	return srv, ln.Addr().(*net.TCPAddr).Port, nil
}

type configs struct{ once, goss string }

// writeConfigs writes the one-shot configs of n checks, the same for both
// tools.
func writeConfigs(dir string, port, n int) (configs, error) {
	var hcl, yaml strings.Builder
	fmt.Fprintf(&hcl, "agent {\n  data_dir = %q\n}\n", filepath.Join(dir, "once"))
	yaml.WriteString("http:\n")
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&hcl, "check \"http\" \"t%d\" {\n  url = \"http://127.0.0.1:%d/t%d\"\n  timeout = \"5s\"\n}\n", i, port, i)
		fmt.Fprintf(&yaml, "  t%d:\n    url: http://127.0.0.1:%d/t%d\n    status: 200\n    timeout: 5000\n", i, port, i)
	}
	c := configs{once: filepath.Join(dir, "once.hcl"), goss: filepath.Join(dir, "goss.yaml")}
	if err := os.WriteFile(c.once, []byte(hcl.String()), 0o600); err != nil {
		return c, err
	}
	return c, os.WriteFile(c.goss, []byte(yaml.String()), 0o600)
}

// alternate runs every command once per round, in a fixed order, for runs
// rounds, and returns each one's median wall and CPU time in ms. A command
// that exits non-zero is an error: a failing check would not be a fair
// comparison.
func alternate(runs int, cmds map[string][]string, what string) (wall, cpu map[string]float64, err error) {
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	slices.Sort(names)
	ws, cs := map[string][]float64{}, map[string][]float64{}
	for r := range runs {
		fmt.Fprintf(os.Stderr, "\r%s: round %d of %d", what, r+1, runs)
		for _, n := range names {
			args := cmds[n]
			cmd := exec.Command(args[0], args[1:]...)
			var stderr strings.Builder
			cmd.Stderr = &stderr
			start := time.Now()
			if err := cmd.Run(); err != nil {
				return nil, nil, fmt.Errorf("%s: %s: %v: %s", what, strings.Join(args, " "), err, lastLine(stderr.String()))
			}
			ws[n] = append(ws[n], ms(time.Since(start)))
			u := cmd.ProcessState.SysUsage().(*syscall.Rusage)
			cs[n] = append(cs[n], ms(time.Duration(u.Utime.Nano()+u.Stime.Nano())))
		}
	}
	fmt.Fprintln(os.Stderr)
	wall, cpu = map[string]float64{}, map[string]float64{}
	for _, n := range names {
		wall[n], cpu[n] = median(ws[n]), median(cs[n])
	}
	return wall, cpu, nil
}

// sideBySide runs the satellite agents and Gatus at once, each with the
// same http checks every 5 s and SQLite history, and measures each one's
// CPU seconds over the window and its peak RSS.
func sideBySide(o options, dir string, port int, sats []tool, gatus string) ([]row, error) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	type proc struct {
		name string
		cmd  *exec.Cmd
	}
	var procs []proc
	defer func() {
		for _, p := range procs {
			_ = p.cmd.Process.Signal(syscall.SIGTERM)
			_ = p.cmd.Wait()
		}
	}()
	start := func(name string, cmd *exec.Cmd, log string) error {
		f, err := os.Create(log)
		if err != nil {
			return err
		}
		defer func() { _ = f.Close() }()
		cmd.Stdout, cmd.Stderr = f, f
		if err := cmd.Start(); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		procs = append(procs, proc{name, cmd})
		return nil
	}
	// The agent once more with keep_alive on every check, as Gatus reuses
	// its connections.
	agents := append(slices.Clone(sats), tool{name: "keep_alive", path: o.sat, keepAlive: true})
	for _, s := range agents {
		d := filepath.Join(dir, "agent-"+s.name)
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, err
		}
		api, err := freePort()
		if err != nil {
			return nil, err
		}
		var b strings.Builder
		fmt.Fprintf(&b, "agent {\n  data_dir = %q\n}\napi {\n  listen = \"127.0.0.1:%d\"\n}\n", filepath.Join(d, "data"), api)
		for j := 1; j <= o.agentN; j++ {
			ka := ""
			if s.keepAlive { // only then: an older satellite may not know the attribute
				ka = "  keep_alive = true\n"
			}
			fmt.Fprintf(&b, "check \"http\" \"t%d\" {\n  url = \"http://127.0.0.1:%d/t%d\"\n  interval = \"5s\"\n  timeout = \"2s\"\n%s}\n", j, port, j, ka)
		}
		conf := filepath.Join(d, "c.hcl")
		if err := os.WriteFile(conf, []byte(b.String()), 0o600); err != nil {
			return nil, err
		}
		if err := start(s.name, exec.CommandContext(ctx, s.path, "run", conf), filepath.Join(d, "log")); err != nil {
			return nil, err
		}
	}
	gd := filepath.Join(dir, "gatus")
	if err := os.MkdirAll(gd, 0o700); err != nil {
		return nil, err
	}
	gp, err := freePort()
	if err != nil {
		return nil, err
	}
	var g strings.Builder
	fmt.Fprintf(&g, "storage:\n  type: sqlite\n  path: %s/gatus.db\nweb:\n  address: 127.0.0.1\n  port: %d\nconcurrency: 16\nendpoints:\n", gd, gp)
	for j := 1; j <= o.agentN; j++ {
		fmt.Fprintf(&g, "  - name: t%d\n    url: http://127.0.0.1:%d/t%d\n    interval: 5s\n    conditions:\n      - \"[STATUS] == 200\"\n", j, port, j)
	}
	if err := os.WriteFile(filepath.Join(gd, "config.yaml"), []byte(g.String()), 0o600); err != nil {
		return nil, err
	}
	gc := exec.CommandContext(ctx, gatus)
	gc.Env = append(os.Environ(), "GATUS_CONFIG_PATH="+filepath.Join(gd, "config.yaml"))
	if err := start("gatus", gc, filepath.Join(gd, "log")); err != nil {
		return nil, err
	}

	fmt.Fprintf(os.Stderr, "agents: warming up 8 s, then measuring for %v ...\n", o.window)
	time.Sleep(8 * time.Second)
	cpu0 := map[string]float64{}
	for _, p := range procs {
		v, err := cpuSeconds(p.cmd.Process.Pid)
		if err != nil {
			return nil, fmt.Errorf("%s died during the warm-up (see its log)", p.name)
		}
		cpu0[p.name] = v
	}
	time.Sleep(o.window)
	cpu, rss := map[string]float64{}, map[string]float64{}
	for _, p := range procs {
		v, err := cpuSeconds(p.cmd.Process.Pid)
		if err != nil {
			return nil, fmt.Errorf("%s died during the window (see its log)", p.name)
		}
		cpu[p.name] = v - cpu0[p.name]
		if rss[p.name], err = peakRSS(p.cmd.Process.Pid); err != nil {
			return nil, err
		}
	}
	what := fmt.Sprintf("agent, %d http checks every 5 s with SQLite history, %v side by side with Gatus", o.agentN, o.window)
	return []row{mkrow(what+": CPU", "s", cpu, agents, "gatus"), mkrow(what+": peak RSS", "MiB", rss, agents, "gatus")}, nil
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer func() { _ = ln.Close() }()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// cpuSeconds is the process's user and system time, from /proc.
func cpuSeconds(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The fields after the command name, which may hold spaces.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	if len(f) < 13 || f[0] == "Z" {
		return 0, fmt.Errorf("process %d is gone", pid)
	}
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / 100, nil // USER_HZ is 100 on Linux
}

// peakRSS is VmHWM in MiB.
func peakRSS(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			return kb / 1024, err
		}
	}
	return 0, fmt.Errorf("no VmHWM for process %d", pid)
}

func mkrow(work, unit string, v map[string]float64, sats []tool, peer string) row {
	r := row{Work: work, Unit: unit, Values: v, Peer: peer}
	for _, s := range sats {
		r.Order = append(r.Order, s.name)
	}
	if peer != "" {
		r.Order = append(r.Order, peer)
	}
	return r
}

func print(w io.Writer, rows []row, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(rows)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, r := range rows {
		var cells []string
		for _, n := range r.Order {
			cells = append(cells, fmt.Sprintf("%s %.2f %s", n, r.Values[n], r.Unit))
		}
		ratios := ""
		if p := r.Values[r.Peer]; r.Peer != "" && p > 0 {
			var rs []string
			for _, n := range r.Order[:len(r.Order)-1] {
				rs = append(rs, fmt.Sprintf("%s/%s %.2f", n, r.Peer, r.Values[n]/p))
			}
			ratios = strings.Join(rs, ", ")
		}
		if b := r.Values["before"]; b > 0 {
			ratios = strings.TrimPrefix(ratios+fmt.Sprintf(", satellite/before %.2f", r.Values["satellite"]/b), ", ")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", r.Work, strings.Join(cells, "\t"), ratios)
	}
	return tw.Flush()
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 0 {
		return (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return s[len(s)/2]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	return s
}
