package mesh

import (
	"context"
	"encoding/base64"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func mustKey(t *testing.T) (string, []byte) {
	t.Helper()
	s, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	k, err := DecodeKey(s)
	if err != nil {
		t.Fatal(err)
	}
	return s, k
}

// peerGet asks a peer endpoint with an Authorization header ("" for none).
func peerGet(t *testing.T, ip, auth string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, "http://"+ip+":7947"+PeerPath, nil)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// tokenFor is a fresh token for a GET of node's status.
func tokenFor(t *testing.T, key []byte, node string) string {
	t.Helper()
	tok, err := PeerToken(key, http.MethodGet, PeerPath, node, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestEncryption(t *testing.T) {
	ctx := context.Background()
	k1s, k1 := mustKey(t)
	_, wrong := mustKey(t)
	a := startNode(t, "a", addr(4, 1), func(c *Config) { c.EncryptKey = k1 })
	b := startNode(t, "b", addr(4, 2), func(c *Config) { c.EncryptKey = k1; c.Join = []string{gossip(addr(4, 1))} })
	waitFor(t, 10*time.Second, "a and b form", func() bool { return a.aliveCount() == 2 })

	// A node with the wrong key, and one with none, cannot join.
	c := startNode(t, "c", addr(4, 3), func(c *Config) { c.EncryptKey = wrong; c.Join = []string{gossip(addr(4, 1))} })
	d := startNode(t, "d", addr(4, 4), func(c *Config) { c.Join = []string{gossip(addr(4, 1))} })
	time.Sleep(2 * time.Second)
	if c.aliveCount() != 1 || d.aliveCount() != 1 || a.aliveCount() != 2 || len(a.m.Members()) != 2 {
		t.Fatalf("outsiders: c sees %d, d sees %d, a sees %v", c.aliveCount(), d.aliveCount(), a.m.Members())
	}
	if cs := a.m.ClusterView(ctx); cs.Status != "healthy" || len(cs.Nodes) != 2 {
		t.Fatalf("cluster with outsiders around: %s %q", cs.Status, cs.Summary)
	}

	// The peer endpoint wants a token made with the key (token_test.go
	// tests the tokens themselves).
	if got := peerGet(t, addr(4, 2), ""); got != http.StatusUnauthorized {
		t.Fatalf("no token: %d", got)
	}
	if got := peerGet(t, addr(4, 2), tokenFor(t, wrong, "b")); got != http.StatusUnauthorized {
		t.Fatalf("wrong key's token: %d", got)
	}
	if got := peerGet(t, addr(4, 2), tokenFor(t, k1, "b")); got != http.StatusOK {
		t.Fatalf("right token: %d", got)
	}

	// Rotate: install, use, remove the old key, across the running mesh.
	k2s, k2 := mustKey(t)
	if err := a.m.InstallKey(ctx, k2s); err != nil {
		t.Fatal(err)
	}
	if err := a.m.UseKey(ctx, k2s); err != nil {
		t.Fatal(err)
	}
	if err := a.m.RemoveKey(ctx, k1s); err != nil {
		t.Fatal(err)
	}
	keys, n, err := a.m.ListKeys(ctx)
	if err != nil || n != 2 || len(keys) != 1 || keys[k2s] != 2 {
		t.Fatalf("after rotation: %v members %d err %v", keys, n, err)
	}
	if got := peerGet(t, addr(4, 2), tokenFor(t, k1, "b")); got != http.StatusUnauthorized {
		t.Fatalf("old key's token after rotation: %d", got)
	}
	if got := peerGet(t, addr(4, 2), tokenFor(t, k2, "b")); got != http.StatusOK {
		t.Fatalf("new key's token: %d", got)
	}
	if cs := a.m.ClusterView(ctx); cs.Status != "healthy" || len(cs.Nodes) != 2 {
		t.Fatalf("after rotation: %s %q", cs.Status, cs.Summary)
	}
	// Serf saved the rotated keyring, so a restart keeps it.
	raw, err := os.ReadFile(filepath.Join(b.m.dir(), "keyring.json"))
	if err != nil || !containsKey(raw, k2) || containsKey(raw, k1) {
		t.Fatalf("saved keyring %s: %v", raw, err)
	}
	r, err := b.m.Keyring(ctx, KeyringList, "")
	if err != nil || r.PrimaryKeys[k2s] != 2 || r.NumResp != 2 {
		t.Fatalf("Keyring(list): %+v %v", r, err)
	}
	if _, err := a.m.Keyring(ctx, "rotate", ""); err == nil {
		t.Fatal("unknown keyring op accepted")
	}
	if err := a.m.RemoveKey(ctx, k2s); err == nil {
		t.Fatal("removing the primary key succeeded")
	} else {
		t.Logf("removing the primary key: %v", err)
	}
}

func containsKey(raw, k []byte) bool {
	return strings.Contains(string(raw), base64.StdEncoding.EncodeToString(k))
}

func TestKeys(t *testing.T) {
	s, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	good := filepath.Join(dir, "good")
	os.WriteFile(good, []byte(s+"\n"), 0o600)
	if k, err := ReadKeyFile(good); err != nil || len(k) != 32 {
		t.Fatalf("good key: %v", err)
	}
	for name, content := range map[string]string{"empty": "", "notb64": "not base64!", "short": base64.StdEncoding.EncodeToString([]byte("short"))} {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(content), 0o600)
		if _, err := ReadKeyFile(p); err == nil {
			t.Errorf("%s: no error", name)
		} else {
			t.Logf("%s: %v", name, err)
		}
	}
	if _, err := ReadKeyFile(filepath.Join(dir, "missing")); err == nil {
		t.Error("missing file: no error")
	}
}
