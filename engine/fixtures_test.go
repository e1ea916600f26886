package engine_test

import (
	"bufio"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"

	_ "github.com/satellite-hq/satellite/checks/all"
	"github.com/satellite-hq/satellite/dsl"
	"github.com/satellite-hq/satellite/engine"
	"github.com/satellite-hq/satellite/mesh"
	_ "github.com/satellite-hq/satellite/notify/all"
	_ "github.com/satellite-hq/satellite/sinks/all"
)

// A fixture states what it expects in comments on the line a diagnostic
// points at: `# error: SUMMARY | DETAIL-SUBSTRING` or `# warning: ...`.
// Header comments set the scene: `# setenv: K=V`, `# var: NAME=VALUE`,
// `# tags: k=v,...`, `# flags: unknown-env`.
var expectRe = regexp.MustCompile(`#\s*(error|warning):\s*([^|]+?)\s*(?:\|\s*(.+?))?\s*$`)

type expectation struct {
	file     string
	line     int
	severity hcl.DiagnosticSeverity
	summary  string
	detail   string
	matched  bool
}

type fixture struct {
	paths  []string
	expect []*expectation
	opts   dsl.Options
}

func readFixture(t *testing.T, path string) *fixture {
	t.Helper()
	fx := &fixture{paths: []string{path}}
	env := map[string]string{}
	fx.opts.LookupEnv = func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	fx.opts.Hostname = func() (string, error) { return "fixture-host", nil }
	var files []string
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		entries, _ := os.ReadDir(path)
		for _, e := range entries {
			files = append(files, filepath.Join(path, e.Name()))
		}
	} else {
		files = []string{path}
	}
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(fh)
		for n := 1; sc.Scan(); n++ {
			line := sc.Text()
			if m := expectRe.FindStringSubmatch(line); m != nil {
				sev := hcl.DiagError
				if m[1] == "warning" {
					sev = hcl.DiagWarning
				}
				fx.expect = append(fx.expect, &expectation{file: f, line: n, severity: sev, summary: m[2], detail: m[3]})
				continue
			}
			directive, value, ok := strings.Cut(strings.TrimPrefix(strings.TrimSpace(line), "#"), ":")
			if !ok || !strings.HasPrefix(strings.TrimSpace(line), "#") {
				continue
			}
			value = strings.TrimSpace(value)
			switch strings.TrimSpace(directive) {
			case "setenv":
				k, v, _ := strings.Cut(value, "=")
				env[k] = v
			case "var":
				fx.opts.Vars = append(fx.opts.Vars, value)
			case "tags":
				fx.opts.NodeTags = map[string]string{}
				for _, kv := range strings.Split(value, ",") {
					k, v, _ := strings.Cut(kv, "=")
					fx.opts.NodeTags[k] = v
				}
			case "flags":
				if strings.Contains(value, "unknown-env") {
					fx.opts.UnknownEnv = true
				}
			}
		}
		fh.Close()
	}
	return fx
}

func loadAndCompile(paths []string, opts dsl.Options) (*dsl.Config, *engine.Plan, hcl.Diagnostics) {
	cfg, diags := dsl.Load(paths, opts)
	if cfg == nil || len(cfg.Files) == 0 {
		return cfg, nil, diags
	}
	plan, more := engine.Compile(cfg)
	return cfg, plan, append(diags, more...)
}

// loadAsValidate judges a config as validate does through agent.Load: the
// engine's plan, then what the mesh requires of the config (its tag limits,
// testdata/invalid/tags_*.hcl). It repeats agent.Load's two steps rather than
// import the agent, so the engine's tests build without the whole agent.
func loadAsValidate(paths []string, opts dsl.Options) (*dsl.Config, *engine.Plan, hcl.Diagnostics) {
	cfg, plan, diags := loadAndCompile(paths, opts)
	if plan != nil {
		diags = append(diags, mesh.ConfigDiagnostics(cfg)...)
	}
	return cfg, plan, diags
}

func runFixture(t *testing.T, path string) (*engine.Plan, hcl.Diagnostics) {
	fx := readFixture(t, path)
	cfg, plan, diags := loadAsValidate(fx.paths, fx.opts)
	var unexpected []*hcl.Diagnostic
	for _, d := range diags {
		if d.Subject == nil {
			unexpected = append(unexpected, d)
			continue
		}
		found := false
		for _, e := range fx.expect {
			if e.severity == d.Severity && filepath.Clean(e.file) == filepath.Clean(d.Subject.Filename) &&
				e.line == d.Subject.Start.Line && strings.Contains(d.Summary, e.summary) &&
				(e.detail == "" || strings.Contains(d.Detail, e.detail)) {
				e.matched, found = true, true
			}
		}
		if !found {
			unexpected = append(unexpected, d)
		}
	}
	var files map[string]*hcl.File
	if cfg != nil {
		files = cfg.Files
	}
	var sb strings.Builder
	_ = dsl.WriteDiagnostics(&sb, unexpected, files, false, nil)
	if len(unexpected) > 0 {
		t.Errorf("unexpected diagnostics:\n%s", sb.String())
	}
	for _, e := range fx.expect {
		if !e.matched {
			sev := "error"
			if e.severity == hcl.DiagWarning {
				sev = "warning"
			}
			t.Errorf("%s:%d: expected %s %q (detail containing %q), got none there", e.file, e.line, sev, e.summary, e.detail)
		}
	}
	return plan, diags
}

func fixtures(t *testing.T, dir string) []string {
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		out = append(out, filepath.Join(dir, e.Name()))
	}
	if len(out) == 0 {
		t.Fatalf("no fixtures in %s", dir)
	}
	return out
}

func TestInvalidFixtures(t *testing.T) {
	for _, path := range fixtures(t, "../testdata/invalid") {
		t.Run(filepath.Base(path), func(t *testing.T) {
			fx := readFixture(t, path)
			if len(fx.expect) == 0 {
				t.Fatal("an invalid fixture must state the errors it expects")
			}
			_, diags := runFixture(t, path)
			if !diags.HasErrors() {
				t.Error("fixture is invalid but produced no error")
			}
		})
	}
}

func TestValidFixtures(t *testing.T) {
	for _, path := range fixtures(t, "../testdata/valid") {
		t.Run(filepath.Base(path), func(t *testing.T) {
			plan, diags := runFixture(t, path)
			if diags.HasErrors() {
				return // reported by runFixture
			}
			if plan == nil || len(plan.Checks) == 0 {
				t.Fatal("a valid fixture should compile to at least one check")
			}
		})
	}
}
