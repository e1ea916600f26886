package heartbeatcheck

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/satellite-hq/satellite/checks"
)

var t0 = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

// clock is a time the test moves.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// config is a config with the agent's data dir at data and body's checks.
func config(data, body string) string {
	return fmt.Sprintf("agent {\n  data_dir = %q\n}\n%s", data, body)
}

// checker compiles one heartbeat check named backup on data, and sets its
// clock: a new compile is what a restart (or a reload) makes.
func checker(t *testing.T, data, attrs string, clk *clock) *Checker {
	t.Helper()
	src := config(data, "check \"heartbeat\" \"backup\" {\n"+attrs+"\n}\n")
	c := mustCheck(t, src, "heartbeat.backup").Checker.(*Checker)
	c.now = clk.now
	return c
}

func TestBuildErrors(t *testing.T) {
	for _, tt := range []struct{ name, attrs, summary, detail string }{
		{"zero within", `  within = "0s" # <-`, "Invalid within", "at least 1s"},
		{"short within", `  within = "500ms" # <-`, "Invalid within", "at least 1s"},
		{"bad within", `  within = "a day" # <-`, "Invalid duration", `"a day" is not a duration`},
		{"empty token_file", "  within = \"1h\"\n  token_file = \"\" # <-", "Empty path", "leave it out"},
		{"nul token_file", "  within = \"1h\"\n  token_file = \"a\\u0000b\" # <-", "Invalid path", "NUL byte"},
		{"unknown attribute", "  within = \"1h\"\n  token = \"secret\" # <-", "Unsupported argument", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			src := "check \"heartbeat\" \"backup\" {\n" + tt.attrs + "\n}\n"
			_, diags := compile(t, src, false)
			wantDiag(t, src, diags, tt.summary, tt.detail)
		})
	}
	src := "check \"heartbeat\" \"backup\" { # <-\n  token_file = \"x\"\n}\n"
	_, diags := compile(t, src, false)
	wantDiag(t, src, diags, "Missing required argument", `"within" is required: how long may pass between two heartbeats`)
}

func TestBuild(t *testing.T) {
	data := t.TempDir()
	c := checker(t, data, "  within = \"26h\"\n  token_file = \"backup.token\"", &clock{t: t0})
	if c.Address() != "heartbeat.backup" || c.Within() != 26*time.Hour {
		t.Errorf("address %q, within %s", c.Address(), c.Within())
	}
	if want := filepath.Join(data, Dir, "backup.json"); c.File() != want {
		t.Errorf("file %s, want %s", c.File(), want)
	}
	// A relative token_file is relative to the config file's folder (the
	// test's: the current directory).
	if c.TokenFile() != "backup.token" {
		t.Errorf("token_file %q", c.TokenFile())
	}
	// Build does no I/O: nothing is written before the first run.
	if _, err := os.Stat(filepath.Join(data, Dir)); !os.IsNotExist(err) {
		t.Errorf("the heartbeats folder exists before any run: %v", err)
	}
	// Under --unknown-env an unknown within builds nothing, silently.
	src := "check \"heartbeat\" \"b\" {\n  within = env(\"W\")\n}\n"
	if _, diags := compile(t, src, true); diags.HasErrors() {
		t.Errorf("unknown within: %s", diags)
	}
}

// Before the first heartbeat the check waits `within` from the first run
// on this node, then is critical; the wait is on disk, so a restart does not
// start it again.
func TestNoHeartbeatYet(t *testing.T) {
	data := t.TempDir()
	clk := &clock{t: t0}
	c := checker(t, data, `  within = "26h"`, clk)
	res := run(c, time.Second)
	wantPassing(t, res)
	if !strings.Contains(res.Detail, "no heartbeat yet; watching since 2026-11-25T12:00:00Z, critical from 2026-11-26T14:00:00Z") {
		t.Errorf("detail %q", res.Detail)
	}
	if len(res.Metrics) != 0 || !res.Attrs["last_heartbeat"].IsNull() {
		t.Errorf("metrics %v, last_heartbeat %#v before any heartbeat", res.Metrics, res.Attrs["last_heartbeat"])
	}
	var rec Record
	b, err := os.ReadFile(c.File())
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &rec); err != nil || rec.Check != "heartbeat.backup" || !rec.Watching.Equal(t0) || !rec.Last.IsZero() {
		t.Fatalf("file %s: %+v %v", b, rec, err)
	}

	// Restarted 25h later (a new checker on the same data dir): still
	// waiting, from the first start.
	clk.add(25 * time.Hour)
	c = checker(t, data, `  within = "26h"`, clk)
	wantPassing(t, run(c, time.Second))

	// 26h and a minute after the first start: critical, also for a check
	// restarted in between.
	clk.add(time.Hour + time.Minute)
	c = checker(t, data, `  within = "26h"`, clk)
	wantCritical(t, run(c, time.Second), "no heartbeat yet, 26h1m after this node started watching (within 26h)")
}

func TestHeartbeats(t *testing.T) {
	data := t.TempDir()
	clk := &clock{t: t0}
	c := checker(t, data, `  within = "1h"`, clk)
	wantPassing(t, run(c, time.Second))

	rec, err := c.Beat(false, "")
	if err != nil {
		t.Fatal(err)
	}
	if !rec.Last.Equal(t0) || rec.Failed || !rec.Watching.Equal(t0) {
		t.Errorf("record %+v", rec)
	}
	// Pings keep it passing.
	for i := 0; i < 3; i++ {
		clk.add(50 * time.Minute)
		res := run(c, time.Second)
		wantPassing(t, res)
		if got := res.Metrics[MetricAgeSeconds]; got != 3000 {
			t.Errorf("age_seconds %v, want 3000", got)
		}
		if want := "last heartbeat 50m ago, at " + stamp(clk.now().Add(-50*time.Minute)); !strings.HasPrefix(res.Detail, want) {
			t.Errorf("detail %q, want %q", res.Detail, want)
		}
		if _, err := c.Beat(false, "ok\n"); err != nil {
			t.Fatal(err)
		}
	}
	res := run(c, time.Second)
	wantPassing(t, res)
	if res.Attrs["message"].AsString() != "ok" || res.Attrs["last_heartbeat"].AsString() != stamp(clk.now()) {
		t.Errorf("attrs %#v", res.Attrs)
	}

	// No heartbeat within the window: critical with the age.
	clk.add(2*time.Hour + 13*time.Minute + 20*time.Second)
	res = run(c, time.Second)
	wantCritical(t, res, "no heartbeat for 2h13m (within 1h)")
	if res.Error != "no heartbeat for 2h13m (within 1h)" {
		t.Errorf("error %q", res.Error)
	}
	if got := res.Metrics[MetricAgeSeconds]; got != 8000 {
		t.Errorf("age_seconds %v, want 8000", got)
	}

	// A restart keeps the last heartbeat: a new checker sees it.
	c2 := checker(t, data, `  within = "1h"`, clk)
	wantCritical(t, run(c2, time.Second), "no heartbeat for 2h13m (within 1h)")
	if _, err := c2.Beat(false, ""); err != nil {
		t.Fatal(err)
	}
	clk.add(time.Minute)
	c3 := checker(t, data, `  within = "1h"`, clk)
	res = run(c3, time.Second)
	wantPassing(t, res)
	if res.Metrics[MetricAgeSeconds] != 60 {
		t.Errorf("after a restart: %v", res.Metrics)
	}
	// The watching time is the first run's, kept by every write.
	if rec, err := load(c3.File(), c3.Address()); err != nil || !rec.Watching.Equal(t0) {
		t.Errorf("record %+v, %v", rec, err)
	}
}

func TestFailure(t *testing.T) {
	clk := &clock{t: t0}
	c := checker(t, t.TempDir(), `  within = "1h"`, clk)
	// A first heartbeat may come before any run.
	if _, err := c.Beat(true, "pg_dump: \x1b[31merror\x1b[0m:\n connection refused\n"); err != nil {
		t.Fatal(err)
	}
	clk.add(5 * time.Minute)
	res := run(c, time.Second)
	wantCritical(t, res, "the last heartbeat, 5m ago, reported a failure: pg_dump: [31merror [0m: connection refused")
	if !res.Attrs["failed"].True() {
		t.Errorf("failed %#v", res.Attrs["failed"])
	}
	clk.add(2 * time.Hour)
	wantCritical(t, run(c, time.Second), "no heartbeat for 2h5m (within 1h); the last one reported a failure: pg_dump")
	// The next good one clears it.
	if _, err := c.Beat(false, ""); err != nil {
		t.Fatal(err)
	}
	res = run(c, time.Second)
	wantPassing(t, res)
	if res.Attrs["failed"].True() || res.Attrs["message"].AsString() != "" {
		t.Errorf("attrs %#v", res.Attrs)
	}
}

func TestClockSetBack(t *testing.T) {
	clk := &clock{t: t0}
	c := checker(t, t.TempDir(), `  within = "1h"`, clk)
	if _, err := c.Beat(false, ""); err != nil {
		t.Fatal(err)
	}
	clk.add(-time.Hour)
	res := run(c, time.Second)
	wantPassing(t, res)
	if res.Metrics[MetricAgeSeconds] != 0 {
		t.Errorf("age %v", res.Metrics)
	}
	// A heartbeat before the watching time (the clock set back) starts
	// the record again.
	rec, err := c.Beat(false, "")
	if err != nil || !rec.Watching.Equal(clk.now()) {
		t.Errorf("%+v %v", rec, err)
	}
}

func TestTokenFile(t *testing.T) {
	dir := t.TempDir()
	tok := filepath.Join(dir, "backup.token")
	if err := os.WriteFile(tok, []byte("  s3cret-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	clk := &clock{t: t0}
	c := checker(t, t.TempDir(), fmt.Sprintf("  within = \"1h\"\n  token_file = %q", tok), clk)
	got, has, err := c.Token()
	if got != "s3cret-token" || !has || err != nil {
		t.Fatalf("Token: %q %v %v", got, has, err)
	}
	wantPassing(t, run(c, time.Second))

	// Read at every use: a new token needs no reload.
	if err := os.WriteFile(tok, []byte("other\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got, _, _ := c.Token(); got != "other" {
		t.Errorf("after a change: %q", got)
	}

	// Empty, or missing: the run says so, and never the token.
	if err := os.WriteFile(tok, []byte(" \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, has, err := c.Token(); !has || err == nil {
		t.Errorf("empty file: %v %v", has, err)
	}
	wantCritical(t, run(c, time.Second), "token_file "+tok+" is empty", "refused until it can be read")
	if err := os.Remove(tok); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Beat(false, ""); err != nil {
		t.Fatal(err)
	}
	res := run(c, time.Second)
	wantCritical(t, res, "token_file: stat "+tok+": no such file or directory")
	if res.Metrics[MetricAgeSeconds] != 0 {
		t.Errorf("the heartbeat is still judged: %v", res.Metrics)
	}

	// A FIFO is not opened (it would wait for a writer).
	fifo := filepath.Join(dir, "fifo")
	if err := mkfifo(fifo); err != nil {
		t.Skip(err)
	}
	c = checker(t, t.TempDir(), fmt.Sprintf("  within = \"1h\"\n  token_file = %q", fifo), clk)
	if _, _, err := c.Token(); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("FIFO: %v", err)
	}

	// Without token_file, no token.
	c = checker(t, t.TempDir(), `  within = "1h"`, clk)
	if tok, has, err := c.Token(); tok != "" || has || err != nil {
		t.Errorf("%q %v %v", tok, has, err)
	}
}

func TestCorruptFile(t *testing.T) {
	data := t.TempDir()
	clk := &clock{t: t0}
	c := checker(t, data, `  within = "1h"`, clk)
	if err := os.MkdirAll(filepath.Dir(c.File()), 0o750); err != nil {
		t.Fatal(err)
	}
	for _, content := range []string{"garbage", `{"check":"heartbeat.other","watching_since":"2026-11-25T12:00:00Z"}`, `{"check":"heartbeat.backup"}`} {
		if err := os.WriteFile(c.File(), []byte(content), 0o640); err != nil {
			t.Fatal(err)
		}
		wantCritical(t, run(c, time.Second), c.File(), "not a heartbeat file")
	}
	// A heartbeat replaces it.
	if _, err := c.Beat(false, ""); err != nil {
		t.Fatal(err)
	}
	wantPassing(t, run(c, time.Second))

	// A data dir that cannot be written: critical, since no heartbeat could
	// be kept either.
	ro := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(ro, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	c = checker(t, ro, `  within = "1h"`, clk)
	wantCritical(t, run(c, time.Second), "heartbeats/backup.json: not a directory")
	if _, err := c.Beat(false, ""); err == nil {
		t.Error("a heartbeat recorded under a file")
	}
}

// for_each instances have files of their own, named safely whatever the
// keys.
func TestForEachFiles(t *testing.T) {
	data := t.TempDir()
	keys := []string{"db", "../../etc/passwd", "a/b", ".", "..", "x\x00y", strings.Repeat("k", 300), "ключ", "~", "a b"}
	var quoted []string
	for _, k := range keys {
		b, _ := json.Marshal(k) // HCL takes JSON's escapes
		quoted = append(quoted, string(b))
	}
	src := config(data, fmt.Sprintf("check \"heartbeat\" \"job\" {\n  for_each = toset([%s])\n  within = \"1h\"\n}\n", strings.Join(quoted, ", ")))
	plan := mustCompile(t, src)
	seen := map[string]string{}
	for _, ch := range plan.Checks {
		c := ch.Checker.(*Checker)
		if c.Address() != ch.Address {
			t.Errorf("checker address %q, check %q", c.Address(), ch.Address)
		}
		if filepath.Dir(c.File()) != filepath.Join(data, Dir) {
			t.Errorf("%s: file %s outside %s", ch.Address, c.File(), filepath.Join(data, Dir))
		}
		base := filepath.Base(c.File())
		if prev, dup := seen[base]; dup {
			t.Errorf("%s and %s share %s", prev, ch.Address, base)
		}
		seen[base] = ch.Address
		wantPassing(t, run(c, time.Second))
		if _, err := c.Beat(false, ch.Key); err != nil {
			t.Fatal(err)
		}
	}
	if len(seen) != len(keys) {
		t.Errorf("%d files for %d keys", len(seen), len(keys))
	}
	entries, err := os.ReadDir(filepath.Join(data, Dir))
	if err != nil || len(entries) != len(keys) {
		t.Fatalf("%d entries, %v", len(entries), err)
	}
	for _, ch := range plan.Checks {
		rec, err := load(ch.Checker.(*Checker).File(), ch.Address)
		if err != nil || rec.Message != CleanMessage(ch.Key) {
			t.Errorf("%s: %+v %v", ch.Address, rec, err)
		}
	}
}

func TestFileName(t *testing.T) {
	for addr, want := range map[string]string{
		"heartbeat.backup":         "backup.json",
		"heartbeat.nightly-db_2":   "nightly-db_2.json",
		`heartbeat.backup["x"]`:    "backup%5B%22x%22%5D.json",
		`heartbeat.b["../../etc"]`: "b%5B%22%2E%2E%2F%2E%2E%2Fetc%22%5D.json",
		`heartbeat.b["~"]`:         "b%5B%22%7E%22%5D.json",
	} {
		if got := FileName(addr); got != want {
			t.Errorf("FileName(%q) = %q, want %q", addr, got, want)
		}
	}
	for _, addr := range []string{"heartbeat.", "backup", "", "heartbeat." + strings.Repeat("x", 200)} {
		got := FileName(addr)
		if !strings.Contains(got, "~") || len(got) > 200 {
			t.Errorf("FileName(%q) = %q: want a hashed name", addr, got)
		}
	}
}

func TestCleanMessage(t *testing.T) {
	for in, want := range map[string]string{
		"":                        "",
		"ok":                      "ok",
		"  backup done\n":         "backup done",
		"a\tb\r\nc\x00d\x1b[0m":   "a b c d [0m",
		"bad \xff utf-8":          "bad utf-8",
		strings.Repeat("é", 200):  strings.Repeat("é", MaxMessage/2),
		strings.Repeat("a ", 200): strings.TrimSpace(strings.Repeat("a ", MaxMessage/2)),
	} {
		if got := CleanMessage(in); got != want {
			t.Errorf("CleanMessage(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestHuman(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0: "0s", 400 * time.Millisecond: "0s", 45 * time.Second: "45s", 90 * time.Second: "1m30s",
		3 * time.Minute: "3m", 59*time.Minute + 59*time.Second: "59m59s", time.Hour: "1h",
		2*time.Hour + 13*time.Minute + 20*time.Second: "2h13m", 26 * time.Hour: "26h", 50 * time.Hour: "50h",
	} {
		if got := human(d); got != want {
			t.Errorf("human(%s) = %q, want %q", d, got, want)
		}
	}
}

func TestThresholdWarnsEarlier(t *testing.T) {
	data := t.TempDir()
	plan := mustCompile(t, config(data, `
check "heartbeat" "backup" {
  within = "26h"
  threshold "age_seconds" {
    warn = 90000
  }
  assert {
    condition     = result.last_heartbeat != null
    error_message = "no heartbeat has come yet"
  }
}
`))
	ch, _ := plan.Check("heartbeat.backup")
	c := ch.Checker.(*Checker)
	clk := &clock{t: t0}
	c.now = clk.now
	// The assert makes a check strict from the start.
	if v := ch.Evaluate(run(c, time.Second), 0); v.Status != checks.StatusCritical || v.Error != "no heartbeat has come yet" {
		t.Errorf("before any heartbeat: %s %q", v.Status, v.Error)
	}
	if _, err := c.Beat(false, ""); err != nil {
		t.Fatal(err)
	}
	clk.add(25*time.Hour + time.Minute)
	if v := ch.Evaluate(run(c, time.Second), 0); v.Status != checks.StatusWarning {
		t.Errorf("after 25h: %s %q", v.Status, v.Error)
	}
	clk.add(time.Hour)
	if v := ch.Evaluate(run(c, time.Second), 0); v.Status != checks.StatusCritical {
		t.Errorf("after 26h: %s %q", v.Status, v.Error)
	}
}

func TestDeadlinePassed(t *testing.T) {
	c := checker(t, t.TempDir(), `  within = "1h"`, &clock{t: t0})
	wantCritical(t, c.Check(expired(t)), "timed out after 0s")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	wantCritical(t, c.Check(ctx), "canceled")
}

// Heartbeats and runs at once lose nothing: the last heartbeat is the one
// on disk, and the watching time is the first run's.
func TestConcurrent(t *testing.T) {
	data := t.TempDir()
	clk := &clock{t: t0}
	a := checker(t, data, `  within = "1h"`, clk)
	b := checker(t, data, `  within = "1h"`, clk) // as after a reload
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(2)
		go func() {
			defer wg.Done()
			if _, err := a.Beat(false, fmt.Sprint(i)); err != nil {
				t.Error(err)
			}
		}()
		go func() {
			defer wg.Done()
			if res := run(b, 5*time.Second); res.Verdict() != checks.StatusPassing {
				t.Error(res.Error)
			}
		}()
	}
	wg.Wait()
	rec, err := load(a.File(), a.Address())
	if err != nil || rec.Last.IsZero() || !rec.Watching.Equal(t0) {
		t.Errorf("%+v %v", rec, err)
	}
	if tmps, _ := filepath.Glob(filepath.Join(data, Dir, tmpPattern)); len(tmps) != 0 {
		t.Errorf("temporary files left: %v", tmps)
	}
}

func BenchmarkCheck(b *testing.B) {
	data := b.TempDir()
	c := mustCheck(b, config(data, "check \"heartbeat\" \"backup\" {\n  within = \"1h\"\n}\n"), "heartbeat.backup").Checker.(*Checker)
	if _, err := c.Beat(false, ""); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if res := c.Check(ctx); res.Error != "" {
			b.Fatal(res.Error)
		}
	}
}
