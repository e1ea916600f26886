package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
)

// heartbeatStub adds heartbeat checks to stubBackend: the agent's are real
// checkers on its data dir (agent/heartbeat_test.go); these only remember.
type heartbeatStub struct {
	*stubBackend
	mu     sync.Mutex
	checks map[string]*stubHeartbeat // by address
	err    error                     // when set, HeartbeatCheck fails with it
}

type stubHeartbeat struct {
	address  string
	token    string // "" without token_file
	tokenErr error
	beatErr  error

	mu    sync.Mutex
	beats []Heartbeat
}

func (b *heartbeatStub) HeartbeatCheck(address string) (HeartbeatCheck, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.err != nil {
		return nil, b.err
	}
	c, ok := b.checks[address]
	if !ok {
		return nil, fmt.Errorf("%w %s runs on this node", ErrNoHeartbeat, address)
	}
	return c, nil
}

func (c *stubHeartbeat) Address() string { return c.address }

func (c *stubHeartbeat) Token() (string, bool, error) {
	if c.tokenErr != nil {
		return "", true, c.tokenErr
	}
	return c.token, c.token != "", nil
}

func (c *stubHeartbeat) Beat(_ context.Context, failed bool, message string) (Heartbeat, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.beatErr != nil {
		return Heartbeat{}, c.beatErr
	}
	hb := Heartbeat{Check: c.address, At: time.Now().UTC(), Status: "ok", Message: message}
	if failed {
		hb.Status = "fail"
	}
	c.beats = append(c.beats, hb)
	return hb, nil
}

func (c *stubHeartbeat) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.beats)
}

func (c *stubHeartbeat) last() Heartbeat {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.beats[len(c.beats)-1]
}

const checkToken = "check-token-89ab"

func newHeartbeatStub() *heartbeatStub {
	return &heartbeatStub{stubBackend: &stubBackend{local: sampleNode()}, checks: map[string]*stubHeartbeat{
		"heartbeat.backup":      {address: "heartbeat.backup", token: checkToken},
		"heartbeat.plain":       {address: "heartbeat.plain"},
		`heartbeat.dump["a/b"]`: {address: `heartbeat.dump["a/b"]`, token: checkToken},
	}}
}

func TestHeartbeatAuth(t *testing.T) {
	const full, read = "full-token-0123", "read-token-4567"
	hb := newHeartbeatStub()
	_, base := newServer(t, hb, Options{Token: full, ReadToken: read})
	for _, tc := range []struct {
		path, token string
		code        int
	}{
		// The full token, or the check's own.
		{"/v1/heartbeat/backup", full, 200},
		{"/v1/heartbeat/backup", checkToken, 200},
		{"/v1/heartbeat/heartbeat.backup", checkToken, 200},
		// The read token is not enough; a wrong one, or none, is refused.
		{"/v1/heartbeat/backup", read, 403},
		{"/v1/heartbeat/backup", "wrong", 401},
		{"/v1/heartbeat/backup", "", 401},
		{"/v1/heartbeat/backup", checkToken + "x", 401},
		// A check without token_file takes the full token only.
		{"/v1/heartbeat/plain", full, 200},
		{"/v1/heartbeat/plain", checkToken, 401},
		{"/v1/heartbeat/plain", "", 401},
		{"/v1/heartbeat/plain", read, 403},
		// An unknown name is 404 to a valid API token, 401 to anyone else
		// (another check's token included): nothing is told of what exists.
		{"/v1/heartbeat/nothing", full, 404},
		{"/v1/heartbeat/nothing", read, 404},
		{"/v1/heartbeat/nothing", checkToken, 401},
		{"/v1/heartbeat/nothing", "", 401},
		{"/v1/heartbeat/", "", 401},
		{"/v1/heartbeat/", full, 400},
		// A for_each instance, its key escaped.
		{"/v1/heartbeat/" + url.PathEscape(`dump["a/b"]`), checkToken, 200},
		{"/v1/heartbeat/dump", full, 404},
	} {
		a := send(t, http.MethodPost, base+tc.path, tc.token, "")
		if a.code != tc.code {
			t.Errorf("POST %s with %q: %d %s, want %d", tc.path, tc.token, a.code, a.body, tc.code)
		}
		if a.code == 401 && a.header.Get("WWW-Authenticate") == "" {
			t.Errorf("POST %s: 401 without WWW-Authenticate", tc.path)
		}
		for _, secret := range []string{full, read, checkToken} {
			if strings.Contains(a.body, secret) {
				t.Errorf("a token in the answer: %s", a.body)
			}
		}
	}
	if n := hb.checks["heartbeat.backup"].count(); n != 3 {
		t.Errorf("backup: %d heartbeats, want 3", n)
	}
	if n := hb.checks["heartbeat.plain"].count(); n != 1 {
		t.Errorf("plain: %d heartbeats, want 1", n)
	}
	if n := hb.checks[`heartbeat.dump["a/b"]`].count(); n != 1 {
		t.Errorf("dump: %d heartbeats, want 1", n)
	}
}

// Without an API token (a loopback API) a check without token_file takes
// heartbeats without a token; one with token_file still needs its own.
func TestHeartbeatTokenlessAPI(t *testing.T) {
	hb := newHeartbeatStub()
	_, base := newServer(t, hb, Options{})
	for _, tc := range []struct {
		path, token string
		code        int
	}{
		{"/v1/heartbeat/plain", "", 200},
		{"/v1/heartbeat/plain", "anything", 200},
		{"/v1/heartbeat/backup", "", 401},
		{"/v1/heartbeat/backup", "wrong", 401},
		{"/v1/heartbeat/backup", checkToken, 200},
		{"/v1/heartbeat/nothing", "", 404},
	} {
		if a := send(t, http.MethodPost, base+tc.path, tc.token, ""); a.code != tc.code {
			t.Errorf("POST %s with %q: %d %s, want %d", tc.path, tc.token, a.code, a.body, tc.code)
		}
	}
}

func TestHeartbeatRequest(t *testing.T) {
	logs := &syncBuffer{}
	hb := newHeartbeatStub()
	_, base := newServer(t, hb, Options{Logger: hclog.New(&hclog.LoggerOptions{Output: logs, Level: hclog.Trace})})
	backup := hb.checks["heartbeat.backup"]

	a := send(t, http.MethodPost, base+"/v1/heartbeat/backup", checkToken, "backup done")
	if a.code != 200 || a.header.Get("Content-Type") != "application/json" {
		t.Fatalf("%d %v %s", a.code, a.header, a.body)
	}
	var got Heartbeat
	if err := json.Unmarshal([]byte(a.body), &got); err != nil || got.Check != "heartbeat.backup" || got.Status != "ok" || got.Message != "backup done" || got.At.IsZero() {
		t.Errorf("answer %s: %+v %v", a.body, got, err)
	}

	a = send(t, http.MethodPost, base+"/v1/heartbeat/backup?status=fail", checkToken, "disk full")
	if a.code != 200 || !strings.Contains(a.body, `"status":"fail"`) || backup.last().Status != "fail" {
		t.Errorf("fail: %d %s", a.code, a.body)
	}
	if a := send(t, http.MethodPost, base+"/v1/heartbeat/backup?status=ok", checkToken, ""); a.code != 200 || backup.last().Status != "ok" {
		t.Errorf("ok: %d %s", a.code, a.body)
	}

	// The body is read up to MaxHeartbeatBody; the rest is ignored, not refused.
	long := strings.Repeat("x", 64<<10)
	if a := send(t, http.MethodPost, base+"/v1/heartbeat/backup", checkToken, long); a.code != 200 || len(backup.last().Message) != MaxHeartbeatBody {
		t.Errorf("long body: %d, message of %d bytes", a.code, len(backup.last().Message))
	}

	n := backup.count()
	for _, tc := range []struct {
		method, path string
		code         int
		err          string
	}{
		{"GET", "/v1/heartbeat/backup", 405, "method not allowed"},
		{"PUT", "/v1/heartbeat/backup", 405, "method not allowed"},
		{"POST", "/v1/heartbeat/backup?status=failed", 400, `status must be ok or fail, not "failed"`},
		{"POST", "/v1/heartbeat/backup?status=ok&status=fail", 400, "status must be given once"},
		{"POST", "/v1/heartbeat/backup?fail=1", 400, `unknown parameter "fail"`},
		{"POST", "/v1/heartbeat/backup?status=%zz", 400, "the query is malformed"},
		{"POST", "/v1/heartbeat/backup/x", 400, "a / in a key is escaped as %2F"},
		{"POST", "/v1/heartbeat/..%2F..%2Fetc%2Fpasswd", 400, "is not a check's name"},
		{"POST", "/v1/heartbeat/%2E%2E", 400, `".." is not a check's name`},
		{"POST", "/v1/heartbeat/backup%0A", 400, "control character"},
		{"POST", "/v1/heartbeat/backup%5B%27x%27%5D", 400, "not quoted as in the check's address"},
		{"POST", "/v1/heartbeat/" + strings.Repeat("a", MaxHeartbeatName+1), 400, "longer than 1024 bytes"},
		{"POST", "/v1/heartbeat/nothing", 404, "no heartbeat check heartbeat.nothing runs on this node"},
	} {
		a := send(t, tc.method, base+tc.path, checkToken, "")
		var e struct{ Error string }
		_ = json.Unmarshal([]byte(a.body), &e)
		if a.code != tc.code || !strings.Contains(e.Error, tc.err) {
			t.Errorf("%s %s: %d %s, want %d %q", tc.method, tc.path, a.code, a.body, tc.code, tc.err)
		}
		if tc.code == 405 && a.header.Get("Allow") != "POST" {
			t.Errorf("%s %s: Allow %q", tc.method, tc.path, a.header.Get("Allow"))
		}
	}
	if backup.count() != n {
		t.Errorf("refused requests recorded heartbeats")
	}
	// Without a token, 405 is still 405: it tells nothing of what exists.
	if a := send(t, "GET", base+"/v1/heartbeat/whatever", "", ""); a.code != 405 {
		t.Errorf("GET without a token: %d", a.code)
	}
	if strings.Contains(logs.String(), checkToken) {
		t.Errorf("the check's token is in the log:\n%s", logs.String())
	}
}

func TestHeartbeatBackendErrors(t *testing.T) {
	logs := &syncBuffer{}
	const full = "full-token-0123"
	hb := newHeartbeatStub()
	_, base := newServer(t, hb, Options{Token: full, Logger: hclog.New(&hclog.LoggerOptions{Output: logs, Level: hclog.Trace})})

	// A token file that cannot be read: only the full token is accepted,
	// and the agent's log says why.
	backup := hb.checks["heartbeat.backup"]
	backup.tokenErr = errors.New("token_file: open /etc/satellite/hb.token: permission denied")
	if a := send(t, "POST", base+"/v1/heartbeat/backup", checkToken, ""); a.code != 401 {
		t.Errorf("check token with an unreadable token_file: %d %s", a.code, a.body)
	}
	if a := send(t, "POST", base+"/v1/heartbeat/backup", full, ""); a.code != 200 {
		t.Errorf("full token with an unreadable token_file: %d %s", a.code, a.body)
	}
	mustContain(t, logs.String(), "token_file cannot be read", "permission denied", "check=heartbeat.backup")

	backup.beatErr = errors.New("writing /var/lib/satellite/heartbeats/backup.json: no space left on device")
	if a := send(t, "POST", base+"/v1/heartbeat/backup", full, ""); a.code != 500 || !strings.Contains(a.body, "recording the heartbeat failed: writing") {
		t.Errorf("beat error: %d %s", a.code, a.body)
	}

	hb.mu.Lock()
	hb.err = errors.New("the agent is not running yet")
	hb.mu.Unlock()
	if a := send(t, "POST", base+"/v1/heartbeat/backup", full, ""); a.code != 500 || !strings.Contains(a.body, "not running yet") {
		t.Errorf("backend error: %d %s", a.code, a.body)
	}
	if a := send(t, "POST", base+"/v1/heartbeat/backup", checkToken, ""); a.code != 401 {
		t.Errorf("backend error, no API token: %d %s", a.code, a.body)
	}
}

func TestHeartbeatNotImplemented(t *testing.T) {
	_, base := newServer(t, &stubBackend{local: sampleNode()}, Options{Token: "full-token-0123"})
	if a := send(t, "POST", base+"/v1/heartbeat/backup", "full-token-0123", ""); a.code != 501 {
		t.Errorf("%d %s", a.code, a.body)
	}
	if a := send(t, "POST", base+"/v1/heartbeat/backup", "", ""); a.code != 401 {
		t.Errorf("%d %s", a.code, a.body)
	}
}

func TestHeartbeatClient(t *testing.T) {
	hb := newHeartbeatStub()
	_, base := newServer(t, hb, Options{Token: "full-token-0123"})
	c, err := NewClient(base, ClientOptions{Token: checkToken})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	got, err := c.Heartbeat(context.Background(), `dump["a/b"]`, true, "exit 3")
	if err != nil || got.Check != `heartbeat.dump["a/b"]` || got.Status != "fail" || got.Message != "exit 3" {
		t.Errorf("%+v %v", got, err)
	}
	if _, err := c.Heartbeat(context.Background(), "plain", false, ""); !isStatus(err, 401) {
		t.Errorf("plain with the check token: %v", err)
	}
	full, _ := NewClient(base, ClientOptions{Token: "full-token-0123"})
	defer full.Close()
	if _, err := full.Heartbeat(context.Background(), "nothing", false, ""); !isStatus(err, 404) {
		t.Errorf("unknown: %v", err)
	}
}

func isStatus(err error, code int) bool {
	var se *StatusError
	return errors.As(err, &se) && se.Code == code
}

func TestParseHeartbeatName(t *testing.T) {
	for raw, want := range map[string]string{
		"backup":                   "backup",
		"heartbeat.backup":         "backup",
		"heartbeat.heartbeat":      "heartbeat",
		"nightly-db_2":             "nightly-db_2",
		"backup%5B%22x%22%5D":      `backup["x"]`,
		`backup["x"]`:              `backup["x"]`,
		"dump%5B%22a%2Fb%22%5D":    `dump["a/b"]`,
		"dump%5B%22..%2F..%22%5D":  `dump["../.."]`,
		"%D0%BA%D0%BB%D1%8E%D1%87": "ключ",
		"b%5B%22%C3%A9%5Cn%22%5D":  `b["é\n"]`,
	} {
		got, err := ParseHeartbeatName(raw)
		if err != nil || got != want {
			t.Errorf("ParseHeartbeatName(%q) = %q, %v; want %q", raw, got, err, want)
		}
	}
	for _, raw := range []string{
		"", "a/b", "..", ".", "%2E%2E", "..%2Fx", "heartbeat.", "heartbeat.heartbeat.x", "1backup", "back%20up",
		"backup%5B", "backup%5B%22x%22", "backup%5Bx%5D", "backup%5B%22x%22%5D%5B%22y%22%5D", "b%5B%22%5Cu00e9%22%5D",
		"backup%00", "%ff", "%", "a%2Fb",
	} {
		if got, err := ParseHeartbeatName(raw); err == nil {
			t.Errorf("ParseHeartbeatName(%q) = %q, want an error", raw, got)
		}
	}
}
