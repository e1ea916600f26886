package tlscheck

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/zclconf/go-cty/cty"

	"github.com/satellite-hq/satellite/checks"
	"github.com/satellite-hq/satellite/dsl"
	"github.com/satellite-hq/satellite/engine"
)

func TestBuildDiagnostics(t *testing.T) {
	tests := []struct {
		name    string
		src     string // the check body; the line marked "# <-" is where the error must point
		summary string
		detail  string
	}{
		{"both", "address = \"127.0.0.1:443\"\nfile = \"cert.pem\" # <-", "Both address and file", "not both"},
		{"no port", `address = "127.0.0.1" # <-`, "Invalid address", "missing port"},
		{"no host", `address = ":443" # <-`, "Address without a host", `"127.0.0.1:443"`},
		{"port 0", `address = "127.0.0.1:0" # <-`, "Invalid port", `port "0"`},
		{"port name", `address = "127.0.0.1:https" # <-`, "Invalid port", `port "https"`},
		{"empty address", `address = "" # <-`, "Invalid address", ""},
		{"empty file", `file = "" # <-`, "Empty path", "file must be the path of a PEM file"},
		{"empty ca_file", "file = \"cert.pem\"\nca_file = \"\" # <-", "Empty path", "ca_file must be"},
		{"empty server_name", "address = \"127.0.0.1:443\"\nserver_name = \"\" # <-", "Empty server name", "leave it out"},
		{"verify not a bool", "address = \"127.0.0.1:443\"\nverify = \"no\" # <-", "Incorrect attribute value type", "bool"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := "check \"tls\" \"t\" {\n" + tt.src + "\n}\n"
			c, diags := build(t, src, "")
			if c != nil {
				t.Error("a checker came back with errors")
			}
			errs := diags.Errs()
			if len(errs) != 1 || len(diags) != 1 {
				t.Fatalf("diags %s, want exactly one error", diags)
			}
			checkDiag(t, src, errs[0].(*hcl.Diagnostic), tt.summary, tt.detail)
		})
	}
}

func TestBuildNeitherAddressNorFile(t *testing.T) {
	src := "check \"tls\" \"t\" {\n  server_name = \"a.test\"\n}\n"
	c, diags := build(t, src, "")
	if c != nil || len(diags) != 1 || !diags.HasErrors() {
		t.Fatalf("checker %v, diags %s; want one error", c, diags)
	}
	d := diags[0]
	if d.Summary != "Missing certificate source" || !strings.Contains(d.Detail, "Set address") || !strings.Contains(d.Detail, "or file") {
		t.Errorf("%q: %q", d.Summary, d.Detail)
	}
	// Nothing to point at but the block header.
	if d.Subject == nil || d.Subject.Start.Line != 1 || src[d.Subject.Start.Byte:d.Subject.End.Byte] != `check "tls" "t"` {
		t.Errorf("subject %v, want the block header", d.Subject)
	}
}

func TestBuildWarnings(t *testing.T) {
	tests := []struct{ src, summary string }{
		{"address = \"127.0.0.1:443\"\nverify = false\nca_file = \"ca.pem\" # <-", "ca_file not used"},
		{"file = \"cert.pem\"\nverify = false\nserver_name = \"a.test\" # <-", "server_name not used"},
	}
	for _, tt := range tests {
		src := "check \"tls\" \"t\" {\n" + tt.src + "\n}\n"
		c, diags := build(t, src, "")
		if c == nil || diags.HasErrors() || len(diags) != 1 {
			t.Fatalf("checker %v, diags %s; want a checker and one warning", c, diags)
		}
		if diags[0].Severity != hcl.DiagWarning {
			t.Errorf("severity %v", diags[0].Severity)
		}
		checkDiag(t, src, diags[0], tt.summary, "verify = false")
	}
	// server_name with an address and verify = false is still the SNI: no warning.
	if _, diags := build(t, "check \"tls\" \"t\" {\naddress = \"127.0.0.1:443\"\nserver_name = \"a.test\"\nverify = false\n}\n", ""); len(diags) != 0 {
		t.Errorf("diags %s", diags)
	}
}

// checkDiag checks a diagnostic's text and that its subject is on the line
// marked "# <-", over the attribute's value.
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
	wantLine := 0
	for i, line := range lines {
		if strings.Contains(line, "# <-") {
			wantLine = i + 1
		}
	}
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

func TestBuildValues(t *testing.T) {
	tests := []struct {
		body, baseDir string
		want          Checker
	}{
		{`address = "127.0.0.1:443"`, "/etc/satellite", Checker{address: "127.0.0.1:443", verify: true}},
		{"address = \"[::1]:443\"\nserver_name = \"a.test\"\nca_file = \"pki/ca.pem\"\nverify = true", "/etc/satellite",
			Checker{address: "[::1]:443", serverName: "a.test", caFile: "/etc/satellite/pki/ca.pem", verify: true}},
		{"file = \"pki/cert.pem\"\nca_file = \"/abs/ca.pem\"", "/etc/satellite",
			Checker{file: "/etc/satellite/pki/cert.pem", caFile: "/abs/ca.pem", verify: true}},
		{"file = \"cert.pem\"\nverify = false", "", Checker{file: "cert.pem"}},
	}
	for _, tt := range tests {
		if c := mustBuild(t, tt.body, tt.baseDir); *c != tt.want {
			t.Errorf("%s: got %+v, want %+v", tt.body, *c, tt.want)
		}
	}
}

func TestBuildUnknown(t *testing.T) {
	unknown := map[string]cty.Value{"s": cty.UnknownVal(cty.String), "b": cty.UnknownVal(cty.Bool)}
	reg := registration(t)
	tests := []struct {
		src     string
		wantErr string
	}{
		{"address = var.s", ""},
		{"file = var.s", ""},
		{"address = \"127.0.0.1:443\"\nca_file = var.s", ""},
		{"address = \"127.0.0.1:443\"\nserver_name = var.s", ""},
		{"address = \"127.0.0.1:443\"\nverify = var.b", ""},
		{"address = var.s\nfile = \"cert.pem\"", "Both address and file"},
		{"address = \"127.0.0.1\"\nca_file = var.s", "Invalid address"},
	}
	if c, diags := reg.Build(cty.UnknownVal(hcldec.ImpliedType(Spec)), checks.Env{}); c != nil || len(diags) > 0 {
		t.Errorf("a wholly unknown body: checker %v, diags %s", c, diags)
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			ds := decodeChecks(t, "check \"tls\" \"t\" {\n"+tt.src+"\n}\n", "", unknown)
			if ds[0].diags.HasErrors() {
				t.Fatalf("decode: %s", ds[0].diags)
			}
			c, diags := reg.Build(ds[0].val, ds[0].env)
			if tt.wantErr == "" && diags.HasErrors() {
				t.Errorf("unexpected errors: %s", diags)
			}
			if tt.wantErr != "" && !strings.Contains(diags.Error(), tt.wantErr) {
				t.Errorf("diags %q, want %q", diags.Error(), tt.wantErr)
			}
			if c != nil {
				t.Error("a checker came back for an unknown value")
			}
		})
	}
}

func TestRegistration(t *testing.T) {
	reg := registration(t)
	if reg.Doc == "" || !reg.HasMetric(MetricExpiresInDays) {
		t.Errorf("doc %q metrics %v", reg.Doc, reg.Metrics)
	}
	rt := reg.ResultType()
	for name, ty := range ResultAttrs {
		if !rt.HasAttribute(name) || !rt.AttributeType(name).Equals(ty) {
			t.Errorf("result.%s not declared as %s", name, ty.FriendlyName())
		}
	}
	for _, meta := range []string{"interval", "timeout", "only_on", "depends_on", "labels", "sinks", "threshold", "assert", "for_each"} {
		if _, ok := Spec[meta]; ok {
			t.Errorf("spec declares meta-argument %s", meta)
		}
	}
	if _, ok := Spec["insecure_skip_verify"]; ok {
		t.Error("insecure_skip_verify is offered; verify = false is the way")
	}
	var _ checks.Checker = (*Checker)(nil)
}

// compile loads src as a whole config and compiles it, as `satellite
// validate` does.
func compile(t *testing.T, src string, unknownEnv bool) (*engine.Plan, hcl.Diagnostics) {
	t.Helper()
	cfg, diags := dsl.LoadSource("sample.hcl", []byte(src), dsl.Options{
		UnknownEnv: unknownEnv,
		LookupEnv:  func(string) (string, bool) { return "", false },
		Hostname:   func() (string, error) { return "node-1", nil },
	})
	if diags.HasErrors() {
		return nil, diags
	}
	plan, more := engine.Compile(cfg)
	return plan, append(diags, more...)
}

func TestSampleValidates(t *testing.T) {
	reg := registration(t)
	for _, unknownEnv := range []bool{true, false} {
		plan, diags := compile(t, reg.Sample, unknownEnv)
		if len(diags) > 0 {
			t.Fatalf("the sample does not validate on its own (unknown env %v):\n%s", unknownEnv, diags)
		}
		if len(plan.Checks) < 3 {
			t.Errorf("%d checks in the sample", len(plan.Checks))
		}
		for _, c := range plan.Checks {
			if c.Checker == nil {
				t.Errorf("%s: no checker", c.Address)
			}
		}
	}
}

// The whole path from HCL to verdict: a threshold on expires_in_days and an
// assert on the certificate's names, against a loopback TLS server.
func TestEvaluateThroughEngine(t *testing.T) {
	p := newPKI(t)
	addr := serveTLS(t, p.leaf, nil)
	plan, diags := compile(t, fmt.Sprintf(`
check "tls" "ok" {
  address = %[1]q
  ca_file = %[2]q
  threshold "expires_in_days" {
    warn      = 14
    crit      = 7
    direction = "below"
  }
  assert {
    condition     = contains(result.dns_names, "health.test") && result.issuer == "CN=satellite test intermediate"
    error_message = "names ${join(", ", result.dns_names)}"
  }
}

check "tls" "soon" {
  address = %[1]q
  ca_file = %[2]q
  threshold "expires_in_days" {
    warn      = 60
    crit      = 7
    direction = "below"
  }
}

check "tls" "name" {
  file    = %[3]q
  verify  = false
  assert {
    condition     = contains(result.dns_names, "etcd-1.internal")
    error_message = "the certificate of ${result.subject} is for ${join(", ", result.dns_names)}, until ${result.not_after}"
  }
}
`, addr, p.dir+"/"+fileCA, p.dir+"/"+fileChain), false)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	cases := []struct {
		addr   string
		status checks.Status
		errHas string
	}{
		{"tls.ok", checks.StatusPassing, ""},
		{"tls.soon", checks.StatusWarning, "below the warning threshold 60"},
		{"tls.name", checks.StatusCritical, "the certificate of CN=leaf,O=satellite is for localhost, health.test, until " + p.leaf.Leaf.NotAfter.UTC().Format(time.RFC3339)},
	}
	for _, tc := range cases {
		c, ok := plan.Check(tc.addr)
		if !ok {
			t.Fatalf("no check %s", tc.addr)
		}
		v := c.Evaluate(run(c.Checker, 5*time.Second), 0)
		if v.Status != tc.status || !strings.Contains(v.Error, tc.errHas) {
			t.Errorf("%s: %s %q, want %s containing %q", tc.addr, v.Status, v.Error, tc.status, tc.errHas)
		}
	}
}

// Every example of the type's doc page validates.
func TestDocExamples(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "docs", "checks", Type+".md"))
	if err != nil {
		t.Skipf("no doc page: %v", err)
	}
	blocks := strings.Split(string(data), "```hcl\n")[1:]
	if len(blocks) == 0 {
		t.Fatal("no hcl example in the doc page")
	}
	for i, b := range blocks {
		src, _, _ := strings.Cut(b, "```")
		if _, diags := compile(t, src, true); len(diags) > 0 {
			t.Errorf("example %d does not validate:\n%s\n%s", i+1, src, diags)
		}
	}
}
