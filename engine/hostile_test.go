package engine_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/satellite-hq/satellite/dsl"
)

// The hostile corpus (testdata/hostile) holds configs that once crashed or
// hung validate, and an agent on reload: nesting deep enough to overflow the
// stack, locals that double a string 40 times, for expressions and
// functions that build terabytes, a for_each of 200,000 checks, file() of a
// FIFO or a device, control characters, sensitive values in addresses and
// tags. Each must end within hostileTimeout with the errors its `# error:`
// comments state (as the invalid fixtures do), at FILE:LINE:COL, and none
// of them may print a sensitive value.
//
// A `# mkfifo: NAME` comment creates a FIFO next to the file (git cannot
// hold one), so each case runs from a copy in a temporary folder. JSON files
// cannot hold comments: their errors are in hostileJSON.

// Under -race (make test, CI) evaluation is several times slower, and the
// bound with it.
const hostileTimeout = 10 * time.Second * raceSlowdown

// hostileJSON are the errors of the JSON cases, on their first line.
var hostileJSON = map[string]string{
	"deep_json.hcl.json":                "Nesting too deep",
	"deep_json_template.hcl.json":       "Nesting too deep",
	"json_template_for.hcl.json":        "for expression in JSON",
	"json_many_interpolations.hcl.json": "Too many interpolations",
}

// hostileValid are the cases that must load without error.
var hostileValid = map[string]bool{"deep_raised.hcl": true}

func hostileCopy(t *testing.T, path string) string {
	t.Helper()
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	dst := filepath.Join(dir, filepath.Base(path))
	if err := os.WriteFile(dst, src, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(src), "\n") {
		if name, ok := strings.CutPrefix(strings.TrimSpace(line), "# mkfifo:"); ok {
			if err := syscall.Mkfifo(filepath.Join(dir, strings.TrimSpace(name)), 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	return dst
}

// withTimeout runs f, failing the test when it takes longer than d. It
// waits for f even then, so that f (which uses t and the test's temporary
// files) never outlives the test; a case that truly hangs is caught by go
// test's -timeout, with every goroutine's stack.
func withTimeout(t *testing.T, d time.Duration, f func()) time.Duration {
	t.Helper()
	start := time.Now()
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	select {
	case <-done:
	case <-time.After(d):
		t.Errorf("did not end within %s", d)
		<-done
	}
	return time.Since(start)
}

func TestHostileCorpus(t *testing.T) {
	paths := fixtures(t, "../testdata/hostile")
	for _, path := range paths {
		name := filepath.Base(path)
		t.Run(name, func(t *testing.T) {
			p := hostileCopy(t, path)
			var diags hcl.Diagnostics
			var cfg *dsl.Config
			took := withTimeout(t, hostileTimeout, func() {
				if summary, isJSON := hostileJSON[name]; isJSON {
					cfg, _, diags = loadAsValidate([]string{p}, readFixture(t, p).opts)
					found := false
					for _, d := range diags {
						if d.Severity == hcl.DiagError && strings.Contains(d.Summary, summary) && d.Subject != nil && d.Subject.Start.Line == 1 && d.Subject.Filename == p {
							found = true
						}
					}
					if !found {
						t.Errorf("want error %q at %s:1, got %v", summary, p, diags)
					}
					return
				}
				fx := readFixture(t, p)
				if len(fx.expect) == 0 && !hostileValid[name] {
					t.Error("a hostile case must state the errors it expects")
				}
				cfg, _, diags = loadAsValidate(fx.paths, fx.opts)
				_, _ = runFixture(t, p)
			})
			t.Logf("%s: %s, %d diagnostic(s)", name, took.Round(time.Millisecond), len(diags))
			if hostileValid[name] {
				if diags.HasErrors() {
					t.Errorf("want valid, got %v", diags)
				}
			} else if !diags.HasErrors() {
				t.Fatal("want errors, got none")
			}
			for _, d := range diags {
				if d.Severity == hcl.DiagError && (d.Subject == nil || d.Subject.Filename == "" || d.Subject.Start.Line < 1) {
					t.Errorf("error %q has no FILE:LINE:COL", d.Summary)
				}
			}
			var sb strings.Builder
			var files map[string]*hcl.File
			var secrets []string
			if cfg != nil {
				files, secrets = cfg.Files, cfg.Secrets()
			}
			if err := dsl.WriteDiagnostics(&sb, diags, files, false, secrets); err != nil {
				t.Fatal(err)
			}
			if strings.Contains(sb.String(), "hunter2") {
				t.Errorf("a sensitive value is printed:\n%s", sb.String())
			}
		})
	}
}

// TestHostileGenerated runs the findings' own sizes, too large for the
// corpus: 100,000 parentheses or brackets (a 200 KB file that overflowed
// the stack in 1.5 s), 20,000 chained locals (quadratic: more than a
// minute), and the same through --var and a variables file.
func TestHostileGenerated(t *testing.T) {
	const n = 100_000
	chain := func() string {
		var b strings.Builder
		b.WriteString("locals {\n  l0 = 1\n")
		for i := 1; i <= 20000; i++ {
			fmt.Fprintf(&b, "  l%d = local.l%d + 1\n", i, i-1)
		}
		b.WriteString("}\n")
		return b.String()
	}
	deep := "(" + strings.Repeat("(", n) + "1" + strings.Repeat(")", n) + ")"
	for _, tc := range []struct {
		name, src, want string
		opts            func(dir string) dsl.Options
	}{
		{"parens", "locals { s = " + deep + " }\n", "Nesting too deep", nil},
		{"brackets", "locals { s = " + strings.Repeat("[", n) + strings.Repeat("]", n) + " }\n", "Nesting too deep", nil},
		{"templates", "locals { s = " + strings.Repeat(`"${`, n) + "1" + strings.Repeat(`}"`, n) + " }\n", "Nesting too deep", nil},
		{"locals chain", chain() + "locals { bad = 1 + \"x\" }\n", "Invalid operand", nil},
		{"var", "variable \"v\" { type = number }\n", "Invalid value for variable", func(string) dsl.Options {
			return dsl.Options{Vars: []string{"v=" + deep}}
		}},
		{"var file", "variable \"v\" { type = number }\n", "Nesting too deep", func(dir string) dsl.Options {
			p := filepath.Join(dir, "deep.vars.hcl")
			if err := os.WriteFile(p, []byte("v = "+deep+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			return dsl.Options{VarFiles: []string{p}}
		}},
		{"var file fifo", "variable \"v\" { type = number }\n", "Cannot read variables file", func(dir string) dsl.Options {
			p := filepath.Join(dir, "fifo.vars.hcl")
			if err := syscall.Mkfifo(p, 0o600); err != nil {
				t.Fatal(err)
			}
			return dsl.Options{VarFiles: []string{p}}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			p := filepath.Join(dir, "main.hcl")
			if err := os.WriteFile(p, []byte(tc.src), 0o600); err != nil {
				t.Fatal(err)
			}
			opts := benchOpts()
			if tc.opts != nil {
				o := tc.opts(dir)
				opts.Vars, opts.VarFiles = o.Vars, o.VarFiles
			}
			var diags hcl.Diagnostics
			took := withTimeout(t, hostileTimeout, func() { _, _, diags = loadAsValidate([]string{p}, opts) })
			t.Logf("%s: %s", tc.name, took.Round(time.Millisecond))
			found := false
			for _, d := range diags {
				if d.Severity == hcl.DiagError && strings.Contains(d.Summary, tc.want) {
					found = true
				}
			}
			if !found {
				t.Errorf("want error %q, got %v", tc.want, diags)
			}
		})
	}
}

// TestConfigFileFIFO: a FIFO named like a config file in a config folder is
// refused, not opened (opening it would wait for a writer).
func TestConfigFileFIFO(t *testing.T) {
	dir := t.TempDir()
	if err := syscall.Mkfifo(filepath.Join(dir, "checks.hcl"), 0o600); err != nil {
		t.Fatal(err)
	}
	var diags hcl.Diagnostics
	withTimeout(t, hostileTimeout, func() { _, _, diags = loadAsValidate([]string{dir}, benchOpts()) })
	if !diags.HasErrors() || !strings.Contains(diags.Error(), "not a regular file (a named pipe (FIFO))") {
		t.Errorf("want a FIFO error, got %v", diags)
	}
}

// TestForEachLinear: expanding for_each takes time linear in the number of
// instances. It was quadratic (cty's unify in toset(), and a set sorted on
// every iteration): 10,000 instances took 2.3 s, 40,000 22 s, 90,000 113 s.
// BenchmarkForEach measures it to 100,000.
func TestForEachLinear(t *testing.T) {
	if testing.Short() {
		t.Skip("compiles 50,000 checks")
	}
	timeFor := func(n int) time.Duration {
		dir := t.TempDir()
		src := fmt.Sprintf(`locals {
  rows = [for i in range(%d) : i]
  cols = [for i in range(1000) : i]
  keys = toset([for p in setproduct(local.rows, local.cols) : "k-${p[0]}-${p[1]}"])
}

check "tcp" "port" {
  for_each = local.keys
  address  = "127.0.0.1:9000"
}
`, n/1000)
		if err := os.WriteFile(filepath.Join(dir, "main.hcl"), []byte(src), 0o600); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		_, plan, diags := loadAndCompile([]string{dir}, benchOpts())
		took := time.Since(start)
		if diags.HasErrors() || plan == nil || len(plan.Checks) != n {
			t.Fatalf("want %d checks, got %v", n, diags)
		}
		return took
	}
	small, large := timeFor(10_000), timeFor(40_000)
	t.Logf("10,000 instances: %s; 40,000: %s", small.Round(time.Millisecond), large.Round(time.Millisecond))
	// Linear is 4x; quadratic was 10x or more.
	if large > 8*small {
		t.Errorf("40,000 instances took %s, more than 8 times 10,000's %s: not linear", large, small)
	}
}
