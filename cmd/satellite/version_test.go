package main

import (
	"regexp"
	"runtime"
	"strings"
	"testing"
)

func TestVersion(t *testing.T) {
	r := satellite(t, "version").want(t, exitOK)
	re := regexp.MustCompile(`^satellite (\S+) \(commit (\S+), (go\S+)\)\n$`)
	m := re.FindStringSubmatch(r.stdout)
	if m == nil {
		t.Fatalf("version printed %q", r.stdout)
	}
	if m[1] != version || m[3] != runtime.Version() {
		t.Errorf("version %q Go %q, want %q and %q", m[1], m[3], version, runtime.Version())
	}
	if r.stderr != "" {
		t.Errorf("stderr %q", r.stderr)
	}

	r = satellite(t, "version", "extra").want(t, exitUsage)
	if !strings.Contains(r.stderr, "unknown command") && !strings.Contains(r.stderr, "accepts 0 arg") {
		t.Errorf("version extra: %q", r.stderr)
	}
}
