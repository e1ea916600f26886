package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/satellite-hq/satellite/notify/silence"
)

// silenceStub adds silences to stubBackend: a stand-in for the agent, with
// a real silence.Store on a temporary data dir (the gossip is the agent's).
type silenceStub struct {
	*stubBackend
	store *silence.Store

	mu     sync.Mutex
	addErr error // when set, AddSilence fails with it
	added  int
}

func (b *silenceStub) Silences(includeExpired bool) []silence.Silence {
	return b.store.List(time.Now(), includeExpired)
}

func (b *silenceStub) AddSilence(_ context.Context, s silence.Silence) (silence.Silence, error) {
	b.mu.Lock()
	err := b.addErr
	b.added++
	b.mu.Unlock()
	if err != nil {
		return silence.Silence{}, err
	}
	return b.store.Add(s)
}

func (b *silenceStub) ExpireSilence(_ context.Context, id string) (silence.Silence, error) {
	return b.store.Expire(id, time.Now())
}

func (b *silenceStub) calls() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.added
}

func newSilenceStub(t *testing.T) *silenceStub {
	t.Helper()
	st, err := silence.Open(t.TempDir(), silence.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return &silenceStub{stubBackend: &stubBackend{local: sampleNode()}, store: st}
}

// send sends a request with a body; token "" sends no Authorization.
func send(t *testing.T, method, url, token, body string) answer {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
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
	return answer{code: resp.StatusCode, header: resp.Header, body: string(b)}
}

const silenceBody = `{"node":"node-b","check":"http.*","duration":"2h","author":"alice","reason":"kernel upgrade"}`

func TestSilenceAuth(t *testing.T) {
	const full, read = "full-token-0123", "read-token-4567"
	sb := newSilenceStub(t)
	_, base := newServer(t, sb, Options{Token: full, ReadToken: read})
	id := "0123456789abcdef"
	for _, tc := range []struct {
		method, path, token string
		code                int
	}{
		{"GET", "/v1/silences", "", 401},
		{"GET", "/v1/silences", "wrong", 401},
		{"GET", "/v1/silences", read, 200},
		{"HEAD", "/v1/silences", read, 200},
		{"POST", "/v1/silences", "", 401},
		{"POST", "/v1/silences", read, 403},
		{"DELETE", "/v1/silences/" + id, "", 401},
		{"DELETE", "/v1/silences/" + id, read, 403},
		{"DELETE", "/v1/silences/" + id, full, 404},
		// Without a valid token nothing is told, not even what exists.
		{"GET", "/v1/silences/" + id, "", 401},
		{"GET", "/v1/silences/", "", 401},
		{"PUT", "/v1/silences", "", 401},
	} {
		a := send(t, tc.method, base+tc.path, tc.token, silenceBody)
		if a.code != tc.code {
			t.Errorf("%s %s with %q: %d %s", tc.method, tc.path, tc.token, a.code, a.body)
		}
		if strings.Contains(a.body, full) || strings.Contains(a.body, read) {
			t.Errorf("a token in the answer: %s", a.body)
		}
	}
	if n := sb.calls(); n != 0 || len(sb.store.All()) != 0 {
		t.Errorf("%d requests reached the backend without the full token", n)
	}
	// The full token adds; the read token lists.
	if a := send(t, "POST", base+"/v1/silences", full, silenceBody); a.code != 201 {
		t.Fatalf("%d %s", a.code, a.body)
	}
	if a := do(t, nil, "GET", base+"/v1/silences", read); a.code != 200 || !strings.Contains(a.body, `"reason":"kernel upgrade"`) {
		t.Errorf("%d %s", a.code, a.body)
	}
}

func TestSilenceAddListExpire(t *testing.T) {
	logs := &syncBuffer{}
	sb := newSilenceStub(t)
	_, base := newServer(t, sb, Options{Logger: hclog.New(&hclog.LoggerOptions{Output: logs, Level: hclog.Trace})})

	before := time.Now().Truncate(time.Second)
	a := send(t, "POST", base+"/v1/silences", "", silenceBody)
	if a.code != 201 || a.header.Get("Content-Type") != "application/json" {
		t.Fatalf("%d %s", a.code, a.body)
	}
	var got silence.Silence
	dec := json.NewDecoder(strings.NewReader(a.body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&got); err != nil {
		t.Fatal(err)
	}
	if !silence.IsID(got.ID) || got.Node != "node-b" || got.Check != "http.*" || got.Author != "alice" ||
		got.Reason != "kernel upgrade" || got.Version != 1 || got.Created.Before(before) ||
		got.Expires.Sub(got.Created) != 2*time.Hour || !got.ExpiredAt.IsZero() {
		t.Errorf("%+v", got)
	}
	if loc := a.header.Get("Location"); loc != "/v1/silences/"+got.ID {
		t.Errorf("Location %q", loc)
	}
	if strings.Contains(a.body, "expired_at") {
		t.Errorf("expired_at of a silence not expired: %s", a.body)
	}
	if s, ok := sb.store.Get(got.ID); !ok || s != got {
		t.Errorf("the store holds %+v", s)
	}

	// expires instead of duration; a silence of everything with all.
	until := time.Now().Add(3 * time.Hour).UTC().Truncate(time.Second)
	a = send(t, "POST", base+"/v1/silences", "", fmt.Sprintf(`{"expires":%q,"author":"bob","reason":"all of it","all":true}`, until.Format(time.RFC3339)))
	if a.code != 201 {
		t.Fatalf("%d %s", a.code, a.body)
	}
	var every silence.Silence
	_ = json.Unmarshal([]byte(a.body), &every)
	if !every.Everything() || !every.Expires.Equal(until) {
		t.Errorf("%+v", every)
	}

	var list []silence.Silence
	a = do(t, nil, "GET", base+"/v1/silences", "")
	if err := json.Unmarshal([]byte(a.body), &list); err != nil || len(list) != 2 || list[0].ID != got.ID || list[1].ID != every.ID {
		t.Fatalf("%s %v", a.body, err)
	}

	// DELETE expires it: 200 with the silence as it now is; again, unchanged.
	a = send(t, "DELETE", base+"/v1/silences/"+got.ID, "", "")
	var x silence.Silence
	if err := json.Unmarshal([]byte(a.body), &x); a.code != 200 || err != nil || x.ID != got.ID || x.Version != 2 || x.ExpiredAt.IsZero() {
		t.Fatalf("%d %s", a.code, a.body)
	}
	if a2 := send(t, "DELETE", base+"/v1/silences/"+got.ID, "", ""); a2.code != 200 || a2.body != a.body {
		t.Errorf("again: %d %s", a2.code, a2.body)
	}
	a = do(t, nil, "GET", base+"/v1/silences", "")
	if err := json.Unmarshal([]byte(a.body), &list); err != nil || len(list) != 1 || list[0].ID != every.ID {
		t.Errorf("active: %s", a.body)
	}
	for _, q := range []string{"?expired=1", "?expired=true"} {
		a = do(t, nil, "GET", base+"/v1/silences"+q, "")
		if err := json.Unmarshal([]byte(a.body), &list); err != nil || len(list) != 2 || list[0].ID != got.ID {
			t.Errorf("%s: %s", q, a.body)
		}
	}

	for _, tc := range []struct {
		method, path string
		code         int
		want, allow  string
	}{
		{"DELETE", "/v1/silences/ffffffffffffffff", 404, `{"error":"no silence has ID ffffffffffffffff (it may have ended more than 24h0m0s ago)"}`, ""},
		{"DELETE", "/v1/silences/nope", 400, `{"error":"a silence ID is 16 hex digits, not \"nope\""}`, ""},
		{"DELETE", "/v1/silences/" + strings.Repeat("A", 100), 400, `not \"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA...\"`, ""},
		{"DELETE", "/v1/silences/", 404, `{"error":"not found"}`, ""},
		{"DELETE", "/v1/silences/" + got.ID + "/x", 404, `{"error":"not found"}`, ""},
		{"DELETE", "/v1/silences", 405, "method not allowed", "GET, HEAD, POST"},
		{"GET", "/v1/silences/" + got.ID, 405, "method not allowed", "DELETE"},
		{"POST", "/v1/silences/" + got.ID, 405, "method not allowed", "DELETE"},
		{"GET", "/v1/silences?expired=maybe", 400, `expired must be 1 or 0, not \"maybe\"`, ""},
		{"GET", "/v1/silences?node=a", 400, `unknown parameter \"node\" (only expired)`, ""},
		{"GET", "/v1/silences?expired=1&expired=0", 400, "expired must be given once", ""},
	} {
		a := send(t, tc.method, base+tc.path, "", "")
		if a.code != tc.code || !strings.Contains(a.body, tc.want) || a.header.Get("Allow") != tc.allow {
			t.Errorf("%s %s: %d %s (Allow %q)", tc.method, tc.path, a.code, a.body, a.header.Get("Allow"))
		}
	}

	l := logs.String()
	mustContain(t, l, "silence added: id="+got.ID, "silence expired: id="+got.ID)
}

func TestSilenceValidation(t *testing.T) {
	sb := newSilenceStub(t)
	_, base := newServer(t, sb, Options{})
	past := time.Now().Add(-time.Minute).UTC().Format(time.RFC3339)
	for _, tc := range []struct{ body, want string }{
		{``, `the body must be {\"node\":GLOB,\"check\":GLOB,\"duration\":\"2h\" or \"expires\":RFC3339,\"author\":TEXT,\"reason\":TEXT}; it is empty`},
		{`[]`, `the body must be`},
		{`{"node":"a","duration":"2h","author":"a","reason":"r","reson":"x"}`, `json: unknown field \"reson\"`},
		{`{"node":"a","duration":"2h","author":"a","reason":"r"} {}`, `one object, nothing after it`},
		{`{"node":"a","duration":"2h","author":"a","reason":"` + strings.Repeat("r", 9000) + `"}`, `cut short, or longer than 8 KiB`},
		{`{"node":"a","author":"a","reason":"r"}`, `give how long the silence lasts`},
		{`{"node":"a","duration":"2h","expires":"2030-01-01T00:00:00Z","author":"a","reason":"r"}`, `give duration or expires, not both`},
		{`{"node":"a","duration":"1d","author":"a","reason":"r"}`, `duration \"1d\" is not a Go duration such as 90m, 2h or 48h (there is no d unit)`},
		{`{"node":"a","duration":"30s","author":"a","reason":"r"}`, `duration must be from 1m0s to 2160h0m0s (90 days), not 30s`},
		{`{"node":"a","duration":"2161h","author":"a","reason":"r"}`, `duration must be from`},
		{`{"node":"a","duration":"-2h","author":"a","reason":"r"}`, `duration must be from`},
		{`{"node":"a","expires":"tomorrow","author":"a","reason":"r"}`, `expires \"tomorrow\" is not an RFC 3339 time`},
		{`{"node":"a","expires":"` + past + `","author":"a","reason":"r"}`, `is past`},
		{`{"node":"a","duration":"2h","author":"a"}`, `the reason is required`},
		{`{"node":"a","duration":"2h","reason":"r"}`, `the author is required`},
		{`{"node":"a","duration":"2h","author":"a","reason":"` + strings.Repeat("r", 161) + `"}`, `the reason is 161 bytes long, more than 160`},
		{`{"node":"a","duration":"2h","author":"a","reason":"two\nlines"}`, `the reason holds the character U+000A`},
		{`{"node":"node-[","duration":"2h","author":"a","reason":"r"}`, `node: the glob \"node-[\" is malformed`},
		{`{"duration":"2h","author":"a","reason":"r"}`, `node and check are both \"*\": this silences every check on every node; send \"all\":true`},
		{`{"node":"*","check":" ","duration":"2h","author":"a","reason":"r"}`, `send \"all\":true`},
		{`{"node":"a","duration":"2h","author":"a","reason":"r","all":true}`, `\"all\":true is for a silence of every check on every node`},
	} {
		a := send(t, "POST", base+"/v1/silences", "", tc.body)
		if a.code != 400 || !strings.Contains(a.body, tc.want) {
			t.Errorf("%.80s: %d %s\nwant %s", tc.body, a.code, a.body, tc.want)
		}
	}
	if n := sb.calls(); n != 0 || len(sb.store.All()) != 0 {
		t.Errorf("%d bad requests reached the backend", n)
	}
}

func TestSilenceBackendErrors(t *testing.T) {
	const token = "secret-token-xyz"
	sb := newSilenceStub(t)
	_, base := newServer(t, sb, Options{Token: token})
	for _, tc := range []struct {
		err  error
		code int
		want string
	}{
		{fmt.Errorf("wrapped: %w", silence.ErrFull), 409, `{"error":"wrapped: too many silences"}`},
		{fmt.Errorf("the store says %w", silence.ErrInvalid), 400, `{"error":"the store says invalid silence"}`},
		{errors.New("disk full writing " + token), 500, `{"error":"adding the silence failed: disk full writing (sensitive)"}`},
	} {
		sb.mu.Lock()
		sb.addErr = tc.err
		sb.mu.Unlock()
		a := send(t, "POST", base+"/v1/silences", token, silenceBody)
		if a.code != tc.code || a.body != tc.want+"\n" {
			t.Errorf("%v: %d %s", tc.err, a.code, a.body)
		}
	}
}

// A Backend without silences answers 501, whatever it is asked.
func TestSilenceNotImplemented(t *testing.T) {
	_, base := newServer(t, &stubBackend{local: sampleNode()}, Options{})
	for _, a := range []answer{
		do(t, nil, "GET", base+"/v1/silences", ""),
		send(t, "POST", base+"/v1/silences", "", silenceBody),
		send(t, "DELETE", base+"/v1/silences/0123456789abcdef", "", ""),
	} {
		if a.code != 501 || a.body != `{"error":"this agent does not support silences"}`+"\n" {
			t.Errorf("%d %s", a.code, a.body)
		}
	}
	c, _ := NewClient(base, ClientOptions{})
	defer c.Close()
	_, _, err := c.Silences(context.Background(), false)
	var se *StatusError
	if !errors.As(err, &se) || se.Code != 501 {
		t.Errorf("%v", err)
	}
}

func TestSilenceClient(t *testing.T) {
	const token = "tok-123"
	sb := newSilenceStub(t)
	_, base := newServer(t, sb, Options{Token: token})
	ctx := context.Background()
	c, err := NewClient(base, ClientOptions{Token: token})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	list, raw, err := c.Silences(ctx, false)
	if err != nil || list == nil || len(list) != 0 || strings.TrimSpace(string(raw)) != "[]" {
		t.Fatalf("%v %s %v", list, raw, err)
	}
	s, err := c.AddSilence(ctx, SilenceRequest{Check: "tcp.etcd", Duration: "90m", Author: "carol", Reason: "etcd defrag"})
	if err != nil || s.Node != "*" || s.Check != "tcp.etcd" || s.Expires.Sub(s.Created) != 90*time.Minute {
		t.Fatalf("%+v %v", s, err)
	}
	x, err := c.ExpireSilence(ctx, s.ID)
	if err != nil || x.ID != s.ID || x.ExpiredAt.IsZero() {
		t.Fatalf("%+v %v", x, err)
	}
	if list, _, err = c.Silences(ctx, true); err != nil || len(list) != 1 || list[0] != x {
		t.Errorf("%+v %v", list, err)
	}
	_, err = c.ExpireSilence(ctx, "ffffffffffffffff")
	var se *StatusError
	if !errors.As(err, &se) || se.Code != 404 || !strings.Contains(se.Message, "no silence has ID ffffffffffffffff") {
		t.Errorf("%v", err)
	}
	// An ID with a slash is no silence's path.
	if _, err = c.ExpireSilence(ctx, "a/b"); !errors.As(err, &se) || se.Code != 404 {
		t.Errorf("%v", err)
	}
	_, err = c.AddSilence(ctx, SilenceRequest{Duration: "2h", Author: "a", Reason: "r"})
	if !errors.As(err, &se) || se.Code != 400 || !strings.Contains(se.Message, `send "all":true`) {
		t.Errorf("%v", err)
	}
}
