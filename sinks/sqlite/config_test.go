package sqlite

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"

	"github.com/satellite-hq/satellite/health"
	"github.com/satellite-hq/satellite/sinks"
)

func registration(t *testing.T) *sinks.Registration {
	t.Helper()
	reg, ok := sinks.Lookup("sqlite")
	if !ok {
		t.Fatal(`sink type "sqlite" is not registered`)
	}
	return reg
}

// buildSrc decodes src as a sink body and builds it.
func buildSrc(t *testing.T, src string, env sinks.Env) (sinks.Opener, hcl.Diagnostics) {
	t.Helper()
	reg := registration(t)
	f, diags := hclsyntax.ParseConfig([]byte(src), "sinks.hcl", hcl.InitialPos)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	cfg, diags := hcldec.Decode(f.Body, reg.Spec, nil)
	if diags.HasErrors() {
		return nil, diags
	}
	env.Body = f.Body
	env.Block = hcl.Range{Filename: "sinks.hcl", Start: hcl.InitialPos, End: hcl.InitialPos}
	return reg.Build(cfg, env)
}

func TestBuild(t *testing.T) {
	env := sinks.Env{BaseDir: "/etc/satellite", DataDir: "/var/lib/satellite"}
	for _, tc := range []struct {
		name string
		src  string
		want Config
	}{
		{"absolute", "path = \"/srv/a.db\"\nretention = \"720h\"\n", Config{Path: "/srv/a.db", Retention: 720 * time.Hour}},
		{"relative and default", `path = "data/../archive.db"`, Config{Path: "/etc/satellite/archive.db", Retention: DefaultRetention}},
		{"seconds", "path = \"/srv/a.db\"\nretention = 3600\n", Config{Path: "/srv/a.db", Retention: time.Hour}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			op, diags := buildSrc(t, tc.src, env)
			if len(diags) > 0 {
				t.Fatal(diags)
			}
			got, ok := op.(*Config)
			if !ok || *got != tc.want {
				t.Errorf("got %#v, want %#v", op, tc.want)
			}
		})
	}
}

func TestBuildDiagnostics(t *testing.T) {
	env := sinks.Env{BaseDir: "/etc/satellite", DataDir: "/var/lib/satellite"}
	for _, tc := range []struct {
		name, src, summary string
		line               int
	}{
		{"empty path", "retention = \"1h\"\npath = \"\"\n", "Empty path", 2},
		{"bad retention", "path = \"/a.db\"\n\nretention = \"soon\"\n", "Invalid duration", 3},
		{"negative retention", "path = \"/a.db\"\nretention = \"-1h\"\n", "Invalid duration", 2},
		{"zero retention", "path = \"/a.db\"\nretention = \"0s\"\n", "Invalid retention", 2},
		{"retention of a wrong type", "path = \"/a.db\"\nretention = [\"1h\"]\n", "Invalid duration", 2},
		{"local history", "path = \"/var/lib/satellite/./history.db\"\n", "Path is the local history", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			op, diags := buildSrc(t, tc.src, env)
			if op != nil {
				t.Errorf("Build returned an Opener %#v with errors", op)
			}
			if len(diags) != 1 {
				t.Fatalf("got %d diagnostics, want 1: %v", len(diags), diags)
			}
			d := diags[0]
			if d.Severity != hcl.DiagError || d.Summary != tc.summary {
				t.Errorf("diagnostic %q (severity %v), want error %q", d.Summary, d.Severity, tc.summary)
			}
			if d.Subject == nil || d.Subject.Filename != "sinks.hcl" || d.Subject.Start.Line != tc.line {
				t.Errorf("subject %v, want sinks.hcl line %d", d.Subject, tc.line)
			}
			if !strings.HasSuffix(d.Detail, ".") {
				t.Errorf("detail %q is not a sentence", d.Detail)
			}
		})
	}

	// A missing path is the spec's own error.
	_, diags := buildSrc(t, `retention = "1h"`, env)
	if !diags.HasErrors() {
		t.Error("no error for a missing path")
	}
}

func TestBuildUnknown(t *testing.T) {
	reg := registration(t)
	for name, cfg := range map[string]cty.Value{
		"path": cty.ObjectVal(map[string]cty.Value{
			"path": cty.UnknownVal(cty.String), "retention": cty.StringVal("1h"),
		}),
		"retention": cty.ObjectVal(map[string]cty.Value{
			"path": cty.StringVal("/a.db"), "retention": cty.UnknownVal(cty.String),
		}),
		"all": cty.UnknownVal(cty.Object(map[string]cty.Type{"path": cty.String, "retention": cty.String})),
	} {
		t.Run(name, func(t *testing.T) {
			op, diags := reg.Build(cfg, sinks.Env{})
			if len(diags) > 0 {
				t.Errorf("diagnostics for unknown values: %v", diags)
			}
			if op != nil {
				t.Errorf("Opener %#v built from unknown values", op)
			}
		})
	}
}

func TestSample(t *testing.T) {
	reg := registration(t)
	if reg.Doc == "" || strings.Contains(reg.Doc, "\n") {
		t.Errorf("Doc %q is not one line", reg.Doc)
	}
	f, diags := hclsyntax.ParseConfig([]byte(reg.Sample), "sample.hcl", hcl.InitialPos)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	blocks := f.Body.(*hclsyntax.Body).Blocks
	if len(blocks) != 1 || blocks[0].Type != "sink" || len(blocks[0].Labels) != 2 || blocks[0].Labels[0] != "sqlite" {
		t.Fatalf("sample is not one `sink \"sqlite\" NAME` block: %q", reg.Sample)
	}
	cfg, diags := hcldec.Decode(blocks[0].Body, reg.Spec, nil)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	op, diags := reg.Build(cfg, sinks.Env{Body: blocks[0].Body, Block: blocks[0].DefRange(), BaseDir: "/etc/satellite"})
	if len(diags) > 0 || op == nil {
		t.Fatalf("sample does not build: %v", diags)
	}
}

func TestOpener(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "archive.db")
	op, diags := buildSrc(t, `path = "`+path+`"`, sinks.Env{})
	if len(diags) > 0 {
		t.Fatal(diags)
	}
	s, err := op.Open(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Write(context.Background(), []sinks.Record{{Time: time.Now(), Check: "x", Changed: true}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	d, err := Open(context.Background(), path, DefaultRetention)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	cs, err := d.StateChanges(context.Background(), health.Query{})
	if err != nil || len(cs) != 1 {
		t.Errorf("state changes %v, %v; want 1", cs, err)
	}
}
