package engine_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"

	"github.com/satellite-hq/satellite/dsl"
	"github.com/satellite-hq/satellite/engine"
)

// The fuzz targets feed arbitrary sources through dsl.LoadSource and
// engine.Compile. Neither may panic, and every error that has a source range
// must point at a real place in the input: the file's name and a line >= 1.
//
// Run them with:
//
//	go test -run '^$' -fuzz 'FuzzCompile$' -fuzztime 3m ./engine
//	go test -run '^$' -fuzz 'FuzzCompileJSON$' -fuzztime 1m ./engine
//
// A crasher is written to testdata/fuzz/FuzzCompile*/ and, once committed,
// replays as a regression test on every plain `go test ./engine`.

// fuzzOpts returns load options that see nothing of the machine: no
// environment variables and a fixed host name. unknownEnv selects the
// `validate --unknown-env` mode, where env(), file() and hostname() are unknown.
//
// The limits are lowered (over any agent { limits {} } of the input), so
// that the hostile seeds, which spend the default budgets (seconds each),
// take milliseconds and the fuzzer keeps its pace; the limits are still
// reached, and must still be reported, not crash.
func fuzzOpts(unknownEnv bool) dsl.Options {
	return dsl.Options{
		LookupEnv:  func(string) (string, bool) { return "", false },
		Hostname:   func() (string, error) { return "fuzz-host", nil },
		UnknownEnv: unknownEnv,
		Limits:     map[string]int64{"max_eval_steps": 200_000, "max_checks": 2_000, "max_value_bytes": 1 << 20},
	}
}

// fuzzSeeds adds every file under testdata/valid, testdata/invalid and
// testdata/hostile (each file of a fixture directory too) and the examples'
// *.hcl files whose name is accepted by keep.
func fuzzSeeds(f *testing.F, keep func(name string) bool) int {
	f.Helper()
	n := 0
	add := func(path string) {
		if !keep(path) {
			return
		}
		b, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		n++
	}
	for _, root := range []string{"../testdata/valid", "../testdata/invalid", "../testdata/hostile"} {
		err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.IsDir() {
				add(path)
			}
			return nil
		})
		if err != nil {
			f.Fatal(err)
		}
	}
	examples, err := filepath.Glob("../examples/*/*.hcl")
	if err != nil {
		f.Fatal(err)
	}
	for _, p := range examples {
		add(p)
	}
	return n
}

// fuzzOne loads and compiles src as a file called name, in both the normal
// and the --unknown-env mode, and checks the diagnostics.
func fuzzOne(t *testing.T, name string, src []byte) {
	for _, unknownEnv := range []bool{false, true} {
		cfg, diags := dsl.LoadSource(name, src, fuzzOpts(unknownEnv))
		if cfg != nil && len(cfg.Files) > 0 {
			_, more := engine.Compile(cfg)
			diags = append(diags, more...)
		}
		checkDiagRanges(t, name, src, unknownEnv, diags)
		// Printing the diagnostics with their snippets must not panic either.
		var files map[string]*hcl.File
		var secrets []string
		if cfg != nil {
			files, secrets = cfg.Files, cfg.Secrets()
		}
		var sb strings.Builder
		if err := dsl.WriteDiagnostics(&sb, diags, files, false, secrets); err != nil {
			t.Fatalf("WriteDiagnostics: %v", err)
		}
	}
}

// checkDiagRanges asserts that every error with a Subject points into the
// input: a file name and a line >= 1.
func checkDiagRanges(t *testing.T, name string, src []byte, unknownEnv bool, diags hcl.Diagnostics) {
	t.Helper()
	for _, d := range diags {
		if d.Severity != hcl.DiagError || d.Subject == nil {
			continue
		}
		s := d.Subject
		if s.Filename == "" || s.Start.Line < 1 {
			t.Errorf("unknownEnv=%v: error %q (%s) has a subject that points nowhere: %#v\ninput:\n%s",
				unknownEnv, d.Summary, d.Detail, *s, src)
		}
	}
}

func FuzzCompile(f *testing.F) {
	if fuzzSeeds(f, func(p string) bool { return !strings.HasSuffix(p, ".json") }) == 0 {
		f.Fatal("no seeds")
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		fuzzOne(t, "fuzz.hcl", src)
	})
}

// jsonSeeds are configs in HCL's JSON form: every block kind, for_each,
// thresholds, asserts, depends_on, and a few broken ones.
var jsonSeeds = []string{
	`{}`,
	`{"check": {"tcp": {"db": {"address": "127.0.0.1:5432"}}}}`,
	`{
  "variable": {
    "ports": {"type": "map(number)", "default": {"kubelet": 10250, "etcd": 2379}},
    "token": {"type": "string", "default": "s3cr3t", "sensitive": true}
  },
  "locals": {"base": "http://127.0.0.1:8080", "secs": "${duration(\"1m30s\") + 10}"},
  "agent": {"name": "node-1", "tags": {"role": "master", "zone": "eu-1"}},
  "defaults": {"interval": "20s", "labels": {"team": "platform"}},
  "sink": {"sqlite": {"archive": {"path": "/tmp/satellite-archive.db", "send": "changes"}}},
  "check": {
    "tcp": {"port": {"for_each": "${var.ports}", "address": "127.0.0.1:${each.value}", "labels": {"component": "${each.key}"}}},
    "http": {
      "component": {
        "for_each": "${toset([\"kubelet\", \"etcd\"])}",
        "url": "${local.base}/${each.key}",
        "headers": {"Authorization": "Bearer ${var.token}"},
        "depends_on": ["check.tcp.port[\"kubelet\"]"]
      },
      "apiserver": {
        "url": "${local.base}/healthz",
        "only_on": {"role": "master"},
        "depends_on": ["check.tcp.port"],
        "sinks": ["sink.sqlite.archive"],
        "threshold": {
          "latency_ms": {"warn": 250, "crit": 1000},
          "tls_expires_in_days": {"warn": 30, "crit": 7, "direction": "below"}
        },
        "assert": [{"condition": "${result.status_code == 200}", "error_message": "said ${result.body}"}]
      }
    }
  }
}`,
	`{"check": {"http": {"a": {"url": "http://x/", "depends_on": ["check.http.b"]}, "b": {"url": "http://x/", "depends_on": ["check.http.a"]}}}}`,
	`{"check": {"http": {"a": {"url": 1, "timeout": "1m", "interval": "10s", "threshold": {"nope": {"warn": 1}}}}}}`,
	`{"check": {"tcp": {"a": {"address": "${env(\"NOPE\")}", "for_each": ["x"]}}}, "sink": {"nope": {"x": {}}}}`,
	`{"variable": {"v": {"type": "number", "validation": {"condition": "${var.v > 0}", "error_message": "positive"}}}}`,
	`{"check": [{"tcp": [{"a": [{"address": "h:1"}]}]}], "locals": [{"x": 1}, {"y": "${local.x}"}]}`,
	`{"agent": {"tags": {"k": "v"}}, "agent": {}, "mesh": {"bind": "0.0.0.0:7946"}, "api": {"listen": "0.0.0.0:7575"}}`,
	`{"check": {"tcp": {"a": {"address": "h:1", "//": "comment", "bogus": true}}}}`,
	`[1, 2, {"check": null}]`,
}

func FuzzCompileJSON(f *testing.F) {
	for _, s := range jsonSeeds {
		f.Add([]byte(s))
	}
	fuzzSeeds(f, func(p string) bool { return strings.HasSuffix(p, ".json") })
	f.Fuzz(func(t *testing.T, src []byte) {
		fuzzOne(t, "fuzz.hcl.json", src)
	})
}
