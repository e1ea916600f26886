package main

import (
	"strings"
	"testing"

	"github.com/satellite-hq/satellite/api"
	"github.com/satellite-hq/satellite/health"
)

// --wait shows its progress on stderr when it is a terminal, and only then.
func TestRolloutWaitProgress(t *testing.T) {
	isolateAgentEnv(t)
	a := &fakeAgent{members: testMembers(), local: health.Node{Name: "node-a", ConfigHash: "a1b2c3d4"}}
	addr := serveAPI(t, a, api.Options{})
	args := []string{"rollout", "status", "--addr", addr, "--wait", "--timeout", "1s", "--interval", "100ms"}

	out, code := runOnTerminal(t, args...)
	if code != exitFailed || !strings.Contains(out, "waiting: 1 of 2 alive members run a1b2c3d4; behind: node-c") ||
		!strings.Contains(out, "Rollout not done after 1s") || !strings.Contains(out, "1 member did not move to a1b2c3d4") {
		t.Errorf("on a terminal: exit %d:\n%q", code, out)
	}

	r := satellite(t, args...).want(t, exitFailed)
	if r.stderr != "" || !strings.Contains(r.stdout, "Behind: node-c\n") {
		t.Errorf("piped: stderr %q, stdout:\n%s", r.stderr, r.stdout)
	}
}
