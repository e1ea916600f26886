package dsl_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/satellite-hq/satellite/dsl"
)

func write(t *testing.T, dir, name, src string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func envMap(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func mustLoad(t *testing.T, paths []string, opts dsl.Options) *dsl.Config {
	t.Helper()
	if opts.LookupEnv == nil {
		opts.LookupEnv = envMap(nil)
	}
	cfg, diags := dsl.Load(paths, opts)
	if diags.HasErrors() {
		var sb strings.Builder
		_ = dsl.WriteDiagnostics(&sb, diags, cfg.Files, false, nil)
		t.Fatalf("unexpected errors:\n%s", sb.String())
	}
	return cfg
}

func str(t *testing.T, cfg *dsl.Config, name string) string {
	t.Helper()
	v, ok := cfg.VarValue(name)
	if !ok || v.Type() != cty.String {
		t.Fatalf("var.%s = %#v", name, v)
	}
	return v.AsString()
}

func TestVariablePrecedence(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "main.hcl", `
variable "a" { default = "default" }
variable "b" { default = "default" }
variable "c" { default = "default" }
variable "d" { default = "default" }
variable "e" { default = "default" }
`)
	write(t, dir, "x.auto.vars.hcl", "c = \"auto\"\nd = \"auto\"\ne = \"auto\"\n")
	vf := write(t, t.TempDir(), "extra.vars.hcl", "d = \"file\"\ne = \"file\"\n")
	env := map[string]string{"SATELLITE_VAR_b": "env", "SATELLITE_VAR_c": "env", "SATELLITE_VAR_e": "env"}
	cfg := mustLoad(t, []string{dir}, dsl.Options{LookupEnv: envMap(env), VarFiles: []string{vf}, Vars: []string{"e=flag"}})
	for name, want := range map[string]string{"a": "default", "b": "env", "c": "auto", "d": "file", "e": "flag"} {
		if got := str(t, cfg, name); got != want {
			t.Errorf("var.%s = %q, want %q", name, got, want)
		}
	}
}

func TestVariableTypesFromText(t *testing.T) {
	src := `
variable "n" { type = number }
variable "l" { type = list(string) }
variable "o" {
  type = object({ a = string, b = optional(number, 7) })
}
`
	cfg, diags := dsl.LoadSource("v.hcl", []byte(src), dsl.Options{
		LookupEnv: envMap(map[string]string{"SATELLITE_VAR_l": `["x", "y"]`}),
		Vars:      []string{"n=42", `o={a="z"}`},
	})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	n, _ := cfg.VarValue("n")
	if !n.RawEquals(cty.NumberIntVal(42)) {
		t.Errorf("n = %#v", n)
	}
	l, _ := cfg.VarValue("l")
	if l.LengthInt() != 2 || l.Index(cty.NumberIntVal(1)).AsString() != "y" {
		t.Errorf("l = %#v", l)
	}
	o, _ := cfg.VarValue("o")
	if !o.GetAttr("b").RawEquals(cty.NumberIntVal(7)) {
		t.Errorf("optional default not applied: %#v", o)
	}
}

func TestUndeclaredVar(t *testing.T) {
	_, diags := dsl.LoadSource("v.hcl", []byte(`variable "port" { default = 1 }`), dsl.Options{
		LookupEnv: envMap(nil), Vars: []string{"prot=2"},
	})
	if !diags.HasErrors() || !strings.Contains(diags.Error(), `Did you mean "port"?`) {
		t.Fatalf("want an error suggesting port, got %v", diags)
	}
	_, diags = dsl.LoadSource("v.hcl", []byte(`variable "port" { default = 1 }`), dsl.Options{
		LookupEnv: envMap(nil), Vars: []string{"novalue"},
	})
	if !diags.HasErrors() || !strings.Contains(diags.Error(), "NAME=VALUE") {
		t.Fatalf("want a usage error, got %v", diags)
	}
}

func TestSensitiveRedacted(t *testing.T) {
	src := `
variable "token" {
  default   = "hunter2-secret"
  sensitive = true
  validation {
    condition     = length(var.token) > 40
    error_message = "token ${var.token} is too short"
  }
}
`
	cfg, diags := dsl.LoadSource("s.hcl", []byte(src), dsl.Options{LookupEnv: envMap(nil)})
	if !diags.HasErrors() {
		t.Fatal("want a validation error")
	}
	var sb strings.Builder
	if err := dsl.WriteDiagnostics(&sb, diags, cfg.Files, false, cfg.Secrets()); err != nil {
		t.Fatal(err)
	}
	out := sb.String()
	if strings.Contains(out, "hunter2") {
		t.Fatalf("secret printed:\n%s", out)
	}
	if !strings.Contains(out, "(sensitive)") || !strings.Contains(out, "s.hcl:3:15") {
		t.Fatalf("want a redacted error with its place:\n%s", out)
	}
	js := dsl.JSONDiagnostics(diags, cfg.Secrets())
	for _, d := range js {
		if strings.Contains(d.Detail+d.Summary, "hunter2") {
			t.Fatalf("secret in JSON: %+v", d)
		}
	}
}

func TestFunctions(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "token.txt", "file-content")
	write(t, dir, "main.hcl", `
locals {
  env_set     = env("HOME_X")
  env_default = env("MISSING_X", "fallback")
  from_file   = file("token.txt")
  host        = hostname()
  secs        = duration("1m30s")
  joined      = join(",", toset(["b", "a"]))
  tried       = try(jsondecode("{").x, "bad json")
  can_parse   = can(regex("^[a-z]+$", "abc"))
  upper       = upper(format("%s-%d", "x", 3))
  node_name   = node.name
  role        = node.tags.role
}
agent {
  tags = { role = "master" }
}
`)
	cfg := mustLoad(t, []string{dir}, dsl.Options{
		LookupEnv: envMap(map[string]string{"HOME_X": "/root"}),
		Hostname:  func() (string, error) { return "node-7", nil },
	})
	ctx := cfg.EvalContext(dir)
	want := map[string]cty.Value{
		"env_set":     cty.StringVal("/root"),
		"env_default": cty.StringVal("fallback"),
		"from_file":   cty.StringVal("file-content"),
		"host":        cty.StringVal("node-7"),
		"secs":        cty.NumberIntVal(90),
		"joined":      cty.StringVal("a,b"),
		"tried":       cty.StringVal("bad json"),
		"can_parse":   cty.True,
		"upper":       cty.StringVal("X-3"),
		"node_name":   cty.StringVal("node-7"),
		"role":        cty.StringVal("master"),
	}
	locals := ctx.Parent().Variables["local"]
	for k, w := range want {
		got := locals.GetAttr(k)
		if !got.RawEquals(w) && !(got.Type() == cty.Number && got.Equals(w).True()) {
			t.Errorf("local.%s = %#v, want %#v", k, got, w)
		}
	}
	if cfg.Agent.Name != "node-7" {
		t.Errorf("agent name defaults to the host name, got %q", cfg.Agent.Name)
	}
}

func TestUnknownEnv(t *testing.T) {
	src := `
locals {
  token = env("NOT_ON_CI")
  body  = file("missing.txt")
}
agent {
  name = hostname()
}
`
	_, diags := dsl.LoadSource("u.hcl", []byte(src), dsl.Options{LookupEnv: envMap(nil)})
	if !diagsContain(diags, `"NOT_ON_CI" is not set`) || !diagsContain(diags, "missing.txt") {
		t.Fatalf("without --unknown-env a missing variable is an error naming it, got %v", diags)
	}
	cfg, diags := dsl.LoadSource("u.hcl", []byte(src), dsl.Options{LookupEnv: envMap(nil), UnknownEnv: true})
	if diags.HasErrors() {
		t.Fatalf("with --unknown-env: %v", diags)
	}
	if cfg.Node.NameKnown {
		t.Error("node name from hostname() must be unknown under --unknown-env")
	}
}

func TestDirectoryMergeAndJSON(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "b.hcl", `check "tcp" "b" { address = "127.0.0.1:2" }`)
	write(t, dir, "a.hcl", `check "tcp" "a" { address = "127.0.0.1:1" }`)
	write(t, dir, "c.hcl.json", `{"check": {"tcp": {"c": {"address": "127.0.0.1:3"}}}}`)
	write(t, dir, "ignored.vars.hcl", `x = 1`)
	write(t, dir, "notes.txt", `not config`)
	cfg := mustLoad(t, []string{dir}, dsl.Options{})
	var names []string
	for _, c := range cfg.Checks {
		names = append(names, c.Name)
	}
	if strings.Join(names, ",") != "a,b,c" {
		t.Fatalf("checks in lexical file order: got %v", names)
	}
	if len(cfg.Paths) != 3 {
		t.Fatalf("paths = %v", cfg.Paths)
	}
}

func TestMissingPath(t *testing.T) {
	_, diags := dsl.Load([]string{"/nonexistent/satellite"}, dsl.Options{})
	if !diags.HasErrors() || !strings.Contains(diags.Error(), "/nonexistent/satellite") {
		t.Fatalf("got %v", diags)
	}
}

func TestConfigHash(t *testing.T) {
	base := `
variable "port" { default = 8080 }
check "tcp" "a" {
  address = "127.0.0.1:${var.port}"
}
check "tcp" "b" { address = "127.0.0.1:2" }
`
	hash := func(src, nodeLocal string, vars ...string) string {
		dir := t.TempDir()
		write(t, dir, "checks.hcl", src)
		write(t, dir, "node.hcl", nodeLocal)
		return mustLoad(t, []string{dir}, dsl.Options{Vars: vars}).Hash
	}
	h := hash(base, `agent { name = "n1" }`)
	if len(h) != 8 {
		t.Fatalf("hash %q", h)
	}
	reformatted := `
# a comment that changes nothing
check "tcp" "b" {
  address = "127.0.0.1:2"   # trailing comment
}
variable "port" {
  default = 8080
}
check "tcp" "a" { address = "127.0.0.1:${var.port}" }
`
	if got := hash(reformatted, `agent {
  name = "n2"
  tags = { role = "x" }
}
api { listen = "127.0.0.1:9999" }`); got != h {
		t.Errorf("layout, order and node-local blocks changed the hash: %s vs %s", got, h)
	}
	if got := hash(strings.Replace(base, "127.0.0.1:2", "127.0.0.1:3", 1), ""); got == h {
		t.Error("a changed check kept the hash")
	}
	if got := hash(base, "", "port=9090"); got == h {
		t.Error("a changed variable value kept the hash")
	}
}

func TestLocalsAnyOrder(t *testing.T) {
	cfg := mustLoad(t, []string{write(t, t.TempDir(), "l.hcl", `
locals { c = "${local.b}-c" }
locals {
  a = "a"
  b = "${local.a}-b"
}
`)}, dsl.Options{})
	ctx := cfg.EvalContext(".")
	if got := ctx.Parent().Variables["local"].GetAttr("c").AsString(); got != "a-b-c" {
		t.Fatalf("local.c = %q", got)
	}
}

func TestDiagnosticsJSONShape(t *testing.T) {
	_, diags := dsl.LoadSource("j.hcl", []byte("agent {\n  nam = 1\n}\n"), dsl.Options{LookupEnv: envMap(nil)})
	js := dsl.JSONDiagnostics(diags, nil)
	if len(js) != 1 {
		t.Fatalf("want one diagnostic, got %+v", js)
	}
	d := js[0]
	if d.Severity != "error" || d.Filename != "j.hcl" || d.Start.Line != 2 || d.Start.Column != 3 || d.End.Column != 6 || !strings.Contains(d.Detail, `Did you mean "name"?`) {
		t.Fatalf("got %+v start %+v end %+v", d, d.Start, d.End)
	}
}

func diagsContain(diags hcl.Diagnostics, text string) bool {
	for _, d := range diags {
		if strings.Contains(d.Summary+" "+d.Detail, text) {
			return true
		}
	}
	return false
}
