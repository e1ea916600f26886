package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/satellite-hq/satellite/health"
	"github.com/satellite-hq/satellite/sinks"
	"github.com/satellite-hq/satellite/sinks/sqlite"
)

// now is the tests' reference time, in whole seconds as the table shows them.
var now = time.Now().Truncate(time.Second)

const longError = "dial tcp 10.0.0.1:2379: connect: connection refused\nafter\t3 attempts; the server said \x1b[31mgo away\x1b[0m and a great deal more besides"

// historyRecords are what the agent would have written: three changes and a
// run that changed nothing.
var historyRecords = []sinks.Record{
	{Time: now.Add(-48 * time.Hour), Node: "n1", Check: "tcp.etcd", Type: "tcp", Status: "passing", RunStatus: "passing", Changed: true, Previous: "critical"},
	{Time: now.Add(-2 * time.Hour), Node: "n2", Check: `http.api["a"]`, Type: "http", Status: "passing", RunStatus: "passing", Changed: true},
	{Time: now.Add(-90 * time.Minute), Node: "n2", Check: `http.api["a"]`, Type: "http", Status: "passing", RunStatus: "passing"},
	{Time: now.Add(-time.Hour), Node: "n1", Check: "tcp.etcd", Type: "tcp", Status: "critical", RunStatus: "critical", Changed: true, Previous: "passing", Error: longError},
}

// writeHistory writes historyRecords to dataDir's history file and returns
// its path.
func writeHistory(t *testing.T, dataDir string) string {
	t.Helper()
	path := filepath.Join(dataDir, sqlite.HistoryFile)
	db, err := sqlite.Open(context.Background(), path, 0)
	if err != nil {
		t.Fatal(err)
	}
	// Two batches, as the writer would send them.
	if err := db.Write(context.Background(), historyRecords[:2]); err != nil {
		t.Fatal(err)
	}
	if err := db.Write(context.Background(), historyRecords[2:]); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

func historyJSON(t *testing.T, args ...string) []health.Change {
	t.Helper()
	r := satellite(t, append([]string{"history", "--format", "json"}, args...)...).want(t, exitOK)
	var out []health.Change
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatalf("stdout is not a JSON array of state changes: %v\n%s", err, r.stdout)
	}
	return out
}

func checksOf(changes []health.Change) []string {
	var out []string
	for _, c := range changes {
		out = append(out, c.Node+" "+c.Check+" "+c.Status)
	}
	return out
}

// column returns the rune offset at which the value in column col of a
// table line begins.
func column(line string, col int) int {
	runes := []rune(line)
	n, inGap := 0, false
	for i := 0; i < len(runes); i++ {
		switch {
		case i+1 < len(runes) && runes[i] == ' ' && runes[i+1] == ' ':
			inGap = true
		case inGap && runes[i] != ' ':
			inGap = false
			n++
			if n == col {
				return i
			}
		}
	}
	return -1
}

func TestHistoryTable(t *testing.T) {
	isolate(t)
	db := writeHistory(t, t.TempDir())
	r := satellite(t, "history", "--db", db).want(t, exitOK)
	if r.stderr != "" {
		t.Errorf("stderr = %q", r.stderr)
	}
	lines := strings.Split(strings.TrimRight(r.stdout, "\n"), "\n")
	// The default --since 24h leaves out the change of two days ago; the run
	// that changed nothing is no state change.
	if len(lines) != 3 {
		t.Fatalf("want a header and 2 rows:\n%s", r.stdout)
	}
	if !regexp.MustCompile(`^TIME +NODE +CHECK +FROM → TO +ERROR$`).MatchString(lines[0]) {
		t.Errorf("header = %q", lines[0])
	}
	// Newest first, local time.
	wantStart := []string{
		regexp.QuoteMeta(now.Add(-time.Hour).Local().Format("2006-01-02 15:04:05")) + ` +n1 +tcp\.etcd +passing → critical +dial`,
		regexp.QuoteMeta(now.Add(-2*time.Hour).Local().Format("2006-01-02 15:04:05")) + ` +n2 +http\.api\["a"\] +- → passing$`,
	}
	for i, w := range wantStart {
		if !regexp.MustCompile("^" + w).MatchString(lines[i+1]) {
			t.Errorf("row %d = %q, want it to match %s", i+1, lines[i+1], w)
		}
	}
	// Aligned: every column starts at the same place on every line (the
	// second row has no error, and no trailing blanks).
	for col := 1; col <= 4; col++ {
		at := column(lines[0], col)
		for i, l := range lines[1:] {
			if col == 4 && i == 1 {
				continue
			}
			if got := column(l, col); got != at {
				t.Errorf("column %d starts at %d in %q, at %d in the header", col, got, l, at)
			}
		}
	}
	// The error is on one line, cut, and cannot drive the terminal.
	errCell := string([]rune(lines[1])[column(lines[0], 4):])
	if want := "dial tcp 10.0.0.1:2379: connect: connection refused after 3"; !strings.HasPrefix(errCell, want) {
		t.Errorf("error cell = %q, want it to start %q", errCell, want)
	}
	if n := utf8.RuneCountInString(errCell); n != historyErrorWidth || !strings.HasSuffix(errCell, "…") {
		t.Errorf("error cell has %d runes (%q), want %d ending in …", n, errCell, historyErrorWidth)
	}
	if strings.Contains(r.stdout, "\x1b") {
		t.Errorf("escape codes in piped output: %q", r.stdout)
	}
}

func TestHistoryJSON(t *testing.T) {
	isolate(t)
	db := writeHistory(t, t.TempDir())
	got := historyJSON(t, "--db", db, "--since", "0")
	want := []health.Change{
		{Time: now.Add(-time.Hour).UTC(), Node: "n1", Check: "tcp.etcd", Type: "tcp", Previous: "passing", Status: "critical", Error: longError},
		{Time: now.Add(-2 * time.Hour).UTC(), Node: "n2", Check: `http.api["a"]`, Type: "http", Status: "passing"},
		{Time: now.Add(-48 * time.Hour).UTC(), Node: "n1", Check: "tcp.etcd", Type: "tcp", Previous: "critical", Status: "passing"},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d changes, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		if !got[i].Time.Equal(want[i].Time) {
			t.Errorf("%d: time %s, want %s", i, got[i].Time, want[i].Time)
		}
		got[i].Time = want[i].Time
		if got[i] != want[i] {
			t.Errorf("%d: got %+v\nwant %+v", i, got[i], want[i])
		}
	}
	// Nothing matches: an empty array, and no message.
	r := satellite(t, "history", "--db", db, "--format", "json", "--node", "nobody").want(t, exitOK)
	if strings.TrimSpace(r.stdout) != "[]" || r.stderr != "" {
		t.Errorf("empty answer: stdout %q, stderr %q", r.stdout, r.stderr)
	}
}

func TestHistoryFilters(t *testing.T) {
	isolate(t)
	db := writeHistory(t, t.TempDir())
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"--since", "0"}, []string{"n1 tcp.etcd critical", `n2 http.api["a"] passing`, "n1 tcp.etcd passing"}},
		{[]string{"--since", "72h", "--node", "n1"}, []string{"n1 tcp.etcd critical", "n1 tcp.etcd passing"}},
		{[]string{"--node", "n1"}, []string{"n1 tcp.etcd critical"}},
		{[]string{"--check", `http.api["a"]`}, []string{`n2 http.api["a"] passing`}},
		{[]string{"--check", "tcp.etcd", "--node", "n2"}, nil},
		{[]string{"--since", "90m"}, []string{"n1 tcp.etcd critical"}},
		{[]string{"--since", now.Add(-3 * time.Hour).UTC().Format(time.RFC3339)}, []string{"n1 tcp.etcd critical", `n2 http.api["a"] passing`}},
		{[]string{"--since", now.Add(-3 * time.Hour).Format(time.RFC3339)}, []string{"n1 tcp.etcd critical", `n2 http.api["a"] passing`}},
		{[]string{"--since", now.AddDate(0, 0, 5).Format("2006-01-02")}, nil},
		{[]string{"--since", "0", "--limit", "2"}, []string{"n1 tcp.etcd critical", `n2 http.api["a"] passing`}},
		{[]string{"--since", "0", "--limit", "0"}, []string{"n1 tcp.etcd critical", `n2 http.api["a"] passing`, "n1 tcp.etcd passing"}},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			got := checksOf(historyJSON(t, append([]string{"--db", db}, tc.args...)...))
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestHistoryTableMessages(t *testing.T) {
	isolate(t)
	db := writeHistory(t, t.TempDir())

	before := time.Now().Add(-30 * time.Minute).Local().Format("2006-01-02 15:04")
	r := satellite(t, "history", "--db", db, "--since", "30m", "--check", "tcp.etcd").want(t, exitOK)
	after := time.Now().Add(-30 * time.Minute).Local().Format("2006-01-02 15:04")
	if r.stdout != "" {
		t.Errorf("stdout = %q, want nothing", r.stdout)
	}
	// The command reads the clock itself: the minute may have turned.
	if !strings.HasPrefix(r.stderr, "No state changes of tcp.etcd since "+before) &&
		!strings.HasPrefix(r.stderr, "No state changes of tcp.etcd since "+after) {
		t.Errorf("stderr = %q", r.stderr)
	}

	r = satellite(t, "history", "--db", db, "--since", "0", "--limit", "1").want(t, exitOK)
	if n := strings.Count(r.stdout, "\n"); n != 2 {
		t.Errorf("want a header and one row:\n%s", r.stdout)
	}
	if !strings.Contains(r.stderr, "Showing the newest 1; --limit 0 shows all") {
		t.Errorf("stderr = %q", r.stderr)
	}
}

func TestHistoryUsageErrors(t *testing.T) {
	isolate(t)
	db := writeHistory(t, t.TempDir())
	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{[]string{"--format", "yaml"}, "--format must be table or json"},
		{[]string{"--since", "yesterday"}, "neither a duration"},
		{[]string{"--since", "-1h"}, "cannot be negative"},
		{[]string{"--limit", "-1"}, "--limit must be"},
		{[]string{"--limit", "many"}, "invalid argument"},
		{[]string{"--bogus"}, "unknown flag"},
		{[]string{"somewhere"}, "not both"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			r := satellite(t, append([]string{"history", "--db", db}, tc.args...)...).want(t, exitUsage)
			if !strings.Contains(r.stderr, tc.msg) || r.stdout != "" {
				t.Errorf("stdout %q, stderr %q; want %q on stderr", r.stdout, r.stderr, tc.msg)
			}
		})
	}
}

func TestHistoryMissingDB(t *testing.T) {
	isolate(t)
	dir := t.TempDir()
	missing := filepath.Join(dir, "nope", "history.db")
	r := satellite(t, "history", "--db", missing).want(t, exitFailed)
	if !strings.Contains(r.stderr, "no history at "+missing) {
		t.Errorf("stderr = %q", r.stderr)
	}
	// Reading must not create the file, nor its folder.
	if _, err := os.Stat(filepath.Dir(missing)); !os.IsNotExist(err) {
		t.Errorf("history created %s (%v)", filepath.Dir(missing), err)
	}

	// Through a config: the agent has never run with it.
	dataDir := filepath.Join(dir, "data")
	cfg := writeFile(t, dir, "cfg/agent.hcl", "agent {\n  name     = \"n1\"\n  data_dir = \""+filepath.ToSlash(dataDir)+"\"\n}\n")
	r = satellite(t, "history", filepath.Dir(cfg)).want(t, exitFailed)
	want := "no history at " + filepath.Join(dataDir, sqlite.HistoryFile) + ": the agent has not run with this config, or agent.history = false"
	if !strings.Contains(r.stderr, want) {
		t.Errorf("stderr = %q, want %q", r.stderr, want)
	}
	if _, err := os.Stat(dataDir); !os.IsNotExist(err) {
		t.Errorf("history created %s (%v)", dataDir, err)
	}

	// Not a history file.
	r = satellite(t, "history", "--db", writeFile(t, dir, "junk.db", "not a database at all, not even close")).want(t, exitFailed)
	if !strings.Contains(r.stderr, "cannot open the history") {
		t.Errorf("stderr = %q", r.stderr)
	}
	r = satellite(t, "history", "--db", dir).want(t, exitFailed)
	if !strings.Contains(r.stderr, "is a directory") {
		t.Errorf("stderr = %q", r.stderr)
	}
}

func TestHistoryFromConfig(t *testing.T) {
	isolate(t)
	dir := t.TempDir()
	dataDir := filepath.Join(dir, "var", "lib", "satellite")
	writeHistory(t, dataDir)
	// Checks do not matter, only agent.data_dir; here it comes from a variable.
	cfgDir := filepath.Join(dir, "etc")
	writeFile(t, cfgDir, "agent.hcl", `
variable "data" {
  type = string
}

agent {
  name     = "n1"
  data_dir = var.data
}
`)
	writeFile(t, cfgDir, "checks.hcl", `
check "tcp" "etcd" {
  address = "127.0.0.1:2379"
}
`)
	want := []string{"n1 tcp.etcd critical", `n2 http.api["a"] passing`}

	got := checksOf(historyJSON(t, "--var", "data="+dataDir, cfgDir))
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("from PATH: got %q, want %q", got, want)
	}

	// Without a PATH: $SATELLITE_CONFIG.
	t.Setenv("SATELLITE_CONFIG", cfgDir)
	t.Setenv("SATELLITE_VAR_data", dataDir)
	got = checksOf(historyJSON(t))
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("from $SATELLITE_CONFIG: got %q, want %q", got, want)
	}
}

func TestHistoryRelativeDataDir(t *testing.T) {
	isolate(t)
	dir := t.TempDir()
	writeHistory(t, filepath.Join(dir, "data"))
	writeFile(t, dir, "cfg/agent.hcl", "agent {\n  name     = \"n1\"\n  data_dir = \"data\"\n}\n")
	// A relative data_dir is taken from the working directory, as the agent
	// (and sqlite.Open) take it.
	t.Chdir(dir)
	if got := historyJSON(t, "cfg"); len(got) != 2 {
		t.Errorf("got %d changes, want 2", len(got))
	}
}

func TestHistoryDisabledNote(t *testing.T) {
	isolate(t)
	dir := t.TempDir()
	writeHistory(t, dir)
	writeFile(t, dir, "cfg/agent.hcl", "agent {\n  name     = \"n1\"\n  data_dir = \""+filepath.ToSlash(dir)+"\"\n  history  = false\n}\n")
	r := satellite(t, "history", filepath.Join(dir, "cfg")).want(t, exitOK)
	if !strings.Contains(r.stderr, "agent.history = false") || !strings.Contains(r.stdout, "tcp.etcd") {
		t.Errorf("stdout %q, stderr %q", r.stdout, r.stderr)
	}
}

func TestHistoryInvalidConfig(t *testing.T) {
	isolate(t)
	dir := t.TempDir()
	writeFile(t, dir, "agent.hcl", "agent {\n  dta_dir = \"/tmp/x\"\n}\n")
	r := satellite(t, "history", dir).want(t, exitUsage)
	for _, want := range []string{"agent.hcl:2:3", "data_dir", "Invalid config: 1 error(s)", "--db"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	if r.stdout != "" {
		t.Errorf("stdout = %q", r.stdout)
	}

	// No config files at all: the history file is not known.
	empty := t.TempDir()
	r = satellite(t, "history", empty).want(t, exitUsage)
	if !strings.Contains(r.stderr, "no config files were read") {
		t.Errorf("stderr = %q", r.stderr)
	}
}

var ansi = regexp.MustCompile("\x1b\\[[0-9;]*m")

func TestHistoryTableColor(t *testing.T) {
	changes := []health.Change{
		{Time: now, Node: "node-with-a-long-name", Check: "tcp.etcd", Status: "critical", Previous: "passing", Error: "refused"},
		{Time: now, Node: "n2", Check: `http.api["a"]`, Status: "passing"},
		{Time: now, Node: "n3", Check: "exec.x", Status: "unknown", Previous: "blocked"},
	}
	var plain, colored bytes.Buffer
	if err := writeHistoryTable(&plain, changes, false); err != nil {
		t.Fatal(err)
	}
	if err := writeHistoryTable(&colored, changes, true); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(colored.String(), "\x1b[31mpassing → critical\x1b[0m") {
		t.Errorf("no red for critical:\n%q", colored.String())
	}
	// Without the escape codes, the coloured table is the plain one: the
	// codes do not upset the alignment.
	if got := ansi.ReplaceAllString(colored.String(), ""); got != plain.String() {
		t.Errorf("colour changes the layout:\n%s\nvs plain:\n%s", got, plain.String())
	}
}

func TestHistoryCell(t *testing.T) {
	for in, want := range map[string]string{
		"plain":                         "plain",
		"two\nlines\tand  spaces ":      "two lines and spaces",
		"\x1b[31mred\x1b[0m":            "?[31mred?[0m",
		"evil\u202etxt.exe":             "evil?txt.exe",
		"bad utf8 \xff":                 "bad utf8 ?",
		"caf\u00e9 \u2192 \u65e5\u672c": "café → 日本",
	} {
		if got := cell(in); got != want {
			t.Errorf("cell(%q) = %q, want %q", in, got, want)
		}
	}
	if got := truncate("abcdef", 4); got != "abc…" {
		t.Errorf("truncate = %q", got)
	}
	if got := truncate("日本語", 3); got != "日本語" {
		t.Errorf("truncate = %q", got)
	}
}
