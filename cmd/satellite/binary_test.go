package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestBinary builds the real command and checks the exit codes the process
// returns, and that piped output has no escape codes.
func TestBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command in PATH")
	}
	bin := filepath.Join(t.TempDir(), "satellite")
	if runtime.GOOS == "windows" {
		bin += ".exe"
	}
	build := exec.Command(goBin, "build", "-ldflags", "-X main.version=9.9.9-test -X main.commit=abc123", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	dir := t.TempDir()
	unformatted := writeFile(t, dir, "fmt/bad.hcl", badlyFormatted)

	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stdout string // substring; "" = must be empty
		stderr string // substring; "" = must be empty
	}{
		{"valid", []string{"validate", quickstartDir}, 0, "Valid: quickstart would run", ""},
		{"valid json", []string{"validate", "--format", "json", quickstartDir}, 0, "[]", "Valid:"},
		{"warnings", []string{"validate", filepath.Join(validDir, "warnings.hcl")}, 0, "Valid:", "Warning: Empty only_on"},
		{"invalid", []string{"validate", filepath.Join(invalidDir, "cycle.hcl")}, 1, "", "Error: Dependency cycle"},
		{"invalid json", []string{"validate", "--format", "json", filepath.Join(invalidDir, "cycle.hcl")}, 1, `"summary": "Dependency cycle"`, ""},
		{"syntax error", []string{"validate", filepath.Join(invalidDir, "syntax_error.hcl")}, 1, "", "Missing newline after argument"},
		{"unknown flag", []string{"validate", "--bogus", quickstartDir}, 2, "", "unknown flag: --bogus"},
		{"format xml", []string{"validate", "--format", "xml", quickstartDir}, 2, "", `--format must be text or json, not "xml"`},
		{"bad tags", []string{"validate", "--tags", "role", quickstartDir}, 2, "", "--tags wants k=v pairs"},
		{"unknown command", []string{"frobnicate"}, 2, "", `unknown command "frobnicate"`},
		{"fmt check", []string{"fmt", "--check", unformatted}, 1, unformatted, ""},
		{"version", []string{"version"}, 0, "satellite 9.9.9-test (commit abc123, go", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(bin, tc.args...)
			cmd.Env = testEnv()
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			code := 0
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tc.code {
				t.Errorf("exit code %d, want %d\nstdout: %s\nstderr: %s", code, tc.code, &stdout, &stderr)
			}
			for _, s := range []struct {
				name, got, want string
			}{{"stdout", stdout.String(), tc.stdout}, {"stderr", stderr.String(), tc.stderr}} {
				if s.want == "" && s.got != "" {
					t.Errorf("%s = %q, want nothing", s.name, s.got)
				}
				if !strings.Contains(s.got, s.want) {
					t.Errorf("%s = %q, want it to contain %q", s.name, s.got, s.want)
				}
				// Not a terminal: no colour, also without NO_COLOR.
				if strings.Contains(s.got, "\x1b") {
					t.Errorf("%s has escape codes: %q", s.name, s.got)
				}
			}
		})
	}
	if readFile(t, unformatted) != badlyFormatted {
		t.Errorf("fmt --check changed the file")
	}
}

// testEnv is the environment without the variables that change what the
// binary does: NO_COLOR, SATELLITE_CONFIG and SATELLITE_VAR_*.
func testEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); k != "NO_COLOR" && !strings.HasPrefix(k, "SATELLITE_") {
			env = append(env, kv)
		}
	}
	return env
}
