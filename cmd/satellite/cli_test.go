package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Paths of the repository's example and fixtures, from this package's folder.
var (
	quickstartDir = filepath.Join("..", "..", "examples", "quickstart")
	validDir      = filepath.Join("..", "..", "testdata", "valid")
	invalidDir    = filepath.Join("..", "..", "testdata", "invalid")
)

// result is what one in-process run of the command line produced.
type result struct {
	stdout, stderr string
	code           int
}

// all is stdout and stderr together, for "never appears anywhere" checks.
func (r result) all() string { return r.stdout + r.stderr }

// satellite runs the command line in-process with captured output.
func satellite(t *testing.T, args ...string) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(args, &stdout, &stderr)
	return result{stdout: stdout.String(), stderr: stderr.String(), code: code}
}

// want fails the test when the exit code is not code, showing the output.
func (r result) want(t *testing.T, code int) result {
	t.Helper()
	if r.code != code {
		t.Fatalf("exit code %d, want %d\n--- stdout:\n%s--- stderr:\n%s", r.code, code, r.stdout, r.stderr)
	}
	return r
}

// isolate clears the environment variables that change how the CLI reads a
// config, so the developer's environment cannot change a test's outcome.
func isolate(t *testing.T) {
	t.Helper()
	t.Setenv("SATELLITE_CONFIG", "")
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "SATELLITE_VAR_") {
			t.Setenv(k, "")
			os.Unsetenv(k)
		}
	}
}

// unsetenv unsets k for the test and restores it afterwards.
func unsetenv(t *testing.T, k string) {
	t.Helper()
	t.Setenv(k, "")
	os.Unsetenv(k)
}

// writeFile writes a file under dir and returns its path.
func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestRootHelpAndUnknownCommand(t *testing.T) {
	r := satellite(t, "--help").want(t, exitOK)
	for _, cmd := range []string{"validate", "fmt", "version"} {
		if !strings.Contains(r.stdout, cmd) {
			t.Errorf("--help does not list %q:\n%s", cmd, r.stdout)
		}
	}

	r = satellite(t, "frobnicate").want(t, exitUsage)
	if !strings.Contains(r.stderr, `unknown command "frobnicate"`) || !strings.Contains(r.stderr, "satellite --help") {
		t.Errorf("stderr = %q", r.stderr)
	}
	if r.stdout != "" {
		t.Errorf("a usage error wrote to stdout: %q", r.stdout)
	}
}

func TestCompletion(t *testing.T) {
	r := satellite(t, "completion", "bash").want(t, exitOK)
	if !strings.Contains(r.stdout, "satellite") || r.stderr != "" {
		t.Errorf("completion bash: stdout %d bytes, stderr %q", len(r.stdout), r.stderr)
	}
}
