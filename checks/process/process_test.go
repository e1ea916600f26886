package processcheck

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/satellite-hq/satellite/checks"
	"github.com/zclconf/go-cty/cty"
)

func TestCountByName(t *testing.T) {
	name := unique(t, "satp", commLen)
	prog := program(t, "sleep", name)

	res := run(mustBuild(t, fmt.Sprintf("name = %q", name)))
	if res.Verdict() != checks.StatusCritical || res.Error != "0 processes match, expected at least 1" {
		t.Errorf("none running: %s %q", res.Verdict(), res.Error)
	}
	if got := pidsOf(t, res); len(got) != 0 || res.Metrics[MetricCount] != 0 || res.Detail != "" {
		t.Errorf("none running: pids %v, count %v, detail %q", got, res.Metrics[MetricCount], res.Detail)
	}

	pids := start(t, 3, prog, "60")
	slices.Sort(pids)

	res = run(mustBuild(t, fmt.Sprintf("name = %q", name)))
	if res.Verdict() != checks.StatusPassing || res.Metrics[MetricCount] != 3 || !slices.Equal(pidsOf(t, res), pids) {
		t.Fatalf("3 running: %s %q, count %v, pids %v want %v", res.Verdict(), res.Error, res.Metrics[MetricCount], pidsOf(t, res), pids)
	}

	res = run(mustBuild(t, fmt.Sprintf("name = %q\nmax = 2", name)))
	if res.Verdict() != checks.StatusCritical || res.Error != "3 processes match, expected at most 2" {
		t.Errorf("max 2: %s %q", res.Verdict(), res.Error)
	}
	if res.Detail != fmt.Sprintf("pids: %d, %d, %d", pids[0], pids[1], pids[2]) || res.Metrics[MetricCount] != 3 {
		t.Errorf("detail %q, count %v", res.Detail, res.Metrics[MetricCount])
	}

	res = run(mustBuild(t, fmt.Sprintf("name = %q\nmin = 4\nmax = 10", name)))
	if res.Verdict() != checks.StatusCritical || res.Error != "3 processes match, expected at least 4" {
		t.Errorf("min 4: %s %q", res.Verdict(), res.Error)
	}

	res = run(mustBuild(t, fmt.Sprintf("name = %q\nmin = 3\nmax = 3", name)))
	if res.Verdict() != checks.StatusPassing {
		t.Errorf("exactly 3: %s %q", res.Verdict(), res.Error)
	}

	// A prefix or a longer name is not the name.
	for _, other := range []string{name[:commLen-1], name + "x", strings.ToUpper(name)} {
		res = run(mustBuild(t, fmt.Sprintf("name = %q\nmin = 0\nmax = 0", other)))
		if res.Verdict() != checks.StatusPassing {
			t.Errorf("name %q matched: %q", other, res.Error)
		}
	}
}

func TestOneProcessWording(t *testing.T) {
	name := unique(t, "satp", 12)
	start(t, 1, program(t, "sleep", name), "60")
	res := run(mustBuild(t, fmt.Sprintf("name = %q\nmin = 2", name)))
	if res.Error != "1 process matches, expected at least 2" {
		t.Errorf("%q", res.Error)
	}
}

func TestLongName(t *testing.T) {
	// The kernel keeps 15 bytes of the name; the full name is checked
	// against the program.
	name := unique(t, "satellite-long-", 24)
	pids := start(t, 2, program(t, "sleep", name), "60")
	slices.Sort(pids)
	for _, n := range []string{name, name[:commLen]} {
		res := run(mustBuild(t, fmt.Sprintf("name = %q", n)))
		if res.Verdict() != checks.StatusPassing || !slices.Equal(pidsOf(t, res), pids) {
			t.Errorf("name %q: %s %q, pids %v", n, res.Verdict(), res.Error, pidsOf(t, res))
		}
	}
	// Same first 15 bytes, another program.
	res := run(mustBuild(t, fmt.Sprintf("name = %q\nmin = 0\nmax = 0", name[:commLen]+"zzzz")))
	if res.Verdict() != checks.StatusPassing {
		t.Errorf("another long name matched: %q", res.Error)
	}
}

func TestNameWithParentheses(t *testing.T) {
	// comm ends at the last ')' of /proc/PID/stat.
	name := ") S (" + unique(t, "sat", 9)
	pids := start(t, 1, program(t, "sleep", name), "60")
	res := run(mustBuild(t, fmt.Sprintf("name = %q", name)))
	if res.Verdict() != checks.StatusPassing || !slices.Equal(pidsOf(t, res), pids) {
		t.Errorf("%s %q, pids %v, want %v", res.Verdict(), res.Error, pidsOf(t, res), pids)
	}
}

func TestCountByPattern(t *testing.T) {
	// sleep with a unique argument: "sleep 1000.123456".
	arg := fmt.Sprintf("%d.%s", 1000+time.Now().UnixNano()%1000, unique(t, "", 6))
	arg = strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'f' {
			return r - 'a' + '0'
		}
		return r
	}, arg)
	pids := start(t, 2, "sleep", arg)
	slices.Sort(pids)

	for _, p := range []string{
		`^sleep ` + regexp.QuoteMeta(arg) + `$`,
		regexp.QuoteMeta(arg),
		`sleep\s+` + regexp.QuoteMeta(arg),
	} {
		res := run(mustBuild(t, fmt.Sprintf("pattern = %q", p)))
		if res.Verdict() != checks.StatusPassing || !slices.Equal(pidsOf(t, res), pids) {
			t.Errorf("pattern %s: %s %q, pids %v want %v", p, res.Verdict(), res.Error, pidsOf(t, res), pids)
		}
	}
	res := run(mustBuild(t, fmt.Sprintf("pattern = %q\nmax = 1", regexp.QuoteMeta(arg))))
	if res.Error != "2 processes match, expected at most 1" {
		t.Errorf("%q", res.Error)
	}
	// Arguments are joined by single spaces, and the name alone is not the line.
	res = run(mustBuild(t, fmt.Sprintf("pattern = %q\nmin = 0\nmax = 0", `^sleep$|sleep\x00|sleep  `+regexp.QuoteMeta(arg))))
	if res.Verdict() != checks.StatusPassing {
		t.Errorf("%q", res.Error)
	}
}

func TestDoesNotCountItself(t *testing.T) {
	// This test binary's command line and name match; it is not counted.
	self, err := os.ReadFile("/proc/self/comm")
	if err != nil {
		t.Fatal(err)
	}
	for _, body := range []string{
		fmt.Sprintf("pattern = %q", "^"+regexp.QuoteMeta(os.Args[0])+"( |$)"),
		fmt.Sprintf("name = %q", strings.TrimSpace(string(self))),
	} {
		res := run(mustBuild(t, body+"\nmin = 0"))
		if slices.Contains(pidsOf(t, res), os.Getpid()) {
			t.Errorf("%s: counted itself (pid %d) in %v", body, os.Getpid(), pidsOf(t, res))
		}
	}
}

func TestZombiesDoNotCount(t *testing.T) {
	name := unique(t, "satz", 12)
	prog := program(t, "true", name)
	cmd := exec.Command(prog)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Wait() })
	pid := cmd.Process.Pid
	// Not waited for: it stays a zombie until the cleanup.
	waitFor(t, func() bool {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		return strings.Contains(string(b), "("+name+") Z ")
	}, "pid %d to be a zombie", pid)

	for _, body := range []string{fmt.Sprintf("name = %q", name), fmt.Sprintf("pattern = %q", name)} {
		res := run(mustBuild(t, body))
		if res.Verdict() != checks.StatusCritical || res.Error != "0 processes match, expected at least 1" {
			t.Errorf("%s: %s %q (a zombie counted?)", body, res.Verdict(), res.Error)
		}
	}
}

func TestKernelThreads(t *testing.T) {
	// kthreadd (pid 2) has a name but no command line.
	if comm(2) != "kthreadd" {
		t.Skip("no kthreadd visible at pid 2 here")
	}
	res := run(mustBuild(t, `name = "kthreadd"`))
	if !slices.Contains(pidsOf(t, res), 2) {
		t.Errorf("kthreadd by name: %v %q", pidsOf(t, res), res.Error)
	}
	res = run(mustBuild(t, "pattern = \"kthreadd\"\nmin = 0"))
	if slices.Contains(pidsOf(t, res), 2) {
		t.Error("a kernel thread matched a pattern over its empty command line")
	}
}

func TestDeadlineAndCancel(t *testing.T) {
	c := mustBuild(t, `name = "init"`)
	ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Millisecond))
	defer cancel()
	res := c.Check(ctx)
	if res.Verdict() != checks.StatusCritical || res.Error != "scanning /proc: timed out after 0s" {
		t.Errorf("%s %q", res.Verdict(), res.Error)
	}
	if _, ok := res.Metrics[MetricCount]; ok {
		t.Error("a count after a timeout")
	}
	ctx, cancel = context.WithCancel(context.Background())
	cancel()
	if res := c.Check(ctx); res.Error != "scanning /proc: canceled" {
		t.Errorf("%q", res.Error)
	}

	// A scan cut short by the deadline stops at the next process.
	ctx, cancel = context.WithCancel(context.Background())
	cancel()
	if _, err := c.scan(ctx); err != context.Canceled {
		t.Errorf("scan after cancel: %v", err)
	}
}

func TestTimeoutDuringScan(t *testing.T) {
	// A proc root whose reads block (a FIFO where a cmdline would be): the
	// run must still end at its deadline.
	root := t.TempDir()
	if err := os.MkdirAll(root+"/4242", 0o755); err != nil {
		t.Fatal(err)
	}
	fifo := root + "/4242/cmdline"
	if err := mkfifo(fifo); err != nil {
		t.Skip("mkfifo:", err)
	}
	// Open the writer end at cleanup so the blocked reader goroutine ends.
	t.Cleanup(func() {
		if f, err := os.OpenFile(fifo, os.O_WRONLY, 0); err == nil {
			_ = f.Close()
		}
	})
	c := mustBuild(t, `pattern = "x"`)
	c.procRoot = root
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	begin := time.Now()
	res := c.Check(ctx)
	if took := time.Since(begin); took > time.Second {
		t.Errorf("returned after %s", took)
	}
	if res.Verdict() != checks.StatusCritical || !strings.HasPrefix(res.Error, "scanning "+root+": timed out after ") {
		t.Errorf("%s %q", res.Verdict(), res.Error)
	}
}

func TestMissingProcRoot(t *testing.T) {
	c := mustBuild(t, `name = "x"`)
	c.procRoot = "/nonexistent/proc"
	if res := run(c); res.Verdict() != checks.StatusCritical || !strings.Contains(res.Error, "/nonexistent/proc") {
		t.Errorf("%s %q", res.Verdict(), res.Error)
	}
}

func TestBuildDiagnostics(t *testing.T) {
	tests := []struct {
		body, summary, detail string
		line                  int
		subject               string
	}{
		{`name = "a"` + "\n" + `pattern = "b"`, "Both name and pattern", "not both", 3, `"b"`},
		{`min = 1`, "Missing name or pattern", "needs name", 1, `check "process" "t"`},
		{`name = ""`, "Empty process name", "ps -o comm", 2, `""`},
		{`pattern = ""`, "Empty pattern", "matches every process", 2, `""`},
		{`pattern = "java (-jar"`, "Invalid regular expression", "missing closing )", 2, `"java (-jar"`},
		{`pattern = "a**"`, "Invalid regular expression", "invalid nested repetition operator", 2, `"a**"`},
		{`name = "x"` + "\n" + `min = -1`, "Negative minimum", "cannot be negative (-1)", 3, `-1`},
		{`name = "x"` + "\n" + `min = 1.5`, "Invalid number", "whole number", 3, `1.5`},
		{`name = "x"` + "\n" + `max = -2`, "Negative maximum", "cannot be negative (-2)", 3, `-2`},
		{`name = "x"` + "\n" + `min = 3` + "\n" + `max = 2`, "Maximum below minimum", "max (2) is less than min (3)", 4, `2`},
		{`name = "x"` + "\n" + `max = 0`, "Maximum below minimum", "less than the default min (1)", 3, `0`},
	}
	for _, tt := range tests {
		t.Run(tt.summary, func(t *testing.T) {
			c, diags, src := build(t, tt.body)
			if c != nil || len(diags) != 1 || !diags.HasErrors() {
				t.Fatalf("checker %v, diags %s; want one error", c, diags)
			}
			d := diags[0]
			if d.Summary != tt.summary || !strings.Contains(d.Detail, tt.detail) || !strings.HasSuffix(d.Detail, ".") {
				t.Errorf("diagnostic %q: %q; want %q containing %q", d.Summary, d.Detail, tt.summary, tt.detail)
			}
			if d.Subject == nil || d.Subject.Start.Line != tt.line || src[d.Subject.Start.Byte:d.Subject.End.Byte] != tt.subject {
				t.Errorf("subject %v, want %s on line %d", d.Subject, tt.subject, tt.line)
			}
		})
	}
	// Wrong types are hcldec's, on the attribute.
	if _, diags, _ := build(t, "name = \"x\"\nmin = \"two\""); !diags.HasErrors() || diags[0].Subject.Start.Line != 3 {
		t.Errorf("min = \"two\": %s", diags)
	}
}

func TestBuildValid(t *testing.T) {
	c := mustBuild(t, `name = "nginx"`)
	if c.name != "nginx" || c.pattern != nil || c.min != 1 || c.hasMax || c.procRoot != "/proc" {
		t.Errorf("defaults: %+v", c)
	}
	c = mustBuild(t, "pattern = \"^/usr/bin/kubelet\"\nmin = 0\nmax = 0")
	if c.pattern.String() != "^/usr/bin/kubelet" || c.min != 0 || !c.hasMax || c.max != 0 {
		t.Errorf("%+v", c)
	}
	mustBuild(t, "name = \"x\"\nmin = 2\nmax = 2")
}

func TestBuildUnknown(t *testing.T) {
	ctx := &hcl.EvalContext{Variables: map[string]cty.Value{"var": cty.ObjectVal(map[string]cty.Value{
		"s": cty.UnknownVal(cty.String), "n": cty.UnknownVal(cty.Number),
	})}}
	for _, body := range []string{
		`name = var.s`, `pattern = var.s`,
		"name = \"x\"\nmin = var.n", "name = \"x\"\nmax = var.n",
		"name = \"x\"\nmin = var.n\nmax = 0",
	} {
		d := decodeChecks(t, "check \"process\" \"t\" {\n"+body+"\n}\n", ctx)[0]
		if c, diags := registration(t).Build(d.val, d.env); c != nil || len(diags) > 0 {
			t.Errorf("%s: checker %v, diags %s; want neither", body, c, diags)
		}
	}
	if c, diags := registration(t).Build(cty.UnknownVal(hcldec.ImpliedType(Spec)), checks.Env{}); c != nil || len(diags) > 0 {
		t.Errorf("a wholly unknown body: checker %v, diags %s", c, diags)
	}
	// What is known is still checked.
	d := decodeChecks(t, "check \"process\" \"t\" {\nname = var.s\nmin = -1\n}\n", ctx)[0]
	if _, diags := registration(t).Build(d.val, d.env); len(diags) != 1 || diags[0].Summary != "Negative minimum" {
		t.Errorf("diags %s", diags)
	}
}

func TestSampleBuilds(t *testing.T) {
	reg := registration(t)
	if reg.Doc == "" || !reg.HasMetric(MetricCount) || reg.Result["pids"] != cty.List(cty.Number) {
		t.Fatalf("registration: %+v", reg)
	}
	ds := decodeChecks(t, reg.Sample, nil)
	if len(ds) == 0 {
		t.Fatal("the sample has no check block")
	}
	for _, d := range ds {
		if c, diags := reg.Build(d.val, d.env); c == nil || len(diags) > 0 {
			t.Errorf("sample at %s: checker %v, diags %s", d.env.Block, c, diags)
		}
	}
}

func TestDetailIsCapped(t *testing.T) {
	pids := make([]int, 25)
	for i := range pids {
		pids[i] = 100 + i
	}
	if d := detail(pids); !strings.HasSuffix(d, "119 and 5 more") {
		t.Errorf("%q", d)
	}
}

// cpuTime returns the user and system CPU time of who.
func cpuTime(who int) time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(who, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkCheck measures one run over this machine's /proc; the cost grows
// with the number of processes (one or two small reads each).
func BenchmarkCheck(b *testing.B) {
	for _, tc := range []struct{ name, body string }{
		{"name", "name = \"satellite-none\"\nmin = 0"},
		{"pattern", "pattern = \"^satellite-none \"\nmin = 0"},
	} {
		b.Run(tc.name, func(b *testing.B) {
			c := mustBuild(b, tc.body)
			ctx := context.Background()
			b.ReportAllocs()
			cpu0 := cpuTime(syscall.RUSAGE_SELF)
			for b.Loop() {
				if res := c.Check(ctx); res.Verdict() != checks.StatusPassing {
					b.Fatal(res.Error)
				}
			}
			// CPU time is steadier than wall time on a busy machine.
			b.ReportMetric(float64(cpuTime(syscall.RUSAGE_SELF)-cpu0)/float64(b.N), "cpu-ns/op")
		})
	}
}
