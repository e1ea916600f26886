package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/satellite-hq/satellite/health"
	"github.com/satellite-hq/satellite/internal/testenv"

	"github.com/satellite-hq/satellite/sinks/sqlite"
)

// waitLimit bounds every wait on a condition: generous, because the suite
// runs under -race on small machines next to other packages.
const waitLimit = 15 * time.Second

// The binary the process tests run, built once (without -race: it is the
// agent under test, not the test).
var (
	binOnce sync.Once
	binDir  string
	binPath string
	binErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// agentBinary builds the command once per test binary and returns its path.
func agentBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the binary")
	}
	if runtime.GOOS == "windows" {
		t.Skip("uses Unix signals")
	}
	binOnce.Do(func() {
		goBin, err := exec.LookPath("go")
		if err != nil {
			binErr = err
			return
		}
		if binDir, binErr = os.MkdirTemp("", "satellite-run-test-"); binErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "satellite")
		// -modfile and friends in GOFLAGS reach the build as they reach the test.
		out, err := exec.Command(goBin, "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			binErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if errors.Is(binErr, exec.ErrNotFound) {
		t.Skip("no go command in PATH")
	}
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

// syncBuffer collects output from many goroutines.
type syncBuffer = testenv.Buffer

// agentProc is `satellite run` as a process.
type agentProc struct {
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{}
	code int // once done is closed
	base string
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startProc starts `satellite run --api-listen 127.0.0.1:PORT args...` on a
// free port and waits until /healthz answers. A port taken in between by
// someone else is retried with another.
func startProc(t *testing.T, args ...string) *agentProc {
	t.Helper()
	bin := agentBinary(t)
	for attempt := 0; ; attempt++ {
		addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
		p := &agentProc{out: &syncBuffer{}, done: make(chan struct{}), base: "http://" + addr}
		p.launch(t, bin, testEnv(), args...)
		err := p.waitHealthz(t)
		if err == nil {
			return p
		}
		if attempt < 3 && strings.Contains(p.out.String(), "address already in use") {
			continue
		}
		t.Fatalf("the agent did not come up: %v\n%s", err, p.out.String())
	}
}

// launch starts `satellite run --api-listen ADDR args...` (ADDR from
// p.base) with env, and a goroutine that records its exit; the process is
// killed at the end of the test if still running, and its output logged
// when the test failed.
func (p *agentProc) launch(t *testing.T, bin string, env []string, args ...string) {
	t.Helper()
	p.cmd = exec.Command(bin, append([]string{"run", "--api-listen", strings.TrimPrefix(p.base, "http://")}, args...)...)
	p.cmd.Env = env
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(p.done)
		err := p.cmd.Wait()
		var ee *exec.ExitError
		switch {
		case errors.As(err, &ee):
			p.code = ee.ExitCode()
		case err != nil:
			p.code = -1
		}
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("satellite run %s:\n%s", strings.Join(args, " "), p.out.String())
		}
	})
}

// waitHealthz waits until /healthz answers 200 or 503, or the process ends.
func (p *agentProc) waitHealthz(t *testing.T) error {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for time.Now().Before(deadline) {
		select {
		case <-p.done:
			return fmt.Errorf("exited with %d", p.code)
		default:
		}
		resp, err := http.Get(p.base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusServiceUnavailable {
				return nil
			}
			return fmt.Errorf("/healthz answered %d", resp.StatusCode)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("/healthz did not answer within %s", waitLimit)
}

func (p *agentProc) signal(t *testing.T, sig os.Signal) {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signal %v: %v", sig, err)
	}
}

// wait waits for the process to end and returns its exit code.
func (p *agentProc) wait(t *testing.T) int {
	t.Helper()
	select {
	case <-p.done:
		return p.code
	case <-time.After(waitLimit):
		t.Fatalf("the agent did not exit within %s\n%s", waitLimit, p.out.String())
		return -1
	}
}

// getJSON fetches path from the agent's API into v.
func (p *agentProc) getJSON(t *testing.T, path string, v any) {
	t.Helper()
	resp, err := http.Get(p.base + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, resp.StatusCode, body)
	}
	if err := json.Unmarshal(body, v); err != nil {
		t.Fatalf("GET %s: %v\n%s", path, err, body)
	}
}

// eventually polls cond until it returns "" or the deadline passes.
func eventually(t *testing.T, what string, cond func() string) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		why := cond()
		if why == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s: %s", what, waitLimit, why)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// acceptAll is a loopback TCP listener that accepts and closes every
// connection, until the test ends.
func acceptAll(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	return l.Addr().String()
}

// closedPort is a loopback address where nothing listens.
func closedPort(t *testing.T) string {
	t.Helper()
	return fmt.Sprintf("127.0.0.1:%d", freePort(t))
}

func probeOf(n health.Node, addr string) (health.Probe, bool) {
	for _, p := range n.Probes {
		if p.Checker == addr {
			return p, true
		}
	}
	return health.Probe{}, false
}

// countResults counts the results rows of a history file, read-only; an
// error (no file yet) counts as none.
func countResults(path string) (int, error) {
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro&_pragma=busy_timeout(5000)")
	if err != nil {
		return 0, err
	}
	defer db.Close()
	var n int
	err = db.QueryRow("SELECT count(*) FROM results").Scan(&n)
	return n, err
}

// The agent as a process: it starts, serves the API, reloads on SIGHUP
// (and refuses an invalid config, keeping the old one), stops cleanly on
// SIGTERM with the history flushed; `satellite history` reads it.
func TestRunProcess(t *testing.T) {
	t.Parallel()
	up, down := acceptAll(t), closedPort(t)
	dir, data := t.TempDir(), t.TempDir()
	writeFile(t, dir, "node.hcl", fmt.Sprintf("agent {\n  name     = \"p1\"\n  data_dir = %q\n}\n", data))
	checks := fmt.Sprintf(`
defaults { interval = "1s" }

check "tcp" "up" {
  address = %q
}

check "tcp" "down" {
  address = %q
}
`, up, down)
	writeFile(t, dir, "checks.hcl", checks)

	p := startProc(t, dir)
	var cs health.Cluster
	p.getJSON(t, "/v1/status", &cs)
	if len(cs.Nodes) != 1 || cs.Nodes[0].Name != "p1" || cs.Nodes[0].Version != version {
		t.Errorf("/v1/status = %+v, want node p1", cs)
	}
	var n health.Node
	eventually(t, "first results", func() string {
		p.getJSON(t, "/v1/status/local", &n)
		u, _ := probeOf(n, "tcp.up")
		d, _ := probeOf(n, "tcp.down")
		if u.Status != "passing" || d.Status != "critical" {
			return fmt.Sprintf("probes %+v", n.Probes)
		}
		return ""
	})
	hash := n.ConfigHash
	p.getJSON(t, "/v1/status", &cs)
	if cs.Status != health.Degraded || !strings.Contains(cs.Summary, "tcp.down critical") {
		t.Errorf("/v1/status = %s %q, want degraded by tcp.down", cs.Status, cs.Summary)
	}

	// SIGHUP with a new check.
	writeFile(t, dir, "checks.hcl", checks+fmt.Sprintf(`
check "tcp" "new" {
  address = %q
}
`, up))
	p.signal(t, syscall.SIGHUP)
	eventually(t, "the reload", func() string {
		p.getJSON(t, "/v1/status/local", &n)
		if pr, ok := probeOf(n, "tcp.new"); !ok || pr.Status != "passing" || n.ConfigHash == hash {
			return fmt.Sprintf("hash %s (was %s), probes %+v", n.ConfigHash, hash, n.Probes)
		}
		return ""
	})
	newHash := n.ConfigHash

	// SIGHUP with an invalid config: refused, the running one stays.
	writeFile(t, dir, "checks.hcl", checks+"\ncheck \"tcp\" \"broken\" {\n  adress = \"x\"\n}\n")
	p.signal(t, syscall.SIGHUP)
	eventually(t, "the refused reload", func() string {
		if !strings.Contains(p.out.String(), "reload refused") {
			return "no \"reload refused\" in the log"
		}
		return ""
	})
	p.getJSON(t, "/v1/status/local", &n)
	if _, ok := probeOf(n, "tcp.new"); !ok || n.ConfigHash != newHash {
		t.Errorf("after a refused reload: hash %s (want %s), probes %+v", n.ConfigHash, newHash, n.Probes)
	}

	p.signal(t, syscall.SIGTERM)
	if code := p.wait(t); code != 0 {
		t.Fatalf("exit code %d after SIGTERM, want 0\n%s", code, p.out.String())
	}
	logs := p.out.String()
	for _, want := range []string{"SIGHUP: reloading the config", "reloaded: config_hash=" + newHash, "satellite: stopped"} {
		if !strings.Contains(logs, want) {
			t.Errorf("the log lacks %q:\n%s", want, logs)
		}
	}

	r := satellite(t, "history", "--db", filepath.Join(data, sqlite.HistoryFile), "--format", "json", "--since", "0").want(t, exitOK)
	var changes []health.Change
	if err := json.Unmarshal([]byte(r.stdout), &changes); err != nil {
		t.Fatalf("history --format json: %v\n%s", err, r.stdout)
	}
	for _, w := range [][3]string{
		{"tcp.up", "unknown", "passing"},
		{"tcp.down", "unknown", "critical"},
		{"tcp.new", "unknown", "passing"},
	} {
		found := false
		for _, c := range changes {
			if c.Check == w[0] && c.Previous == w[1] && c.Status == w[2] && c.Node == "p1" {
				found = true
			}
		}
		if !found {
			t.Errorf("history lacks %v: %+v", w, changes)
		}
	}
}

// Config errors at start exit 2 before anything starts: an invalid config,
// and an API on a non-loopback address without a token, from the config or
// from --api-listen.
func TestRunInvalidConfigAtStart(t *testing.T) {
	t.Parallel()
	bin := agentBinary(t)
	data := t.TempDir()
	invalid := t.TempDir()
	writeFile(t, invalid, "checks.hcl", "check \"tcp\" \"x\" {\n  adress = \"127.0.0.1:1\"\n}\n")
	open := t.TempDir()
	writeFile(t, open, "node.hcl", fmt.Sprintf("agent {\n  data_dir = %q\n}\napi {\n  listen = \"0.0.0.0:0\"\n}\n", data))
	valid := t.TempDir()
	writeFile(t, valid, "node.hcl", fmt.Sprintf("agent {\n  data_dir = %q\n}\n", data))

	for _, tc := range []struct {
		name   string
		args   []string
		stderr []string
	}{
		{"invalid", []string{"run", invalid}, []string{"Unsupported argument", `Did you mean "address"?`, "The config is invalid; the agent did not start."}},
		{"non-loopback", []string{"run", open}, []string{"API token required", "0.0.0.0:0", "The config is invalid; the agent did not start."}},
		{"non-loopback flag", []string{"run", "--api-listen", "0.0.0.0:0", valid}, []string{"--api-listen 0.0.0.0:0 is not a loopback address", "api.token_file"}},
		{"bad flag", []string{"run", "--api-listen", "nowhere", valid}, []string{"--api-listen must be HOST:PORT"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(bin, tc.args...)
			cmd.Env = testEnv()
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			done := make(chan error, 1)
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			go func() { done <- cmd.Wait() }()
			var err error
			select {
			case err = <-done:
			case <-time.After(waitLimit):
				_ = cmd.Process.Kill()
				<-done
				t.Fatalf("satellite %v still runs\n%s", tc.args, &stderr)
			}
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != exitUsage {
				t.Errorf("satellite %v: %v, want exit 2\nstderr: %s", tc.args, err, &stderr)
			}
			for _, want := range tc.stderr {
				if !strings.Contains(stderr.String(), want) {
					t.Errorf("stderr lacks %q:\n%s", want, &stderr)
				}
			}
			if stdout.Len() != 0 {
				t.Errorf("stdout = %q", &stdout)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(data, sqlite.HistoryFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("an agent that did not start made its history: %v", err)
	}
}

// kill -9 while the agent writes a lot: the history stays a sound SQLite
// database with the rows committed before, and the agent starts again on it.
func TestRunKill9DuringWrites(t *testing.T) {
	t.Parallel()
	target := acceptAll(t)
	dir, data := t.TempDir(), t.TempDir()
	writeFile(t, dir, "node.hcl", fmt.Sprintf("agent {\n  name     = \"heavy\"\n  data_dir = %q\n  max_concurrent = 64\n}\n", data))
	writeFile(t, dir, "checks.hcl", fmt.Sprintf(`
check "tcp" "port" {
  # range() makes at most 1024 values: 30 × 50 = 1500 checks.
  for_each = { for p in setproduct(range(30), range(50)) : "${p[0]}-${p[1]}" => p }
  address  = %q
  interval = "1s"
  labels   = { shard = tostring(each.value[0]) }
}
`, target))
	history := filepath.Join(data, sqlite.HistoryFile)

	p := startProc(t, dir)
	var rows int
	eventually(t, "3000 results", func() string {
		n, err := countResults(history)
		if err != nil {
			return err.Error()
		}
		rows = n
		if n <= 3000 {
			return fmt.Sprintf("%d rows", n)
		}
		return ""
	})
	p.signal(t, syscall.SIGKILL)
	if code := p.wait(t); code != -1 && code != 137 {
		// Killed: ExitCode is -1 for a signal.
		t.Errorf("exit code %d after SIGKILL", code)
	}

	ctx := context.Background()
	db, err := sqlite.Open(ctx, history, 0)
	if err != nil {
		t.Fatalf("opening the history after kill -9: %v", err)
	}
	changes, err := db.StateChanges(ctx, health.Query{Limit: 10})
	if err != nil || len(changes) == 0 {
		t.Errorf("state changes after kill -9: %d, %v", len(changes), err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	sdb, err := sql.Open("sqlite", "file:"+history+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	var check string
	if err := sdb.QueryRow("PRAGMA integrity_check").Scan(&check); err != nil || check != "ok" {
		t.Errorf("integrity_check = %q, %v", check, err)
	}
	var after int
	if err := sdb.QueryRow("SELECT count(*) FROM results").Scan(&after); err != nil || after < rows {
		t.Errorf("%d results after kill -9 (%v), want at least the %d seen before", after, err, rows)
	}
	sdb.Close()

	// It starts again on the same data_dir and goes on writing.
	p = startProc(t, dir)
	eventually(t, "new results after the restart", func() string {
		n, err := countResults(history)
		if err != nil {
			return err.Error()
		}
		if n <= after+1500 {
			return fmt.Sprintf("%d rows, %d before the restart", n, after)
		}
		return ""
	})
	p.signal(t, syscall.SIGTERM)
	if code := p.wait(t); code != 0 {
		t.Errorf("exit code %d after SIGTERM, want 0", code)
	}
}

// onceNode decodes `run --once --format json`.
func onceNode(t *testing.T, r result) health.Node {
	t.Helper()
	var n health.Node
	if err := json.Unmarshal([]byte(r.stdout), &n); err != nil {
		t.Fatalf("run --once --format json: %v\n%s", err, r.stdout)
	}
	return n
}

func checkers(n health.Node) []string {
	var out []string
	for _, p := range n.Probes {
		out = append(out, p.Checker)
	}
	return out
}

// run --once: exit codes, the table and the JSON node, --check with
// dependencies and "did you mean", and the history written unless
// --no-sinks.
func TestRunOnce(t *testing.T) {
	isolate(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	up, down := acceptAll(t), closedPort(t)

	passing := t.TempDir()
	data1 := t.TempDir()
	writeFile(t, passing, "node.hcl", fmt.Sprintf("agent {\n  name     = \"once1\"\n  data_dir = %q\n}\n", data1))
	writeFile(t, passing, "checks.hcl", fmt.Sprintf(`
check "tcp" "up" {
  address = %q
}

check "http" "ok" {
  url = %q
}
`, up, srv.URL))

	r := satellite(t, "run", "--once", passing).want(t, exitOK)
	if !strings.Contains(r.stdout, "CHECK") || !strings.Contains(r.stdout, "tcp.up") || !strings.Contains(r.stdout, "2 passing, 0 warning, 0 critical, 0 blocked") {
		t.Errorf("table:\n%s", r.stdout)
	}
	// Written to the history.
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(data1, sqlite.HistoryFile), 0)
	if err != nil {
		t.Fatal(err)
	}
	changes, err := db.StateChanges(ctx, health.Query{})
	db.Close()
	if err != nil || len(changes) != 2 {
		t.Errorf("history after run --once: %+v, %v; want the 2 checks", changes, err)
	}

	// --no-sinks: no history file at all.
	data2 := t.TempDir()
	noSinks := t.TempDir()
	writeFile(t, noSinks, "node.hcl", fmt.Sprintf("agent {\n  data_dir = %q\n}\n", data2))
	writeFile(t, noSinks, "checks.hcl", readFile(t, filepath.Join(passing, "checks.hcl")))
	satellite(t, "run", "--once", "--no-sinks", noSinks).want(t, exitOK)
	if _, err := os.Stat(filepath.Join(data2, sqlite.HistoryFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("--no-sinks wrote the history: %v", err)
	}

	// Something critical: exit 1; JSON; and the sink gets the results.
	critical := t.TempDir()
	data3 := t.TempDir()
	archive := filepath.Join(t.TempDir(), "archive.db")
	writeFile(t, critical, "node.hcl", fmt.Sprintf("agent {\n  name     = \"once2\"\n  data_dir = %q\n}\n", data3))
	writeFile(t, critical, "checks.hcl", fmt.Sprintf(`
check "tcp" "up" {
  address = %q
}

check "tcp" "down" {
  address = %q
}

check "http" "behind" {
  url        = %q
  depends_on = [check.tcp.down]
}

sink "sqlite" "archive" {
  path = %q
}
`, up, down, srv.URL, archive))
	r = satellite(t, "run", "--once", "--format", "json", critical).want(t, exitFailed)
	n := onceNode(t, r)
	if n.Name != "once2" || n.Status != health.Degraded || n.ConfigHash == "" || len(n.Probes) != 3 {
		t.Errorf("node = %+v", n)
	}
	var raw struct {
		Probes []map[string]json.RawMessage `json:"probes"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &raw); err != nil {
		t.Fatal(err)
	}
	for _, pr := range raw.Probes {
		for _, k := range []string{"checker", "type", "status"} {
			if _, ok := pr[k]; !ok {
				t.Errorf("probe without %q: %v", k, pr)
			}
		}
	}
	if pr, _ := probeOf(n, "tcp.up"); pr.Status != "passing" || pr.Type != "tcp" || pr.Error != "" || pr.Metrics["latency_ms"] <= 0 {
		t.Errorf("tcp.up = %+v", pr)
	}
	if pr, _ := probeOf(n, "tcp.down"); pr.Status != "critical" || !strings.Contains(pr.Error, "connection refused") {
		t.Errorf("tcp.down = %+v", pr)
	}
	if pr, _ := probeOf(n, "http.behind"); pr.Status != "blocked" || pr.Error != "blocked by tcp.down (critical)" || pr.Type != "http" {
		t.Errorf("http.behind = %+v", pr)
	}
	if n := countSinkRows(t, archive); n != 3 {
		t.Errorf("%d results in the sink, want 3", n)
	}

	// --check: the check and its dependencies, nothing else.
	r = satellite(t, "run", "--once", "--no-sinks", "--format", "json", "--check", "http.behind", critical).want(t, exitFailed)
	if got := strings.Join(checkers(onceNode(t, r)), " "); got != "tcp.down http.behind" {
		t.Errorf("--check http.behind ran %q, want \"tcp.down http.behind\"", got)
	}
	r = satellite(t, "run", "--once", "--no-sinks", "--format", "json", "--check", "tcp.up", critical).want(t, exitOK)
	if got := strings.Join(checkers(onceNode(t, r)), " "); got != "tcp.up" {
		t.Errorf("--check tcp.up ran %q", got)
	}
	r = satellite(t, "run", "--once", "--no-sinks", "--check", "tcp.upp", critical).want(t, exitUsage)
	if !strings.Contains(r.stderr, "no check tcp.upp in this config") || !strings.Contains(r.stderr, `Did you mean "tcp.up"?`) || r.stdout != "" {
		t.Errorf("unknown --check: stdout %q, stderr %q", r.stdout, r.stderr)
	}

	// An invalid config; flags that need --once.
	invalid := t.TempDir()
	writeFile(t, invalid, "checks.hcl", "check \"tcp\" \"x\" {\n  address = \"127.0.0.1:1\"\n  depends_on = [check.tcp.y]\n}\n")
	r = satellite(t, "run", "--once", invalid).want(t, exitUsage)
	if !strings.Contains(r.stderr, "Error:") || r.stdout != "" {
		t.Errorf("invalid config: stdout %q, stderr %q", r.stdout, r.stderr)
	}
	r = satellite(t, "run", "--check", "tcp.up", critical).want(t, exitUsage)
	if !strings.Contains(r.stderr, "--check and --no-sinks go with --once") {
		t.Errorf("--check without --once: %q", r.stderr)
	}
}

func countSinkRows(t *testing.T, path string) int {
	t.Helper()
	n, err := countResults(path)
	if err != nil {
		t.Fatalf("reading %s: %v", path, err)
	}
	return n
}

// run --once's table replaces the control characters a check's error
// carries (here an error_message with an OSC retitle and a clear screen),
// so a run cannot take over the operator's terminal; the JSON keeps the
// text as it is, escaped.
func TestRunOnceTableIsTerminalSafe(t *testing.T) {
	isolate(t)
	dir := t.TempDir()
	writeFile(t, dir, "node.hcl", fmt.Sprintf("agent {\n  data_dir = %q\n}\n", t.TempDir()))
	writeFile(t, dir, "checks.hcl", fmt.Sprintf(`
check "tcp" "up" {
  address = %q
  assert {
    condition     = result.status == "warning"
    error_message = "pwned\u001b]0;owned\u0007\u001b[2J\u001b[H done"
  }
}
`, acceptAll(t)))
	r := satellite(t, "run", "--once", "--no-sinks", dir).want(t, exitFailed)
	if strings.ContainsAny(r.stdout, "\x1b\x07") {
		t.Fatalf("the table carries control characters: %q", r.stdout)
	}
	if !strings.Contains(r.stdout, "pwned?]0;owned??[2J?[H done") {
		t.Fatalf("table:\n%s", r.stdout)
	}
	j := satellite(t, "run", "--once", "--no-sinks", "--format", "json", dir).want(t, exitFailed)
	if strings.ContainsAny(j.stdout, "\x1b\x07") || !strings.Contains(j.stdout, `\u001b]0;owned\u0007`) {
		t.Fatalf("json: %s", j.stdout)
	}
}
