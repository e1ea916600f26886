package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/satellite-hq/satellite/api"
	"github.com/satellite-hq/satellite/dsl"
	"github.com/satellite-hq/satellite/health"
)

// Environment variables the commands that talk to the agent read.
const (
	envAddr  = "SATELLITE_ADDR"
	envToken = "SATELLITE_TOKEN"
)

// failingWidth is the most runes the FAILING cell shows; --format json has
// every probe.
const failingWidth = 60

// summaryWidth is the most runes of the summary line: with many degraded
// nodes the summary names them all, and the rows below say it again.
const summaryWidth = 200

// agentFlags are the flags of every command that asks the local agent.
type agentFlags struct {
	addr      string
	token     string
	tokenFile string
	caFile    string
	certFile  string
	keyFile   string
	timeout   time.Duration
}

// add declares the flags on cmd (on its subcommands too when persistent),
// with the given default timeout. The token's default is not taken from the
// environment here: cobra would print it in --help.
func (f *agentFlags) add(cmd *cobra.Command, persistent bool, timeout time.Duration) {
	fl := cmd.Flags()
	if persistent {
		fl = cmd.PersistentFlags()
	}
	def := dsl.DefaultListen
	if v := os.Getenv(envAddr); v != "" {
		def = v
	}
	fl.StringVar(&f.addr, "addr", def, "the agent's API: host:port or an http(s) URL ($"+envAddr+")")
	fl.StringVar(&f.token, "token", "", "the API token (default $"+envToken+"); --token-file keeps it out of the process list")
	fl.StringVar(&f.tokenFile, "token-file", "", "read the API token from this file")
	fl.StringVar(&f.caFile, "ca-file", "", "with https: trust the CAs in this PEM file instead of the system's")
	fl.StringVar(&f.certFile, "cert-file", "", "with https: present this client certificate (PEM; needs --key-file)")
	fl.StringVar(&f.keyFile, "key-file", "", "with https: the client certificate's key (PEM)")
	fl.DurationVar(&f.timeout, "timeout", timeout, "give up on the agent after this long")
}

// connect builds the API client and the context of the command's requests;
// its errors are usage errors.
func (f *agentFlags) connect(cmd *cobra.Command) (*api.Client, context.Context, error) {
	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	c, err := f.client()
	return c, ctx, err
}

// client builds the API client; its errors are usage errors.
func (f *agentFlags) client() (*api.Client, error) {
	token := f.token
	switch {
	case token != "" && f.tokenFile != "":
		return nil, errors.New("give the token with --token or --token-file, not both")
	case f.tokenFile != "":
		b, err := os.ReadFile(f.tokenFile)
		if err != nil {
			return nil, fmt.Errorf("--token-file: %w", err)
		}
		if token = strings.TrimSpace(string(b)); token == "" {
			return nil, fmt.Errorf("--token-file %s is empty", f.tokenFile)
		}
	case token == "":
		token = os.Getenv(envToken)
	}
	if f.timeout <= 0 {
		return nil, fmt.Errorf("--timeout must be more than 0, not %s", f.timeout)
	}
	tlsCfg, err := f.tlsConfig()
	if err != nil {
		return nil, err
	}
	c, err := api.NewClient(f.addr, api.ClientOptions{Token: token, TLS: tlsCfg, Timeout: f.timeout})
	if err != nil {
		return nil, fmt.Errorf("--addr: %w", err)
	}
	return c, nil
}

func (f *agentFlags) tlsConfig() (*tls.Config, error) {
	if f.caFile == "" && f.certFile == "" && f.keyFile == "" {
		return nil, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if f.caFile != "" {
		pem, err := os.ReadFile(f.caFile)
		if err != nil {
			return nil, fmt.Errorf("--ca-file: %w", err)
		}
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--ca-file %s holds no PEM certificate", f.caFile)
		}
	}
	if (f.certFile == "") != (f.keyFile == "") {
		return nil, errors.New("--cert-file and --key-file go together")
	}
	if f.certFile != "" {
		cert, err := tls.LoadX509KeyPair(f.certFile, f.keyFile)
		if err != nil {
			return nil, fmt.Errorf("--cert-file, --key-file: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

// agentError prints why the agent gave no usable answer and returns the
// exit code: 3 for everything that leaves the command without an answer
// (unreachable, a refused token, an error answer), so that a script never
// mistakes it for a degraded cluster (1).
func agentError(stderr io.Writer, err error, tokenGiven bool) error {
	var se *api.StatusError
	switch {
	case errors.As(err, &se) && se.Code == http.StatusUnauthorized && !tokenGiven:
		fmt.Fprintf(stderr, "Error: the agent at %s needs an API token (401 unauthorized): give it with --token-file, --token or $%s.\n", se.URL, envToken)
	case errors.As(err, &se) && se.Code == http.StatusUnauthorized:
		fmt.Fprintf(stderr, "Error: the agent at %s refused the API token (401 unauthorized): it is not the agent's api.token_file nor its read_token_file.\n", se.URL)
	case errors.As(err, &se) && se.Code == http.StatusForbidden:
		fmt.Fprintf(stderr, "Error: the agent at %s refused the read token for this (403 forbidden): it needs the full token, the agent's api.token_file.\n", se.URL)
	case errors.As(err, &se) && se.Code == http.StatusBadRequest && strings.HasPrefix(se.URL, "http://"):
		// What Go's TLS server answers to plain HTTP; the API's GETs
		// answer nothing else with 400.
		fmt.Fprintf(stderr, "Error: %s (does the agent serve https? then write --addr https://%s)\n", err, strings.TrimPrefix(se.URL, "http://"))
	default:
		fmt.Fprintf(stderr, "Error: %s\n", err)
	}
	return exitError{exitNoAgent}
}

// tokenGiven reports whether the command sends a token, for messages.
func (f *agentFlags) tokenGiven() bool {
	return f.token != "" || f.tokenFile != "" || os.Getenv(envToken) != ""
}

type statusFlags struct {
	agentFlags
	local  bool
	node   string
	format string
	watch  bool
}

func newStatusCmd() *cobra.Command {
	var f statusFlags
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the cluster as the local agent sees it",
		Long: `Status asks the local agent (its API, --addr) for the cluster's status document
and prints a summary line and one row per node: its status, its mesh member
status, the age of its data, whether it is stale and why (failed, left,
leaving, unreachable, no digest), its config hash (marked * when it differs
from most nodes') and its failing checks; members that are no satellite
agents (plain serf agents) are listed apart as foreign and count neither
way. The answer comes from the agent's own state, never waiting on a peer.
--local shows this node alone; --node NAME one member, read from it now.
--format json prints the document as the API sends it, indented.
--watch draws the table again on every change, live from the agent's event
stream (GET /v1/events), until Ctrl-C: in place on a terminal, one table after
another otherwise; with --format json one document per line. It reconnects by
itself when the stream is lost, and exits with the code of the last table.

The token comes from --token-file, --token or $SATELLITE_TOKEN (the read
token is enough); it is never printed.

Exit codes: 0 healthy, 1 degraded (or unknown), 2 usage, 3 no answer from the
agent (unreachable, token refused, an error answer).`,
		Example: `  satellite status
  satellite status --local --format json | jq '.probes[] | select(.status != "passing")'
  satellite status --watch
  satellite status --addr https://node-a:7575 --ca-file ca.crt --token-file api-read.token`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runStatus(cmd, &f) },
	}
	f.add(cmd, false, api.DefaultClientTimeout)
	cmd.Flags().BoolVar(&f.local, "local", false, "this node only (GET /v1/status/local)")
	cmd.Flags().StringVar(&f.node, "node", "", "one member only, read from it now (GET /v1/status?node=NAME)")
	cmd.Flags().StringVar(&f.format, "format", "table", "output format: table or json")
	cmd.Flags().BoolVarP(&f.watch, "watch", "w", false, "draw the table again on every change (the agent's event stream) until Ctrl-C; with --format json, one document per line")
	return cmd
}

func runStatus(cmd *cobra.Command, f *statusFlags) error {
	stdout, stderr := cmd.OutOrStdout(), cmd.ErrOrStderr()
	if f.format != "table" && f.format != "json" {
		return fmt.Errorf("--format must be table or json, not %q", f.format)
	}
	c, ctx, err := f.connect(cmd)
	if err != nil {
		return err
	}
	defer c.Close()

	var (
		cs  health.Cluster
		raw []byte
	)
	if f.local && f.node != "" {
		return fmt.Errorf("--local and --node are exclusive")
	}
	if f.watch {
		return watchStatus(ctx, stdout, stderr, c, f)
	}
	switch {
	case f.node != "":
		cs, raw, err = c.NodeStatus(ctx, f.node)
	case f.local:
		var n health.Node
		n, raw, err = c.LocalStatus(ctx)
		cs = localDocument(n)
	default:
		cs, raw, err = c.Status(ctx)
	}
	if err != nil {
		return agentError(stderr, err, f.tokenGiven())
	}

	if f.format == "json" {
		if err := writeIndented(stdout, raw); err != nil {
			fmt.Fprintf(stderr, "Error: %s\n", err)
			return exitError{exitNoAgent}
		}
	} else if err := writeStatusTable(stdout, cs, f.local, time.Now(), useColor(stdout)); err != nil {
		fmt.Fprintf(stderr, "Error: %s\n", err)
		return exitError{exitFailed}
	}
	if cs.Status != health.Healthy {
		return exitError{exitFailed}
	}
	return nil
}

// localDocument wraps one node in a document of its own, so that --local
// prints through the same table; the status is the node's.
func localDocument(n health.Node) health.Cluster {
	st := n.Status
	if st == "" {
		st = health.NodeStateOf(n.Probes)
	}
	n.Status = st
	cs := health.Cluster{Status: st, Nodes: []health.Node{n}}
	if failing := health.Failing(n.Probes); len(failing) > 0 {
		cs.Summary = fmt.Sprintf("node %s: %s", cell(n.Name), strings.Join(failing, ", "))
	} else {
		cs.Summary = fmt.Sprintf("node %s: %d check(s), none critical or blocked", cell(n.Name), len(n.Probes))
	}
	return cs
}

// writeIndented writes the API's answer indented, as it was sent: fields
// this CLI does not know (a newer agent's) are kept.
func writeIndented(w io.Writer, raw []byte) error {
	var buf bytes.Buffer
	if err := json.Indent(&buf, bytes.TrimSpace(raw), "", "  "); err != nil {
		return fmt.Errorf("the agent's answer is not JSON: %w", err)
	}
	buf.WriteByte('\n')
	_, err := buf.WriteTo(w)
	return err
}

// ANSI colours of node and member statuses; every code has the length of
// colorDefault, so that the tabwriter still aligns a coloured column.
var nodeColor = map[string]string{
	string(health.Healthy):     "\x1b[32m",
	string(health.Degraded):    "\x1b[31m",
	string(health.NodeUnknown): "\x1b[33m",
	"alive":                    "\x1b[32m",
	"failed":                   "\x1b[31m",
	"leaving":                  "\x1b[33m",
	"left":                     "\x1b[33m",
}

// paint colours s by status when color is on; unknown statuses get the
// default colour, so that every cell of a column has codes of one length.
func paint(s, status string, color bool) string {
	if !color {
		return s
	}
	code, ok := nodeColor[status]
	if !ok {
		code = colorDefault
	}
	return code + s + colorReset
}

// writeStatusTable writes the summary line, then one row per node, sorted
// by name, and a line on config hashes when nodes differ.
func writeStatusTable(w io.Writer, cs health.Cluster, local bool, now time.Time, color bool) error {
	var out bytes.Buffer
	what := "Cluster"
	if local {
		what = "Node"
	}
	fmt.Fprintf(&out, "%s %s: %s\n", what, paint(cell(string(cs.Status)), string(cs.Status), color), truncate(cell(cs.Summary), summaryWidth))
	if len(cs.Nodes) == 0 {
		_, err := out.WriteTo(w)
		return err
	}
	// Ages are measured against the document's own time (the agent's
	// clock, which also stamped observed_at) when it has one.
	ref := now
	if !cs.Timestamp.IsZero() {
		ref = cs.Timestamp
	}
	nodes := append([]health.Node(nil), cs.Nodes...)
	sort.SliceStable(nodes, func(i, j int) bool { return nodes[i].Name < nodes[j].Name })
	hashes := make([]string, len(nodes))
	for i, n := range nodes {
		hashes[i] = nodeHash(n)
	}
	major, split := majorityHash(hashes)

	out.WriteByte('\n')
	tw := tabwriter.NewWriter(&out, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "NAME\t%s\tMEMBER\tAGE\tSTALE\tCONFIG\tFAILING\n", paint("STATUS", "", color))
	for i, n := range nodes {
		member := "-"
		if n.MemberStatus != nil && n.MemberStatus.Status != "" {
			member = n.MemberStatus.Status
		}
		stale := "-"
		if n.Stale {
			stale = "stale"
			if n.StaleReason != "" && n.StaleReason != member {
				stale += " (" + cell(n.StaleReason) + ")"
			}
		}
		cfg := orDash(cell(hashes[i]))
		if major != "" && hashes[i] != major {
			cfg += "*"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", cell(n.Name), paint(cell(orDash(string(n.Status))), string(n.Status), color),
			cell(member), age(ref, n.ObservedAt), stale, cfg, orDash(failingCell(health.Failing(n.Probes), failingWidth)))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if err := writeWhy(&out, nodes, color); err != nil {
		return err
	}
	if len(cs.Foreign) > 0 {
		parts := make([]string, len(cs.Foreign))
		for i, m := range cs.Foreign {
			parts[i] = fmt.Sprintf("%s (%s, %s)", cell(m.Name), cell(m.Status), cell(m.Addr))
		}
		fmt.Fprintf(&out, "\nForeign members, not satellite agents, ignored: %s\n", strings.Join(parts, ", "))
	}
	if split != "" {
		fmt.Fprintf(&out, "\n%s\n", split)
		if major != "" {
			fmt.Fprintf(&out, "* runs another config than most nodes (%s)\n", major)
		}
	}
	_, err := io.WriteString(w, trimLines(out.String()))
	return err
}

// whyRows and whyWidth bound the table of failing checks under the nodes:
// at most whyRows checks, each reason cut to whyWidth runes (--format json
// has them all, whole).
const (
	whyRows  = 20
	whyWidth = 120
)

// writeWhy writes, when checks are failing, a table of them with their
// reasons (CHECK NODE STATUS WHY), so that the answer to "why is it
// degraded" is on the screen: "wal_fsync_p99_ms 254 is above the critical
// threshold 50", not only "metrics.etcd critical". Sorted by node, then
// check; critical before blocked and unknown (a warning does not
// degrade a node, so it is not listed, as in FAILING).
func writeWhy(out *bytes.Buffer, nodes []health.Node, color bool) error {
	type row struct {
		node string
		p    health.Probe
	}
	var rows []row
	for _, n := range nodes {
		for _, p := range n.Probes {
			if p.Status.Failing() {
				rows = append(rows, row{n.Name, p})
			}
		}
	}
	if len(rows) == 0 {
		return nil
	}
	rank := func(s health.Status) int {
		if s == health.Critical {
			return 0
		}
		return 1
	}
	sort.SliceStable(rows, func(i, j int) bool {
		if a, b := rank(rows[i].p.Status), rank(rows[j].p.Status); a != b {
			return a < b
		}
		if rows[i].node != rows[j].node {
			return rows[i].node < rows[j].node
		}
		return rows[i].p.Checker < rows[j].p.Checker
	})
	out.WriteByte('\n')
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "CHECK\tNODE\t%s\tWHY\n", paint("STATUS", "", color))
	for i, r := range rows {
		if i == whyRows {
			break
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", cell(r.p.Checker), cell(r.node),
			paint(cell(string(r.p.Status)), string(r.p.Status), color), orDash(truncate(cell(r.p.Error), whyWidth)))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(rows) > whyRows {
		fmt.Fprintf(out, "... and %d more failing checks (--format json lists them all)\n", len(rows)-whyRows)
	}
	return nil
}

// nodeHash is a node's config hash: the document's, else its member's tag.
func nodeHash(n health.Node) string {
	if n.ConfigHash != "" {
		return n.ConfigHash
	}
	if n.MemberStatus != nil {
		return n.MemberStatus.Tags[tagHash]
	}
	return ""
}

// majorityHash finds the hash most nodes run, "" when two are tied for it,
// and, when nodes run more than one hash, a line that says so ("2 config
// hashes in the mesh: a1b2c3d4 (2 nodes), e5f6a7b8 (1 node): a rollout in
// progress or stuck"). Empty hashes (no data yet) do not count.
func majorityHash(hashes []string) (major, split string) {
	count := map[string]int{}
	for _, h := range hashes {
		if h != "" {
			count[h]++
		}
	}
	if len(count) < 2 {
		for h := range count {
			major = h
		}
		return major, ""
	}
	order := make([]string, 0, len(count))
	for h := range count {
		order = append(order, h)
	}
	sort.Slice(order, func(i, j int) bool {
		if count[order[i]] != count[order[j]] {
			return count[order[i]] > count[order[j]]
		}
		return order[i] < order[j]
	})
	if count[order[0]] > count[order[1]] {
		major = order[0]
	}
	parts := make([]string, len(order))
	for i, h := range order {
		parts[i] = fmt.Sprintf("%s (%s)", cell(h), plural(count[h], "node"))
	}
	return major, fmt.Sprintf("%d config hashes in the mesh: %s: a rollout in progress or stuck", len(order), strings.Join(parts, ", "))
}

// age says how old data observed at t is, in one unit: "4s", "3m", "5h",
// "2d"; "-" without a time. A time ahead of ref (clock skew) is "0s".
func age(ref, t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	d := max(ref.Sub(t), 0)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d/time.Second))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d/time.Minute))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d/time.Hour))
	}
	return fmt.Sprintf("%dd", int(d/(24*time.Hour)))
}

// failingCell joins the failing checks into at most width runes, ending
// with "+N more" when some do not fit; one check too long alone is cut.
func failingCell(failing []string, width int) string {
	var b strings.Builder
	for i, f := range failing {
		f = cell(f)
		sep := ""
		if i > 0 {
			sep = ", "
		}
		rest := len(failing) - i - 1
		more := ""
		if rest > 0 {
			more = fmt.Sprintf(", +%d more", rest)
		}
		if utf8.RuneCountInString(b.String()+sep+f+more) <= width {
			b.WriteString(sep + f)
			continue
		}
		if i == 0 {
			more = fmt.Sprintf(", +%d more", rest)
			if rest == 0 {
				more = ""
			}
			return truncate(f, max(width-utf8.RuneCountInString(more), 1)) + more
		}
		fmt.Fprintf(&b, ", +%d more", len(failing)-i)
		return b.String()
	}
	return b.String()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// trimLines removes the padding the tabwriter leaves at the end of lines.
func trimLines(s string) string {
	var out strings.Builder
	for line := range strings.Lines(s) {
		out.WriteString(strings.TrimRight(line, " \n"))
		out.WriteByte('\n')
	}
	return out.String()
}
