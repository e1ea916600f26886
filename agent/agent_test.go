package agent_test

import (
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
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/satellite-hq/satellite/health"
	"github.com/satellite-hq/satellite/internal/testenv"

	"github.com/hashicorp/go-hclog"

	"github.com/satellite-hq/satellite/agent"
	_ "github.com/satellite-hq/satellite/checks/all"
	"github.com/satellite-hq/satellite/dsl"
	"github.com/satellite-hq/satellite/engine"
	_ "github.com/satellite-hq/satellite/notify/all"
	_ "github.com/satellite-hq/satellite/sinks/all"
	"github.com/satellite-hq/satellite/sinks/sqlite"
)

// wait is the deadline of every wait on a condition: generous, because the
// suite runs under -race on small machines next to other packages.
const wait = 15 * time.Second

// syncBuffer collects output from many goroutines.
type syncBuffer = testenv.Buffer

// testAgent is an agent running in-process on a config folder.
type testAgent struct {
	*agent.Agent
	dir  string // the config folder
	data string // agent.data_dir
	base string // http://ADDR of the API
	logs *syncBuffer
	stop func() // stops the agent and waits for Run; the test's end calls it too
}

// nodeHCL is the node-local file of a test config: the agent block, and
// whatever else the test adds (api, sinks).
func nodeHCL(data string, extra string) string {
	return fmt.Sprintf("agent {\n  name     = \"n1\"\n  data_dir = %q\n}\n%s", data, extra)
}

// writeConfig writes node.hcl and checks.hcl into dir.
func writeConfig(t *testing.T, dir, node, checks string) {
	t.Helper()
	writeFile(t, filepath.Join(dir, "node.hcl"), node)
	writeFile(t, filepath.Join(dir, "checks.hcl"), checks)
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// noEnv keeps the developer's environment (SATELLITE_VAR_*) out of the tests.
func noEnv(string) (string, bool) { return "", false }

// startAgent runs an agent on the config in dir, its API on a free loopback
// port, until the test ends.
func startAgent(t testing.TB, dir, data string) *testAgent {
	t.Helper()
	return startAgentWith(t, dir, data, nil)
}

// startAgentWith is startAgent with options of the test's (edit may be nil).
func startAgentWith(t testing.TB, dir, data string, edit func(*agent.Options)) *testAgent {
	t.Helper()
	logs := &syncBuffer{}
	log := hclog.New(&hclog.LoggerOptions{Name: "satellite", Level: hclog.Info, Output: logs})
	opts := agent.Options{
		Paths: []string{dir}, Load: dsl.Options{LookupEnv: noEnv}, Logger: log,
		Version: "0.0.0-test", Listen: "127.0.0.1:0",
	}
	if edit != nil {
		edit(&opts)
	}
	a, cfg, diags, err := agent.New(opts)
	if err != nil {
		var sb strings.Builder
		if cfg != nil {
			_ = dsl.WriteDiagnostics(&sb, diags, cfg.Files, false, nil)
		}
		t.Fatalf("agent.New: %v\n%s", err, sb.String())
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	stop := sync.OnceFunc(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Errorf("Run did not return within 30s of its context ending")
		}
	})
	t.Cleanup(func() {
		stop()
		if t.Failed() {
			t.Logf("agent log:\n%s", logs.String())
		}
	})
	deadline := time.Now().Add(wait)
	for a.Addr() == "" {
		select {
		case err := <-done:
			done <- err
			t.Fatalf("Run returned before it started: %v\n%s", err, logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("the agent did not start within %s\n%s", wait, logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	return &testAgent{Agent: a, dir: dir, data: data, base: "http://" + a.Addr(), logs: logs, stop: stop}
}

// get fetches path from the agent's API with an optional bearer token and
// returns the status code and body.
func get(t *testing.T, method, url, token string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the body: %v", method, url, err)
	}
	return resp.StatusCode, body
}

// local is GET /v1/status/local, decoded.
func (ta *testAgent) local(t *testing.T) health.Node {
	t.Helper()
	code, body := get(t, http.MethodGet, ta.base+"/v1/status/local", "")
	if code != http.StatusOK {
		t.Fatalf("GET /v1/status/local: %d %s", code, body)
	}
	var n health.Node
	if err := json.Unmarshal(body, &n); err != nil {
		t.Fatalf("decoding /v1/status/local: %v\n%s", err, body)
	}
	return n
}

func probe(n health.Node, addr string) (health.Probe, bool) {
	for _, p := range n.Probes {
		if p.Checker == addr {
			return p, true
		}
	}
	return health.Probe{}, false
}

// eventually polls cond until it returns "" (met) or the deadline passes;
// then it fails the test with cond's last explanation.
func eventually(t *testing.T, what string, cond func() string) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for {
		why := cond()
		if why == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s: %s", what, wait, why)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitProbe waits until the probe at addr satisfies ok, and returns it.
func (ta *testAgent) waitProbe(t *testing.T, addr string, ok func(health.Probe) bool) health.Probe {
	t.Helper()
	var got health.Probe
	eventually(t, "probe "+addr, func() string {
		n := ta.local(t)
		p, found := probe(n, addr)
		if !found {
			return fmt.Sprintf("no probe %s in %+v", addr, n.Probes)
		}
		if !ok(p) {
			return fmt.Sprintf("probe is %+v", p)
		}
		got = p
		return ""
	})
	return got
}

func status(s string) func(health.Probe) bool {
	return func(p health.Probe) bool { return string(p.Status) == s }
}

// closedAddr is a loopback address where nothing listens.
func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// history is GET /v1/history with a query.
func (ta *testAgent) history(t *testing.T, query string) []health.Change {
	t.Helper()
	code, body := get(t, http.MethodGet, ta.base+"/v1/history?"+query, "")
	if code != http.StatusOK {
		t.Fatalf("GET /v1/history?%s: %d %s", query, code, body)
	}
	var out []health.Change
	if err := json.Unmarshal(body, &out); err != nil {
		t.Fatalf("decoding /v1/history: %v\n%s", err, body)
	}
	return out
}

func hasChange(changes []health.Change, check, previous, st string) bool {
	for _, c := range changes {
		if c.Check == check && c.Previous == previous && c.Status == st {
			return true
		}
	}
	return false
}

// The whole pipeline in one process: checks against a server the test
// controls and a closed port, their statuses through the API, /healthz,
// /metrics, /v1/history from the SQLite history, and a sqlite sink.
func TestPipeline(t *testing.T) {
	t.Parallel()
	var mainCode atomic.Int32
	mainCode.Store(http.StatusOK)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/ok":
			fmt.Fprint(w, `{"status": "ok"}`)
		case "/main":
			w.WriteHeader(int(mainCode.Load()))
			fmt.Fprint(w, `{"status": "ok"}`)
		case "/created":
			w.WriteHeader(http.StatusCreated)
		case "/degraded":
			fmt.Fprint(w, `{"status": "degraded"}`)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	closed := closedAddr(t)

	dir, data := t.TempDir(), t.TempDir()
	archive := filepath.Join(t.TempDir(), "archive.db")
	writeConfig(t, dir, nodeHCL(data, fmt.Sprintf(`
sink "sqlite" "archive" {
  path = %q
}
`, archive)), fmt.Sprintf(`
locals { base = %q }
defaults { interval = "1s" }

check "http" "ok" {
  url = "${local.base}/ok"
}

check "http" "main" {
  url = "${local.base}/main"
}

check "tcp" "closed" {
  address = %q
}

check "http" "behind" {
  url        = "${local.base}/ok"
  depends_on = [check.tcp.closed]
}

check "http" "created" {
  url = "${local.base}/created"
  threshold "status_code" {
    warn = 200
    crit = 500
  }
}

check "http" "degraded" {
  url = "${local.base}/degraded"
  assert {
    condition     = try(result.json.status, "") == "ok"
    error_message = "the service said ${try(result.json.status, "nothing")}"
  }
}
`, srv.URL, closed))
	ta := startAgent(t, dir, data)

	ta.waitProbe(t, "http.ok", status("passing"))
	ta.waitProbe(t, "http.main", status("passing"))
	p := ta.waitProbe(t, "tcp.closed", status("critical"))
	if !strings.Contains(p.Error, "connection refused") || p.Type != "tcp" {
		t.Errorf("tcp.closed = %+v, want a critical tcp probe with a refused connection", p)
	}
	p = ta.waitProbe(t, "http.behind", status("blocked"))
	if p.Error != "blocked by tcp.closed (critical)" {
		t.Errorf("http.behind error = %q, want %q", p.Error, "blocked by tcp.closed (critical)")
	}
	p = ta.waitProbe(t, "http.created", status("warning"))
	if p.Error != "status_code 201 is above the warning threshold 200" || p.Metrics["status_code"] != 201 {
		t.Errorf("http.created = %+v, want the threshold's warning", p)
	}
	p = ta.waitProbe(t, "http.degraded", status("critical"))
	if p.Error != "the service said degraded" {
		t.Errorf("http.degraded error = %q, want the assert's evaluated error_message", p.Error)
	}

	n := ta.local(t)
	if n.Name != "n1" || n.Status != health.Degraded || n.ConfigHash == "" || n.Version != "0.0.0-test" || len(n.Probes) != 6 {
		t.Errorf("node = %+v, want n1, degraded, 6 probes", n)
	}
	code, body := get(t, http.MethodGet, ta.base+"/healthz", "")
	if code != http.StatusServiceUnavailable || strings.TrimSpace(string(body)) != `{"status":"degraded"}` {
		t.Errorf("/healthz = %d %s, want 503 degraded", code, body)
	}
	code, body = get(t, http.MethodGet, ta.base+"/v1/status", "")
	var cs health.Cluster
	if err := json.Unmarshal(body, &cs); code != http.StatusOK || err != nil || cs.Status != health.Degraded || len(cs.Nodes) != 1 {
		t.Errorf("/v1/status = %d %s (%v)", code, body, err)
	}

	// Switch the server's answer: the check turns critical with the error.
	mainCode.Store(http.StatusInternalServerError)
	p = ta.waitProbe(t, "http.main", status("critical"))
	if !strings.Contains(p.Error, "status 500") {
		t.Errorf("http.main error = %q, want it to name status 500", p.Error)
	}

	code, body = get(t, http.MethodGet, ta.base+"/metrics", "")
	if code != http.StatusOK {
		t.Fatalf("/metrics = %d %s", code, body)
	}
	for _, want := range []string{
		`satellite_check_status{check="http.ok",type="http"} 0`,
		`satellite_check_status{check="http.main",type="http"} 2`,
		`satellite_check_status{check="tcp.closed",type="tcp"} 2`,
		`satellite_check_status{check="http.behind",type="http"} 3`,
		`satellite_check_status{check="http.created",type="http"} 1`,
		`satellite_check_status{check="http.degraded",type="http"} 2`,
		`satellite_sink_queue_depth{sink="history"}`,
		`satellite_sink_queue_depth{sink="sqlite.archive"}`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}

	// The history arrives in batches, flushed every second.
	eventually(t, "/v1/history", func() string {
		h := ta.history(t, "")
		for _, w := range [][3]string{
			{"http.ok", "unknown", "passing"},
			{"http.main", "unknown", "passing"},
			{"http.main", "passing", "critical"},
			{"tcp.closed", "unknown", "critical"},
			{"http.behind", "unknown", "blocked"},
			{"http.created", "unknown", "warning"},
			{"http.degraded", "unknown", "critical"},
		} {
			if !hasChange(h, w[0], w[1], w[2]) {
				return fmt.Sprintf("no change %v in %+v", w, h)
			}
		}
		return ""
	})
	h := ta.history(t, "check=http.main&limit=1")
	if len(h) != 1 || h[0].Status != "critical" || h[0].Node != "n1" || !strings.Contains(h[0].Error, "status 500") {
		t.Errorf("newest change of http.main = %+v", h)
	}
	if code, body := get(t, http.MethodGet, ta.base+"/v1/history?bogus=1", ""); code != http.StatusBadRequest {
		t.Errorf("/v1/history?bogus=1 = %d %s, want 400", code, body)
	}

	// The sqlite sink gets the results and the changes too.
	ctx := context.Background()
	eventually(t, "the archive", func() string {
		db, err := sqlite.Open(ctx, archive, 0)
		if err != nil {
			return err.Error()
		}
		defer db.Close()
		ch, err := db.StateChanges(ctx, health.Query{Check: "http.main"})
		if err != nil {
			return err.Error()
		}
		if !hasChange(ch, "http.main", "passing", "critical") {
			return fmt.Sprintf("changes of http.main: %+v", ch)
		}
		return ""
	})
	if n := countRows(t, archive, "results"); n < 6 {
		t.Errorf("%d results in the archive, want at least one per check", n)
	}
}

// countRows counts a table's rows with plain database/sql.
func countRows(t *testing.T, path, table string) int {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow("SELECT count(*) FROM " + table).Scan(&n); err != nil {
		t.Fatalf("counting %s in %s: %v", table, path, err)
	}
	return n
}

// gatedServer answers "/" with 200 or 500 as the test says. In each mode,
// requests after the first one wait (a little) for the test to release
// them, so that the state after exactly one run in the new mode lasts long
// enough for the test to see it through the API.
type gatedServer struct {
	mu      sync.Mutex
	fail    bool
	n       int           // requests in this mode
	release chan struct{} // closed by the test
}

func (g *gatedServer) set(fail bool) chan struct{} {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.fail, g.n, g.release = fail, 0, make(chan struct{})
	return g.release
}

func (g *gatedServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g.mu.Lock()
	fail, release := g.fail, g.release
	g.n++
	n := g.n
	g.mu.Unlock()
	if n > 1 && release != nil {
		// Well within the check's timeout.
		select {
		case <-release:
		case <-time.After(300 * time.Millisecond):
		case <-r.Context().Done():
		}
	}
	if fail {
		w.WriteHeader(http.StatusInternalServerError)
	}
}

// Hysteresis: with failures_before_critical = 2 the first failing run keeps
// the check passing and the second makes it critical; with
// successes_before_passing = 2 the first passing run keeps it critical.
// /healthz follows: 200 healthy, 503 degraded.
func TestHysteresis(t *testing.T) {
	t.Parallel()
	g := &gatedServer{}
	srv := httptest.NewServer(g)
	defer srv.Close()
	dir, data := t.TempDir(), t.TempDir()
	writeConfig(t, dir, nodeHCL(data, ""), fmt.Sprintf(`
check "http" "hyst" {
  url      = %q
  interval = "1s"
  timeout  = "900ms" # well past the server's 300ms wait
  failures_before_critical = 2
  successes_before_passing = 2
}
`, srv.URL))
	ta := startAgent(t, dir, data)
	ta.waitProbe(t, "http.hyst", status("passing"))
	healthz := func(want int, body string) {
		t.Helper()
		code, b := get(t, http.MethodGet, ta.base+"/healthz", "")
		if code != want || strings.TrimSpace(string(b)) != body {
			t.Errorf("/healthz = %d %s, want %d %s", code, b, want, body)
		}
	}
	healthz(http.StatusOK, `{"status":"healthy"}`)

	release := g.set(true)
	p := ta.waitProbe(t, "http.hyst", func(p health.Probe) bool { return p.Error != "" })
	close(release)
	if p.Status != "passing" || !strings.Contains(p.Error, "status 500") || !strings.HasSuffix(p.Error, "(1 of 2 failures before critical)") {
		t.Errorf("after one failure: %+v, want passing with %q", p, "(1 of 2 failures before critical)")
	}
	p = ta.waitProbe(t, "http.hyst", status("critical"))
	if !strings.Contains(p.Error, "status 500") || strings.Contains(p.Error, "failures before critical") {
		t.Errorf("after two failures: %+v", p)
	}
	healthz(http.StatusServiceUnavailable, `{"status":"degraded"}`)

	release = g.set(false)
	p = ta.waitProbe(t, "http.hyst", func(p health.Probe) bool { return p.Metrics["status_code"] == 200 })
	close(release)
	if p.Status != "critical" {
		t.Errorf("after one success: %+v, want still critical", p)
	}
	ta.waitProbe(t, "http.hyst", status("passing"))
	healthz(http.StatusOK, `{"status":"healthy"}`)

	eventually(t, "/v1/history", func() string {
		h := ta.history(t, "check=http.hyst")
		var got []string
		for _, c := range h {
			got = append(got, c.Previous+"->"+c.Status)
		}
		if strings.Join(got, " ") != "critical->passing passing->critical unknown->passing" {
			return fmt.Sprintf("changes %v", got)
		}
		return ""
	})
}

// A check whose answer alternates on every run is flapping.
func TestFlapping(t *testing.T) {
	t.Parallel()
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/flap" && n.Add(1)%2 == 0 {
			w.WriteHeader(http.StatusInternalServerError)
		}
	}))
	defer srv.Close()
	dir, data := t.TempDir(), t.TempDir()
	writeConfig(t, dir, nodeHCL(data, ""), fmt.Sprintf(`
check "http" "flap" {
  url      = %q
  interval = "1s"
}

check "http" "steady" {
  url      = "%s/steady"
  interval = "1s"
}
`, srv.URL+"/flap", srv.URL))
	ta := startAgent(t, dir, data)
	p := ta.waitProbe(t, "http.flap", func(p health.Probe) bool { return p.Flapping })
	if p.Status != "passing" && p.Status != "critical" {
		t.Errorf("flapping probe %+v", p)
	}
	code, body := get(t, http.MethodGet, ta.base+"/v1/status/local", "")
	if code != http.StatusOK || !strings.Contains(string(body), `"flapping":true`) {
		t.Errorf("/v1/status/local = %d %s, want \"flapping\": true", code, body)
	}
	if p, _ := probe(ta.local(t), "http.steady"); p.Flapping {
		t.Errorf("http.steady flaps: %+v", p)
	}
	_, body = get(t, http.MethodGet, ta.base+"/metrics", "")
	if !strings.Contains(string(body), `satellite_check_flapping{check="http.flap",type="http"} 1`) {
		t.Errorf("/metrics does not say http.flap flaps")
	}
}

// reloadAnswer is the body of POST /v1/reload.
type reloadAnswer struct {
	ConfigHash  string               `json:"config_hash"`
	Error       string               `json:"error"`
	Diagnostics []dsl.JSONDiagnostic `json:"diagnostics"`
}

func postReload(t *testing.T, ta *testAgent, token string) (int, reloadAnswer) {
	t.Helper()
	code, body := get(t, http.MethodPost, ta.base+"/v1/reload", token)
	var ans reloadAnswer
	if err := json.Unmarshal(body, &ans); err != nil {
		t.Fatalf("POST /v1/reload: %d %s: %v", code, body, err)
	}
	return code, ans
}

func errorDiags(diags []dsl.JSONDiagnostic) []dsl.JSONDiagnostic {
	var out []dsl.JSONDiagnostic
	for _, d := range diags {
		if d.Severity == "error" {
			out = append(out, d)
		}
	}
	return out
}

// Reload: a valid change applies (new hash, new check, unchanged checks
// keep their state), an invalid one is refused with diagnostics while the
// old plan keeps running, and a change of api.listen is reported as needing
// a restart and not applied.
func TestReload(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	dir, data := t.TempDir(), t.TempDir()
	checksV1 := fmt.Sprintf(`
locals { base = %q }
defaults { interval = "1s" }

check "http" "a" {
  url = "${local.base}/a"
}

check "http" "b" {
  url = "${local.base}/b"
}
`, srv.URL)
	writeConfig(t, dir, nodeHCL(data, ""), checksV1)
	ta := startAgent(t, dir, data)
	a1 := ta.waitProbe(t, "http.a", status("passing"))
	b1 := ta.waitProbe(t, "http.b", status("passing"))
	hash1 := ta.local(t).ConfigHash

	// A valid change, through Agent.Reload: b changes, c is new.
	checksV2 := strings.Replace(checksV1, `"${local.base}/b"`, `"${local.base}/b2"`, 1) + `
check "http" "c" {
  url = "${local.base}/c"
}
`
	writeFile(t, filepath.Join(dir, "checks.hcl"), checksV2)
	ctx := context.Background()
	hash2, diags, err := ta.Reload(ctx)
	if err != nil || len(diags) != 0 || hash2 == "" || hash2 == hash1 {
		t.Fatalf("Reload = %q, %+v, %v; want a new hash (old %s) and no diagnostics", hash2, diags, err, hash1)
	}
	n := ta.local(t)
	if n.ConfigHash != hash2 {
		t.Errorf("config_hash = %s after the reload, want %s", n.ConfigHash, hash2)
	}
	if _, ok := probe(n, "http.c"); !ok {
		t.Errorf("no http.c after the reload: %+v", n.Probes)
	}
	if a, _ := probe(n, "http.a"); a.Since == nil || !a.Since.Equal(*a1.Since) || a.Status != "passing" {
		t.Errorf("http.a after the reload = %+v, want it to keep its state since %s", a, a1.Since)
	}
	if b, _ := probe(n, "http.b"); b.Since == nil || !b.Since.After(*b1.Since) {
		t.Errorf("http.b after the reload = %+v, want a new state (it changed), not the one since %s", b, b1.Since)
	}
	ta.waitProbe(t, "http.c", status("passing"))
	ta.waitProbe(t, "http.b", status("passing"))

	// An invalid change: refused, through POST /v1/reload, and the old
	// plan keeps running.
	writeFile(t, filepath.Join(dir, "checks.hcl"), checksV2+`
check "http" "d" {
  url        = "${local.base}/d"
  depends_on = [check.http.nope]
}
`)
	code, ans := postReload(t, ta, "")
	if code != http.StatusBadRequest || ans.ConfigHash != "" || !strings.Contains(ans.Error, "old config keeps running") || len(errorDiags(ans.Diagnostics)) == 0 {
		t.Errorf("POST /v1/reload of an invalid config = %d %+v, want 400 with diagnostics", code, ans)
	}
	hash, diags, err := ta.Reload(ctx)
	if err != nil || hash != hash2 || len(errorDiags(diags)) == 0 {
		t.Errorf("Reload of an invalid config = %q, %+v, %v; want the running hash %s and errors", hash, diags, err, hash2)
	}
	for _, d := range errorDiags(diags) {
		if d.Filename == "" || d.Start == nil || d.Start.Line == 0 {
			t.Errorf("diagnostic without a place: %+v", d)
		}
	}
	c1 := ta.waitProbe(t, "http.c", status("passing"))
	n = ta.local(t)
	if n.ConfigHash != hash2 {
		t.Errorf("config_hash = %s after a refused reload, want %s", n.ConfigHash, hash2)
	}
	if _, ok := probe(n, "http.d"); ok {
		t.Errorf("the refused config's check runs")
	}
	// Still running: c's next run comes.
	ta.waitProbe(t, "http.c", func(p health.Probe) bool { return p.LastRun.After(*c1.LastRun) })

	// api.listen changes: a warning, not applied; the API stays where it is.
	writeFile(t, filepath.Join(dir, "checks.hcl"), checksV2)
	writeFile(t, filepath.Join(dir, "node.hcl"), nodeHCL(data, `
api {
  listen = "127.0.0.1:7599"
}
`))
	code, ans = postReload(t, ta, "")
	if code != http.StatusOK || ans.ConfigHash != hash2 {
		t.Errorf("POST /v1/reload with a new api.listen = %d %+v, want 200 with hash %s", code, ans, hash2)
	}
	if len(ans.Diagnostics) != 1 || ans.Diagnostics[0].Severity != "warning" || ans.Diagnostics[0].Summary != "Restart needed" || !strings.Contains(ans.Diagnostics[0].Detail, "api.listen") {
		t.Errorf("diagnostics = %+v, want one warning: Restart needed, api.listen", ans.Diagnostics)
	}
	if got := "http://" + ta.Addr(); got != ta.base {
		t.Errorf("the API moved to %s", got)
	}
	if code, _ := get(t, http.MethodGet, ta.base+"/healthz", ""); code != http.StatusOK {
		t.Errorf("/healthz on the old address = %d", code)
	}
	if !strings.Contains(ta.logs.String(), "restart needed to apply a change: what=api.listen") {
		t.Errorf("the log does not say a restart is needed")
	}
}

// Auth: with api.token_file and api.read_token_file, every endpoint but
// /healthz needs a token; the read token grants GETs only.
func TestAuth(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	dir, data, secrets := t.TempDir(), t.TempDir(), t.TempDir()
	token, readToken := "full-secret-token", "read-secret-token"
	writeFile(t, filepath.Join(secrets, "api.token"), token+"\n")
	writeFile(t, filepath.Join(secrets, "read.token"), readToken+"\n")
	writeConfig(t, dir, nodeHCL(data, fmt.Sprintf(`
api {
  token_file      = %q
  read_token_file = %q
}
`, filepath.Join(secrets, "api.token"), filepath.Join(secrets, "read.token"))), fmt.Sprintf(`
check "http" "up" {
  url      = %q
  interval = "1s"
}
`, srv.URL))
	ta := startAgent(t, dir, data)

	for _, tc := range []struct {
		method, path, token string
		want                int
	}{
		{"GET", "/v1/status", "", 401},
		{"GET", "/v1/status", "wrong", 401},
		{"GET", "/v1/status", token, 200},
		{"GET", "/v1/status", readToken, 200},
		{"GET", "/v1/status/local", "", 401},
		{"GET", "/v1/status/local", readToken, 200},
		{"GET", "/v1/history", "", 401},
		{"GET", "/v1/history", readToken, 200},
		{"GET", "/v1/members", token, 200},
		{"GET", "/metrics", "", 401},
		{"GET", "/metrics", readToken, 200},
		{"GET", "/nowhere", "", 401},
		{"POST", "/v1/reload", "", 401},
		{"POST", "/v1/reload", "wrong", 401},
		{"POST", "/v1/reload", readToken, 403},
		{"POST", "/v1/reload", token, 200},
		{"GET", "/healthz", "", 200},
		{"GET", "/healthz", "wrong", 200},
	} {
		code, body := get(t, tc.method, ta.base+tc.path, tc.token)
		if code != tc.want {
			t.Errorf("%s %s with token %q = %d %s, want %d", tc.method, tc.path, tc.token, code, body, tc.want)
		}
		if code == http.StatusUnauthorized && strings.TrimSpace(string(body)) != `{"error":"unauthorized"}` {
			t.Errorf("401 body = %s", body)
		}
		if strings.Contains(string(body), token) || strings.Contains(string(body), readToken) {
			t.Errorf("%s %s: the answer holds a token: %s", tc.method, tc.path, body)
		}
	}
	if strings.Contains(ta.logs.String(), token) || strings.Contains(ta.logs.String(), readToken) {
		t.Errorf("the log holds a token")
	}
}

// A non-loopback listen without a token is a config error: New refuses it
// before anything starts.
func TestNonLoopbackWithoutToken(t *testing.T) {
	t.Parallel()
	dir, data := t.TempDir(), t.TempDir()
	writeConfig(t, dir, nodeHCL(data, `
api {
  listen = "0.0.0.0:0"
}
`), "")
	a, _, diags, err := agent.New(agent.Options{Paths: []string{dir}, Load: dsl.Options{LookupEnv: noEnv}})
	if a != nil || !errors.Is(err, agent.ErrConfig) {
		t.Fatalf("New = %v, %v; want ErrConfig", a, err)
	}
	if !strings.Contains(diags.Error(), "API token required") {
		t.Errorf("diagnostics = %v", diags)
	}
}

// A reload asked for before Run has started waits for it (SIGHUP early at
// start), and one asked for when Run failed to start returns an error
// rather than blocking.
func TestReloadBeforeStart(t *testing.T) {
	t.Parallel()
	dir, data := t.TempDir(), t.TempDir()
	writeConfig(t, dir, nodeHCL(data, ""), "")

	// The port is taken: Run fails before it starts.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	a, _, _, err := agent.New(agent.Options{Paths: []string{dir}, Load: dsl.Options{LookupEnv: noEnv}, Listen: l.Addr().String()})
	if err != nil {
		t.Fatal(err)
	}
	reloaded := make(chan error, 1)
	go func() {
		_, _, err := a.Reload(context.Background())
		reloaded <- err
	}()
	if err := a.Run(context.Background()); err == nil || !strings.Contains(err.Error(), "address already in use") {
		t.Errorf("Run on a taken port = %v", err)
	}
	select {
	case err := <-reloaded:
		if err == nil {
			t.Errorf("Reload of an agent that never started succeeded")
		}
	case <-time.After(wait):
		t.Fatalf("Reload still waits after Run failed")
	}
	if a.Addr() != "" {
		t.Errorf("Addr = %q for an agent that never started", a.Addr())
	}
	if err := a.Run(context.Background()); err == nil {
		t.Errorf("a second Run succeeded")
	}

	// Reload while Run starts: it waits, then applies.
	a2, _, _, err := agent.New(agent.Options{Paths: []string{dir}, Load: dsl.Options{LookupEnv: noEnv}, Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	type res struct {
		hash string
		err  error
	}
	got := make(chan res, 1)
	go func() {
		h, _, err := a2.Reload(context.Background())
		got <- res{h, err}
	}()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a2.Run(ctx) }()
	select {
	case r := <-got:
		if r.err != nil || r.hash == "" {
			t.Errorf("Reload during start = %q, %v", r.hash, r.err)
		}
	case <-time.After(wait):
		t.Errorf("Reload during start did not return")
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run = %v", err)
	}
	// After Run: refused, not applied to a stopped agent.
	if _, _, err := a2.Reload(context.Background()); err == nil {
		t.Errorf("Reload after Run returned succeeded")
	}
}

// WriteOnce with nothing to write leaves no history file behind (and no
// open database).
func TestWriteOnceNothing(t *testing.T) {
	t.Parallel()
	dir, data := t.TempDir(), t.TempDir()
	writeConfig(t, dir, nodeHCL(data, ""), "")
	cfg, plan, diags := engine.Load([]string{dir}, dsl.Options{LookupEnv: noEnv})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	if err := agent.WriteOnce(context.Background(), cfg, plan, nil, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(data, sqlite.HistoryFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("history file after writing nothing: %v", err)
	}
}
