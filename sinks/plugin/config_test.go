package plugin

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"

	"github.com/satellite-hq/satellite/sinks"
)

// buildSrc decodes src as a sink body, with env(NAME) returning "v-NAME" or
// an unknown value for "UNKNOWN", and builds it as declared in baseDir
// (default /etc/satellite).
func buildSrc(t *testing.T, src string, baseDir ...string) (sinks.Opener, hcl.Diagnostics) {
	t.Helper()
	reg, ok := sinks.Lookup("plugin")
	if !ok {
		t.Fatal(`sink type "plugin" is not registered`)
	}
	f, diags := hclsyntax.ParseConfig([]byte(src), "sinks.hcl", hcl.InitialPos)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	ctx := &hcl.EvalContext{Functions: map[string]function.Function{
		"env": function.New(&function.Spec{
			Params: []function.Parameter{{Name: "name", Type: cty.String}},
			Type:   function.StaticReturnType(cty.String),
			Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
				if args[0].AsString() == "UNKNOWN" {
					return cty.UnknownVal(cty.String), nil
				}
				return cty.StringVal("v-" + args[0].AsString()), nil
			},
		}),
	}}
	cfg, diags := hcldec.Decode(f.Body, reg.Spec, ctx)
	if diags.HasErrors() {
		return nil, diags
	}
	env := sinks.Env{Body: f.Body, Block: hcl.Range{Filename: "sinks.hcl", Start: hcl.InitialPos, End: hcl.InitialPos}, BaseDir: "/etc/satellite"}
	if len(baseDir) > 0 {
		env.BaseDir = baseDir[0]
	}
	return reg.Build(cfg, env)
}

func TestBuild(t *testing.T) {
	for _, tc := range []struct {
		name, src string
		want      Config
	}{
		{"minimal", `command = "/usr/lib/satellite/plugins/pager"`,
			Config{Command: "/usr/lib/satellite/plugins/pager", Dir: "/etc/satellite", StartTimeout: DefaultStartTimeout, WriteTimeout: DefaultWriteTimeout}},
		{"relative, everything set", `
command       = "plugins/../plugins/jsonl-sink"
args          = ["-v", "x y"]
config        = { path = "out.jsonl", key = env("PAGER_KEY"), retries = 3, verbose = true }
start_timeout = "2s"
write_timeout = 90
`, Config{
			Command: "/etc/satellite/plugins/jsonl-sink", Args: []string{"-v", "x y"}, Dir: "/etc/satellite",
			Config:       map[string]string{"path": "out.jsonl", "key": "v-PAGER_KEY", "retries": "3", "verbose": "true"},
			StartTimeout: 2 * time.Second, WriteTimeout: 90 * time.Second,
		}},
		{"structure as a JSON string", `
command = "/p"
config  = { routes = "{\"critical\":\"page\"}" }
`, Config{Command: "/p", Dir: "/etc/satellite", Config: map[string]string{"routes": `{"critical":"page"}`}, StartTimeout: DefaultStartTimeout, WriteTimeout: DefaultWriteTimeout}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			op, diags := buildSrc(t, tc.src)
			if len(diags) > 0 {
				t.Fatal(diags)
			}
			got, ok := op.(*Config)
			if !ok || !reflect.DeepEqual(*got, tc.want) {
				t.Errorf("got %#v\nwant %#v", op, &tc.want)
			}
		})
	}
}

func TestBuildDiagnostics(t *testing.T) {
	for _, tc := range []struct {
		name, src, summary string
		line, col          int
	}{
		{"missing command", `config = {}`, "Missing required argument", 1, 1},
		{"empty command", "args = []\ncommand = \"  \"\n", "Empty command", 2, 11},
		{"config not a map", "command = \"/p\"\nconfig = \"path=/x\"\n", "Invalid config", 2, 10},
		{"config with structure", "command = \"/p\"\nconfig = {\n  routes = { critical = \"page\" }\n}\n", "Invalid config", 2, 10},
		{"config with null", "command = \"/p\"\nconfig = { a = null }\n", "Invalid config", 2, 10},
		{"args not strings", "command = \"/p\"\nargs = [[1]]\n", "Incorrect attribute value type", 2, 8},
		{"bad start_timeout", "command = \"/p\"\nstart_timeout = \"soon\"\n", "Invalid duration", 2, 17},
		{"zero write_timeout", "command = \"/p\"\n\nwrite_timeout = 0\n", "Invalid write_timeout", 3, 17},
	} {
		t.Run(tc.name, func(t *testing.T) {
			op, diags := buildSrc(t, tc.src)
			if !diags.HasErrors() {
				t.Fatalf("no error; built %#v", op)
			}
			if op != nil {
				t.Errorf("an Opener (%#v) despite errors", op)
			}
			d := diags[0]
			if d.Summary != tc.summary || d.Subject == nil || d.Subject.Filename != "sinks.hcl" ||
				d.Subject.Start.Line != tc.line || d.Subject.Start.Column != tc.col {
				t.Errorf("got %s (%s), want %q at sinks.hcl:%d,%d", d.Summary, d.Subject, tc.summary, tc.line, tc.col)
			}
			if d.Detail == "" {
				t.Error("no detail")
			}
		})
	}
}

// Under `validate --unknown-env` a config value is unknown: no error, and no
// Opener.
func TestBuildUnknownConfig(t *testing.T) {
	op, diags := buildSrc(t, "command = \"/p\"\nconfig = { key = env(\"UNKNOWN\") }\n")
	if len(diags) > 0 || op != nil {
		t.Errorf("got %#v, %v; want nothing", op, diags)
	}
}

func TestSampleBuilds(t *testing.T) {
	reg, _ := sinks.Lookup("plugin")
	f, diags := hclsyntax.ParseConfig([]byte(reg.Sample), "sample.hcl", hcl.InitialPos)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	blocks := f.Body.(*hclsyntax.Body).Blocks
	if len(blocks) != 1 || blocks[0].Type != "sink" || blocks[0].Labels[0] != "plugin" {
		t.Fatalf("the sample is not one sink \"plugin\" block")
	}
	cfg, diags := hcldec.Decode(blocks[0].Body, reg.Spec, nil)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	if _, diags := reg.Build(cfg, sinks.Env{Body: blocks[0].Body}); len(diags) > 0 {
		t.Fatal(diags)
	}
}

// Printing a Config, as a log line or an error might, leaves the config
// values out.
func TestConfigStringHidesValues(t *testing.T) {
	c := &Config{Command: "/p", Config: map[string]string{"token": "hunter2"}}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
		out := fmt.Sprintf(verb, c)
		if strings.Contains(out, "hunter2") || !strings.Contains(out, "token") {
			t.Errorf("%s prints %q", verb, out)
		}
	}
}
