package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/satellite-hq/satellite/agent"
	heartbeatcheck "github.com/satellite-hq/satellite/checks/heartbeat"
	"github.com/satellite-hq/satellite/dsl"
)

// heartbeatAgent runs a real agent in this process with a token, a read
// token and heartbeat checks, and returns its address, its data dir and the
// folder of its token files.
func heartbeatAgent(t *testing.T) (addr, data, secrets string) {
	t.Helper()
	isolateAgentEnv(t)
	dir, data, secrets := t.TempDir(), t.TempDir(), t.TempDir()
	writeFile(t, secrets, "api.token", fullToken)
	writeFile(t, secrets, "api-read.token", readToken)
	writeFile(t, secrets, "backup.token", "backup-token-abc\n")
	writeFile(t, dir, "node.hcl", fmt.Sprintf(`
agent {
  name     = "n1"
  data_dir = %q
}
api {
  token_file      = %q
  read_token_file = %q
}
check "heartbeat" "backup" {
  within     = "26h"
  token_file = %q
}
check "heartbeat" "dump" {
  for_each = toset(["orders"])
  within   = "26h"
}
`, data, filepath.Join(secrets, "api.token"), filepath.Join(secrets, "api-read.token"), filepath.Join(secrets, "backup.token")))
	a, _, diags, err := agent.New(agent.Options{
		Paths: []string{dir}, Load: dsl.Options{LookupEnv: func(string) (string, bool) { return "", false }},
		Logger: hclog.NewNullLogger(), Listen: "127.0.0.1:0",
	})
	if err != nil {
		t.Fatalf("agent.New: %v %s", err, diags)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	deadline := time.Now().Add(15 * time.Second)
	for a.Addr() == "" {
		if time.Now().After(deadline) {
			t.Fatal("the agent did not start")
		}
		time.Sleep(10 * time.Millisecond)
	}
	return a.Addr(), data, secrets
}

func readRecord(t *testing.T, data, address string) heartbeatcheck.Record {
	t.Helper()
	b, err := os.ReadFile(heartbeatcheck.Path(data, address))
	if err != nil {
		t.Fatal(err)
	}
	var r heartbeatcheck.Record
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	return r
}

func TestHeartbeatCommand(t *testing.T) {
	addr, data, secrets := heartbeatAgent(t)
	own := filepath.Join(secrets, "backup.token")

	r := satellite(t, "heartbeat", "backup", "--addr", addr, "--token-file", own).want(t, exitOK)
	rec := readRecord(t, data, "heartbeat.backup")
	want := fmt.Sprintf("Heartbeat of heartbeat.backup recorded at %s.\n", rec.Last.Local().Format(historyTimeLayout))
	if r.stdout != want || r.stderr != "" || rec.Failed {
		t.Errorf("got %q %q, want %q; record %+v", r.stdout, r.stderr, want, rec)
	}

	r = satellite(t, "heartbeat", "heartbeat.backup", "--fail", "--message", "exit 3\nsee the log", "--addr", addr, "--token", fullToken).want(t, exitOK)
	rec = readRecord(t, data, "heartbeat.backup")
	if !strings.HasSuffix(r.stdout, ", reporting a failure.\n") || !rec.Failed || rec.Message != "exit 3 see the log" {
		t.Errorf("--fail: %q, record %+v", r.stdout, rec)
	}

	// -q prints nothing; a for_each instance by its key.
	r = satellite(t, "heartbeat", `dump["orders"]`, "-q", "--addr", addr, "--token", fullToken).want(t, exitOK)
	if r.all() != "" {
		t.Errorf("-q printed %q", r.all())
	}
	readRecord(t, data, `heartbeat.dump["orders"]`)

	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"nothing", "--token", fullToken}, exitFailed, "Error: no heartbeat check heartbeat.nothing runs on this node"},
		{[]string{"dump", "--token", fullToken}, exitFailed, "no heartbeat check heartbeat.dump"},
		{[]string{"backup", "--token", readToken}, exitNoAgent, "refused the read token for a heartbeat (403 forbidden)"},
		{[]string{"backup", "--token", "wrong"}, exitNoAgent, "refused the token (401 unauthorized): it is neither the check's token_file"},
		{[]string{"backup"}, exitNoAgent, "needs a token for this heartbeat (401 unauthorized)"},
		{[]string{"dump[\"orders\"]", "--token-file", own}, exitNoAgent, "401"},
		{[]string{"../etc", "--token", fullToken}, exitUsage, `NAME: "../etc" is not a check's name`},
		{[]string{"a/b", "--token", fullToken}, exitUsage, "NAME: "},
		{[]string{"backup", "--message", strings.Repeat("x", 5000), "--token", fullToken}, exitUsage, "--message is longer than 4 KiB"},
	} {
		r := satellite(t, append(append([]string{"heartbeat"}, tc.args...), "--addr", addr)...).want(t, tc.code)
		if !strings.Contains(r.stderr, tc.msg) {
			t.Errorf("%v: stderr %q, want %q", tc.args, r.stderr, tc.msg)
		}
		if strings.Contains(r.all(), fullToken) || strings.Contains(r.all(), "backup-token-abc") {
			t.Errorf("a token was printed: %s", r.all())
		}
	}
	satellite(t, "heartbeat", "backup", "--addr", closedPort(t), "--token", fullToken, "--timeout", "2s").want(t, exitNoAgent)
}
