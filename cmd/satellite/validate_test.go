package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// validLine is the one line validate prints on success.
var validLine = regexp.MustCompile(`^Valid: (.+) would run (\d+) checks? of (\d+) declared and (\d+) sinks?; config hash ([0-9a-f]+)\.$`)

type validSummary struct {
	node                     string
	running, declared, sinks int
	hash                     string
}

// parseValid checks that out is exactly one "Valid:" line and returns its parts.
func parseValid(t *testing.T, out string) validSummary {
	t.Helper()
	if !strings.HasSuffix(out, "\n") || strings.Count(out, "\n") != 1 {
		t.Fatalf("want exactly one line, got %q", out)
	}
	m := validLine.FindStringSubmatch(strings.TrimSuffix(out, "\n"))
	if m == nil {
		t.Fatalf("not a Valid line: %q", out)
	}
	n := func(s string) int { i, _ := strconv.Atoi(s); return i }
	return validSummary{node: m[1], running: n(m[2]), declared: n(m[3]), sinks: n(m[4]), hash: m[5]}
}

// countChecks counts `check "TYPE" "NAME"` blocks in the *.hcl files of dir
// (none of the quickstart's use for_each).
func countChecks(t *testing.T, dir string) int {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.hcl"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no *.hcl in %s: %v", dir, err)
	}
	n := 0
	for _, f := range files {
		for _, line := range strings.Split(readFile(t, f), "\n") {
			if strings.HasPrefix(line, `check "`) {
				n++
			}
		}
	}
	return n
}

func TestValidateQuickstart(t *testing.T) {
	isolate(t)
	r := satellite(t, "validate", quickstartDir).want(t, exitOK)
	if r.stderr != "" {
		t.Errorf("stderr = %q, want nothing", r.stderr)
	}
	got := parseValid(t, r.stdout)
	want := countChecks(t, quickstartDir)
	if got.declared != want || got.running != want {
		t.Errorf("counts: %+v, want %d running of %d declared", got, want, want)
	}
	if got.node != "quickstart" {
		t.Errorf("node = %q, want quickstart (var.node_name's default)", got.node)
	}
	if !strings.Contains(r.stdout, "config hash") {
		t.Errorf("no config hash in %q", r.stdout)
	}

	// The same files named one by one make the same config and hash.
	files, _ := filepath.Glob(filepath.Join(quickstartDir, "*.hcl"))
	r2 := satellite(t, append([]string{"validate"}, files...)...).want(t, exitOK)
	if got2 := parseValid(t, r2.stdout); got2 != got {
		t.Errorf("files one by one: %+v, directory: %+v", got2, got)
	}
}

// snippetCaret finds, in a text diagnostic, the source line numbered line
// and returns the source text shown and the column (1-based) and width of
// the ^ underline below it.
func snippetCaret(t *testing.T, out string, line int) (src string, col, width int) {
	t.Helper()
	lines := strings.Split(out, "\n")
	prefix := regexp.MustCompile(`^  \s*` + strconv.Itoa(line) + ` │ `)
	for i, l := range lines {
		loc := prefix.FindStringIndex(l)
		if loc == nil || i+1 >= len(lines) {
			continue
		}
		src = l[loc[1]:]
		under := lines[i+1]
		bar := strings.Index(under, "│ ")
		if bar < 0 || len(under) < loc[1] {
			t.Fatalf("no underline below %q: %q", l, under)
		}
		marks := under[bar+len("│ "):]
		trimmed := strings.TrimLeft(marks, " ")
		width = len(trimmed)
		if strings.Trim(trimmed, "^") != "" || width == 0 {
			t.Fatalf("underline %q is not spaces then carets", under)
		}
		return src, len(marks) - width + 1, width
	}
	t.Fatalf("no source line %d in:\n%s", line, out)
	return "", 0, 0
}

func TestValidateInvalidText(t *testing.T) {
	isolate(t)
	path := filepath.Join(invalidDir, "cycle.hcl")
	srcLines := strings.Split(readFile(t, path), "\n")
	const ref = "check.tcp.b"
	wantCol := strings.Index(srcLines[2], ref) + 1

	r := satellite(t, "validate", path).want(t, exitFailed)
	if r.stdout != "" {
		t.Errorf("stdout = %q, want nothing (diagnostics go to stderr)", r.stdout)
	}
	header := fmt.Sprintf("%s:3:%d: Error: Dependency cycle\n", path, wantCol)
	if !strings.HasPrefix(r.stderr, header) {
		t.Errorf("stderr does not start with %q:\n%s", header, r.stderr)
	}
	if !strings.Contains(r.stderr, "tcp.a → tcp.b → tcp.c → tcp.a") {
		t.Errorf("the detail does not name the cycle:\n%s", r.stderr)
	}
	src, col, width := snippetCaret(t, r.stderr, 3)
	if src != srcLines[2] {
		t.Errorf("source line shown %q, want %q", src, srcLines[2])
	}
	if col != wantCol || width != len(ref) {
		t.Errorf("underline at column %d width %d, want column %d width %d", col, width, wantCol, len(ref))
	}
	if !strings.HasSuffix(r.stderr, "\nInvalid: 2 error(s).\n") {
		t.Errorf("stderr does not end with the error count:\n%s", r.stderr)
	}
}

// jsonDiag mirrors the documented --format json fields.
type jsonDiag struct {
	Severity string   `json:"severity"`
	Summary  string   `json:"summary"`
	Detail   string   `json:"detail"`
	Filename string   `json:"filename"`
	Start    *jsonPos `json:"start"`
	End      *jsonPos `json:"end"`
}

type jsonPos struct {
	Line   int `json:"line"`
	Column int `json:"column"`
	Byte   int `json:"byte"`
}

// decodeDiags parses validate's JSON output strictly: an array of
// objects with only the documented fields.
func decodeDiags(t *testing.T, out string) []jsonDiag {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(out))
	dec.DisallowUnknownFields()
	var diags []jsonDiag
	if err := dec.Decode(&diags); err != nil {
		t.Fatalf("not a JSON array of diagnostics: %v\n%s", err, out)
	}
	if dec.More() {
		t.Fatalf("more than one JSON value in %q", out)
	}
	if diags == nil {
		t.Fatalf("got null, want an array: %q", out)
	}
	return diags
}

func TestValidateInvalidJSON(t *testing.T) {
	isolate(t)
	path := filepath.Join(invalidDir, "cycle.hcl")
	src := readFile(t, path)
	r := satellite(t, "validate", "--format", "json", path).want(t, exitFailed)
	if r.stderr != "" {
		t.Errorf("stderr = %q, want nothing with --format json", r.stderr)
	}

	// Every documented key is there, positions with line, column and byte.
	var raw []map[string]json.RawMessage
	if err := json.Unmarshal([]byte(r.stdout), &raw); err != nil {
		t.Fatal(err)
	}
	for _, d := range raw {
		for _, k := range []string{"severity", "summary", "detail", "filename", "start", "end"} {
			if _, ok := d[k]; !ok {
				t.Errorf("diagnostic without %q: %v", k, d)
			}
		}
		var pos map[string]json.RawMessage
		if err := json.Unmarshal(d["start"], &pos); err != nil || len(pos) != 3 || pos["line"] == nil || pos["column"] == nil || pos["byte"] == nil {
			t.Errorf("start = %s, want {line, column, byte}", d["start"])
		}
	}

	diags := decodeDiags(t, r.stdout)
	if len(diags) != 2 {
		t.Fatalf("%d diagnostics, want 2: %+v", len(diags), diags)
	}
	lines := strings.Split(src, "\n")
	for i, tc := range []struct {
		line       int
		ref, cycle string
	}{
		{3, "check.tcp.b", "tcp.a → tcp.b → tcp.c → tcp.a"},
		{18, "check.tcp.self", "tcp.self → tcp.self"},
	} {
		d := diags[i]
		if d.Severity != "error" || d.Summary != "Dependency cycle" || !strings.Contains(d.Detail, tc.cycle) || d.Filename != path {
			t.Errorf("diagnostic %d = %+v", i, d)
		}
		lineStart := len(strings.Join(lines[:tc.line-1], "\n")) + 1
		col := strings.Index(lines[tc.line-1], tc.ref) + 1
		wantStart := jsonPos{Line: tc.line, Column: col, Byte: lineStart + col - 1}
		wantEnd := jsonPos{Line: tc.line, Column: col + len(tc.ref), Byte: wantStart.Byte + len(tc.ref)}
		if d.Start == nil || *d.Start != wantStart || d.End == nil || *d.End != wantEnd {
			t.Errorf("diagnostic %d at %+v-%+v, want %+v-%+v", i, d.Start, d.End, wantStart, wantEnd)
		}
		if got := src[d.Start.Byte:d.End.Byte]; got != tc.ref {
			t.Errorf("bytes %d-%d are %q, want %q", d.Start.Byte, d.End.Byte, got, tc.ref)
		}
	}
}

func TestValidateJSONValidAndWarnings(t *testing.T) {
	isolate(t)
	// Valid without diagnostics: an empty array on stdout, the summary on stderr.
	r := satellite(t, "validate", "--format", "json", quickstartDir).want(t, exitOK)
	if diags := decodeDiags(t, r.stdout); len(diags) != 0 {
		t.Errorf("diagnostics for the quickstart: %+v", diags)
	}
	parseValid(t, r.stderr)

	// Warnings do not make a config invalid.
	r = satellite(t, "validate", "--format", "json", filepath.Join(validDir, "warnings.hcl")).want(t, exitOK)
	diags := decodeDiags(t, r.stdout)
	if len(diags) != 2 {
		t.Fatalf("%d diagnostics, want 2 warnings: %+v", len(diags), diags)
	}
	for _, d := range diags {
		if d.Severity != "warning" || d.Start == nil {
			t.Errorf("want a placed warning, got %+v", d)
		}
	}

	// A diagnostic without a place has no filename, start or end.
	dir := t.TempDir()
	writeFile(t, dir, "a.hcl", `check "tcp" "a" { address = "127.0.0.1:1" }`+"\n")
	r = satellite(t, "validate", "--format", "json", "--var", "nope=1", dir).want(t, exitFailed)
	var raw []map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &raw); err != nil {
		t.Fatal(err)
	}
	if len(raw) != 1 || raw[0]["summary"] != "Value for undeclared variable" {
		t.Fatalf("got %v", raw)
	}
	for _, k := range []string{"filename", "start", "end"} {
		if _, ok := raw[0][k]; ok {
			t.Errorf("unplaced diagnostic has %q: %v", k, raw[0])
		}
	}
}

func TestValidateWarningsText(t *testing.T) {
	isolate(t)
	path := filepath.Join(validDir, "warnings.hcl")
	r := satellite(t, "validate", path).want(t, exitOK)
	parseValid(t, r.stdout)
	for _, want := range []string{
		path + ":9:17: Warning: Dependency may not run here\n",
		path + ":14:13: Warning: Empty only_on\n",
	} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	if strings.Contains(r.stderr, "Invalid") {
		t.Errorf("warnings reported as invalid:\n%s", r.stderr)
	}
}

// fixtureExpect is a `# error: SUMMARY` annotation of a testdata fixture.
var fixtureExpect = regexp.MustCompile(`#\s*error:\s*([^|]+?)\s*(?:\|.*)?$`)

// Every invalid fixture is invalid through the CLI too, and each error it
// announces is printed with its FILE:LINE header.
func TestValidateInvalidFixtures(t *testing.T) {
	isolate(t)
	files, err := filepath.Glob(filepath.Join(invalidDir, "*.hcl"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			args := []string{"validate"}
			type want struct {
				line    int
				summary string
			}
			var wants []want
			fh, err := os.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer fh.Close()
			sc := bufio.NewScanner(fh)
			for n := 1; sc.Scan(); n++ {
				line := sc.Text()
				if m := fixtureExpect.FindStringSubmatch(line); m != nil {
					wants = append(wants, want{n, m[1]})
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
					t.Setenv(k, v)
				case "var":
					args = append(args, "--var", value)
				case "tags":
					args = append(args, "--tags", value)
				case "flags":
					for _, f := range strings.Fields(value) {
						args = append(args, "--"+f)
					}
				}
			}
			r := satellite(t, append(args, path)...).want(t, exitFailed)
			for _, w := range wants {
				re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(fmt.Sprintf("%s:%d:", path, w.line)) + `\d+: Error: ` + regexp.QuoteMeta(w.summary))
				if !re.MatchString(r.stderr) {
					t.Errorf("no %q error at line %d:\n%s", w.summary, w.line, r.stderr)
				}
			}
			if !regexp.MustCompile(`\nInvalid: \d+ error\(s\)\.\n$`).MatchString(r.stderr) {
				t.Errorf("no error count at the end:\n%s", r.stderr)
			}
		})
	}
}

func TestValidateUsageErrors(t *testing.T) {
	isolate(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"validate", "--format", "xml", quickstartDir}, `--format must be text or json, not "xml"`},
		{[]string{"validate", "--bogus", quickstartDir}, "unknown flag: --bogus"},
		{[]string{"validate", "--tags", "role", quickstartDir}, "--tags wants k=v pairs"},
		{[]string{"validate", "--var"}, "flag needs an argument"},
		{[]string{"validate", "--limit", "max_cheks=5", quickstartDir}, "there is no such limit"},
		{[]string{"validate", "--limit", "max_checks=0", quickstartDir}, "at least 1"},
	} {
		r := satellite(t, tc.args...)
		if r.code != exitUsage || !strings.Contains(r.stderr, tc.want) || r.stdout != "" {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit 2 and %q", tc.args, r.code, r.stdout, r.stderr, tc.want)
		}
	}
}

func TestValidateMissingAndEmpty(t *testing.T) {
	isolate(t)
	missing := filepath.Join(t.TempDir(), "nope")
	r := satellite(t, "validate", missing).want(t, exitFailed)
	if !strings.Contains(r.stderr, "Error: Config path not found") || !strings.Contains(r.stderr, missing) {
		t.Errorf("stderr = %q", r.stderr)
	}

	// A folder without config files is not a valid config.
	empty := t.TempDir()
	r = satellite(t, "validate", empty).want(t, exitFailed)
	if !strings.Contains(r.stderr, "Warning: No config files") || !strings.HasSuffix(r.stderr, "Invalid: no config files were read.\n") {
		t.Errorf("stderr = %q", r.stderr)
	}
}

const tagsConfig = `agent {
  name = "worker-1"
  tags = { role = "worker" }
}

check "tcp" "everywhere" {
  address = "127.0.0.1:1"
}

check "tcp" "etcd" {
  address = "127.0.0.1:2379"
  only_on = { role = "master" }
}

check "tcp" "etcd_eu" {
  address = "127.0.0.1:2380"
  only_on = { role = "master", zone = "eu-1" }
}

sink "sqlite" "archive" {
  path = "/tmp/satellite-test-archive.db"
}
`

func TestValidateTags(t *testing.T) {
	isolate(t)
	path := writeFile(t, t.TempDir(), "node.hcl", tagsConfig)

	own := parseValid(t, satellite(t, "validate", path).want(t, exitOK).stdout)
	if own != (validSummary{node: "worker-1", running: 1, declared: 3, sinks: 1, hash: own.hash}) {
		t.Errorf("with the agent's tags: %+v", own)
	}
	for _, tc := range []struct {
		tags    string
		running int
	}{
		{"role=master", 2},
		{"role=master,zone=eu-1", 3},
		{" role=master , zone=eu-1 ", 3},
		{"zone=eu-1", 1},
		{"role=worker", 1},
	} {
		got := parseValid(t, satellite(t, "validate", "--tags", tc.tags, path).want(t, exitOK).stdout)
		if got.running != tc.running || got.declared != 3 {
			t.Errorf("--tags %q: %+v, want %d running of 3", tc.tags, got, tc.running)
		}
		// Tags are not part of the config hash.
		if got.hash != own.hash {
			t.Errorf("--tags %q changed the hash: %s, was %s", tc.tags, got.hash, own.hash)
		}
	}
}

func TestValidateUnknownEnv(t *testing.T) {
	isolate(t)
	unsetenv(t, "UNSET_X")
	path := writeFile(t, t.TempDir(), "checks.hcl", `check "http" "api" {
  url = "https://127.0.0.1:6443/${env("UNSET_X")}"
}
`)
	r := satellite(t, "validate", path).want(t, exitFailed)
	if !strings.Contains(r.stderr, `"UNSET_X" is not set`) || !strings.Contains(r.stderr, "--unknown-env") {
		t.Errorf("stderr does not name the variable or the flag:\n%s", r.stderr)
	}
	got := parseValid(t, satellite(t, "validate", "--unknown-env", path).want(t, exitOK).stdout)
	if got.running != 1 {
		t.Errorf("--unknown-env: %+v", got)
	}

	// The repository's fixture for it.
	satellite(t, "validate", "--unknown-env", filepath.Join(validDir, "unknown_env.hcl")).want(t, exitOK)

	// With the variable set it is valid without the flag.
	t.Setenv("UNSET_X", "healthz")
	satellite(t, "validate", path).want(t, exitOK)
}

const varsConfig = `variable "host" {
  type = string
}

variable "port" {
  type    = number
  default = 2379

  validation {
    condition     = var.port > 0 && var.port < 65536
    error_message = "port must be a TCP port number."
  }
}

check "tcp" "etcd" {
  address = "${var.host}:${var.port}"
}
`

func TestValidateVars(t *testing.T) {
	isolate(t)
	dir := t.TempDir()
	path := writeFile(t, dir, "checks.hcl", varsConfig)
	good := writeFile(t, dir, "vars/good.hcl", "host = \"10.0.0.1\"\nport = 2380\n")
	badPort := writeFile(t, dir, "vars/bad_port.hcl", "host = \"10.0.0.1\"\nport = 70000\n")
	extra := writeFile(t, dir, "vars/extra.hcl", "host = \"10.0.0.1\"\nhots = \"x\"\n")

	r := satellite(t, "validate", path).want(t, exitFailed)
	if !strings.Contains(r.stderr, "Error: No value for required variable") || !strings.Contains(r.stderr, "--var host=VALUE") {
		t.Errorf("without a value:\n%s", r.stderr)
	}

	byVar := parseValid(t, satellite(t, "validate", "--var", "host=10.0.0.1", path).want(t, exitOK).stdout)
	byFile := parseValid(t, satellite(t, "validate", "--var-file", good, path).want(t, exitOK).stdout)
	// Variable values are part of the hash: port differs.
	if byVar.hash == byFile.hash {
		t.Errorf("different variable values, same hash %s", byVar.hash)
	}
	both := parseValid(t, satellite(t, "validate", "--var-file", good, "--var", "port=2380", "--var", "host=10.0.0.1", path).want(t, exitOK).stdout)
	if both.hash != byFile.hash {
		t.Errorf("the same values by --var and --var-file: hash %s, by file %s", both.hash, byFile.hash)
	}

	// A bad value from a file fails its validation rule, at the file's line...
	r = satellite(t, "validate", "--var-file", badPort, path).want(t, exitFailed)
	if !strings.Contains(r.stderr, badPort+":2:8: Error: Invalid value for variable") || !strings.Contains(r.stderr, "port must be a TCP port number.") {
		t.Errorf("--var-file with a bad port:\n%s", r.stderr)
	}
	// ...and --var wins over --var-file.
	satellite(t, "validate", "--var-file", badPort, "--var", "port=80", path).want(t, exitOK)

	// --var of a wrong type.
	r = satellite(t, "validate", "--var", "host=h", "--var", "port=eighty", path).want(t, exitFailed)
	if !strings.Contains(r.stderr, "Invalid value for variable") || !strings.Contains(r.stderr, "--var port") {
		t.Errorf("--var port=eighty:\n%s", r.stderr)
	}

	// An undeclared --var is an error, with a suggestion.
	r = satellite(t, "validate", "--var", "host=h", "--var", "hots=x", path).want(t, exitFailed)
	if !strings.Contains(r.stderr, "Error: Value for undeclared variable") || !strings.Contains(r.stderr, `Did you mean "host"?`) {
		t.Errorf("undeclared --var:\n%s", r.stderr)
	}
	// A malformed one too.
	r = satellite(t, "validate", "--var", "host", path).want(t, exitFailed)
	if !strings.Contains(r.stderr, "Error: Invalid --var option") {
		t.Errorf("--var host:\n%s", r.stderr)
	}
	// In a file, an undeclared name is only a warning.
	r = satellite(t, "validate", "--var-file", extra, path).want(t, exitOK)
	if !strings.Contains(r.stderr, extra+":2:1: Warning: Value for undeclared variable") {
		t.Errorf("undeclared name in a var file:\n%s", r.stderr)
	}
	// A missing var file.
	r = satellite(t, "validate", "--var-file", filepath.Join(dir, "nope.hcl"), "--var", "host=h", path).want(t, exitFailed)
	if !strings.Contains(r.stderr, "Cannot read variables file") {
		t.Errorf("missing var file:\n%s", r.stderr)
	}

	// SATELLITE_VAR_name sets a variable, below --var.
	t.Setenv("SATELLITE_VAR_host", "10.0.0.1")
	t.Setenv("SATELLITE_VAR_port", "70000")
	satellite(t, "validate", path).want(t, exitFailed)
	satellite(t, "validate", "--var", "port=80", path).want(t, exitOK)
}

func TestValidateNoEscapeCodes(t *testing.T) {
	isolate(t)
	for _, noColor := range []bool{false, true} {
		if noColor {
			t.Setenv("NO_COLOR", "1")
		} else {
			unsetenv(t, "NO_COLOR")
		}
		for _, args := range [][]string{
			{"validate", quickstartDir},
			{"validate", filepath.Join(validDir, "warnings.hcl")},
			{"validate", filepath.Join(invalidDir, "cycle.hcl")},
			{"validate", "--format", "json", filepath.Join(invalidDir, "cycle.hcl")},
			{"fmt", "--check", filepath.Join(invalidDir, "syntax_error.hcl")},
		} {
			if r := satellite(t, args...); strings.Contains(r.all(), "\x1b") {
				t.Errorf("NO_COLOR=%v %v: escape codes in output:\n%q", noColor, args, r.all())
			}
		}
	}
}

const secretConfig = `variable "token" {
  type      = string
  sensitive = true
  default   = "%s"

  validation {
    condition     = length(var.token) > 100
    error_message = "the token ${var.token} is too short"
  }
}

check "tcp" "leaky" {
  address = var.token
}

check "http" "api" {
  url     = "ftp://${var.token}@127.0.0.1/${var.token}"
  headers = { Authorization = "Bearer ${var.token}" }

  assert {
    condition     = result.status_code == 200
    error_message = "the API said no to ${var.token}"
  }
}
`

// A sensitive variable's value is never printed, in text or JSON, whether it
// comes from a default, --var, --var-file or the environment, also where an
// error message interpolates it or the source line shown contains it.
func TestValidateRedactsSensitiveValues(t *testing.T) {
	isolate(t)
	for _, secret := range []string{
		"hunter2-Zq8w",
		// A quote is escaped where a message uses %q: that form is a leak too.
		`hun"ter2-Zq8w`,
		`hun\ter2-Zq8w`,
	} {
		// Distinctive parts of the secret, so escaped forms are caught.
		parts := []string{"hun", "ter2-Zq8w"}
		dir := t.TempDir()
		quoted := strings.ReplaceAll(strings.ReplaceAll(secret, `\`, `\\`), `"`, `\"`)
		path := writeFile(t, dir, "checks.hcl", fmt.Sprintf(secretConfig, quoted))
		varFile := writeFile(t, dir, "secret.vars.hcl", fmt.Sprintf("token = \"%s\"\n", quoted))
		other := writeFile(t, dir, "other.hcl", fmt.Sprintf(secretConfig, "placeholder-value"))

		for _, tc := range []struct {
			name string
			args []string
			env  bool
		}{
			{"default", []string{path}, false},
			{"--var", []string{"--var", "token=" + secret, other}, false},
			{"--var-file", []string{"--var-file", varFile, other}, false},
			{"environment", []string{other}, true},
		} {
			if tc.env {
				t.Setenv("SATELLITE_VAR_token", secret)
			} else {
				unsetenv(t, "SATELLITE_VAR_token")
			}
			for _, format := range []string{"text", "json"} {
				args := append([]string{"validate", "--format", format}, tc.args...)
				r := satellite(t, args...).want(t, exitFailed)
				for _, p := range parts {
					if strings.Contains(r.all(), p) {
						t.Errorf("secret %q from %s, --format %s: %q appears in the output:\n%s", secret, tc.name, format, p, r.all())
					}
				}
				if !strings.Contains(r.all(), "(sensitive)") {
					t.Errorf("secret %q from %s, --format %s: nothing redacted?\n%s", secret, tc.name, format, r.all())
				}
				if format == "json" {
					decodeDiags(t, r.stdout)
				}
			}
		}
	}
}

func TestValidateDefaultPaths(t *testing.T) {
	isolate(t)
	dir := t.TempDir()
	node := writeFile(t, dir, "node.hcl", "agent {\n  name = \"from-env\"\n}\n")
	checks := filepath.Join(dir, "checks.d")
	writeFile(t, checks, "a.hcl", "check \"tcp\" \"a\" {\n  address = \"127.0.0.1:1\"\n}\n")
	writeFile(t, checks, "b.hcl", "check \"tcp\" \"b\" {\n  address = \"127.0.0.1:2\"\n}\n")

	// SATELLITE_CONFIG: a path list.
	t.Setenv("SATELLITE_CONFIG", node+string(os.PathListSeparator)+checks)
	got := parseValid(t, satellite(t, "validate").want(t, exitOK).stdout)
	if got.node != "from-env" || got.declared != 2 {
		t.Errorf("SATELLITE_CONFIG: %+v", got)
	}
	// Empty elements of the list are skipped.
	sep := string(os.PathListSeparator)
	t.Setenv("SATELLITE_CONFIG", sep+node+sep+sep+checks+sep)
	got = parseValid(t, satellite(t, "validate").want(t, exitOK).stdout)
	if got.node != "from-env" || got.declared != 2 {
		t.Errorf("SATELLITE_CONFIG with empty elements: %+v", got)
	}
	// Arguments win over it.
	got = parseValid(t, satellite(t, "validate", filepath.Join(checks, "a.hcl")).want(t, exitOK).stdout)
	if got.declared != 1 {
		t.Errorf("argument with SATELLITE_CONFIG set: %+v", got)
	}

	// Without either: /etc/satellite, else the current folder.
	t.Setenv("SATELLITE_CONFIG", "")
	if _, err := os.Stat("/etc/satellite"); err == nil {
		t.Skip("/etc/satellite exists on this machine")
	}
	t.Chdir(checks)
	got = parseValid(t, satellite(t, "validate", "--tags", "role=x").want(t, exitOK).stdout)
	if got.declared != 2 {
		t.Errorf("current folder: %+v", got)
	}
}

// TestValidateLimits: a limit reached is an error at FILE:LINE:COL that
// names it and says how to raise it; --limit raises (or lowers) it.
func TestValidateLimits(t *testing.T) {
	isolate(t)
	hostile := filepath.Join("..", "..", "testdata", "hostile")
	r := satellite(t, "validate", filepath.Join(hostile, "deep_default_limit.hcl"))
	if r.code != exitFailed || !strings.Contains(r.stderr, "deep_default_limit.hcl:4:") ||
		!strings.Contains(r.stderr, "Nesting too deep") || !strings.Contains(r.stderr, "max_depth = N") {
		t.Errorf("deep: exit %d, stderr %q", r.code, r.stderr)
	}
	r = satellite(t, "validate", "--limit", "max_depth=400", filepath.Join(hostile, "deep_default_limit.hcl"))
	if strings.Contains(r.stderr, "Nesting too deep") {
		t.Errorf("--limit max_depth=400: stderr %q", r.stderr)
	}
	r = satellite(t, "validate", "--limit", "max_checks=1", quickstartDir)
	if r.code != exitFailed || !strings.Contains(r.stderr, "Over the limit max_checks") {
		t.Errorf("--limit max_checks=1: exit %d, stderr %q", r.code, r.stderr)
	}
	// A sensitive value that fails its type check is not in the snippet.
	r = satellite(t, "validate", filepath.Join(hostile, "sensitive_snippet.hcl"))
	if r.code != exitFailed || strings.Contains(r.stderr, "hunter2") || !strings.Contains(r.stderr, "(sensitive)") {
		t.Errorf("sensitive snippet: exit %d, stderr %q", r.code, r.stderr)
	}
}
