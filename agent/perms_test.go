package agent_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
