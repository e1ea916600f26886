package systemdcheck

import (
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/satellite-hq/satellite/checks"
	"github.com/zclconf/go-cty/cty"
)

func TestBuildDiagnostics(t *testing.T) {
	tests := []struct {
		name    string
		src     string // the body; the line marked "# <-" is where the error must point
		summary string
		detail  string
	}{
		{"empty name", `units = ["kubelet.service", ""] # <-`, "Empty unit name", "kubelet.service"},
		{"pattern", `units = ["kube-*.service"] # <-`, "Unit pattern in units", `"kube-*.service"`},
		{"path", `units = ["/var/lib/etcd"] # <-`, "Path in units", "var-lib-etcd.mount"},
		{"unknown type", `units = ["kube.apiserver"] # <-`, "Unknown unit type", `".apiserver"`},
		{"no prefix", `units = [".service"] # <-`, "Invalid unit name", `".service"`},
		{"bad char", `units = ["kube let.service"] # <-`, "Invalid unit name", `' '`},
		{"template", `units = ["getty@.service"] # <-`, "Template unit in units", `"getty@1.service"`},
		{"at first", `units = ["@x.service"] # <-`, "Invalid unit name", "before @"},
		{"too long", `units = ["` + strings.Repeat("a", 250) + `.service"] # <-`, "Unit name too long", "at most 255"},
		{"null element", `units = ["a.service", null] # <-`, "Invalid value", "null"},
		{"wrong type", `units = "kubelet.service" # <-`, "Incorrect attribute value type", "list of string"},
		{"ignore empty", `ignore = [""] # <-`, "Empty unit pattern", ""},
		{"ignore bad pattern", `ignore = ["[a-"] # <-`, "Invalid unit pattern", "syntax error in pattern"},
		{"ignore with units", "units = [\"kubelet.service\"]\nignore = [\"x.service\"] # <-", "ignore needs an empty units", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := "check \"systemd\" \"t\" {\n" + tt.src + "\n}\n"
			plan, diags := compile(t, src, false)
			if !diags.HasErrors() {
				t.Fatalf("no error; diags %v", diags)
			}
			if plan != nil {
				if c, ok := plan.Check("systemd.t"); ok && c.Checker != nil {
					t.Error("a checker came back with errors")
				}
			}
			errs := diags.Errs()
			if len(errs) != 1 {
				t.Fatalf("%d errors, want 1: %s", len(errs), diags)
			}
			checkDiag(t, src, errs[0].(*hcl.Diagnostic), tt.summary, tt.detail)
		})
	}
}

// checkDiag checks a diagnostic's text and that its subject is the value
// on the line marked "# <-".
func checkDiag(t *testing.T, src string, d *hcl.Diagnostic, summary, detail string) {
	t.Helper()
	if d.Summary != summary {
		t.Errorf("summary %q, want %q", d.Summary, summary)
	}
	if !strings.Contains(d.Detail, detail) {
		t.Errorf("detail %q does not contain %q", d.Detail, detail)
	}
	if !strings.HasSuffix(d.Detail, ".") {
		t.Errorf("detail %q is not a full sentence", d.Detail)
	}
	lines := strings.Split(src, "\n")
	wantLine := slices.IndexFunc(lines, func(l string) bool { return strings.Contains(l, "# <-") }) + 1
	if d.Subject == nil {
		t.Fatal("no subject")
	}
	if d.Subject.Filename != "test.hcl" || d.Subject.Start.Line != wantLine {
		t.Fatalf("subject %s, want test.hcl line %d", d.Subject, wantLine)
	}
	got := src[d.Subject.Start.Byte:d.Subject.End.Byte]
	value := strings.TrimSpace(strings.SplitN(strings.SplitN(lines[wantLine-1], "=", 2)[1], "# <-", 2)[0])
	if got != value {
		t.Errorf("subject covers %q, want the value %q", got, value)
	}
}

func TestBuildNormalises(t *testing.T) {
	c := mustChecker(t, `units = ["kubelet", "containerd.service", "-.mount", "getty@tty1.service", "dev-disk-by\\x2dlabel-data.device", "kubelet.service"]`)
	want := []string{"kubelet.service", "containerd.service", "-.mount", "getty@tty1.service", `dev-disk-by\x2dlabel-data.device`}
	if !slices.Equal(c.units, want) {
		t.Errorf("units %q, want %q", c.units, want)
	}
	c = mustChecker(t, `ignore = ["*.mount", "systemd-networkd-wait-online.service"]`)
	if len(c.units) != 0 || len(c.ignore) != 2 {
		t.Errorf("units %q, ignore %q", c.units, c.ignore)
	}
	c = mustChecker(t, `units = []`)
	if len(c.units) != 0 {
		t.Errorf("units = [] gave %q", c.units)
	}
	c = mustChecker(t, `units = toset(["b.service", "a.service"])`)
	if !slices.Equal(c.units, []string{"a.service", "b.service"}) {
		t.Errorf("units from a set: %q", c.units)
	}
	if s, ok := c.bus.(*dbusSource); !ok || s.socket != DefaultBusSocket || s.idle != busIdle {
		t.Errorf("bus source %#v", c.bus)
	}
	if s, ok := c.ctl.(systemctlSource); !ok || s.program != DefaultSystemctl {
		t.Errorf("systemctl source %#v", c.ctl)
	}
}

func TestBuildWarnsTwice(t *testing.T) {
	src := "check \"systemd\" \"t\" {\nunits = [\"kubelet\", \"kubelet.service\"] # <-\n}\n"
	plan, diags := compile(t, src, false)
	if diags.HasErrors() || len(diags) != 1 {
		t.Fatalf("diags %s; want one warning", diags)
	}
	if diags[0].Severity != hcl.DiagWarning {
		t.Errorf("severity %v", diags[0].Severity)
	}
	checkDiag(t, src, diags[0], "Unit listed twice", "kubelet.service")
	c, _ := plan.Check("systemd.t")
	if got := c.Checker.(*Checker).units; !slices.Equal(got, []string{"kubelet.service"}) {
		t.Errorf("units %q", got)
	}
}

func TestBuildUnknown(t *testing.T) {
	reg, _ := checks.Lookup(Type)
	if c, diags := reg.Build(cty.UnknownVal(hcldec.ImpliedType(Spec)), checks.Env{}); c != nil || len(diags) > 0 {
		t.Errorf("a wholly unknown body: checker %v, diags %s", c, diags)
	}
	// env() is unknown under validate --unknown-env: no checker, no error,
	// but the known elements are still checked.
	plan, diags := compile(t, "check \"systemd\" \"t\" {\n  units = [env(\"UNIT\"), \"kubelet.service\"]\n}\n", true)
	if len(diags) > 0 {
		t.Fatalf("diags %s", diags)
	}
	if c, _ := plan.Check("systemd.t"); c.Checker != nil {
		t.Error("a checker for an unknown unit name")
	}
	_, diags = compile(t, "check \"systemd\" \"t\" {\n  units = [env(\"UNIT\"), \"kube let\"]\n}\n", true)
	if !diags.HasErrors() {
		t.Error("a bad known element next to an unknown one passed")
	}
}

func TestSample(t *testing.T) {
	reg, ok := checks.Lookup(Type)
	if !ok {
		t.Fatal("systemd is not registered")
	}
	if reg.Sample == "" || reg.Doc == "" || !reg.HasMetric(MetricFailedUnits) {
		t.Fatalf("registration: sample %d bytes, doc %q, metrics %v", len(reg.Sample), reg.Doc, reg.Metrics)
	}
	for name, typ := range map[string]cty.Type{"failed": cty.List(cty.String), "states": cty.Map(cty.String)} {
		if !reg.Result[name].Equals(typ) {
			t.Errorf("result.%s is %s", name, reg.Result[name].FriendlyName())
		}
	}
	plan, diags := compile(t, reg.Sample, true)
	if len(diags) > 0 {
		t.Fatalf("sample: %s", diags)
	}
	if len(plan.Checks) < 2 {
		t.Fatalf("sample has %d checks", len(plan.Checks))
	}
	for _, c := range plan.Checks {
		if c.Checker == nil {
			t.Errorf("%s: no checker", c.Address)
		}
	}
}

func TestUnitNameHelpers(t *testing.T) {
	for name, want := range map[string]string{
		"kubelet.service": "Service", "docker.socket": "Socket", "-.mount": "Mount", "proc-sys-fs-binfmt_misc.automount": "Automount",
		"swapfile.swap": "Swap", "apt-daily.timer": "Timer", "x.path": "Path", "session-1.scope": "Scope",
		"multi-user.target": "", "dev-sda.device": "", "system.slice": "", "noext": "",
	} {
		if got := resultType(name); got != want {
			t.Errorf("resultType(%q) = %q, want %q", name, got, want)
		}
	}
}
