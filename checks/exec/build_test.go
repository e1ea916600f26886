package execcheck

import (
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/satellite-hq/satellite/checks"
	"github.com/satellite-hq/satellite/dsl"
	"github.com/zclconf/go-cty/cty"
)

func TestBuildDiagnostics(t *testing.T) {
	tests := []struct {
		name, body       string
		summary, detail  string
		subject, subAttr string // the source text the diagnostic must point at
	}{
		{"empty command", `command = []`, "Empty command", "must name a program", `[]`, "command"},
		{"empty program", `command = ["", "-x"]`, "Empty program name", "first element", `["", "-x"]`, "command"},
		{"NUL in argument", `command = ["/bin/true", "a\u0000b"]`, "Invalid command", "Element 1", `["/bin/true", "a\u0000b"]`, "command"},
		{"null element", `command = ["/bin/true", null]`, "Invalid value", "must not contain null", `["/bin/true", null]`, "command"},
		{"bad env name", "command = [\"/bin/true\"]\nenv = { \"A=B\" = \"1\" }", "Invalid environment variable name", `"A=B"`, `{ "A=B" = "1" }`, "env"},
		{"empty env name", "command = [\"/bin/true\"]\nenv = { \"\" = \"1\" }", "Invalid environment variable name", `""`, `{ "" = "1" }`, "env"},
		{"NUL in env value", "command = [\"/bin/true\"]\nenv = { A = \"x\\u0000\" }", "Invalid environment variable value", "A contains a NUL", `{ A = "x\u0000" }`, "env"},
		{"empty dir", "command = [\"/bin/true\"]\ndir = \"\"", "Empty working directory", `"/"`, `""`, "dir"},
		{"empty user", "command = [\"/bin/true\"]\nuser = \"\"", "Empty user", "user name or numeric uid", `""`, "user"},
		{"bad user", "command = [\"/bin/true\"]\nuser = \"a:b\"", "Invalid user", `"a:b"`, `"a:b"`, "user"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, diags, src := build(t, tt.body, "")
			if c != nil || len(diags) != 1 || !diags.HasErrors() {
				t.Fatalf("checker %v, diags %s; want one error", c, diags)
			}
			d := diags[0]
			if d.Summary != tt.summary || !strings.Contains(d.Detail, tt.detail) || !strings.HasSuffix(d.Detail, ".") {
				t.Errorf("diagnostic %q: %q; want %q containing %q", d.Summary, d.Detail, tt.summary, tt.detail)
			}
			// The subject is the attribute's value, on its own line.
			line := 2
			for i, l := range strings.Split(src, "\n") {
				if strings.HasPrefix(strings.TrimSpace(l), tt.subAttr+" ") {
					line = i + 1
				}
			}
			if d.Subject == nil || d.Subject.Start.Line != line || src[d.Subject.Start.Byte:d.Subject.End.Byte] != tt.subject {
				t.Errorf("subject %v, want %s on line %d", d.Subject, tt.subject, line)
			}
		})
	}
}

func TestBuildWrongTypes(t *testing.T) {
	// hcldec itself refuses these, on the attribute, before Build.
	for _, body := range []string{`command = "ls -l"`, "command = [\"/bin/true\"]\nenv = [\"A=1\"]", "command = [\"/bin/true\"]\nuser = {}"} {
		_, diags, _ := build(t, body, "")
		if !diags.HasErrors() || diags[0].Subject == nil || diags[0].Subject.Start.Line < 2 {
			t.Errorf("%s: diags %s, want an error on the attribute", body, diags)
		}
	}
	_, diags, _ := build(t, ``, "")
	if !diags.HasErrors() || !strings.Contains(diags.Error(), "command") {
		t.Errorf("missing command: %s", diags)
	}
}

func TestBuildWarnsOnSpacesInProgram(t *testing.T) {
	c, diags, src := build(t, `command = ["check_disk -w", "10%"]`, "")
	if c == nil || len(diags) != 1 || diags[0].Severity != hcl.DiagWarning {
		t.Fatalf("checker %v, diags %s; want a checker and one warning", c, diags)
	}
	d := diags[0]
	if d.Summary != "Program name with spaces" || !strings.Contains(d.Detail, `["check_disk", "-w", "10%"]`) {
		t.Errorf("%s: %s", d.Summary, d.Detail)
	}
	if d.Subject == nil || d.Subject.Start.Line != 2 || src[d.Subject.Start.Byte:d.Subject.End.Byte] != `["check_disk -w", "10%"]` {
		t.Errorf("subject %v", d.Subject)
	}
}

func TestBuildExecNotEnabled(t *testing.T) {
	src := "check \"exec\" \"t\" {\n  command = [\"/bin/true\"]\n}\n"
	d := decodeChecks(t, src, "", false, nil)[0]
	c, diags := registration(t).Build(d.val, d.env)
	if c != nil || len(diags) != 1 || !diags.HasErrors() {
		t.Fatalf("checker %v, diags %s; want one error", c, diags)
	}
	g := diags[0]
	if g.Summary != "Exec checks are not enabled" || !strings.Contains(g.Detail, "agent { enable_exec = true }") {
		t.Errorf("%s: %s", g.Summary, g.Detail)
	}
	if g.Subject == nil || *g.Subject != d.env.Block || src[g.Subject.Start.Byte:g.Subject.End.Byte] != `check "exec" "t"` {
		t.Errorf("subject %v, want the block header %v", g.Subject, d.env.Block)
	}

	// The attributes are still checked, so one validate run shows everything.
	d = decodeChecks(t, "check \"exec\" \"t\" {\n  command = []\n}\n", "", false, nil)[0]
	if _, diags := registration(t).Build(d.val, d.env); len(diags) != 2 {
		t.Errorf("diags %s, want the block and the command", diags)
	}

	// Unknown values too (validate --unknown-env).
	if _, diags := registration(t).Build(cty.UnknownVal(hcldec.ImpliedType(Spec)), checks.Env{}); len(diags) != 1 {
		t.Errorf("unknown body without enable_exec: %s", diags)
	}
}

func TestBuildUnknown(t *testing.T) {
	vars := map[string]cty.Value{
		"cmd":  cty.UnknownVal(cty.List(cty.String)),
		"s":    cty.UnknownVal(cty.String),
		"envs": cty.UnknownVal(cty.Map(cty.String)),
	}
	ctx := &hcl.EvalContext{Variables: map[string]cty.Value{"var": cty.ObjectVal(vars)}}
	for _, body := range []string{
		`command = var.cmd`,
		`command = [var.s, "-x"]`,
		"command = [\"/bin/true\"]\nenv = var.envs",
		"command = [\"/bin/true\"]\nenv = { A = var.s }",
		"command = [\"/bin/true\"]\ndir = var.s",
		"command = [\"/bin/true\"]\nuser = var.s",
	} {
		d := decodeChecks(t, "check \"exec\" \"t\" {\n"+body+"\n}\n", "", true, ctx)[0]
		if d.diags.HasErrors() {
			t.Fatalf("%s: decode: %s", body, d.diags)
		}
		if c, diags := registration(t).Build(d.val, d.env); c != nil || len(diags) > 0 {
			t.Errorf("%s: checker %v, diags %s; want neither", body, c, diags)
		}
	}
	if c, diags := registration(t).Build(cty.UnknownVal(hcldec.ImpliedType(Spec)), checks.Env{Agent: dsl.Agent{EnableExec: true}}); c != nil || len(diags) > 0 {
		t.Errorf("a wholly unknown body: checker %v, diags %s", c, diags)
	}
	// A known part is still checked when another is unknown.
	d := decodeChecks(t, "check \"exec\" \"t\" {\ncommand = var.cmd\ndir = \"\"\n}\n", "", true, ctx)[0]
	if _, diags := registration(t).Build(d.val, d.env); len(diags) != 1 || diags[0].Summary != "Empty working directory" {
		t.Errorf("diags %s", diags)
	}
}

func TestBuildValues(t *testing.T) {
	c, diags, _ := build(t, `
command = ["./bin/check.sh", "--fast"]
env     = { PATH = "/opt/bin", B = "2", A = "1" }
dir     = "data"
user    = "nobody"
`, "/etc/satellite")
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	ch := c.(*Checker)
	if ch.path != "/etc/satellite/bin/check.sh" || ch.dir != "/etc/satellite/data" || ch.user != "nobody" {
		t.Errorf("path %q, dir %q, user %q", ch.path, ch.dir, ch.user)
	}
	if strings.Join(ch.env, " ") != "A=1 B=2 PATH=/opt/bin" || ch.lookPath != "/opt/bin" {
		t.Errorf("env %q, lookPath %q", ch.env, ch.lookPath)
	}

	ch = mustBuild(t, `command = ["true"]`)
	if ch.path != "" || ch.env == nil || len(ch.env) != 0 || ch.lookPath != DefaultPath || ch.dir != "/" {
		t.Errorf("defaults: path %q, env %#v, lookPath %q, dir %q", ch.path, ch.env, ch.lookPath, ch.dir)
	}
}

func TestSampleBuilds(t *testing.T) {
	reg := registration(t)
	if reg.Doc == "" || !reg.HasMetric(MetricExitCode) || !reg.HasMetric(MetricDuration) {
		t.Fatalf("registration: doc %q, metrics %v", reg.Doc, reg.Metrics)
	}
	for k := range ResultAttrs {
		if _, ok := reg.Result[k]; !ok {
			t.Errorf("result attribute %s not registered", k)
		}
	}
	ds := decodeChecks(t, reg.Sample, "", true, nil)
	if len(ds) == 0 {
		t.Fatal("the sample has no check block")
	}
	for _, d := range ds {
		if c, diags := reg.Build(d.val, d.env); c == nil || len(diags) > 0 {
			t.Errorf("sample at %s: checker %v, diags %s", d.env.Block, c, diags)
		}
	}
}
