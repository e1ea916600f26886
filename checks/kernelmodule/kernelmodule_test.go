package kernelmodulecheck

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/satellite-hq/satellite/checks"
	_ "github.com/satellite-hq/satellite/checks/sysctl" // the doc page's example uses it
)

// build compiles a kernel_module check with the given names.
func build(t testing.TB, names ...string) *Checker {
	t.Helper()
	quoted := make([]string, len(names))
	for i, n := range names {
		quoted[i] = strconv.Quote(n)
	}
	src := "check \"kernel_module\" \"t\" {\n  modules = [" + strings.Join(quoted, ", ") + "]\n}\n"
	return mustCheck(t, src, "kernel_module.t").Checker.(*Checker)
}

// loadedHere returns up to n modules this machine lists in /sys/module,
// those with "_" in the name first (to test that "-" finds them).
func loadedHere(t testing.TB, n int) []string {
	t.Helper()
	entries, err := os.ReadDir(SysModule)
	if err != nil || len(entries) == 0 {
		t.Skipf("no %s here: %v", SysModule, err)
	}
	var names []string
	for _, e := range entries {
		if e.IsDir() {
			names = append(names, e.Name())
		}
	}
	slices.SortStableFunc(names, func(a, b string) int {
		return strings.Count(b, "_") - strings.Count(a, "_")
	})
	return names[:min(n, len(names))]
}

func wantMissing(t *testing.T, res checks.Result, want ...string) {
	t.Helper()
	got := res.Attrs["missing"]
	if got == cty.NilVal || !got.Type().Equals(cty.List(cty.String)) {
		t.Fatalf("result.missing %#v", got)
	}
	var names []string
	for it := got.ElementIterator(); it.Next(); {
		_, v := it.Element()
		names = append(names, v.AsString())
	}
	if !slices.Equal(names, want) {
		t.Errorf("result.missing %q, want %q", names, want)
	}
}

func TestRealModules(t *testing.T) {
	names := loadedHere(t, 3)
	t.Logf("/proc/modules here: %v", func() bool { _, err := os.Stat(ProcModules); return err == nil }())
	// Written with "-": the same module.
	names[0] = strings.ReplaceAll(names[0], "_", "-")
	res := run(build(t, names...), 5*time.Second)
	wantPassing(t, res)
	wantMissing(t, res)
}

func TestRealMissing(t *testing.T) {
	names := loadedHere(t, 1)
	res := run(build(t, "satellite_no_such_module", names[0], "satellite-nor-this"), 5*time.Second)
	wantCritical(t, res, "not loaded: satellite_no_such_module, satellite-nor-this")
	wantMissing(t, res, "satellite_no_such_module", "satellite-nor-this")
}

// fake makes a /proc/modules (unless procModules is "-") and a /sys/module
// with the given directories (unless sys is nil).
func fake(t *testing.T, c *Checker, procModules string, sys []string) {
	t.Helper()
	dir := t.TempDir()
	c.procModules = filepath.Join(dir, "modules")
	c.sysModule = filepath.Join(dir, "sys", "module")
	if procModules != "-" {
		if err := os.WriteFile(c.procModules, []byte(procModules), 0o444); err != nil {
			t.Fatal(err)
		}
	}
	if sys != nil {
		if err := os.MkdirAll(c.sysModule, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, m := range sys {
			if err := os.Mkdir(filepath.Join(c.sysModule, m), 0o755); err != nil {
				t.Fatal(err)
			}
		}
	}
}

const procModules = `br_netfilter 32768 0 - Live 0x0000000000000000
bridge 311296 1 br_netfilter, Live 0x0000000000000000
ip_vs_rr 12288 1 - Live 0x0000000000000000 (E)
overlay 151552 0 - Live 0x0000000000000000
`

func TestFakeTrees(t *testing.T) {
	// Both: loaded modules from /proc/modules, built-in ones from /sys/module.
	c := build(t, "br-netfilter", "ip_vs_rr", "nf_conntrack", "vxlan", "unix")
	fake(t, c, procModules, []string{"br_netfilter", "bridge", "unix", "nf_conntrack"})
	res := run(c, time.Second)
	wantCritical(t, res, "not loaded: vxlan")
	wantMissing(t, res, "vxlan")

	// No /proc/modules (a kernel built without module support): /sys/module alone.
	c = build(t, "unix", "overlay")
	fake(t, c, "-", []string{"unix", "overlay"})
	wantPassing(t, run(c, time.Second))
	c = build(t, "unix", "overlay", "br_netfilter")
	fake(t, c, "-", []string{"unix"})
	wantCritical(t, run(c, time.Second), "not loaded: overlay, br_netfilter")

	// No /sys/module (sysfs not mounted in a container): /proc/modules alone.
	c = build(t, "overlay", "vxlan")
	fake(t, c, procModules, nil)
	wantCritical(t, run(c, time.Second), "not loaded: vxlan")
	c = build(t, "overlay")
	fake(t, c, procModules, nil)
	wantPassing(t, run(c, time.Second))

	// Neither.
	c = build(t, "overlay")
	fake(t, c, "-", nil)
	wantCritical(t, run(c, time.Second), "cannot tell which kernel modules are loaded: neither ", "/modules nor ", "/sys/module exists")

	// An empty /proc/modules is a kernel with no module loaded.
	c = build(t, "overlay")
	fake(t, c, "", []string{})
	wantCritical(t, run(c, time.Second), "not loaded: overlay")

	// A file, not a directory, in /sys/module does not count.
	c = build(t, "overlay")
	fake(t, c, "-", []string{})
	if err := os.WriteFile(filepath.Join(c.sysModule, "overlay"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	wantCritical(t, run(c, time.Second), "not loaded: overlay")
}

func TestBadProcModules(t *testing.T) {
	for name, tt := range map[string]struct{ content, err string }{
		"garbage":  {"this is not\n", `line 1 is not a module line: "this is not"`},
		"one word": {"overlay 151552 0 - Live 0x0\nbroken\n", `line 2 is not a module line: "broken"`},
		"size":     {"overlay big 0 - Live 0x0\n", `line 1 is not a module line: "overlay big 0 - Live 0x0"`},
		"binary":   {"\x00\x01\x02 1 2\n", "line 1 is not a module line"},
		"long":     {strings.Repeat("x", 100) + "\n", `xxx"...`},
		"huge":     {strings.Repeat("x", maxProcModules+1), "larger than 1 MiB; it is not the kernel's module list"},
	} {
		t.Run(name, func(t *testing.T) {
			c := build(t, "overlay")
			fake(t, c, tt.content, []string{"overlay"})
			res := run(c, time.Second)
			wantCritical(t, res, tt.err)
			if res.Attrs != nil {
				t.Errorf("attrs %v after an unreadable list", res.Attrs)
			}
		})
	}

	c := build(t, "overlay")
	fake(t, c, "-", []string{"overlay"})
	if err := os.Mkdir(c.procModules, 0o755); err != nil {
		t.Fatal(err)
	}
	wantCritical(t, run(c, time.Second), "modules is a directory, not the kernel's module list")
}

func TestDeadlinePassed(t *testing.T) {
	c := build(t, "overlay")
	start := time.Now()
	wantCritical(t, c.Check(expired(t)), "look for kernel modules: timed out after 0s")
	if took := time.Since(start); took > 100*time.Millisecond {
		t.Errorf("took %s with an expired context", took)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	wantCritical(t, c.Check(ctx), "canceled")
}

func TestAssertOnMissing(t *testing.T) {
	names := loadedHere(t, 1)
	plan := mustCompile(t, `
check "kernel_module" "m" {
  modules = [`+strconv.Quote(names[0])+`]
  assert {
    condition     = length(result.missing) == 0
    error_message = "missing ${join(", ", result.missing)}"
  }
}
`)
	c, _ := plan.Check("kernel_module.m")
	if v := c.Evaluate(run(c.Checker, 5*time.Second), 0); v.Status != checks.StatusPassing {
		t.Errorf("%s %q", v.Status, v.Error)
	}
}

func TestBuildDiagnostics(t *testing.T) {
	tests := []struct{ name, body, summary, detail string }{
		{"empty list", "modules = [] # <-", "Empty modules", "at least one"},
		{"space", "modules = [\n  \"overlay\",\n  \"br netfilter\", # <-\n]", "Invalid module name", `"br netfilter" contains ' '`},
		{"slash", "modules = [\"overlay\", \"../x\"] # <-", "Invalid module name", `contains '.'`},
		{"empty name", "modules = [\n  \"\", # <-\n  \"overlay\",\n]", "Invalid module name", "is empty"},
		{"null", "modules = [\n  \"overlay\",\n  null, # <-\n]", "Invalid module name", "null"},
		{"string", `modules = "overlay" # <-`, "Incorrect attribute value type", ""},
		{"object", `modules = { a = 1 } # <-`, "Incorrect attribute value type", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := "check \"kernel_module\" \"t\" {\n" + tt.body + "\n}\n"
			_, diags := compile(t, src, false)
			wantDiag(t, src, diags, tt.summary, tt.detail)
		})
	}

	src := "check \"kernel_module\" \"t\" { # <-\n}\n"
	_, diags := compile(t, src, false)
	wantDiag(t, src, diags, "Missing required argument", "modules")
}

func TestDuplicateWarns(t *testing.T) {
	src := "check \"kernel_module\" \"t\" {\n  modules = [\n    \"br_netfilter\",\n    \"br-netfilter\",\n  ]\n}\n"
	plan, diags := compile(t, src, false)
	if len(diags) != 1 || diags[0].Severity != hcl.DiagWarning || diags[0].Summary != "Duplicate module" || diags[0].Subject.Start.Line != 4 {
		t.Fatalf("diags %s; want one warning on line 4", diags)
	}
	c, _ := plan.Check("kernel_module.t")
	if m := c.Checker.(*Checker).modules; len(m) != 1 {
		t.Errorf("modules %v", m)
	}
}

func TestBuildUnknown(t *testing.T) {
	plan, diags := compile(t, `
check "kernel_module" "a" {
  modules = [env("MODULE")]
}
check "kernel_module" "b" {
  modules = [env("MODULE"), "bad name"]
}
check "kernel_module" "c" {
  modules = split(",", env("MODULES"))
}
`, true)
	if len(diags) != 1 || diags[0].Summary != "Invalid module name" || diags[0].Subject.Start.Line != 6 {
		t.Fatalf("diags %s; want only the bad name, on line 6", diags)
	}
	for _, addr := range []string{"kernel_module.a", "kernel_module.c"} {
		if c, _ := plan.Check(addr); c.Checker != nil {
			t.Errorf("%s: a checker with unknown modules", addr)
		}
	}
	if c, diags := Build(cty.UnknownVal(cty.DynamicPseudoType), checks.Env{}); c != nil || len(diags) > 0 {
		t.Errorf("wholly unknown body: %v, %s", c, diags)
	}
}

func BenchmarkCheck(b *testing.B) {
	c := build(b, loadedHere(b, 3)...)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if res := c.Check(ctx); res.Error != "" {
			b.Fatal(res.Error)
		}
	}
}
