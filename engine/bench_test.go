package engine_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"

	"github.com/satellite-hq/satellite/dsl"
	"github.com/satellite-hq/satellite/engine"
)

// BenchmarkValidate times what `satellite validate DIR` does: dsl.Load and
// engine.Compile of a directory of 20 files holding N checks. Run it with:
//
//	go test -run '^$' -bench BenchmarkValidate -benchmem -count 6 ./engine
//
// The target is 1,000 checks in under 150 ms, with time per check no worse
// at 10,000 than at 1,000.
func BenchmarkValidate(b *testing.B) {
	for _, n := range []int{100, 1000, 10000} {
		b.Run(fmt.Sprintf("checks=%d", n), func(b *testing.B) {
			dir := b.TempDir()
			if err := writeBenchConfig(dir, n); err != nil {
				b.Fatal(err)
			}
			paths, opts := []string{dir}, benchOpts()
			verifyBenchConfig(b, paths, opts, n)
			b.ReportAllocs()
			for b.Loop() {
				cfg, diags := dsl.Load(paths, opts)
				if cfg == nil || len(cfg.Files) == 0 {
					b.Fatalf("nothing loaded: %v", diags)
				}
				engine.Compile(cfg)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/check")
		})
	}
}

func benchOpts() dsl.Options {
	return dsl.Options{
		LookupEnv: func(string) (string, bool) { return "", false },
		Hostname:  func() (string, error) { return "bench-host", nil },
	}
}

// verifyBenchConfig loads and compiles the generated config once, outside
// the timer: it must compile to exactly n checks without any diagnostic.
func verifyBenchConfig(b *testing.B, paths []string, opts dsl.Options, n int) {
	b.Helper()
	cfg, plan, diags := loadAndCompile(paths, opts)
	if len(diags) > 0 {
		var files map[string]*hcl.File
		if cfg != nil {
			files = cfg.Files
		}
		var sb strings.Builder
		_ = dsl.WriteDiagnostics(&sb, diags, files, false, nil)
		b.Fatalf("generated config has %d diagnostics:\n%s", len(diags), sb.String())
	}
	if plan == nil || len(plan.Checks) != n {
		got := 0
		if plan != nil {
			got = len(plan.Checks)
		}
		b.Fatalf("generated config compiled to %d checks, want %d", got, n)
	}
	if len(cfg.Paths) != benchFiles {
		b.Fatalf("generated config has %d files, want %d", len(cfg.Paths), benchFiles)
	}
	running := len(plan.Running())
	if running == 0 || running == n {
		b.Fatalf("%d of %d checks run on the node; only_on should select some, not all", running, n)
	}
}

// TestBenchConfig checks the generator at a small size, so a broken
// generator shows up in plain `go test` runs too.
func TestBenchConfig(t *testing.T) {
	for _, n := range []int{20, 100, 260} {
		dir := t.TempDir()
		if err := writeBenchConfig(dir, n); err != nil {
			t.Fatal(err)
		}
		_, plan, diags := loadAndCompile([]string{dir}, benchOpts())
		if len(diags) > 0 {
			t.Fatalf("n=%d: diagnostics: %v", n, diags)
		}
		if len(plan.Checks) != n {
			t.Fatalf("n=%d: %d checks, want %d", n, len(plan.Checks), n)
		}
		for _, ch := range plan.Checks {
			if ch.Checker == nil {
				t.Fatalf("n=%d: %s has no checker", n, ch.Address)
			}
		}
	}
}

const (
	// benchFiles is how many files the checks are spread over.
	benchFiles = 20
	// benchEach is how many instances one for_each block makes.
	benchEach = 5
	// benchChain is the length of a depends_on chain of plain checks.
	benchChain = 10
)

// writeBenchConfig writes a config of n checks (n a multiple of 20) over 20
// files in dir (00-checks.hcl ... 19-checks.hcl). The first file also holds
// the agent, the variables, the shared locals and defaults; every file has
// its own locals block and a share of the checks.
//
// A quarter of the checks come from for_each blocks of 5 instances, over a
// map(number) variable (tcp) or a set(string) variable (http). The others
// are plain checks, alternately http and tcp, in depends_on chains of 10
// that may cross files; each chain either has an only_on (role or zone) or
// runs everywhere. for_each blocks depend on the last plain check without
// only_on; the head of a chain depends on the last for_each block, on one of
// its instances or on all of them. Every check has labels and a threshold,
// http checks an assert.
func writeBenchConfig(dir string, n int) error {
	if n%benchFiles != 0 || n < benchFiles {
		return fmt.Errorf("n = %d is not a multiple of %d", n, benchFiles)
	}
	files := make([]strings.Builder, benchFiles)
	files[0].WriteString(benchCommon)
	for f := range files {
		fmt.Fprintf(&files[f], "\nlocals {\n  f%02d_name = \"file-%02d\"\n  f%02d_port = var.base_port + %d\n}\n", f, f, f, f*1000)
	}

	forEachChecks := n / 4
	forEachChecks -= forEachChecks % benchEach
	blocks := forEachChecks / benchEach
	plain := n - forEachChecks
	// Interleave: one for_each block after every `every` plain checks.
	every := plain
	if blocks > 0 {
		every = max(1, plain/blocks)
	}

	var (
		unit      int    // units written, a unit being a plain check or a for_each block
		lastFree  string // last plain check without only_on
		lastBlock string // last for_each block, and its type
		lastKind  string
		p, fe     int
	)
	next := func() *strings.Builder {
		sb := &files[unit%benchFiles]
		unit++
		return sb
	}
	for p < plain || fe < blocks {
		if fe < blocks && (p >= plain || (p > 0 && p%every == 0 && fe < p/every)) {
			sb := next()
			name := fmt.Sprintf("fe_%05d", fe)
			f := (unit - 1) % benchFiles
			var deps string
			if lastFree != "" {
				deps = fmt.Sprintf("  depends_on = [%s]\n", lastFree)
			}
			if fe%2 == 0 {
				fmt.Fprintf(sb, `
check "tcp" %q {
  for_each = var.ports
  address  = "${var.host}:${each.value}"
  labels   = { port = each.key, file = local.f%02d_name }
%s
  threshold "latency_ms" {
    warn = var.warn_ms
    crit = local.crit_ms
  }
}
`, name, f, deps)
				lastKind = "tcp"
			} else {
				fmt.Fprintf(sb, `
check "http" %q {
  for_each = var.paths
  url      = "${local.base}:${local.f%02d_port}/${each.key}"
  timeout  = var.settings.timeout
  labels   = { path = each.value, file = local.f%02d_name }
%s
  threshold "latency_ms" {
    warn = var.warn_ms
    crit = local.crit_ms
  }

  assert {
    condition     = result.status_code == 200
    error_message = "${each.key} answered ${result.status_code}"
  }
}
`, name, f, f, deps)
				lastKind = "http"
			}
			lastBlock = "check." + lastKind + "." + name
			fe++
			continue
		}

		sb := next()
		f := (unit - 1) % benchFiles
		typ := "http"
		if p%2 == 1 {
			typ = "tcp"
		}
		name := fmt.Sprintf("svc_%05d", p)
		chain := p / benchChain
		var onlyOn string
		switch chain % 3 {
		case 0:
			onlyOn = "  only_on  = { role = \"master\" }\n"
		case 1:
			onlyOn = "  only_on  = { zone = \"eu-2\" }\n"
		}
		var deps string
		switch {
		case p%benchChain != 0:
			deps = fmt.Sprintf("  depends_on = [%s]\n", benchPrev(p-1))
		case lastBlock != "" && chain%2 == 0:
			key := "p2"
			if lastKind == "http" {
				key = "healthz"
			}
			deps = fmt.Sprintf("  depends_on = [%s[%q]]\n", lastBlock, key)
		case lastBlock != "":
			deps = fmt.Sprintf("  depends_on = [%s]\n", lastBlock)
		}
		if typ == "http" {
			fmt.Fprintf(sb, `
check "http" %q {
  url      = "${local.base}:${local.f%02d_port + %d}/healthz"
  interval = "%ds"
  timeout  = var.settings.timeout
  labels   = { team = local.team, file = local.f%02d_name, chain = "%d" }
%s%s
  threshold "latency_ms" {
    warn = var.warn_ms
    crit = local.crit_ms
  }

  assert {
    condition     = result.status_code == 200 && try(result.json.status, "") == "ok"
    error_message = "%s said ${result.body}"
  }
}
`, name, f, p, 10+p%50, f, chain, onlyOn, deps, name)
		} else {
			fmt.Fprintf(sb, `
check "tcp" %q {
  address = "${var.host}:${local.f%02d_port + %d}"
  labels  = { team = local.team, file = local.f%02d_name, chain = "%d" }
%s%s
  threshold "latency_ms" {
    warn = 50
    crit = 200
  }
}
`, name, f, p, f, chain, onlyOn, deps)
		}
		if onlyOn == "" {
			lastFree = "check." + typ + "." + name
		}
		p++
	}

	for f := range files {
		path := filepath.Join(dir, fmt.Sprintf("%02d-checks.hcl", f))
		if err := os.WriteFile(path, []byte(files[f].String()), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// benchPrev is the reference to plain check p.
func benchPrev(p int) string {
	typ := "http"
	if p%2 == 1 {
		typ = "tcp"
	}
	return fmt.Sprintf("check.%s.svc_%05d", typ, p)
}

const benchCommon = `# Generated by writeBenchConfig.
agent {
  name = "bench-node"
  tags = { role = "master", zone = "eu-1" }
}

variable "host" {
  type    = string
  default = "127.0.0.1"
}

variable "base_port" {
  type    = number
  default = 10000
}

variable "warn_ms" {
  type    = number
  default = 250

  validation {
    condition     = var.warn_ms > 0
    error_message = "warn_ms must be positive."
  }
}

variable "ports" {
  type    = map(number)
  default = { p0 = 9000, p1 = 9001, p2 = 9002, p3 = 9003, p4 = 9004 }
}

variable "paths" {
  type    = set(string)
  default = ["healthz", "readyz", "livez", "metrics", "version"]
}

variable "settings" {
  type = object({
    interval = string
    timeout  = optional(string, "3s")
  })
  default = { interval = "30s" }
}

locals {
  base    = "http://${var.host}"
  team    = "platform"
  crit_ms = var.warn_ms * 4
}

defaults {
  interval                 = var.settings.interval
  failures_before_critical = 2
  labels                   = { managed_by = "satellite" }
}
`

// BenchmarkForEach times one check block whose for_each makes N instances:
// dsl.Load and engine.Compile, as validate does. Run it with:
//
//	go test -run '^$' -bench BenchmarkForEach -benchtime 1x -count 3 ./engine
//
// Expansion must be linear: ns/check about the same at 10,000 as at 100,000
// (it was quadratic: toset() of 90,000 keys took 113 s).
func BenchmarkForEach(b *testing.B) {
	for _, n := range []int{10_000, 50_000, 100_000} {
		b.Run(fmt.Sprintf("instances=%d", n), func(b *testing.B) {
			dir := b.TempDir()
			src := fmt.Sprintf(`locals {
  rows = [for i in range(%d) : i]
  cols = [for i in range(1000) : i]
  keys = toset([for p in setproduct(local.rows, local.cols) : "k-${p[0]}-${p[1]}"])
}

check "tcp" "port" {
  for_each = local.keys
  address  = "127.0.0.1:${9000 + length(each.key)}"
  labels   = { key = each.key }
}
`, n/1000)
			if err := os.WriteFile(filepath.Join(dir, "main.hcl"), []byte(src), 0o600); err != nil {
				b.Fatal(err)
			}
			paths, opts := []string{dir}, benchOpts()
			b.ReportAllocs()
			for b.Loop() {
				_, plan, diags := loadAndCompile(paths, opts)
				if diags.HasErrors() || plan == nil || len(plan.Checks) != n {
					b.Fatalf("want %d checks, got diagnostics %v", n, diags)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/check")
		})
	}
}
