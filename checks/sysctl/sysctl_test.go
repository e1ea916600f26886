package sysctlcheck

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/zclconf/go-cty/cty"

	"github.com/satellite-hq/satellite/checks"
	_ "github.com/satellite-hq/satellite/checks/kernelmodule" // the doc page's example uses it
)

// build compiles a sysctl check with the given values (HCL object body).
func build(t testing.TB, values string) *Checker {
	t.Helper()
	return mustCheck(t, "check \"sysctl\" \"t\" {\n  values = {\n"+values+"\n  }\n}\n", "sysctl.t").Checker.(*Checker)
}

// current reads a real parameter, for tests that must pass on any machine.
func current(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(Root, path))
	if err != nil {
		t.Skipf("cannot read %s here: %v", path, err)
	}
	return string(b)
}

func wantValues(t *testing.T, res checks.Result, want map[string]string) {
	t.Helper()
	got := res.Attrs["values"]
	if got == cty.NilVal || !got.Type().Equals(cty.Map(cty.String)) {
		t.Fatalf("result.values %#v", got)
	}
	if got.LengthInt() != len(want) {
		t.Errorf("result.values %#v, want %v", got, want)
	}
	for k, v := range want {
		if e := got.Index(cty.StringVal(k)); e.AsString() != v {
			t.Errorf("result.values[%q] = %q, want %q", k, e.AsString(), v)
		}
	}
}

func TestRealParameters(t *testing.T) {
	printk := current(t, "kernel/printk") // "4\t4\t1\t7\n": tabs
	spaced := strings.Join(strings.Fields(printk), "   ")
	c := build(t, `"kernel.ostype" = "Linux"
"kernel.printk" = `+strconv.Quote(" "+spaced+"\n"))
	res := run(c, 5*time.Second)
	wantPassing(t, res)
	wantValues(t, res, map[string]string{"kernel.ostype": "Linux", "kernel.printk": strings.Join(strings.Fields(printk), " ")})
	if len(res.Metrics) != 0 {
		t.Errorf("metrics %v", res.Metrics)
	}
}

func TestRealMismatches(t *testing.T) {
	c := build(t, `"kernel.ostype" = "FreeBSD"
"kernel.no_such_parameter" = "1"
"net.ipv4" = "1"
"kernel.printk" = "9 9 9 9"`)
	res := run(c, 5*time.Second)
	printk := strings.Join(strings.Fields(current(t, "kernel/printk")), " ")
	wantCritical(t, res,
		`kernel.no_such_parameter does not exist; `+
			`kernel.ostype is Linux, expected FreeBSD; `+
			`kernel.printk is "`+printk+`", expected "9 9 9 9"; `+
			`net.ipv4 is a group of parameters, not one parameter`)
	// What could be read is there, right or wrong.
	wantValues(t, res, map[string]string{"kernel.ostype": "Linux", "kernel.printk": printk})
}

func TestWriteOnlyParameter(t *testing.T) {
	// vm.compact_memory is write-only (mode 0200): reading it fails even as root.
	if _, err := os.ReadFile("/proc/sys/vm/compact_memory"); !errors.Is(err, fs.ErrPermission) {
		t.Skipf("vm.compact_memory is not write-only here: %v", err)
	}
	res := run(build(t, `"vm.compact_memory" = "1"`), 5*time.Second)
	wantCritical(t, res, "vm.compact_memory cannot be read: permission denied")
	wantValues(t, res, map[string]string{})
}

// fakeRoot writes a /proc/sys lookalike: path → content.
func fakeRoot(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for p, content := range files {
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func TestFakeRoot(t *testing.T) {
	root := fakeRoot(t, map[string]string{
		"net/ipv4/ip_forward":                "0\n",
		"net/ipv4/conf/eth0.100/rp_filter":   "2\n",
		"net/ipv4/ip_local_port_range":       "32768\t60999\n",
		"kernel/core_pattern":                "\n",
		"net/bridge/bridge-nf-call-iptables": "1\n",
		"kernel/long":                        strings.Repeat("x ", 400) + "\n",
		"kernel/too_long":                    strings.Repeat("x", maxValue+1),
	})
	c := build(t, `"net.ipv4.ip_forward" = "1"
"net.ipv4.conf.eth0/100.rp_filter" = 2
"net.ipv4.ip_local_port_range" = "32768 60999"
"kernel.core_pattern" = ""
"net.bridge.bridge-nf-call-iptables" = true
"kernel.long" = `+strconv.Quote(strings.Repeat("x ", 400))+`
"kernel.too_long" = "x"
"net.ipv4.ip_forward.sub" = "1"`)
	c.root = root
	res := run(c, 5*time.Second)
	wantCritical(t, res,
		`kernel.too_long is longer than 64 KiB, too long for a parameter; `+
			`net.bridge.bridge-nf-call-iptables is 1, expected true; `+
			`net.ipv4.ip_forward is 0, expected 1; `+
			`net.ipv4.ip_forward.sub does not exist`)
	for _, ok := range []string{"rp_filter", "port_range", "core_pattern", "kernel.long "} {
		if strings.Contains(res.Error, ok) {
			t.Errorf("error mentions %s, which matches", ok)
		}
	}
	if v := res.Attrs["values"].Index(cty.StringVal("net.ipv4.conf.eth0/100.rp_filter")); v.AsString() != "2" {
		t.Errorf("eth0/100 read %#v", v)
	}

	// No /proc/sys at all.
	c = build(t, `"kernel.ostype" = "Linux"`)
	c.root = filepath.Join(t.TempDir(), "nothing")
	wantCritical(t, run(c, time.Second), "kernel.ostype does not exist")
}

func TestDeadlinePassed(t *testing.T) {
	c := build(t, `"kernel.ostype" = "Linux"`)
	start := time.Now()
	res := c.Check(expired(t))
	wantCritical(t, res, "read kernel.ostype: timed out after 0s")
	if took := time.Since(start); took > 100*time.Millisecond {
		t.Errorf("took %s with an expired context", took)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	wantCritical(t, c.Check(ctx), "canceled")
}

func TestAssertOnValues(t *testing.T) {
	plan := mustCompile(t, `
check "sysctl" "ostype" {
  values = { "kernel.ostype" = "Linux" }
  assert {
    condition     = result.values["kernel.ostype"] == "Linux" && length(result.values) == 1
    error_message = "ostype is ${result.values["kernel.ostype"]}"
  }
}
`)
	c, _ := plan.Check("sysctl.ostype")
	if v := c.Evaluate(run(c.Checker, 5*time.Second), 0); v.Status != checks.StatusPassing {
		t.Errorf("%s %q", v.Status, v.Error)
	}
}

func TestBuildDiagnostics(t *testing.T) {
	tests := []struct{ name, body, summary, detail string }{
		{"empty", "values = {} # <-", "Empty values", "at least one"},
		{"double dot", "values = {\n  \"kernel.ostype\" = \"Linux\"\n  \"net..ipv4\" = 1 # <-\n}", "Invalid sysctl name", `"net..ipv4" has an empty part`},
		{"slashes", "values = {\n  \"net/ipv4/ip_forward\" = 1 # <-\n}", "Invalid sysctl name", `as "net.ipv4.ip_forward"`},
		{"no dot", "values = {\n  ip_forward = 1 # <-\n}", "Invalid sysctl name", "write it with dots"},
		{"traversal", "values = {\n  \"net.ipv4.conf.//.x\" = 1 # <-\n}", "Invalid sysctl name", "would leave /proc/sys"},
		{"space", "values = {\n  \"net.ipv4.ip forward\" = 1 # <-\n}", "Invalid sysctl name", `contains ' '`},
		{"trailing dot", "values = {\n  \"net.ipv4.\" = 1 # <-\n}", "Invalid sysctl name", "empty part"},
		{"string", `values = "net.ipv4.ip_forward=1" # <-`, "Incorrect attribute value type", ""},
		{"list value", "values = { \"a.b\" = [1] } # <-", "Incorrect attribute value type", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := "check \"sysctl\" \"t\" {\n" + tt.body + "\n}\n"
			_, diags := compile(t, src, false)
			wantDiag(t, src, diags, tt.summary, tt.detail)
		})
	}

	src := "check \"sysctl\" \"t\" { # <-\n}\n"
	_, diags := compile(t, src, false)
	wantDiag(t, src, diags, "Missing required argument", "values")

	// From a variable, the bad key is not in the source: the diagnostic
	// points at the attribute.
	src = "variable \"v\" {\n  default = { \"bad\" = \"1\" }\n}\ncheck \"sysctl\" \"t\" {\n  values = var.v # <-\n}\n"
	_, diags = compile(t, src, false)
	wantDiag(t, src, diags, "Invalid sysctl name", `"bad"`)
}

func TestBuildUnknown(t *testing.T) {
	plan, diags := compile(t, `
check "sysctl" "a" {
  values = { "kernel.ostype" = env("OSTYPE") }
}
check "sysctl" "b" {
  values = {
    "kernel.ostype" = env("OSTYPE")
    "nodots"        = "1"
  }
}
`, true)
	if len(diags) != 1 || diags[0].Summary != "Invalid sysctl name" || diags[0].Subject.Start.Line != 8 {
		t.Fatalf("diags %s; want only the bad key, on line 8", diags)
	}
	if c, _ := plan.Check("sysctl.a"); c.Checker != nil {
		t.Error("a checker with an unknown value")
	}
	if c, diags := Build(cty.UnknownVal(cty.DynamicPseudoType), checks.Env{}); c != nil || len(diags) > 0 {
		t.Errorf("wholly unknown body: %v, %s", c, diags)
	}
}

func TestKeyPath(t *testing.T) {
	for k, want := range map[string]string{
		"net.ipv4.ip_forward":              "net/ipv4/ip_forward",
		"net.ipv4.conf.eth0/100.rp_filter": "net/ipv4/conf/eth0.100/rp_filter",
		"kernel.ostype":                    "kernel/ostype",
	} {
		if got := keyPath(k); got != want {
			t.Errorf("keyPath(%q) = %q, want %q", k, got, want)
		}
	}
}

func TestDescribe(t *testing.T) {
	if got := describe("a.b", &fs.PathError{Op: "open", Path: "/x", Err: syscall.EIO}); got != "a.b cannot be read: input/output error" {
		t.Errorf("%q", got)
	}
}

func BenchmarkCheck(b *testing.B) {
	// Four real parameters, expecting what they hold here.
	keys := []string{"kernel.ostype", "kernel.printk", "net.ipv4.ip_local_port_range", "vm.swappiness"}
	var body strings.Builder
	for _, k := range keys {
		body.WriteString(strconv.Quote(k) + " = " + strconv.Quote(current(b, keyPath(k))) + "\n")
	}
	c := build(b, body.String())
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if res := c.Check(ctx); res.Error != "" {
			b.Fatal(res.Error)
		}
	}
}
