package filecheck

import (
	"bytes"
	"context"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/zclconf/go-cty/cty"

	"github.com/satellite-hq/satellite/checks"
)

func build(t testing.TB, body string) *Checker {
	t.Helper()
	return mustCheck(t, "check \"file\" \"t\" {\n"+body+"\n}\n", "file.t").Checker.(*Checker)
}

// writeFile writes a file with exactly the given mode, modified age ago.
func writeFile(t testing.TB, content string, mode os.FileMode, age time.Duration) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
	if age != 0 {
		when := time.Now().Add(-age)
		if err := os.Chtimes(path, when, when); err != nil {
			t.Fatal(err)
		}
	}
	return path
}

func wantAttrs(t *testing.T, res checks.Result, exists cty.Value, mode string) {
	t.Helper()
	if got := res.Attrs["exists"]; got != exists && !(got == cty.NilVal && exists.IsNull()) {
		t.Errorf("result.exists %#v, want %#v", got, exists)
	}
	got, ok := res.Attrs["mode"]
	switch {
	case mode == "" && ok:
		t.Errorf("result.mode %#v, want none", got)
	case mode != "" && (!ok || got.AsString() != mode):
		t.Errorf("result.mode %#v, want %q", got, mode)
	}
}

func TestFreshFileMatches(t *testing.T) {
	path := writeFile(t, "server: https://10.0.0.1:6443\n", 0o644, 0)
	res := run(build(t, "path = "+strconv.Quote(path)+"\nmax_age = \"1h\"\ncontains = \"server: https://[0-9.]+:6443\""), 5*time.Second)
	wantPassing(t, res)
	wantAttrs(t, res, cty.True, "0644")
	if res.Metrics[MetricSizeBytes] != 30 {
		t.Errorf("size_bytes %v", res.Metrics[MetricSizeBytes])
	}
	if age := res.Metrics[MetricAgeSeconds]; age < 0 || age > 5 {
		t.Errorf("age_seconds %v of a file just written", age)
	}
}

func TestTooOld(t *testing.T) {
	path := writeFile(t, "x", 0o600, 2*time.Hour)
	res := run(build(t, "path = "+strconv.Quote(path)+"\nmax_age = 3600"), 5*time.Second)
	wantCritical(t, res, path+" was last modified 2h0m0s ago, longer than max_age 1h0m0s")
	if age := res.Metrics[MetricAgeSeconds]; math.Abs(age-7200) > 5 {
		t.Errorf("age_seconds %v, want about 7200", age)
	}
	wantAttrs(t, res, cty.True, "0600")

	// Younger than max_age: passing.
	wantPassing(t, run(build(t, "path = "+strconv.Quote(path)+"\nmax_age = \"3h\""), 5*time.Second))
}

func TestContentDoesNotMatch(t *testing.T) {
	path := writeFile(t, "server: http://10.0.0.1\n", 0o600, 0)
	res := run(build(t, "path = "+strconv.Quote(path)+"\ncontains = \"https://\""), 5*time.Second)
	wantCritical(t, res, path+` does not match contains "https://"`)
	if strings.Contains(res.Error, "1 MiB") {
		t.Error("a small file said to be cut")
	}
	if res.Metrics[MetricSizeBytes] != 24 {
		t.Errorf("metrics %v on a failed match", res.Metrics)
	}

	// (?m) makes ^ and $ match at line boundaries.
	wantPassing(t, run(build(t, "path = "+strconv.Quote(path)+"\ncontains = \"(?m)^server: http://10\\\\.0\\\\.0\\\\.1$\""), 5*time.Second))
}

func TestEveryProblemListed(t *testing.T) {
	path := writeFile(t, "nothing", 0o600, 48*time.Hour)
	res := run(build(t, "path = "+strconv.Quote(path)+"\nmax_age = \"1h\"\ncontains = \"something\""), 5*time.Second)
	wantCritical(t, res, "was last modified 48h0m0s ago", "; ", `does not match contains "something"`)
}

func TestMissing(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nope")
	res := run(build(t, "path = "+strconv.Quote(missing)+"\ncontains = \"x\""), 5*time.Second)
	wantCritical(t, res, missing+" does not exist")
	wantAttrs(t, res, cty.False, "")
	if len(res.Metrics) != 0 {
		t.Errorf("metrics %v for a missing file", res.Metrics)
	}

	// A part of the path is a file: the same answer.
	file := writeFile(t, "", 0o600, 0)
	wantCritical(t, run(build(t, "path = "+strconv.Quote(file+"/x")), 5*time.Second), file+"/x does not exist")

	// A dangling symbolic link: the target is what counts.
	link := filepath.Join(t.TempDir(), "link")
	if err := os.Symlink(missing, link); err != nil {
		t.Fatal(err)
	}
	wantCritical(t, run(build(t, "path = "+strconv.Quote(link)), 5*time.Second), link+" does not exist")
}

func TestMustBeAbsent(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "maintenance")
	c := build(t, "path = "+strconv.Quote(missing)+"\nexists = false")
	res := run(c, 5*time.Second)
	wantPassing(t, res)
	wantAttrs(t, res, cty.False, "")

	if err := os.WriteFile(missing, []byte("on"), 0o644); err != nil {
		t.Fatal(err)
	}
	res = run(c, 5*time.Second)
	wantCritical(t, res, missing+" exists; it must be absent (exists = false)")
	wantAttrs(t, res, cty.True, "0644")
	if res.Metrics[MetricSizeBytes] != 2 {
		t.Errorf("metrics %v", res.Metrics)
	}
}

func TestModes(t *testing.T) {
	for _, tt := range []struct {
		mode os.FileMode
		want string
	}{
		{0o600, "0600"},
		{0o755 | os.ModeSetuid, "4755"},
		{0o2750&^0o2000 | os.ModeSetgid, "2750"},
		{0o000, "0000"},
	} {
		path := writeFile(t, "", tt.mode, 0)
		res := run(build(t, "path = "+strconv.Quote(path)), 5*time.Second)
		wantPassing(t, res)
		wantAttrs(t, res, cty.True, tt.want)
	}

	dir := t.TempDir()
	if err := os.Chmod(dir, 0o777|os.ModeSticky); err != nil {
		t.Fatal(err)
	}
	res := run(build(t, "path = "+strconv.Quote(dir)), 5*time.Second)
	wantPassing(t, res)
	wantAttrs(t, res, cty.True, "1777")

	// A symbolic link reports its target's mode.
	target := writeFile(t, "", 0o640, 0)
	link := filepath.Join(t.TempDir(), "link")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	wantAttrs(t, run(build(t, "path = "+strconv.Quote(link)), 5*time.Second), cty.True, "0640")
}

func TestContainsNeedsARegularFile(t *testing.T) {
	dir := t.TempDir()
	wantCritical(t, run(build(t, "path = "+strconv.Quote(dir)+"\ncontains = \"x\""), 5*time.Second), dir+" is a directory; contains needs a regular file")

	// Opening a FIFO for reading would block until a writer came: the check
	// must not open it.
	fifo := filepath.Join(t.TempDir(), "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	wantCritical(t, run(build(t, "path = "+strconv.Quote(fifo)+"\ncontains = \"x\""), 2*time.Second), fifo+" is a named pipe")
	if took := time.Since(start); took > time.Second {
		t.Errorf("took %s on a FIFO", took)
	}
	// Without contains, a FIFO is just a file that exists.
	wantPassing(t, run(build(t, "path = "+strconv.Quote(fifo)), 2*time.Second))

	wantCritical(t, run(build(t, "path = \"/dev/null\"\ncontains = \"x\""), 2*time.Second), "/dev/null is a character device")
}

func TestFirstMiBOnly(t *testing.T) {
	big := bytes.Repeat([]byte("a"), MaxContent+100)
	copy(big[MaxContent-10:], "NEEDLE-IN")     // ends inside the first MiB
	copy(big[MaxContent+10:], "NEEDLE-BEYOND") // starts after it
	path := filepath.Join(t.TempDir(), "big")
	if err := os.WriteFile(path, big, 0o600); err != nil {
		t.Fatal(err)
	}
	wantPassing(t, run(build(t, "path = "+strconv.Quote(path)+"\ncontains = \"NEEDLE-IN\""), 5*time.Second))
	res := run(build(t, "path = "+strconv.Quote(path)+"\ncontains = \"NEEDLE-BEYOND\""), 5*time.Second)
	wantCritical(t, res, `does not match contains "NEEDLE-BEYOND" in its first 1 MiB`)
	if res.Metrics[MetricSizeBytes] != float64(len(big)) {
		t.Errorf("size_bytes %v", res.Metrics[MetricSizeBytes])
	}
}

func TestRequiredLiteral(t *testing.T) {
	for expr, want := range map[string]string{
		"server: https://":          "server: https://",
		"(?m)^\\s*server: https://": "server: https://",
		"(?m)^server:\\s+https?://": "server:",
		"foo\\d+barbaz":             "barbaz",
		"(?:abc)+d":                 "abc",
		"(abcd){2,}x":               "abcd",
		"a|b":                       "",
		"(?i)server":                "",
		"x*":                        "",
		"(?:abc)?d":                 "d",
		"\uFFFD":                    "",
		"(?s).*":                    "",
		"héllo":                     "héllo",
	} {
		if got := string(requiredLiteral(expr)); got != want {
			t.Errorf("requiredLiteral(%q) = %q, want %q", expr, got, want)
		}
	}

	// The shortcut never changes the answer.
	inputs := []string{"", "server: https://x", "  server:  http://", "SERVER: https://", "abcabcd", "d", "\xff\xfe", "abc\nserver: https://\n", "foo12barbaz", "héllo wörld"}
	for _, expr := range []string{"server: https://", "(?m)^\\s*server: https?://", "(?:abc)+d", "foo\\d+barbaz", "(?i)server", "\uFFFD", "^$", "héllo", "(?m)^d$"} {
		c := &Checker{contains: regexp.MustCompile(expr), mustHave: requiredLiteral(expr)}
		for _, in := range inputs {
			if got, want := c.matches([]byte(in)), c.contains.MatchString(in); got != want {
				t.Errorf("%q on %q: %v, regexp says %v", expr, in, got, want)
			}
		}
	}
}

func TestProcFile(t *testing.T) {
	// /proc files have size 0 and content all the same.
	res := run(build(t, "path = \"/proc/sys/kernel/ostype\"\ncontains = \"^Linux\\n$\""), 5*time.Second)
	wantPassing(t, res)
}

func TestStatError(t *testing.T) {
	long := filepath.Join(t.TempDir(), strings.Repeat("x", 300))
	res := run(build(t, "path = "+strconv.Quote(long)), 5*time.Second)
	wantCritical(t, res, "stat ", "file name too long")
	if _, ok := res.Attrs["exists"]; ok {
		t.Error("result.exists set when it is not known")
	}
}

func TestDeadlinePassed(t *testing.T) {
	path := writeFile(t, "x", 0o600, 0)
	start := time.Now()
	wantCritical(t, build(t, "path = "+strconv.Quote(path)).Check(expired(t)), path+": timed out after 0s")
	if took := time.Since(start); took > 100*time.Millisecond {
		t.Errorf("took %s with an expired context", took)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	wantCritical(t, build(t, "path = "+strconv.Quote(path)).Check(ctx), path+": canceled")
}

// A stat that never returns, as on an NFS mount whose server is gone. No NFS
// or FUSE server can run here, so the file system work is replaced by a
// function that blocks until the test releases it.
func TestHungFileSystem(t *testing.T) {
	path := writeFile(t, "x", 0o600, 0)
	c := build(t, "path = "+strconv.Quote(path))
	release := make(chan struct{})
	var calls atomic.Int32
	c.probe = func() finding {
		calls.Add(1)
		<-release
		return c.look()
	}

	start := time.Now()
	res := run(c, 100*time.Millisecond)
	if took := time.Since(start); took > time.Second {
		t.Errorf("returned after %s with a 100ms deadline", took)
	}
	wantCritical(t, res, path+": timed out after 100ms")
	for range 3 {
		wantCritical(t, run(c, 100*time.Millisecond), path+": the call made ", "ago by a run that timed out has not returned yet")
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("%d calls while the first one hung", n)
	}

	close(release)
	deadline := time.Now().Add(5 * time.Second)
	for {
		res = run(c, time.Second)
		if res.Error == "" || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Millisecond)
	}
	wantPassing(t, res)
}

func TestAssertsAndThresholds(t *testing.T) {
	path := writeFile(t, "x", 0o644, 2*time.Hour)
	plan := mustCompile(t, `
locals { path = `+strconv.Quote(path)+` }
check "file" "mode" {
  path = local.path
  assert {
    condition     = result.mode == "0600"
    error_message = "mode is ${result.mode}"
  }
}
check "file" "exists" {
  path = local.path
  assert {
    condition     = result.exists && result.size_bytes == 1
    error_message = "no"
  }
}
check "file" "age" {
  path = local.path
  threshold "age_seconds" {
    warn = 3600
    crit = 86400
  }
}
`)
	for addr, want := range map[string]struct {
		status checks.Status
		msg    string
	}{
		"file.mode":   {checks.StatusCritical, "mode is 0644"},
		"file.exists": {checks.StatusPassing, ""},
		"file.age":    {checks.StatusWarning, "age_seconds"},
	} {
		c, _ := plan.Check(addr)
		v := c.Evaluate(run(c.Checker, 5*time.Second), 0)
		if v.Status != want.status || !strings.Contains(v.Error, want.msg) {
			t.Errorf("%s: %s %q, want %s with %q", addr, v.Status, v.Error, want.status, want.msg)
		}
	}
}

func TestBuildDiagnostics(t *testing.T) {
	tests := []struct{ name, body, summary, detail string }{
		{"empty path", `path = "" # <-`, "Empty path", "kubelet.conf"},
		{"nul", `path = "/a\u0000b" # <-`, "Invalid path", "NUL"},
		{"missing path", "", "Missing required argument", "path"},
		{"max_age word", "path = \"/x\"\nmax_age = \"a day\" # <-", "Invalid duration", `"a day" is not a duration`},
		{"max_age negative", "path = \"/x\"\nmax_age = \"-1h\" # <-", "Invalid duration", "negative"},
		{"max_age zero", "path = \"/x\"\nmax_age = 0 # <-", "Invalid max_age", "longer than 0"},
		{"max_age bool", "path = \"/x\"\nmax_age = true # <-", "Invalid duration", "not bool"},
		{"regexp", "path = \"/x\"\ncontains = \"server: (https\" # <-", "Invalid regular expression", "missing closing )"},
		{"regexp perl", "path = \"/x\"\ncontains = \"(?<=a)b\" # <-", "Invalid regular expression", "RE2"},
		{"absent and age", "path = \"/x\"\nexists = false\nmax_age = \"1h\" # <-", "Conflicting arguments", "exists = false"},
		{"absent and content", "path = \"/x\"\ncontains = \"a\" # <-\nexists = false", "Conflicting arguments", "contains cannot hold"},
		{"exists word", "path = \"/x\"\nexists = \"maybe\" # <-", "Incorrect attribute value type", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := "check \"file\" \"t\" {\n" + tt.body + "\n}\n"
			if tt.name == "missing path" {
				// hcldec reports a missing required argument at the block's
				// opening brace; mark that line.
				src = "check \"file\" \"t\" { # <-\nmax_age = \"1h\"\n}\n"
			}
			_, diags := compile(t, src, false)
			wantDiag(t, src, diags, tt.summary, tt.detail)
		})
	}
}

func TestBuildUnknown(t *testing.T) {
	plan, diags := compile(t, `
check "file" "a" {
  path = env("CONF")
}
check "file" "b" {
  path     = "/etc/hosts"
  contains = env("PATTERN")
  max_age  = "x" # still checked
}
`, true)
	if len(diags) != 1 || diags[0].Summary != "Invalid duration" {
		t.Fatalf("diags %s; want only the bad max_age", diags)
	}
	if c, _ := plan.Check("file.a"); c.Checker != nil {
		t.Error("a checker for an unknown path")
	}
	if c, diags := Build(cty.UnknownVal(cty.DynamicPseudoType), checks.Env{}); c != nil || len(diags) > 0 {
		t.Errorf("wholly unknown body: %v, %s", c, diags)
	}
}

func TestRelativePathFromConfigFolder(t *testing.T) {
	cfg := cty.ObjectVal(map[string]cty.Value{
		"path": cty.StringVal("stamp"), "max_age": cty.NullVal(cty.DynamicPseudoType),
		"contains": cty.NullVal(cty.String), "exists": cty.NullVal(cty.Bool),
	})
	c, diags := Build(cfg, checks.Env{BaseDir: "/etc/satellite"})
	if len(diags) > 0 {
		t.Fatal(diags)
	}
	if p := c.(*Checker).path; p != "/etc/satellite/stamp" {
		t.Errorf("path %q", p)
	}
}

// BenchmarkCheck: the cost of one run. "stat" and "contains-4KiB" are the
// usual checks (a stamp file's age; a pattern in a config file, found on its
// last line). The 1 MiB cases show what a big file costs: reading it when the
// pattern's literal (" https://") is absent, and Go's regexp over all of it
// when the literal ("line") is on every line but the pattern matches none.
func BenchmarkCheck(b *testing.B) {
	ctx := context.Background()
	small := writeFile(b, strings.Repeat("line of a config file\n", 200)+"server: https://10.0.0.1:6443\n", 0o600, 0)
	big := writeFile(b, strings.Repeat("line of a log file that goes on\n", MaxContent/32), 0o600, 0)
	for _, bm := range []struct {
		name, body string
		passes     bool
	}{
		{"stat", "path = " + strconv.Quote(small) + "\nmax_age = \"1h\"", true},
		{"contains-4KiB", "path = " + strconv.Quote(small) + "\ncontains = \"(?m)^\\\\s*server: https://\"", true},
		{"contains-1MiB-literal-absent", "path = " + strconv.Quote(big) + "\ncontains = \"(?m)^\\\\s*server: https://\"", false},
		{"contains-1MiB-regexp", "path = " + strconv.Quote(big) + "\ncontains = \"(?m)^line(?: [a-z]+)+ off$\"", false},
	} {
		b.Run(bm.name, func(b *testing.B) {
			c := build(b, bm.body)
			if res := c.Check(ctx); (res.Error == "") != bm.passes {
				b.Fatalf("passing %v, error %q", !bm.passes, res.Error)
			}
			b.ReportAllocs()
			for b.Loop() {
				c.Check(ctx)
			}
		})
	}
}
