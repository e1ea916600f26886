package main

import (
	"encoding/json"
	"fmt"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/satellite-hq/satellite/api"
	"github.com/satellite-hq/satellite/health"
)

// rolloutJSON decodes the output of `rollout status --format json`,
// refusing fields the report does not have.
func rolloutJSON(t *testing.T, r result) rolloutReport {
	t.Helper()
	var rep rolloutReport
	dec := json.NewDecoder(strings.NewReader(r.stdout))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rep); err != nil {
		t.Fatalf("rollout status --format json: %v\n%s%s", err, r.stdout, r.stderr)
	}
	return rep
}

func TestRolloutStatusFake(t *testing.T) {
	isolateAgentEnv(t)
	a := &fakeAgent{members: testMembers(), local: health.Node{Name: "node-a", ConfigHash: "a1b2c3d4"}}
	addr := serveAPI(t, a, api.Options{})

	// node-a and node-c are alive and differ; node-b (failed) and node-d
	// (left) are listed, not counted.
	r := satellite(t, "rollout", "status", "--addr", addr).want(t, exitFailed)
	for _, want := range []string{
		"Rollout not done: 2 alive members run 2 config hashes.",
		"HASH               COUNT  NODES",
		"a1b2c3d4 (target)  1      node-a",
		"e5f6a7b8           1      node-c",
		"1 member does not run a1b2c3d4 (the local agent's).",
		"Behind: node-c",
		"Not counted: node-b (failed, a1b2c3d4), node-d (left, 00000000)",
	} {
		if !strings.Contains(r.stdout, want+"\n") {
			t.Errorf("no line %q in:\n%s", want, r.stdout)
		}
	}
	rep := rolloutJSON(t, satellite(t, "rollout", "status", "--addr", addr, "--format", "json").want(t, exitFailed))
	if rep.Agree || rep.Target != "a1b2c3d4" || rep.TargetFrom != "local" || rep.Alive != 2 ||
		!reflect.DeepEqual(rep.Behind, []string{"node-c"}) || len(rep.Hashes) != 2 || len(rep.NotCounted) != 2 {
		t.Errorf("%+v", rep)
	}
	// --hash names the other one.
	rep = rolloutJSON(t, satellite(t, "rollout", "status", "--addr", addr, "--format", "json", "--hash", "e5f6a7b8").want(t, exitFailed))
	if rep.Target != "e5f6a7b8" || rep.TargetFrom != "flag" || !reflect.DeepEqual(rep.Behind, []string{"node-a"}) {
		t.Errorf("--hash: %+v", rep)
	}

	// Many members: the table abbreviates, the JSON has them all; a
	// foreign member does not count.
	var many []health.Member
	for i := 1; i <= 8; i++ {
		many = append(many, health.Member{Name: fmt.Sprintf("n-%02d", i), Status: "alive", Tags: map[string]string{tagHash: "a1b2c3d4"}})
	}
	many = append(many,
		health.Member{Name: "n-09", Status: "alive", Tags: map[string]string{tagHash: "e5f6a7b8"}},
		health.Member{Name: "build-box", Status: "alive", Foreign: true})
	a.mu.Lock()
	a.members = many
	a.mu.Unlock()
	r = satellite(t, "rollout", "status", "--addr", addr).want(t, exitFailed)
	if !strings.Contains(r.stdout, "n-01, n-02, n-03, n-04, n-05, +3 more\n") || !strings.Contains(r.stdout, "Not counted: build-box (foreign, alive)\n") ||
		!strings.Contains(r.stdout, "Behind: n-09\n") {
		t.Errorf("%s", r.stdout)
	}
	rep = rolloutJSON(t, satellite(t, "rollout", "status", "--addr", addr, "--format", "json").want(t, exitFailed))
	if len(rep.Hashes) != 2 || len(rep.Hashes[0].Nodes) != 8 || rep.Hashes[0].Count != 8 || rep.Alive != 9 {
		t.Errorf("%+v", rep)
	}

	// Agreement, with a failed member on an old hash.
	a.mu.Lock()
	a.members = testMembers()[1:3]
	a.mu.Unlock()
	r = satellite(t, "rollout", "status", "--addr", addr).want(t, exitOK)
	if r.stdout != "Rollout done: the 1 alive member runs config hash a1b2c3d4.\nNot counted: node-b (failed, a1b2c3d4)\n" {
		t.Errorf("%q", r.stdout)
	}
	satellite(t, "rollout", "status", "--addr", addr, "--hash", "a1b2c3d4").want(t, exitOK)
	satellite(t, "rollout", "status", "--addr", addr, "--hash", "e5f6a7b8").want(t, exitFailed)

	// An alive member without a hash tag has not said what it runs.
	a.mu.Lock()
	a.members = []health.Member{testMembers()[1], {Name: "node-x", Status: "alive"}}
	a.mu.Unlock()
	rep = rolloutJSON(t, satellite(t, "rollout", "status", "--addr", addr, "--format", "json").want(t, exitFailed))
	if !reflect.DeepEqual(rep.Behind, []string{"node-x"}) {
		t.Errorf("%+v", rep)
	}

	// Alone: the local node is the mesh.
	a.mu.Lock()
	a.members = nil
	a.mu.Unlock()
	r = satellite(t, "rollout", "status", "--addr", addr).want(t, exitOK)
	if r.stdout != "Rollout done: this agent runs alone (no mesh block), with config hash a1b2c3d4.\n" {
		t.Errorf("%q", r.stdout)
	}
}

func TestRolloutStatusErrors(t *testing.T) {
	isolateAgentEnv(t)
	addr := serveAPI(t, &fakeAgent{members: testMembers()}, api.Options{Token: "tok-full", ReadToken: "tok-read"})
	for _, args := range [][]string{
		{"--format", "table"},
		{"--hash", "8e36"},
		{"--hash", "Valid: config hash 8e36d244."},
		{"--interval", "0s", "--wait"},
		{"--timeout", "0s"},
		{"extra"},
	} {
		r := satellite(t, append([]string{"rollout", "status", "--addr", addr}, args...)...)
		if r.code != exitUsage || !strings.Contains(r.stderr, "Error: ") {
			t.Errorf("%q: exit %d, %q", args, r.code, r.stderr)
		}
	}
	// No answer: 3, at once also with --wait.
	start := time.Now()
	r := satellite(t, "rollout", "status", "--addr", closedPort(t), "--wait", "--timeout", "1m").want(t, exitNoAgent)
	if took := time.Since(start); took > 10*time.Second || !strings.Contains(r.stderr, "Error: ") {
		t.Errorf("took %s: %q", took, r.stderr)
	}
	// A token refused is no answer either; the read token is enough.
	r = satellite(t, "rollout", "status", "--addr", addr, "--wait").want(t, exitNoAgent)
	if !strings.Contains(r.stderr, "needs an API token") {
		t.Errorf("%q", r.stderr)
	}
	r = satellite(t, "rollout", "status", "--addr", addr, "--token", "tok-read").want(t, exitFailed)
	if !strings.Contains(r.stdout, "Behind:") {
		t.Errorf("%s", r.stdout)
	}
}

// rolloutChecks is a checks.hcl whose config hash depends on n.
func rolloutChecks(n int) string {
	return fmt.Sprintf("check \"file\" \"root\" {\n  path     = \"/\"\n  interval = \"%ds\"\n}\n", n)
}

// localHash is the config hash an agent runs, from its own API.
func localHash(t *testing.T, a *meshAgent) string {
	t.Helper()
	n, err := a.local()
	if err != nil {
		t.Fatal(err)
	}
	return n.ConfigHash
}

// reload writes checks.hcl as rolloutChecks(n), sends SIGHUP and waits
// until the agent runs a new hash, which it returns.
func reloadTo(t *testing.T, a *meshAgent, n int) string {
	t.Helper()
	old := localHash(t, a)
	writeFile(t, a.dir, "checks.hcl", rolloutChecks(n))
	a.signal(t, syscall.SIGHUP)
	var now string
	within(t, waitLimit, a.name+" reloads to a new config hash", func() string {
		now = localHash(t, a)
		if now == old {
			return "still " + old
		}
		return ""
	})
	return now
}

// A real mesh of three agents: one reloaded to a new config is named; once
// the others are, they agree; --wait follows a rollout to its end, and with
// --timeout names the member left behind.
func TestRolloutStatusMesh(t *testing.T) {
	isolateAgentEnv(t)
	agents := startMeshAgents(t, 18, 3, "roll", meshOpts{checks: rolloutChecks(1)})
	waitMembers(t, agents, 3, 30*time.Second)
	a1, a2, a3 := agents[0], agents[1], agents[2]
	status := func(a *meshAgent, args ...string) result {
		return satellite(t, append([]string{"rollout", "status", "--addr", a.base}, args...)...)
	}
	// The same checks everywhere: one hash (once the tags have spread).
	start := localHash(t, a1)
	within(t, waitLimit, "the three agree at the start", func() string {
		if r := status(a2); r.code != exitOK {
			return r.stdout + r.stderr
		}
		return ""
	})
	r := status(a2)
	if want := fmt.Sprintf("Rollout done: all 3 alive members run config hash %s.\n", start); r.stdout != want {
		t.Errorf("%q, want %q", r.stdout, want)
	}

	// roll-01 alone on a new config: named, exit 1.
	h1 := reloadTo(t, a1, 2)
	if h1 == start {
		t.Fatalf("the new config has the old hash %s", start)
	}
	var rep rolloutReport
	within(t, waitLimit, "roll-02 sees roll-01 on its new hash", func() string {
		r := status(a2, "--format", "json")
		if r.code != exitFailed {
			return fmt.Sprintf("exit %d: %s%s", r.code, r.stdout, r.stderr)
		}
		rep = rolloutJSON(t, r)
		if !reflect.DeepEqual(rep.Behind, []string{a1.name}) {
			return r.stdout
		}
		return ""
	})
	want := []rolloutGroup{{Hash: start, Count: 2, Nodes: []string{a2.name, a3.name}}, {Hash: h1, Count: 1, Nodes: []string{a1.name}}}
	if !reflect.DeepEqual(rep.Hashes, want) || rep.Target != start {
		t.Errorf("%+v, want hashes %+v", rep, want)
	}
	r = status(a2).want(t, exitFailed)
	if !regexp.MustCompile(`(?m)^` + h1 + ` +1 +roll-01$`).MatchString(r.stdout) {
		t.Errorf("the table does not name roll-01 on %s:\n%s", h1, r.stdout)
	}

	// --wait, asked of roll-01 while the others run the old config,
	// returns 0 once the last of them reloads.
	type answer struct {
		r    result
		took time.Duration
	}
	done := make(chan answer, 1)
	var wg sync.WaitGroup
	wg.Add(1)
	// Cleanups run last first: this one before the agents are stopped, so
	// that the wait ends (at worst at its --timeout) within the test.
	t.Cleanup(wg.Wait)
	go func() {
		defer wg.Done()
		t0 := time.Now()
		r := satellite(t, "rollout", "status", "--addr", a1.base, "--wait", "--interval", "200ms", "--timeout", "45s", "--format", "json")
		done <- answer{r, time.Since(t0)}
	}()
	time.Sleep(time.Second)
	select {
	case ans := <-done:
		t.Fatalf("--wait returned while the members differ: %+v", ans.r)
	default:
	}
	if h := reloadTo(t, a2, 2); h != h1 {
		t.Errorf("roll-02 runs %s, roll-01 %s, for the same checks", h, h1)
	}
	reloadTo(t, a3, 2)
	var ans answer
	select {
	case ans = <-done:
	case <-time.After(45*time.Second + waitLimit):
		t.Fatal("--wait did not return")
	}
	rep = rolloutJSON(t, ans.r)
	if ans.r.code != exitOK || !rep.Agree || rep.Target != h1 || !reflect.DeepEqual(rep.Moved, []string{a2.name, a3.name}) {
		t.Errorf("--wait: exit %d after %s: %+v", ans.r.code, ans.took, rep)
	}
	r = status(a3).want(t, exitOK)
	if !strings.Contains(r.stdout, "all 3 alive members run config hash "+h1) {
		t.Errorf("%s", r.stdout)
	}

	// --hash from `satellite validate`, as config management gets it.
	v := satellite(t, "validate", a3.dir).want(t, exitOK)
	m := regexp.MustCompile(`config hash ([0-9a-f]+)\.$`).FindStringSubmatch(strings.TrimSpace(v.stdout))
	if m == nil || m[1] != h1 {
		t.Fatalf("validate prints %q, the agents run %s", v.stdout, h1)
	}
	status(a1, "--hash", m[1]).want(t, exitOK)
	status(a1, "--hash", start).want(t, exitFailed)

	// Two of three reloaded: --wait --timeout gives up naming roll-03.
	h2 := reloadTo(t, a1, 3)
	reloadTo(t, a2, 3)
	t0 := time.Now()
	r = status(a1, "--wait", "--timeout", "4s", "--interval", "200ms").want(t, exitFailed)
	if took := time.Since(t0); took < 4*time.Second || took > 4*time.Second+waitLimit {
		t.Errorf("--timeout 4s returned after %s", took)
	}
	for _, want := range []string{
		"Rollout not done after 4s: 3 alive members run 2 config hashes.",
		"1 member did not move to " + h2 + " (the local agent's).",
		"Behind: roll-03",
	} {
		if !strings.Contains(r.stdout, want+"\n") {
			t.Errorf("no line %q in:\n%s", want, r.stdout)
		}
	}
	if !regexp.MustCompile(`(?m)^` + h1 + ` +1 +roll-03$`).MatchString(r.stdout) {
		t.Errorf("the table does not show roll-03 on %s:\n%s", h1, r.stdout)
	}
}
