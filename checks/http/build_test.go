package httpcheck

import (
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/satellite-hq/satellite/checks"
	"github.com/zclconf/go-cty/cty"
)

func TestBuildDiagnostics(t *testing.T) {
	tests := []struct {
		name    string
		src     string // the check block; the line marked "# <-" is where the error must point
		summary string
		detail  string
	}{
		{"scheme", `url = "ftp://files.internal/x" # <-`, "Unsupported URL scheme", `scheme "ftp"`},
		{"no scheme", `url = "127.0.0.1:8080/health" # <-`, "Missing URL scheme", `"http://127.0.0.1:8080/health"`},
		{"no host", `url = "http:///health" # <-`, "URL without a host", ""},
		{"unparsable", `url = "http://[::1/" # <-`, "Invalid URL", ""},
		{"bad port", `url = "http://127.0.0.1:70000/" # <-`, "Invalid port", "70000"},
		{"method", "url = \"http://127.0.0.1/\"\nmethod = \"GE T\" # <-", "Invalid HTTP method", `"GE T"`},
		{"empty method", "url = \"http://127.0.0.1/\"\nmethod = \"\" # <-", "Invalid HTTP method", ""},
		{"header name", "url = \"http://127.0.0.1/\"\nheaders = { \"X Bad\" = \"1\" } # <-", "Invalid header name", `"X Bad"`},
		{"header value", "url = \"http://127.0.0.1/\"\nheaders = { X-Ok = \"a\\nb\" } # <-", "Invalid header value", ""},
		{"status word", "url = \"http://127.0.0.1/\"\nexpect_status = [200, \"ok\"] # <-", "Invalid expect_status", `"ok"`},
		{"status too small", "url = \"http://127.0.0.1/\"\nexpect_status = [99] # <-", "Invalid expect_status", "99 is not an HTTP status code"},
		{"status fraction", "url = \"http://127.0.0.1/\"\nexpect_status = [200.5] # <-", "Invalid expect_status", "200.5"},
		{"status class", "url = \"http://127.0.0.1/\"\nexpect_status = [\"6xx\"] # <-", "Invalid expect_status", "1xx to 5xx"},
		{"status range order", "url = \"http://127.0.0.1/\"\nexpect_status = [\"299-200\"] # <-", "Invalid expect_status", "lower code first"},
		{"status range open", "url = \"http://127.0.0.1/\"\nexpect_status = [\"200-\"] # <-", "Invalid expect_status", ""},
		{"status empty", "url = \"http://127.0.0.1/\"\nexpect_status = [] # <-", "Invalid expect_status", "empty"},
		{"status bool", "url = \"http://127.0.0.1/\"\nexpect_status = true # <-", "Invalid expect_status", "bool"},
		{"status null element", "url = \"http://127.0.0.1/\"\nexpect_status = [200, null] # <-", "Invalid expect_status", "null"},
		{"empty socket", "url = \"http://docker/_ping\"\nunix_socket = \"\" # <-", "Empty socket path", ""},
		{"cert without key", "url = \"https://127.0.0.1/\"\ntls {\n  ca_file   = \"ca.pem\"\n  cert_file = \"client.pem\" # <-\n}", "Client certificate without key", ""},
		{"key without cert", "url = \"https://127.0.0.1/\"\ntls {\n  key_file = \"client-key.pem\" # <-\n}", "Client key without certificate", ""},
		{"empty ca_file", "url = \"https://127.0.0.1/\"\ntls {\n  ca_file = \"\" # <-\n}", "Empty value", "tls.ca_file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := "check \"http\" \"t\" {\n" + tt.src + "\n}\n"
			c, diags := build(t, src, t.TempDir())
			if !diags.HasErrors() {
				t.Fatalf("no error; diags %v", diags)
			}
			if c != nil {
				t.Error("a checker came back with errors")
			}
			errs := diags.Errs()
			if len(errs) != 1 {
				t.Fatalf("%d errors, want 1: %s", len(errs), diags)
			}
			d := errs[0].(*hcl.Diagnostic)
			checkDiag(t, src, d, tt.summary, tt.detail)
		})
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
	wantLine := 0
	for i, line := range strings.Split(src, "\n") {
		if strings.Contains(line, "# <-") {
			wantLine = i + 1
		}
	}
	if d.Subject == nil {
		t.Fatal("no subject")
	}
	if d.Subject.Filename != "test.hcl" || d.Subject.Start.Line != wantLine {
		t.Errorf("subject %s, want test.hcl line %d", d.Subject, wantLine)
	}
	lines := strings.Split(src, "\n")
	line := lines[wantLine-1]
	got := src[d.Subject.Start.Byte:d.Subject.End.Byte]
	value := strings.TrimSpace(strings.SplitN(strings.SplitN(line, "=", 2)[1], "# <-", 2)[0])
	if got != value {
		t.Errorf("subject covers %q, want the value %q", got, value)
	}
}

func TestBuildWarnings(t *testing.T) {
	src := "check \"http\" \"t\" {\nurl = \"http://127.0.0.1/\"\nmethod = \"post\" # <-\n}\n"
	c, diags := build(t, src, "")
	if diags.HasErrors() || len(diags) != 1 || c == nil {
		t.Fatalf("checker %v, diags %s; want one warning and a checker", c, diags)
	}
	if diags[0].Severity != hcl.DiagWarning {
		t.Errorf("severity %v", diags[0].Severity)
	}
	checkDiag(t, src, diags[0], "Lower-case HTTP method", `"POST"`)

	src = "check \"http\" \"t\" {\nurl = \"https://127.0.0.1/\"\ntls {\n  ca_file = \"ca.pem\"\n  insecure_skip_verify = true # <-\n}\n}\n"
	c, diags = build(t, src, "")
	if diags.HasErrors() || len(diags) != 1 || c == nil {
		t.Fatalf("checker %v, diags %s; want one warning and a checker", c, diags)
	}
	checkDiag(t, src, diags[0], "Certificate check turned off", "")
}

func TestBuildMissingURL(t *testing.T) {
	// hcldec reports a missing url; Build must not return a checker either way.
	ds := decodeChecks(t, "check \"http\" \"t\" {\n  method = \"GET\"\n}\n", "", nil)
	if !ds[0].diags.HasErrors() || !strings.Contains(ds[0].diags.Error(), "url") {
		t.Errorf("decode diags %s, want a missing url", ds[0].diags)
	}
	c, diags := registration(t).Build(ds[0].val, ds[0].env)
	if c != nil || !diags.HasErrors() {
		t.Errorf("Build with no url: checker %v, diags %s", c, diags)
	}
}

func TestBuildDefaults(t *testing.T) {
	c := mustBuild(t, `url = "http://127.0.0.1:8080/health"`, "").(*Checker)
	if c.method != "GET" || !c.follow || c.expect.String() != "200-399" || c.hasBody || c.unixSocket != "" {
		t.Errorf("defaults: method %q follow %v expect %s body %v socket %q", c.method, c.follow, c.expect, c.hasBody, c.unixSocket)
	}
	if c.client != nil {
		t.Error("Build made the HTTP client; it is made at the first run")
	}
}

func TestBuildResolvesPaths(t *testing.T) {
	c := mustBuild(t, `
  url         = "https://127.0.0.1/"
  unix_socket = "run/api.sock"
  tls {
    ca_file   = "pki/ca.pem"
    cert_file = "/abs/client.pem"
    key_file  = "client-key.pem"
  }`, "/etc/satellite").(*Checker)
	if c.unixSocket != "/etc/satellite/run/api.sock" || c.tls.CAFile != "/etc/satellite/pki/ca.pem" ||
		c.tls.CertFile != "/abs/client.pem" || c.tls.KeyFile != "/etc/satellite/client-key.pem" {
		t.Errorf("paths: socket %q ca %q cert %q key %q", c.unixSocket, c.tls.CAFile, c.tls.CertFile, c.tls.KeyFile)
	}
}

func TestBuildUnknown(t *testing.T) {
	// validate --unknown-env: env() values are unknown; Build checks the rest.
	unknown := map[string]cty.Value{"u": cty.UnknownVal(cty.String), "m": cty.UnknownVal(cty.Map(cty.String))}
	reg := registration(t)
	tests := []struct {
		src      string
		wantErr  string // "" for no error
		wantNone bool   // Build may not return a checker
	}{
		{"url = var.u", "", true},
		{"url = var.u\nmethod = \"GE T\"", "Invalid HTTP method", true},
		{"url = var.u\nexpect_status = [\"nope\"]", "Invalid expect_status", true},
		{"url = \"http://127.0.0.1/\"\nheaders = var.m", "", true},
		{"url = \"http://127.0.0.1/\"\nexpect_status = [200, var.u]", "", true},
		{"url = \"http://127.0.0.1/\"\ntls {\n ca_file = var.u\n}", "", true},
		{"url = \"http://127.0.0.1/\"\ntls {\n cert_file = var.u\n}", "Client certificate without key", true},
		{"url = \"ftp://x/\"\nbody = var.u", "Unsupported URL scheme", true},
		{"url = \"http://127.0.0.1/\"\nheaders = { Authorization = var.u }", "", true},
	}
	if c, diags := reg.Build(cty.UnknownVal(hcldec.ImpliedType(Spec)), checks.Env{}); c != nil || len(diags) > 0 {
		t.Errorf("a wholly unknown body: checker %v, diags %s", c, diags)
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			ds := decodeChecks(t, "check \"http\" \"t\" {\n"+tt.src+"\n}\n", "", unknown)
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
			if tt.wantNone && c != nil {
				t.Error("a checker came back for an unknown value")
			}
		})
	}
}

func TestSample(t *testing.T) {
	reg := registration(t)
	if reg.Sample == "" || reg.Doc == "" {
		t.Fatal("registration lacks Sample or Doc")
	}
	ds := decodeChecks(t, reg.Sample, "/etc/satellite", nil)
	if len(ds) == 0 {
		t.Fatal("sample has no check block")
	}
	for _, d := range ds {
		if d.diags.HasErrors() {
			t.Fatalf("decode sample: %s", d.diags)
		}
		c, diags := reg.Build(d.val, d.env)
		if len(diags) > 0 || c == nil {
			t.Errorf("sample check at %s: checker %v, diags %s", d.env.Block, c, diags)
		}
	}
}

func TestRegistration(t *testing.T) {
	reg := registration(t)
	for _, m := range []string{MetricLatency, MetricStatusCode, MetricTLSExpiryDays} {
		if !reg.HasMetric(m) {
			t.Errorf("metric %s not declared", m)
		}
	}
	rt := reg.ResultType()
	for name, ty := range ResultAttrs {
		if !rt.HasAttribute(name) || !rt.AttributeType(name).Equals(ty) {
			t.Errorf("result.%s not declared as %s", name, ty.FriendlyName())
		}
	}
	// Meta-arguments belong to the engine, not to the type's spec.
	for _, meta := range []string{"interval", "timeout", "only_on", "depends_on", "labels", "sinks", "threshold", "assert", "for_each"} {
		if _, ok := Spec[meta]; ok {
			t.Errorf("spec declares meta-argument %s", meta)
		}
	}
	var _ checks.Checker = (*Checker)(nil)
}
