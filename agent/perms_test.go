package agent_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/satellite-hq/satellite/agent"
	"github.com/satellite-hq/satellite/dsl"
)

// A token file others can read and a data dir others can write are warned
// about at start, by path; the agent still starts.
func TestPermissionWarnings(t *testing.T) {
	t.Parallel()
	dir, data, secrets := t.TempDir(), t.TempDir(), t.TempDir()
	tokenFile, readFile := filepath.Join(secrets, "api.token"), filepath.Join(secrets, "read.token")
	writeFile(t, tokenFile, "full-secret-token\n")
	writeFile(t, readFile, "read-secret-token\n")
	if err := os.Chmod(tokenFile, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(data, 0o777); err != nil {
		t.Fatal(err)
	}
	writeConfig(t, dir, nodeHCL(data, fmt.Sprintf("api {\n  token_file = %q\n  read_token_file = %q\n}\n", tokenFile, readFile)), "")
	ta := startAgent(t, dir, data)
	logs := ta.logs.String()
	for _, want := range []string{
		"permissions: api.token_file " + tokenFile + " has mode 0644: every user can read it",
		"permissions: agent.data_dir " + data + " has mode 0777: every user can write in it",
	} {
		if !strings.Contains(logs, want) {
			t.Errorf("no warning %q in\n%s", want, logs)
		}
	}
	if strings.Contains(logs, readFile) || strings.Contains(logs, "secret-token") {
		t.Errorf("a warning about the 0600 file, or a token in the log:\n%s", logs)
	}
}

// A token file that is a FIFO stops the start with an error at once; it
// used to hang the agent in the open.
func TestTokenFileFIFO(t *testing.T) {
	t.Parallel()
	dir, data := t.TempDir(), t.TempDir()
	fifo := filepath.Join(t.TempDir(), "token")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	writeConfig(t, dir, nodeHCL(data, fmt.Sprintf("api {\n  token_file = %q\n}\n", fifo)), "")
	a, _, _, err := agent.New(agent.Options{Paths: []string{dir}, Load: dsl.Options{LookupEnv: noEnv}, Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { errc <- a.Run(context.Background()) }()
	select {
	case err := <-errc:
		if err == nil || !strings.Contains(err.Error(), "not a regular file") {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the agent hangs on a FIFO token file")
	}
}
