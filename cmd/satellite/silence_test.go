package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/satellite-hq/satellite/api"
	"github.com/satellite-hq/satellite/notify/silence"
)

// silenceAgent adds silences to fakeAgent. The backend is a stand-in for
// the agent (which also gossips every change to its peers); the store is
// the real silence.Store, on a temporary data dir.
type silenceAgent struct {
	fakeAgent
	store *silence.Store
}

func (a *silenceAgent) Silences(includeExpired bool) []silence.Silence {
	return a.store.List(time.Now(), includeExpired)
}

func (a *silenceAgent) AddSilence(_ context.Context, s silence.Silence) (silence.Silence, error) {
	return a.store.Add(s)
}

func (a *silenceAgent) ExpireSilence(_ context.Context, id string) (silence.Silence, error) {
	return a.store.Expire(id, time.Now())
}

const readToken = "read-token-abc"

func silenceServer(t *testing.T) (*silenceAgent, string) {
	t.Helper()
	isolateAgentEnv(t)
	st, err := silence.Open(t.TempDir(), silence.Options{})
	if err != nil {
		t.Fatal(err)
	}
	a := &silenceAgent{store: st}
	return a, serveAPI(t, a, api.Options{Token: fullToken, ReadToken: readToken})
}

// noSecret fails the test when a token was printed.
func noSecret(t *testing.T, r result) {
	t.Helper()
	if strings.Contains(r.all(), fullToken) || strings.Contains(r.all(), readToken) {
		t.Errorf("a token was printed:\n%s", r.all())
	}
}

func TestSilenceAddListExpire(t *testing.T) {
	a, addr := silenceServer(t)
	ag := []string{"--addr", addr, "--token", fullToken}

	r := satellite(t, append([]string{"silence", "add", "--node", "node-c", "--check", "http.*", "--for", "2h",
		"--reason", "kernel upgrade, OPS-1234", "--author", "alice"}, ag...)...).want(t, exitOK)
	noSecret(t, r)
	all := a.store.All()
	if len(all) != 1 {
		t.Fatalf("the store holds %+v", all)
	}
	s := all[0]
	if s.Node != "node-c" || s.Check != "http.*" || s.Author != "alice" || s.Reason != "kernel upgrade, OPS-1234" ||
		s.Expires.Sub(s.Created) != 2*time.Hour {
		t.Errorf("%+v", s)
	}
	want := fmt.Sprintf("Silence %s: check http.* on node node-c, until %s (in 2h).\n", s.ID, s.Expires.Local().Format(historyTimeLayout))
	if r.stdout != want || r.stderr != "" {
		t.Errorf("got  %q\nwant %q", r.stdout, want)
	}

	// The default author is $USER@hostname; every check of a node.
	t.Setenv("USER", "bob")
	host, _ := os.Hostname()
	r = satellite(t, append([]string{"silence", "add", "--node", "node-d", "--until",
		time.Now().Add(3 * time.Hour).UTC().Format(time.RFC3339), "--reason", "disk swap", "--format", "json"}, ag...)...).want(t, exitOK)
	var s2 silence.Silence
	if err := json.Unmarshal([]byte(r.stdout), &s2); err != nil || s2.Author != "bob@"+host || s2.Check != "*" || !strings.Contains(r.stdout, "\n  \"id\": ") {
		t.Fatalf("%s %v", r.stdout, err)
	}

	// list: the read token is enough; sorted by end.
	r = satellite(t, "silence", "list", "--addr", addr, "--token", readToken).want(t, exitOK)
	lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "ID                NODE    CHECK   EXPIRES") ||
		!strings.HasSuffix(lines[0], "AUTHOR  REASON") {
		t.Fatalf("%s", r.stdout)
	}
	row := strings.Fields(lines[1])
	if row[0] != s.ID || row[1] != "node-c" || row[2] != "http.*" || row[3] != "in" || row[4] != "2h" {
		t.Errorf("%q", row)
	}
	mustContainAll(t, lines[1], "in 2h ("+s.Expires.Local().Format(historyTimeLayout)+")", "alice", "kernel upgrade, OPS-1234")
	mustContainAll(t, lines[2], s2.ID, "node-d", "in 3h (", "bob@", "disk swap")
	noSecret(t, r)

	r = satellite(t, "silence", "list", "--format", "json", "--addr", addr, "--token", readToken).want(t, exitOK)
	var list []silence.Silence
	if err := json.Unmarshal([]byte(r.stdout), &list); err != nil || len(list) != 2 || list[0] != s {
		t.Errorf("%s %v", r.stdout, err)
	}

	// expire: now, on every member; then only with --expired.
	r = satellite(t, append([]string{"silence", "expire", s.ID}, ag...)...).want(t, exitOK)
	if r.stdout != "Expired silence "+s.ID+": check http.* on node node-c is no longer silenced.\n" {
		t.Errorf("%q", r.stdout)
	}
	if got, _ := a.store.Get(s.ID); got.ExpiredAt.IsZero() || got.Version != 2 {
		t.Errorf("%+v", got)
	}
	r = satellite(t, "silence", "list", "--addr", addr, "--token", readToken).want(t, exitOK)
	if strings.Contains(r.stdout, s.ID) || !strings.Contains(r.stdout, s2.ID) {
		t.Errorf("%s", r.stdout)
	}
	r = satellite(t, "silence", "list", "--expired", "--addr", addr, "--token", readToken).want(t, exitOK)
	if rows := tableRows(r.stdout); rows[s.ID] == nil || rows[s.ID][3] != "expired" || rows[s.ID][5] != "ago" {
		t.Errorf("%s", r.stdout)
	}
	// The rest expired too: nothing is left active.
	satellite(t, append([]string{"silence", "expire", s2.ID}, ag...)...).want(t, exitOK)
	r = satellite(t, "silence", "list", "--addr", addr, "--token", readToken).want(t, exitOK)
	if r.stdout != "No active silences.\n" {
		t.Errorf("%q", r.stdout)
	}
}

func TestSilenceEverything(t *testing.T) {
	a, addr := silenceServer(t)
	ag := []string{"--addr", addr, "--token", fullToken}
	r := satellite(t, append([]string{"silence", "add", "--for", "30m", "--reason", "network work"}, ag...)...).want(t, exitUsage)
	if !strings.Contains(r.stderr, `--node and --check are both "*": this silences every check on every node; add --all`) {
		t.Errorf("%q", r.stderr)
	}
	r = satellite(t, append([]string{"silence", "add", "--all", "--node", "node-a", "--for", "30m", "--reason", "x"}, ag...)...).want(t, exitUsage)
	if !strings.Contains(r.stderr, "--all silences every check on every node: it goes without --node and --check") {
		t.Errorf("%q", r.stderr)
	}
	if len(a.store.All()) != 0 {
		t.Fatal("a refused silence reached the agent")
	}
	r = satellite(t, append([]string{"silence", "add", "--all", "--for", "30m", "--reason", "network work"}, ag...)...).want(t, exitOK)
	if !strings.Contains(r.stdout, ": every check on every node, until ") || len(a.store.All()) != 1 || !a.store.All()[0].Everything() {
		t.Errorf("%q", r.stdout)
	}
}

func TestSilenceUsageAndRefusals(t *testing.T) {
	a, addr := silenceServer(t)
	for _, tc := range []struct {
		name string
		args []string
		code int
		err  string
	}{
		{"no duration", []string{"add", "--node", "n", "--reason", "r"}, exitUsage, "give how long: --for DURATION (such as 2h) or --until TIME"},
		{"both", []string{"add", "--node", "n", "--reason", "r", "--for", "1h", "--until", "2030-01-01T00:00:00Z"}, exitUsage, "give --for or --until, not both"},
		{"days", []string{"add", "--node", "n", "--reason", "r", "--for", "1d"}, exitUsage, `--for "1d" is not a duration such as 90m, 2h or 48h (there is no d unit)`},
		{"too long", []string{"add", "--node", "n", "--reason", "r", "--for", "2200h"}, exitUsage, "--for must be from 1m0s to 2160h0m0s (90 days), not 2200h0m0s"},
		{"past", []string{"add", "--node", "n", "--reason", "r", "--until", "2020-01-01T00:00:00Z"}, exitUsage, "--until 2020-01-01T00:00:00Z is past"},
		{"not a time", []string{"add", "--node", "n", "--reason", "r", "--until", "tomorrow"}, exitUsage, `--until "tomorrow" is not an RFC 3339 time`},
		{"no reason", []string{"add", "--node", "n", "--for", "1h"}, exitUsage, "the reason is required"},
		{"long reason", []string{"add", "--node", "n", "--for", "1h", "--reason", strings.Repeat("r", 161)}, exitUsage, "the reason is 161 bytes long, more than 160"},
		{"bad glob", []string{"add", "--node", "node-[", "--for", "1h", "--reason", "r"}, exitUsage, `node: the glob "node-[" is malformed`},
		{"bad format", []string{"list", "--format", "yaml"}, exitUsage, `--format must be table or json, not "yaml"`},
		{"bad id", []string{"expire", "nope"}, exitUsage, `ID: a silence ID is 16 hex digits (satellite silence list shows them), not "nope"`},
		{"no id", []string{"expire"}, exitUsage, "accepts 1 arg"},
		{"unknown id", []string{"expire", "ffffffffffffffff"}, exitFailed, "Error: no silence has ID ffffffffffffffff"},
		{"read token", []string{"add", "--node", "n", "--for", "1h", "--reason", "r", "--token", readToken}, exitNoAgent, "needs the full token"},
		{"read token expire", []string{"expire", "ffffffffffffffff", "--token", readToken}, exitNoAgent, "needs the full token"},
		{"no token", []string{"list", "--token", ""}, exitNoAgent, "needs an API token"},
		{"wrong token", []string{"list", "--token", "wrong"}, exitNoAgent, "refused the API token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"silence"}, tc.args...)
			args = append(args, "--addr", addr)
			if !strings.Contains(strings.Join(tc.args, " "), "--token") {
				args = append(args, "--token", fullToken)
			}
			r := satellite(t, args...).want(t, tc.code)
			if !strings.Contains(r.stderr, tc.err) {
				t.Errorf("stderr %q, want %q", r.stderr, tc.err)
			}
			noSecret(t, r)
		})
	}
	if n := len(a.store.All()); n != 0 {
		t.Errorf("%d silences made by refused commands", n)
	}

	// No agent: exit 3; an agent without silences: exit 1.
	r := satellite(t, "silence", "list", "--addr", closedAddr(t)).want(t, exitNoAgent)
	if !strings.Contains(r.stderr, "cannot reach the agent") {
		t.Errorf("%q", r.stderr)
	}
	plain := serveAPI(t, &fakeAgent{}, api.Options{})
	for _, args := range [][]string{
		{"list"},
		{"add", "--node", "n", "--for", "1h", "--reason", "r"},
		{"expire", "ffffffffffffffff"},
	} {
		r = satellite(t, append(append([]string{"silence"}, args...), "--addr", plain)...).want(t, exitFailed)
		if r.stderr != "Error: this agent does not support silences\n" {
			t.Errorf("%v: %q", args, r.stderr)
		}
	}
}

func TestSilenceCells(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	for d, want := range map[time.Duration]string{
		0: "0s", 45 * time.Second: "45s", 59*time.Minute + 59*time.Second: "1h", 2*time.Hour - time.Millisecond: "2h",
		time.Hour + 59*time.Minute: "1h59m", 3*24*time.Hour + 4*time.Hour: "3d4h", 90 * 24 * time.Hour: "90d", -time.Hour: "0s",
	} {
		if got := span(d); got != want {
			t.Errorf("%s: %q, want %q", d, got, want)
		}
	}
	s := silence.Silence{Created: now.Add(-time.Hour), Expires: now.Add(time.Hour)}
	at := func(t time.Time) string { return t.Local().Format(historyTimeLayout) }
	if got := silenceEnds(s, now); got != "in 1h ("+at(s.Expires)+")" {
		t.Errorf("%q", got)
	}
	if got := silenceEnds(s, now.Add(2*time.Hour)); got != "ended 1h ago ("+at(s.Expires)+")" {
		t.Errorf("%q", got)
	}
	s.ExpiredAt = now.Add(-5 * time.Minute)
	if got := silenceEnds(s, now); got != "expired 5m ago ("+at(s.ExpiredAt)+")" {
		t.Errorf("%q", got)
	}
	// What the agent sends is printed safely, whatever it is.
	var b strings.Builder
	_ = writeSilenceTable(&b, []silence.Silence{{ID: "x\x1b[2J", Node: "a\nb", Check: "*", Author: "", Reason: "r\u202e", Expires: now}}, now)
	if strings.ContainsAny(b.String(), "\x1b\u202e") || !strings.Contains(b.String(), "x?[2J  a b") {
		t.Errorf("%q", b.String())
	}
	t.Setenv("USER", strings.Repeat("u", 70))
	if a := defaultAuthor(); len(a) != silence.MaxAuthor {
		t.Errorf("%q", a)
	}
}
