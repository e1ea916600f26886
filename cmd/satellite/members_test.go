package main

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/satellite-hq/satellite/api"
	"github.com/satellite-hq/satellite/health"
)

func testMembers() []health.Member {
	return []health.Member{
		{Name: "node-c", Addr: "10.0.0.3:7946", Status: "alive",
			Tags: map[string]string{tagRole: "worker", tagHash: "e5f6a7b8", tagVersion: "0.1.1", "api": "10.0.0.3:7575", "zone": "b", tagBoot: "k3x9"}},
		{Name: "node-a", Addr: "10.0.0.1:7946", Status: "alive",
			Tags: map[string]string{tagRole: "master", tagHash: "a1b2c3d4", tagVersion: "0.1.0", "api": "10.0.0.1:7575"}},
		{Name: "node-b", Addr: "10.0.0.2:7946", Status: "failed",
			Tags: map[string]string{tagRole: "master", tagHash: "a1b2c3d4", tagVersion: "0.1.0"}},
		// Left: its old hash says nothing of a rollout.
		{Name: "node-d", Addr: "10.0.0.4:7946", Status: "left", Tags: map[string]string{tagHash: "00000000"}},
	}
}

func TestMembers(t *testing.T) {
	isolateAgentEnv(t)
	a := &fakeAgent{members: testMembers()}
	addr := serveAPI(t, a, api.Options{})

	r := satellite(t, "members", "--addr", addr).want(t, exitOK)
	lines := strings.Split(strings.TrimRight(r.stdout, "\n"), "\n")
	if len(lines) != 7 || !strings.HasPrefix(lines[0], "NAME    ADDR           STATUS  ROLE    CONFIG    VERSION  TAGS") {
		t.Fatalf("table:\n%s", r.stdout)
	}
	for i, name := range []string{"node-a", "node-b", "node-c", "node-d"} {
		if !strings.HasPrefix(lines[i+1], name+" ") {
			t.Errorf("row %d is not %s (sorted by name):\n%s", i+1, name, r.stdout)
		}
	}
	rows := tableRows(r.stdout)
	for name, want := range map[string][]string{
		"node-a": {"node-a", "10.0.0.1:7946", "alive", "master", "a1b2c3d4", "0.1.0", "api=10.0.0.1:7575"},
		"node-b": {"node-b", "10.0.0.2:7946", "failed", "master", "a1b2c3d4", "0.1.0", "-"},
		"node-c": {"node-c", "10.0.0.3:7946", "alive", "worker", "e5f6a7b8", "0.1.1", "api=10.0.0.3:7575,zone=b"},
		"node-d": {"node-d", "10.0.0.4:7946", "left", "-", "00000000", "-", "-"},
	} {
		if !reflect.DeepEqual(rows[name], want) {
			t.Errorf("%s: %q, want %q", name, rows[name], want)
		}
	}
	if lines[6] != "2 config hashes in the mesh: a1b2c3d4 (2 nodes), e5f6a7b8 (1 node): a rollout in progress or stuck" {
		t.Errorf("last line: %q", lines[6])
	}

	r = satellite(t, "members", "--addr", addr, "--format", "json").want(t, exitOK)
	var got []health.Member
	dec := json.NewDecoder(strings.NewReader(r.stdout))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&got); err != nil || !reflect.DeepEqual(got, testMembers()) {
		t.Errorf("%v: %+v", err, got)
	}

	// One config everywhere: no last line.
	a.mu.Lock()
	a.members = testMembers()[1:3]
	a.mu.Unlock()
	r = satellite(t, "members", "--addr", addr).want(t, exitOK)
	if strings.Contains(r.stdout, "config hashes") || strings.Count(r.stdout, "\n") != 3 {
		t.Errorf("%s", r.stdout)
	}
}

// Without a mesh the API answers [], and the table says so.
func TestMembersAlone(t *testing.T) {
	isolateAgentEnv(t)
	addr := serveAPI(t, &fakeAgent{}, api.Options{})
	if r := satellite(t, "members", "--addr", addr).want(t, exitOK); r.stdout != aloneMessage+"\n" {
		t.Errorf("%q", r.stdout)
	}
	if r := satellite(t, "members", "--addr", addr, "--format", "json").want(t, exitOK); r.stdout != "[]\n" {
		t.Errorf("%q", r.stdout)
	}
}

func TestMembersToken(t *testing.T) {
	isolateAgentEnv(t)
	addr := serveAPI(t, &fakeAgent{members: testMembers()}, api.Options{Token: "tok-full", ReadToken: "tok-read"})
	r := satellite(t, "members", "--addr", addr).want(t, exitNoAgent)
	if !strings.Contains(r.stderr, "needs an API token") {
		t.Errorf("%q", r.stderr)
	}
	satellite(t, "members", "--addr", addr, "--token", "tok-read").want(t, exitOK)
}
