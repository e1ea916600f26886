package agent_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "github.com/satellite-hq/satellite/checks/heartbeat"
	"github.com/satellite-hq/satellite/health"
)

// post sends POST url with a body and an optional bearer token and returns
// the status code and the answer.
func post(t *testing.T, url, token, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// localWith is GET /v1/status/local with a token.
func (ta *testAgent) localWith(t *testing.T, token string) health.Node {
	t.Helper()
	code, body := get(t, http.MethodGet, ta.base+"/v1/status/local", token)
	if code != http.StatusOK {
		t.Fatalf("GET /v1/status/local: %d %s", code, body)
	}
	var n health.Node
	if err := json.Unmarshal(body, &n); err != nil {
		t.Fatal(err)
	}
	return n
}

// waitProbeWith is waitProbe with a token.
func (ta *testAgent) waitProbeWith(t *testing.T, token, addr string, ok func(health.Probe) bool) health.Probe {
	t.Helper()
	var got health.Probe
	eventually(t, "probe "+addr, func() string {
		p, found := probe(ta.localWith(t, token), addr)
		if !found || !ok(p) {
			return fmt.Sprintf("probe is %+v", p)
		}
		got = p
		return ""
	})
	return got
}

func criticalWith(parts ...string) func(health.Probe) bool {
	return func(p health.Probe) bool {
		if p.Status != health.Critical {
			return false
		}
		for _, s := range parts {
			if !strings.Contains(p.Error, s) {
				return false
			}
		}
		return true
	}
}

func passingWith(detail string) func(health.Probe) bool {
	return func(p health.Probe) bool {
		return p.Status == health.Passing && strings.Contains(p.Detail, detail)
	}
}

// The heartbeat check through a real agent and its API: pings (with the
// check's token, the full token, not the read token) keep it passing, no
// ping within the window makes it critical with the age, and a restart on
// the same data dir keeps the last ping.
func TestHeartbeatEndToEnd(t *testing.T) {
	t.Parallel()
	dir, data, secrets := t.TempDir(), t.TempDir(), t.TempDir()
	const full, read, own = "full-token-0123456789", "read-token-0123456789", "backup-token-0123456789"
	for name, tok := range map[string]string{"api.token": full, "api-read.token": read, "backup.token": own + "\n"} {
		writeFile(t, filepath.Join(secrets, name), tok)
	}
	writeConfig(t, dir, nodeHCL(data, fmt.Sprintf(`
api {
  token_file      = %q
  read_token_file = %q
}
`, filepath.Join(secrets, "api.token"), filepath.Join(secrets, "api-read.token"))), fmt.Sprintf(`
check "heartbeat" "backup" {
  interval   = "1s"
  within     = "3s"
  token_file = %q
}

check "heartbeat" "plain" {
  interval = "1s"
  within   = "1h"
}

check "heartbeat" "dump" {
  for_each = toset(["orders/eu"])
  interval = "1s"
  within   = "1h"
}
`, filepath.Join(secrets, "backup.token")))
	ta := startAgent(t, dir, data)

	// Before the first ping: waiting, passing.
	ta.waitProbeWith(t, full, "heartbeat.backup", passingWith("no heartbeat yet; watching since"))

	code, body := post(t, ta.base+"/v1/heartbeat/backup", own, "backup done\n")
	if code != http.StatusOK {
		t.Fatalf("POST with the check's token: %d %s", code, body)
	}
	var hb struct {
		Check, Status, Message string
		At                     time.Time
	}
	if err := json.Unmarshal([]byte(body), &hb); err != nil || hb.Check != "heartbeat.backup" || hb.Status != "ok" || hb.Message != "backup done" || time.Since(hb.At) > time.Minute {
		t.Fatalf("answer %s: %+v %v", body, hb, err)
	}
	p := ta.waitProbeWith(t, full, "heartbeat.backup", passingWith("last heartbeat"))
	if _, ok := p.Metrics["age_seconds"]; !ok || !strings.Contains(p.Detail, ": backup done") {
		t.Errorf("probe %+v", p)
	}

	// Token rules, through the real API.
	for _, tc := range []struct {
		path, token string
		code        int
	}{
		{"/v1/heartbeat/backup", full, 200},
		{"/v1/heartbeat/heartbeat.backup", own, 200},
		{"/v1/heartbeat/backup", read, 403},
		{"/v1/heartbeat/backup", "wrong", 401},
		{"/v1/heartbeat/backup", "", 401},
		{"/v1/heartbeat/plain", full, 200},
		{"/v1/heartbeat/plain", own, 401},
		{"/v1/heartbeat/plain", "", 401},
		{"/v1/heartbeat/" + url.PathEscape(`dump["orders/eu"]`), full, 200},
		{"/v1/heartbeat/dump", full, 404},
		{"/v1/heartbeat/nothing", full, 404},
		{"/v1/heartbeat/nothing", "", 401},
		{"/v1/heartbeat/..%2F..%2Fetc%2Fpasswd", full, 400},
		{"/v1/heartbeat/%2E%2E", full, 400},
		{"/v1/heartbeat/backup/..", full, 400},
	} {
		if code, body := post(t, ta.base+tc.path, tc.token, ""); code != tc.code {
			t.Errorf("POST %s with %q: %d %s, want %d", tc.path, tc.token, code, body, tc.code)
		}
	}
	if code, _ := get(t, http.MethodGet, ta.base+"/v1/heartbeat/backup", full); code != http.StatusMethodNotAllowed {
		t.Errorf("GET: %d", code)
	}
	// Nothing was written outside the heartbeats folder, whatever the names.
	entries, err := os.ReadDir(filepath.Join(data, "heartbeats"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if got := strings.Join(names, " "); got != "backup.json dump%5B%22orders%2Feu%22%5D.json plain.json" {
		t.Errorf("heartbeat files: %s", got)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(data), "etc")); !os.IsNotExist(err) {
		t.Errorf("something outside the data dir: %v", err)
	}

	// Pings every half second keep it passing for longer than within.
	end := time.Now().Add(4500 * time.Millisecond)
	for time.Now().Before(end) {
		if code, body := post(t, ta.base+"/v1/heartbeat/backup", own, ""); code != 200 {
			t.Fatalf("ping: %d %s", code, body)
		}
		if p, _ := probe(ta.localWith(t, full), "heartbeat.backup"); p.Status != health.Passing {
			t.Fatalf("critical while pinged: %+v", p)
		}
		time.Sleep(500 * time.Millisecond)
	}

	// A failure reported: critical at once, with the message.
	if code, body := post(t, ta.base+"/v1/heartbeat/backup?status=fail", own, "pg_dump: connection refused"); code != 200 || !strings.Contains(body, `"status":"fail"`) {
		t.Fatalf("fail: %d %s", code, body)
	}
	ta.waitProbeWith(t, full, "heartbeat.backup", criticalWith("reported a failure: pg_dump: connection refused"))
	if code, _ := post(t, ta.base+"/v1/heartbeat/backup", own, ""); code != 200 {
		t.Fatal(code)
	}
	ta.waitProbeWith(t, full, "heartbeat.backup", status("passing"))

	// No ping within the window: critical, with the age.
	p = ta.waitProbeWith(t, full, "heartbeat.backup", criticalWith("no heartbeat for ", "s (within 3s)"))
	t.Logf("after the pings stopped: %s (%s)", p.Error, p.Detail)

	// A restart on the same data dir keeps the last ping: still critical
	// (not "no heartbeat yet", passing), and one ping makes it pass.
	ta.stop()
	ta = startAgent(t, dir, data)
	first := ta.waitProbeWith(t, full, "heartbeat.backup", func(p health.Probe) bool { return p.Status != health.Unknown })
	if !criticalWith("no heartbeat for ", "(within 3s)")(first) {
		t.Errorf("after a restart: %+v", first)
	}
	if p, _ := probe(ta.localWith(t, full), "heartbeat.plain"); p.Status != health.Passing || !strings.Contains(p.Detail, "last heartbeat") {
		t.Errorf("plain after a restart: %+v", p)
	}
	if code, _ := post(t, ta.base+"/v1/heartbeat/backup", own, ""); code != 200 {
		t.Fatal(code)
	}
	ta.waitProbeWith(t, full, "heartbeat.backup", passingWith("last heartbeat"))
	if strings.Contains(ta.logs.String(), own) || strings.Contains(ta.logs.String(), full) {
		t.Errorf("a token in the agent's log:\n%s", ta.logs.String())
	}
}

// On an API without a token (loopback), a check without token_file takes
// heartbeats without one, a check with token_file only with its own; and a
// check that never had a ping stays critical across a restart.
func TestHeartbeatTokenlessAPI(t *testing.T) {
	t.Parallel()
	dir, data, secrets := t.TempDir(), t.TempDir(), t.TempDir()
	const own = "job-token-0123456789"
	tokFile := filepath.Join(secrets, "job.token")
	writeFile(t, tokFile, own)
	// The token file's mode is judged at start, as the API's own.
	if err := os.Chmod(tokFile, 0o644); err != nil {
		t.Fatal(err)
	}
	writeConfig(t, dir, nodeHCL(data, ""), fmt.Sprintf(`
check "heartbeat" "open" {
  interval = "1s"
  within   = "1h"
}

check "heartbeat" "job" {
  interval   = "1s"
  within     = "1h"
  token_file = %q
}

check "heartbeat" "never" {
  interval = "1s"
  within   = "2s"
}
`, tokFile))
	ta := startAgent(t, dir, data)
	for _, tc := range []struct {
		path, token string
		code        int
	}{
		{"/v1/heartbeat/open", "", 200},
		{"/v1/heartbeat/job", "", 401},
		{"/v1/heartbeat/job", "wrong", 401},
		{"/v1/heartbeat/job", own, 200},
		{"/v1/heartbeat/nothing", "", 404},
	} {
		if code, body := post(t, ta.base+tc.path, tc.token, ""); code != tc.code {
			t.Errorf("POST %s with %q: %d %s, want %d", tc.path, tc.token, code, body, tc.code)
		}
	}
	if !strings.Contains(ta.logs.String(), "permissions: heartbeat.job token_file "+tokFile+" has mode 0644") {
		t.Errorf("no warning about the token file's mode:\n%s", ta.logs.String())
	}

	// heartbeat.never: passing while it waits for its first ping, restarted
	// in between; critical once `within` has passed since the first start,
	// the restart notwithstanding.
	ta.waitProbe(t, "heartbeat.never", passingWith("no heartbeat yet"))
	started := time.Now()
	ta.stop()
	time.Sleep(time.Until(started.Add(2500 * time.Millisecond)))
	ta = startAgent(t, dir, data)
	first := ta.waitProbe(t, "heartbeat.never", func(p health.Probe) bool { return p.Status != health.Unknown })
	if !criticalWith("no heartbeat yet, ", "after this node started watching (within 2s)")(first) {
		t.Errorf("after a restart: %+v", first)
	}
	if p := ta.waitProbe(t, "heartbeat.job", status("passing")); !strings.Contains(p.Detail, "last heartbeat") {
		t.Errorf("job after a restart: %+v", p)
	}

	// A token file that went missing: the check says so, and the check's
	// token is refused (nothing else can be checked against).
	if err := os.Remove(tokFile); err != nil {
		t.Fatal(err)
	}
	ta.waitProbe(t, "heartbeat.job", criticalWith("token_file: stat "+tokFile+": no such file or directory"))
	if code, body := post(t, ta.base+"/v1/heartbeat/job", own, ""); code != 401 {
		t.Errorf("with the token file gone: %d %s", code, body)
	}
}

// A reload adds and removes heartbeat checks at once; an unchanged one
// keeps its checker and its heartbeats.
func TestHeartbeatReload(t *testing.T) {
	t.Parallel()
	dir, data := t.TempDir(), t.TempDir()
	check := func(name, within string) string {
		return fmt.Sprintf("check \"heartbeat\" %q {\n  interval = \"1s\"\n  within   = %q\n}\n", name, within)
	}
	writeConfig(t, dir, nodeHCL(data, ""), check("a", "1h"))
	ta := startAgent(t, dir, data)
	if code, body := post(t, ta.base+"/v1/heartbeat/a", "", ""); code != 200 {
		t.Fatalf("a: %d %s", code, body)
	}
	if code, _ := post(t, ta.base+"/v1/heartbeat/b", "", ""); code != 404 {
		t.Fatalf("b before the reload: %d", code)
	}
	reload := func() {
		t.Helper()
		if _, diags, err := ta.Reload(context.Background()); err != nil || len(diags) > 0 {
			t.Fatalf("reload: %v %v", err, diags)
		}
	}
	writeFile(t, filepath.Join(dir, "checks.hcl"), check("a", "1h")+check("b", "1h"))
	reload()
	if code, body := post(t, ta.base+"/v1/heartbeat/b", "", "from b"); code != 200 {
		t.Fatalf("b after the reload: %d %s", code, body)
	}
	ta.waitProbe(t, "heartbeat.b", passingWith("last heartbeat"))
	ta.waitProbe(t, "heartbeat.a", passingWith("last heartbeat"))

	// a changed (another within): a new checker, the same heartbeats.
	writeFile(t, filepath.Join(dir, "checks.hcl"), check("a", "2h"))
	reload()
	if code, _ := post(t, ta.base+"/v1/heartbeat/b", "", ""); code != 404 {
		t.Errorf("b after its removal: %d", code)
	}
	if code, _ := post(t, ta.base+"/v1/heartbeat/a", "", ""); code != 200 {
		t.Errorf("a after the reload: %d", code)
	}
	ta.waitProbe(t, "heartbeat.a", passingWith("last heartbeat"))
}
