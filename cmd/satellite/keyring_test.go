package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/satellite-hq/satellite/api"
	"github.com/satellite-hq/satellite/mesh"
)

// keyringAgent adds a keyring to fakeAgent; the real one is serf's key
// manager, tested with real serf agents in mesh/.
type keyringAgent struct {
	fakeAgent

	kmu    sync.Mutex
	status mesh.KeyringResult
	err    error
	ops    []api.KeyringRequest
}

func (a *keyringAgent) ListKeys(context.Context) (mesh.KeyringResult, error) {
	a.kmu.Lock()
	defer a.kmu.Unlock()
	return a.status, a.err
}

func (a *keyringAgent) KeyringOp(_ context.Context, op, key string) (mesh.KeyringResult, error) {
	a.kmu.Lock()
	defer a.kmu.Unlock()
	a.ops = append(a.ops, api.KeyringRequest{Op: op, Key: key})
	return a.status, a.err
}

func (a *keyringAgent) set(st mesh.KeyringResult, err error) {
	a.kmu.Lock()
	defer a.kmu.Unlock()
	a.status, a.err = st, err
}

func (a *keyringAgent) lastOp() api.KeyringRequest {
	a.kmu.Lock()
	defer a.kmu.Unlock()
	if len(a.ops) == 0 {
		return api.KeyringRequest{}
	}
	return a.ops[len(a.ops)-1]
}

const (
	keyA = "T9jncgl9mbLus+baTTa7q7nPSUrXwbDi2dhbtqir37s="
	keyB = "HvY8ubRZMgafUOWvrOadwOckVa1wN3QWAo46FVKbVN8="
)

const fullToken = "full-token-abc"

func keyringServer(t *testing.T) (*keyringAgent, string) {
	t.Helper()
	isolateAgentEnv(t)
	a := &keyringAgent{}
	addr := serveAPI(t, a, api.Options{Token: fullToken, ReadToken: "read-token-abc"})
	return a, addr
}

func TestKeyringList(t *testing.T) {
	a, addr := keyringServer(t)
	a.set(mesh.KeyringResult{Keys: map[string]int{keyA: 3, keyB: 3}, PrimaryKeys: map[string]int{keyB: 3}, NumNodes: 3, NumResp: 3}, nil)

	r := satellite(t, "keyring", "list", "--addr", addr, "--token", fullToken).want(t, exitOK)
	fa, fb := api.KeyFingerprint(keyA), api.KeyFingerprint(keyB)
	want := "FINGERPRINT   IN USE ON  INSTALLED ON\n" +
		fb + "  3/3        3/3\n" +
		fa + "  0/3        3/3\n" +
		"\n3 of 3 members answered.\n"
	if r.stdout != want {
		t.Errorf("got\n%s\nwant\n%s", r.stdout, want)
	}
	if strings.Contains(r.all(), keyA) || strings.Contains(r.all(), keyB) {
		t.Error("list printed a key without --show-keys")
	}
	r = satellite(t, "keyring", "list", "--show-keys", "--addr", addr, "--token", fullToken).want(t, exitOK)
	if rows := tableRows(r.stdout); rows[fb][3] != keyB || rows[fa][3] != keyA {
		t.Errorf("--show-keys:\n%s", r.stdout)
	}

	// A member that did not answer, another that failed: exit 1, named.
	a.set(mesh.KeyringResult{Keys: map[string]int{keyA: 1}, PrimaryKeys: map[string]int{keyA: 1}, NumNodes: 3, NumResp: 2, NumErr: 1,
		Errors: map[string]string{"node-c": "no keyring"}}, errors.New("1/3 nodes reported failure"))
	r = satellite(t, "keyring", "list", "--addr", addr, "--token", fullToken).want(t, exitFailed)
	if !strings.Contains(r.stdout, "1 of 3 members answered.") {
		t.Errorf("%s", r.stdout)
	}
	mustContainAll(t, r.stderr, "Error: 1 of 3 members did not answer", "Error: 1 member(s) failed:\n  node-c: no keyring\n")
}

func TestKeyringOps(t *testing.T) {
	a, addr := keyringServer(t)
	a.set(mesh.KeyringResult{NumNodes: 2, NumResp: 2}, nil)
	fp := api.KeyFingerprint(keyA)
	for op, want := range map[string]string{
		"install": "Installed key " + fp + " on 2 of 2 members.\n",
		"use":     "Key " + fp + " now encrypts the gossip of 2 of 2 members.\n",
		"remove":  "Removed key " + fp + " from 2 of 2 members.\n",
	} {
		r := satellite(t, "keyring", op, keyA, "--addr", addr, "--token", fullToken).want(t, exitOK)
		if r.stdout != want || r.stderr != "" {
			t.Errorf("%s: %q %q", op, r.stdout, r.stderr)
		}
		if got := a.lastOp(); got.Op != op || got.Key != keyA {
			t.Errorf("%s: the agent got %+v", op, got)
		}
	}

	// KEY from the standard input keeps it out of the process list.
	root := newRootCmd()
	var stdout, stderr bytes.Buffer
	root.SetArgs([]string{"keyring", "install", "-", "--addr", addr, "--token", fullToken})
	root.SetIn(strings.NewReader(keyB + "\n"))
	root.SetOut(&stdout)
	root.SetErr(&stderr)
	if err := root.Execute(); err != nil {
		t.Fatalf("%v: %s", err, stderr.String())
	}
	if got := a.lastOp(); got.Key != keyB {
		t.Errorf("from stdin: %+v", got)
	}

	// A member failed: exit 1, named, the key never shown.
	a.set(mesh.KeyringResult{NumNodes: 2, NumResp: 2, NumErr: 1, Errors: map[string]string{"node-b": "Removing the primary key is not allowed"}}, nil)
	r := satellite(t, "keyring", "remove", keyA, "--addr", addr, "--token", fullToken).want(t, exitFailed)
	if r.stdout != "Removed key "+fp+" from 1 of 2 members.\n" {
		t.Errorf("%q", r.stdout)
	}
	mustContainAll(t, r.stderr, "node-b: Removing the primary key is not allowed")
	if strings.Contains(r.all(), keyA) {
		t.Errorf("the key was printed:\n%s", r.all())
	}
}

func TestKeyringFailures(t *testing.T) {
	a, addr := keyringServer(t)
	for _, tc := range []struct {
		name  string
		setup func()
		args  []string
		code  int
		err   string
	}{
		{"no mesh", func() { a.set(mesh.KeyringResult{}, api.ErrNoMesh) }, []string{"list", "--token", fullToken}, exitFailed,
			"Error: this agent has no mesh (its config has no mesh block)\n"},
		{"keyring error", func() { a.set(mesh.KeyringResult{}, errors.New("encryption is not enabled")) },
			[]string{"install", keyA, "--token", fullToken}, exitFailed, "Error: keyring install failed: encryption is not enabled\n"},
		{"read token", nil, []string{"list", "--token", "read-token-abc"}, exitNoAgent, "needs the full token"},
		{"no token", nil, []string{"use", keyA}, exitNoAgent, "needs an API token"},
		{"bad key", nil, []string{"install", "c2hvcnQ=", "--token", fullToken}, exitUsage, "KEY: the key is 5 bytes long"},
		{"not base64", nil, []string{"install", "not-a-key!", "--token", fullToken}, exitUsage, "KEY: the key is not valid base64"},
		{"no key", nil, []string{"install", "--token", fullToken}, exitUsage, "accepts 1 arg"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.setup != nil {
				tc.setup()
			}
			r := satellite(t, append(append([]string{"keyring"}, tc.args...), "--addr", addr)...).want(t, tc.code)
			if !strings.Contains(r.stderr, tc.err) {
				t.Errorf("stderr %q, want %q", r.stderr, tc.err)
			}
			if strings.Contains(r.all(), "not-a-key!") || strings.Contains(r.all(), fullToken) {
				t.Errorf("a secret was printed:\n%s", r.all())
			}
		})
	}

	// An agent whose backend has no keyring at all.
	plain := serveAPI(t, &fakeAgent{}, api.Options{})
	r := satellite(t, "keyring", "list", "--addr", plain).want(t, exitFailed)
	if !strings.Contains(r.stderr, "this agent has no mesh") {
		t.Errorf("%q", r.stderr)
	}
}

func TestKeygen(t *testing.T) {
	seen := map[string]bool{}
	for range 3 {
		r := satellite(t, "keygen").want(t, exitOK)
		key := strings.TrimSuffix(r.stdout, "\n")
		b, err := base64.StdEncoding.DecodeString(key)
		if err != nil || len(b) != 32 || r.stderr != "" || seen[key] {
			t.Fatalf("%q: %v, %d bytes, stderr %q", r.stdout, err, len(b), r.stderr)
		}
		if err := api.CheckKey(key); err != nil {
			t.Error(err)
		}
		seen[key] = true
	}
}
