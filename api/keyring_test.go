package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/satellite-hq/satellite/health"
	"github.com/satellite-hq/satellite/mesh"
)

// keyringStub adds a keyring to stubBackend. The real keyring is serf's key
// manager, tested with real serf agents in mesh/; here only the API's part
// (auth, validation, answers, redaction) is under test.
type keyringStub struct {
	*stubBackend

	mu      sync.Mutex
	status  mesh.KeyringResult
	err     error
	ops     []KeyringRequest
	listErr error
}

func (k *keyringStub) ListKeys(context.Context) (mesh.KeyringResult, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.status, k.listErr
}

func (k *keyringStub) KeyringOp(_ context.Context, op, key string) (mesh.KeyringResult, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.ops = append(k.ops, KeyringRequest{Op: op, Key: key})
	return k.status, k.err
}

func (k *keyringStub) set(f func(k *keyringStub)) {
	k.mu.Lock()
	defer k.mu.Unlock()
	f(k)
}

func (k *keyringStub) lastOp() (KeyringRequest, int) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if len(k.ops) == 0 {
		return KeyringRequest{}, 0
	}
	return k.ops[len(k.ops)-1], len(k.ops)
}

// syncBuffer is a log destination the server's goroutines and the test
// share.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

const (
	testKey  = "T9jncgl9mbLus+baTTa7q7nPSUrXwbDi2dhbtqir37s=" // 32 bytes
	otherKey = "HvY8ubRZMgafUOWvrOadwOckVa1wN3QWAo46FVKbVN8="
)

// postKeyring sends POST /v1/keyring with a raw body.
func postKeyring(t *testing.T, base, token, body string) answer {
	t.Helper()
	req, err := http.NewRequest("POST", base+"/v1/keyring", strings.NewReader(body))
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
	var buf bytes.Buffer
	_, _ = buf.ReadFrom(resp.Body)
	return answer{code: resp.StatusCode, header: resp.Header, body: buf.String()}
}

func TestKeyring(t *testing.T) {
	const full, read = "full-token-0123", "read-token-4567"
	logs := &syncBuffer{}
	kb := &keyringStub{stubBackend: &stubBackend{local: sampleNode()}}
	_, base := newServer(t, kb, Options{Token: full, ReadToken: read,
		Logger: hclog.New(&hclog.LoggerOptions{Output: logs, Level: hclog.Trace})})

	t.Run("auth", func(t *testing.T) {
		// The keys are secrets: the read token gets nothing, not even a list.
		for _, tc := range []struct {
			method, token string
			code          int
		}{
			{"GET", "", 401}, {"GET", "nope", 401}, {"GET", read, 403},
			{"POST", "", 401}, {"POST", read, 403},
		} {
			var a answer
			if tc.method == "GET" {
				a = do(t, nil, "GET", base+"/v1/keyring", tc.token)
			} else {
				a = postKeyring(t, base, tc.token, `{"op":"install","key":"`+testKey+`"}`)
			}
			if a.code != tc.code || strings.Contains(a.body, testKey) {
				t.Errorf("%s with %q: %d %s", tc.method, tc.token, a.code, a.body)
			}
		}
		if _, n := kb.lastOp(); n != 0 {
			t.Errorf("%d ops reached the backend without the full token", n)
		}
		a := do(t, nil, "PUT", base+"/v1/keyring", full)
		if a.code != 405 || a.header.Get("Allow") != "GET, HEAD, POST" {
			t.Errorf("PUT: %d Allow %q", a.code, a.header.Get("Allow"))
		}
	})

	t.Run("list", func(t *testing.T) {
		kb.set(func(k *keyringStub) {
			k.status = mesh.KeyringResult{Keys: map[string]int{testKey: 3, otherKey: 1}, PrimaryKeys: map[string]int{testKey: 3},
				NumNodes: 3, NumResp: 3}
		})
		a := do(t, nil, "GET", base+"/v1/keyring", full)
		if a.code != 200 {
			t.Fatalf("%d %s", a.code, a.body)
		}
		var got KeyringAnswer
		dec := json.NewDecoder(strings.NewReader(a.body))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&got); err != nil {
			t.Fatal(err)
		}
		if got.Keys[testKey] != 3 || got.Keys[otherKey] != 1 || got.PrimaryKeys[testKey] != 3 || !got.Complete() || got.Error != "" {
			t.Errorf("%+v", got)
		}
		mustContain(t, a.body, `"num_nodes":3`, `"num_resp":3`, `"num_err":0`, `"primary_keys":{`)
	})

	t.Run("ops", func(t *testing.T) {
		kb.set(func(k *keyringStub) { k.status, k.err = mesh.KeyringResult{NumNodes: 3, NumResp: 3}, nil })
		for _, op := range []string{mesh.KeyringInstall, mesh.KeyringUse, mesh.KeyringRemove} {
			a := postKeyring(t, base, full, fmt.Sprintf(`{"op":%q,"key":%q}`, op, testKey))
			if a.code != 200 {
				t.Fatalf("%s: %d %s", op, a.code, a.body)
			}
			mustContain(t, a.body, `"keys":{}`, `"num_resp":3`)
			if got, _ := kb.lastOp(); got.Op != op || got.Key != testKey {
				t.Errorf("backend got %+v", got)
			}
		}
	})

	t.Run("bad requests", func(t *testing.T) {
		_, before := kb.lastOp()
		for _, tc := range []struct{ body, want string }{
			{`{"op":"rotate","key":"` + testKey + `"}`, `op must be install, use or remove, not \"rotate\"`},
			{`{"op":"list"}`, `op must be install`},
			{`{"op":"install","key":"not base64!"}`, "not valid base64"},
			{`{"op":"install","key":"c2hvcnQ="}`, "is 5 bytes long; a gossip key is 16, 24 or 32 bytes"},
			{`{"op":"install","key":"` + testKey + `","extra":1}`, `the body must be`},
			{`{"op":"install","key":"` + testKey + `"`, `the body must be`},
			{``, `the body must be`},
			{`{"op":"install","key":"` + strings.Repeat("A", maxKeyringBody) + `"}`, `the body must be`},
		} {
			a := postKeyring(t, base, full, tc.body)
			if a.code != 400 || !strings.Contains(a.body, tc.want) {
				t.Errorf("%.60s: %d %s", tc.body, a.code, a.body)
			}
			if strings.Contains(a.body, testKey) {
				t.Errorf("the answer quotes the key: %s", a.body)
			}
		}
		if _, after := kb.lastOp(); after != before {
			t.Errorf("a bad request reached the backend")
		}
	})

	t.Run("some nodes failed", func(t *testing.T) {
		kb.set(func(k *keyringStub) {
			k.status = mesh.KeyringResult{NumNodes: 3, NumResp: 2, NumErr: 1,
				Errors: map[string]string{"node-c": "key " + testKey + " is not installed"}}
			k.err = errors.New("1/3 nodes reported failure for " + testKey)
		})
		a := postKeyring(t, base, full, `{"op":"use","key":"`+testKey+`"}`)
		if a.code != 200 {
			t.Fatalf("%d %s", a.code, a.body)
		}
		var got KeyringAnswer
		if err := json.Unmarshal([]byte(a.body), &got); err != nil {
			t.Fatal(err)
		}
		if got.Complete() || got.NumResp != 2 || got.Errors["node-c"] != "key (sensitive) is not installed" ||
			got.Error != "1/3 nodes reported failure for (sensitive)" {
			t.Errorf("%+v", got)
		}
	})

	t.Run("backend failed", func(t *testing.T) {
		kb.set(func(k *keyringStub) {
			k.status, k.err = mesh.KeyringResult{}, errors.New("encryption is not enabled; key "+testKey+" refused")
		})
		a := postKeyring(t, base, full, `{"op":"install","key":"`+testKey+`"}`)
		if a.code != 500 || a.body != `{"error":"keyring install failed: encryption is not enabled; key (sensitive) refused"}`+"\n" {
			t.Errorf("%d %s", a.code, a.body)
		}
	})

	t.Run("no mesh", func(t *testing.T) {
		kb.set(func(k *keyringStub) { k.err, k.listErr = fmt.Errorf("keyring: %w", ErrNoMesh), ErrNoMesh })
		for _, a := range []answer{
			do(t, nil, "GET", base+"/v1/keyring", full),
			postKeyring(t, base, full, `{"op":"install","key":"`+testKey+`"}`),
		} {
			if a.code != 409 || !strings.Contains(a.body, "this agent has no mesh") {
				t.Errorf("%d %s", a.code, a.body)
			}
		}
	})

	// The key and the tokens never reach the log; its fingerprint does.
	l := logs.String()
	if strings.Contains(l, testKey) || strings.Contains(l, full) || strings.Contains(l, read) {
		t.Errorf("a secret in the log:\n%s", l)
	}
	if !strings.Contains(l, KeyFingerprint(testKey)) {
		t.Errorf("the log does not name the key's fingerprint:\n%s", l)
	}
}

// A Backend without a keyring (no mesh support) answers 501, whatever it
// is asked, and a bad request is still a 400.
func TestKeyringNotImplemented(t *testing.T) {
	_, base := newServer(t, &stubBackend{local: sampleNode()}, Options{})
	if a := do(t, nil, "GET", base+"/v1/keyring", ""); a.code != 501 || !strings.Contains(a.body, "this agent has no mesh") {
		t.Errorf("GET: %d %s", a.code, a.body)
	}
	if a := postKeyring(t, base, "", `{"op":"use","key":"`+testKey+`"}`); a.code != 501 {
		t.Errorf("POST: %d %s", a.code, a.body)
	}
}

func TestCheckKeyAndFingerprint(t *testing.T) {
	for _, k := range []string{testKey, "AAAAAAAAAAAAAAAAAAAAAA==", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"} {
		if err := CheckKey(k); err != nil {
			t.Errorf("%s: %v", k, err)
		}
	}
	for _, k := range []string{"", "AAAA", testKey[:len(testKey)-1], "T9jncgl9mbLus-baTTa7q7nPSUrXwbDi2dhbtqir37s="} {
		if err := CheckKey(k); err == nil {
			t.Errorf("%q accepted", k)
		}
	}
	fp := KeyFingerprint(testKey)
	if len(fp) != 12 || fp == KeyFingerprint(otherKey) || fp != KeyFingerprint(testKey) || strings.Contains(testKey, fp) {
		t.Errorf("fingerprints %s %s", fp, KeyFingerprint(otherKey))
	}
}

func TestParseAddr(t *testing.T) {
	for in, want := range map[string]string{
		"127.0.0.1:7575":             "http://127.0.0.1:7575",
		"localhost":                  "http://localhost:7575",
		"[::1]:8000":                 "http://[::1]:8000",
		"::1":                        "http://[::1]:7575",
		"http://node-a:7575":         "http://node-a:7575",
		"https://node-a:7575/":       "https://node-a:7575",
		"https://proxy/satellite/":   "https://proxy/satellite",
		" http://127.0.0.1:9/ ":      "http://127.0.0.1:9",
		"HTTP://127.0.0.1:9":         "http://127.0.0.1:9",
		"https://node-a.example.com": "https://node-a.example.com",
	} {
		got, err := ParseAddr(in)
		if err != nil || got != want {
			t.Errorf("%q: %q %v, want %q", in, got, err, want)
		}
	}
	for in, want := range map[string]string{
		"":                        "empty",
		":7575":                   "has no host",
		"ftp://node-a":            `the scheme must be http or https, not "ftp"`,
		"http://":                 "has no host",
		"http://u:pw@node-a:7575": "must not hold a user or password",
		"http://node-a/?x=1":      "query",
	} {
		_, err := ParseAddr(in)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", in, err, want)
		}
		if err != nil && strings.Contains(err.Error(), "pw") {
			t.Errorf("%q: the error quotes the password: %v", in, err)
		}
	}
}

func TestClient(t *testing.T) {
	const token = "tok-123"
	kb := &keyringStub{stubBackend: &stubBackend{local: sampleNode(), members: []health.Member{*sampleNode().MemberStatus}}}
	kb.status = mesh.KeyringResult{Keys: map[string]int{testKey: 1}, NumNodes: 1, NumResp: 1}
	_, base := newServer(t, kb, Options{Token: token})
	ctx := context.Background()

	c, err := NewClient(base, ClientOptions{Token: token})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cs, raw, err := c.Status(ctx)
	if err != nil || cs.Status != "degraded" || len(cs.Nodes) != 1 || !json.Valid(raw) {
		t.Fatalf("status: %+v %v", cs, err)
	}
	n, _, err := c.LocalStatus(ctx)
	if err != nil || n.Name != "node-b" {
		t.Fatalf("local: %+v %v", n, err)
	}
	ms, _, err := c.Members(ctx)
	if err != nil || len(ms) != 1 || ms[0].Tags["role"] != "master" {
		t.Fatalf("members: %+v %v", ms, err)
	}
	ka, err := c.Keyring(ctx)
	if err != nil || ka.Keys[testKey] != 1 {
		t.Fatalf("keyring: %+v %v", ka, err)
	}
	if _, err := c.KeyringOp(ctx, mesh.KeyringUse, testKey); err != nil {
		t.Fatal(err)
	}
	if got, _ := kb.lastOp(); got != (KeyringRequest{Op: mesh.KeyringUse, Key: testKey}) {
		t.Errorf("backend got %+v", got)
	}

	// A wrong token: the API's status and message.
	bad, _ := NewClient(base, ClientOptions{Token: "wrong"})
	defer bad.Close()
	_, _, err = bad.Status(ctx)
	var se *StatusError
	if !errors.As(err, &se) || se.Code != 401 || err.Error() != "the agent at "+base+" answered 401: unauthorized" {
		t.Errorf("wrong token: %v", err)
	}

	// Nobody listening: the short reason.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	gone, _ := NewClient(addr, ClientOptions{})
	defer gone.Close()
	_, _, err = gone.Status(ctx)
	var ue *UnreachableError
	if !errors.As(err, &ue) || err.Error() != "cannot reach the agent at http://"+addr+": connection refused" {
		t.Errorf("unreachable: %v", err)
	}
}
