package dnscheck

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/miekg/dns"
	"github.com/zclconf/go-cty/cty"

	"github.com/satellite-hq/satellite/checks"
	"github.com/satellite-hq/satellite/dsl"
	"github.com/satellite-hq/satellite/engine"
)

func TestBuildDiagnostics(t *testing.T) {
	long := strings.Repeat("x", 64)
	tests := []struct {
		name    string
		src     string // the check body; the line marked "# <-" is where the error must point
		summary string
		detail  string
	}{
		{"empty name", `name = "" # <-`, "Invalid name", "must not be empty"},
		{"root name", `name = "." # <-`, "Invalid name", "must not be empty"},
		{"empty label", `name = "a..test" # <-`, "Invalid name", `"a..test" is not a domain name`},
		{"long label", `name = "` + long + `.test" # <-`, "Invalid name", "63 characters"},
		{"unknown record type", "name = \"a.test\"\nrecord_type = \"MX\" # <-", "Unknown record type", `"MX" is not a record type this check knows; use one of A, AAAA, CNAME, NS, SRV, TXT.`},
		{"empty record type", "name = \"a.test\"\nrecord_type = \"\" # <-", "Unknown record type", "A, AAAA"},
		{"empty server", "name = \"a.test\"\nserver = \"\" # <-", "Empty server", "leave it out to ask the nameservers of /etc/resolv.conf"},
		{"server without host", "name = \"a.test\"\nserver = \":53\" # <-", "Server without a host", `"127.0.0.1:53"`},
		{"server port 0", "name = \"a.test\"\nserver = \"127.0.0.1:0\" # <-", "Invalid port", `port "0"`},
		{"server port name", "name = \"a.test\"\nserver = \"127.0.0.1:domain\" # <-", "Invalid port", `port "domain"`},
		{"server port too big", "name = \"a.test\"\nserver = \"[::1]:65536\" # <-", "Invalid port", `"65536"`},
		{"server colons", "name = \"a.test\"\nserver = \"a:b:c\" # <-", "Invalid server address", "too many colons"},
		{"server bracket", "name = \"a.test\"\nserver = \"[::1\" # <-", "Invalid server address", "missing ']'"},
		{"protocol", "name = \"a.test\"\nprotocol = \"https\" # <-", "Unknown protocol", `"udp" (the default) or "tcp"`},
		{"A expects IPv4", "name = \"a.test\"\nexpect = [\"10.0.0.1\", \"2001:db8::1\"] # <-", "Invalid expect value", `"2001:db8::1" cannot be a A answer: an A record holds an IPv4 address`},
		{"A expects an IP", "name = \"a.test\"\nexpect = [\"a.test\"] # <-", "Invalid expect value", "not an IP address"},
		{"AAAA expects IPv6", "name = \"a.test\"\nrecord_type = \"AAAA\"\nexpect = [\"10.0.0.1\"] # <-", "Invalid expect value", "use record_type = \"A\" for IPv4"},
		{"AAAA zone", "name = \"a.test\"\nrecord_type = \"AAAA\"\nexpect = [\"fe80::1%eth0\"] # <-", "Invalid expect value", "not an IP address"},
		{"CNAME expects a name", "name = \"www.test\"\nrecord_type = \"CNAME\"\nexpect = [\"a..test\"] # <-", "Invalid expect value", "not a domain name"},
		{"NS empty", "name = \"test\"\nrecord_type = \"NS\"\nexpect = [\"\"] # <-", "Invalid expect value", "not a domain name"},
		{"SRV without port", "name = \"_x._tcp.test\"\nrecord_type = \"SRV\"\nexpect = [\"etcd-1.test\"] # <-", "Invalid expect value", `"target:port"`},
		{"SRV bad port", "name = \"_x._tcp.test\"\nrecord_type = \"SRV\"\nexpect = [\"etcd-1.test:70000\"] # <-", "Invalid expect value", "0 to 65535"},
		{"SRV no target", "name = \"_x._tcp.test\"\nrecord_type = \"SRV\"\nexpect = [\":2380\"] # <-", "Invalid expect value", "target is not a domain name"},
		{"expect null", "name = \"a.test\"\nexpect = [\"10.0.0.1\", null] # <-", "Invalid value", "must not contain null"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := "check \"dns\" \"t\" {\n" + tt.src + "\n}\n"
			c, diags := build(t, src)
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

func TestBuildMissingName(t *testing.T) {
	ds := decodeChecks(t, "check \"dns\" \"t\" {\n  record_type = \"A\"\n}\n", nil)
	if !ds[0].diags.HasErrors() || !strings.Contains(ds[0].diags.Error(), "name") {
		t.Errorf("decode diags %s, want a missing name", ds[0].diags)
	}
	c, diags := registration(t).Build(ds[0].val, ds[0].env)
	if c != nil || !diags.HasErrors() || !strings.Contains(diags.Error(), `"name" is required`) {
		t.Errorf("Build with no name: checker %v, diags %s", c, diags)
	}
}

func TestBuildValues(t *testing.T) {
	tests := []struct {
		body, name, server, network, typ string
		expect                           []string
	}{
		{`name = "a.test"`, "a.test.", "", "udp", "A", nil},
		{"name = \"a.test.\"\nserver = \"10.0.0.2\"", "a.test.", "10.0.0.2:53", "udp", "A", nil},
		{"name = \"a.test\"\nserver = \"::1\"", "a.test.", "[::1]:53", "udp", "A", nil},
		{"name = \"a.test\"\nserver = \"[::1]\"", "a.test.", "[::1]:53", "udp", "A", nil},
		{"name = \"a.test\"\nserver = \"[::1]:5353\"", "a.test.", "[::1]:5353", "udp", "A", nil},
		{"name = \"a.test\"\nserver = \"dns.internal\"", "a.test.", "dns.internal:53", "udp", "A", nil},
		{"name = \"a.test\"\nserver = \"dns.internal:5353\"\nprotocol = \"TCP\"", "a.test.", "dns.internal:5353", "tcp", "A", nil},
		{"name = \"a.test\"\nrecord_type = \"aaaa\"\nexpect = [\"2001:DB8::1\", \"::ffff:10.0.0.1\"]", "a.test.", "", "udp", "AAAA", []string{"2001:db8::1", "10.0.0.1"}},
		{"name = \"_x._tcp.test\"\nrecord_type = \"SRV\"\nexpect = [\"Etcd-1.Test:2380\"]", "_x._tcp.test.", "", "udp", "SRV", []string{"etcd-1.test.:2380"}},
		{"name = \"t.test\"\nrecord_type = \"TXT\"\nexpect = [\"\", \"Mixed Case\"]", "t.test.", "", "udp", "TXT", []string{"", "Mixed Case"}},
		{"name = \"t.test\"\nexpect = []", "t.test.", "", "udp", "A", nil},
	}
	for _, tt := range tests {
		t.Run(tt.body, func(t *testing.T) {
			c := mustBuild(t, tt.body)
			var keys []string
			for _, e := range c.expect {
				keys = append(keys, e.key)
			}
			if c.name != tt.name || c.server != tt.server || c.network != tt.network || c.typeName != tt.typ ||
				c.qtype != recordTypes[tt.typ] || fmt.Sprint(keys) != fmt.Sprint(tt.expect) {
				t.Errorf("got name %q server %q network %q type %s/%d expect %q", c.name, c.server, c.network, c.typeName, c.qtype, keys)
			}
		})
	}
}

func TestBuildUnknown(t *testing.T) {
	// validate --unknown-env: env() values are unknown; Build checks the rest.
	unknown := map[string]cty.Value{"s": cty.UnknownVal(cty.String), "l": cty.UnknownVal(cty.List(cty.String))}
	reg := registration(t)
	tests := []struct {
		src     string
		wantErr string // "" for no error
	}{
		{"name = var.s", ""},
		{"name = \"a.test\"\nserver = var.s", ""},
		{"name = \"a.test\"\nexpect = var.l", ""},
		{"name = \"a.test\"\nexpect = [var.s]", ""},
		{"name = \"a.test\"\nprotocol = var.s", ""},
		// The record type is unknown: the expect values cannot be judged yet.
		{"name = \"a.test\"\nrecord_type = var.s\nexpect = [\"not an address\"]", ""},
		{"name = var.s\nrecord_type = \"MX\"", "Unknown record type"},
		{"name = var.s\nserver = \"a:b:c\"", "Invalid server address"},
		{"name = var.s\nexpect = [\"nope\"]", "Invalid expect value"},
	}
	if c, diags := reg.Build(cty.UnknownVal(hcldec.ImpliedType(Spec)), checks.Env{}); c != nil || len(diags) > 0 {
		t.Errorf("a wholly unknown body: checker %v, diags %s", c, diags)
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			ds := decodeChecks(t, "check \"dns\" \"t\" {\n"+tt.src+"\n}\n", unknown)
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
	if reg.Doc == "" {
		t.Error("no Doc")
	}
	for _, m := range []string{MetricLatency, MetricAnswers} {
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
	for _, meta := range []string{"interval", "timeout", "only_on", "depends_on", "labels", "sinks", "threshold", "assert", "for_each"} {
		if _, ok := Spec[meta]; ok {
			t.Errorf("spec declares meta-argument %s", meta)
		}
	}
	for name, typ := range recordTypes {
		if dns.TypeToString[typ] != name {
			t.Errorf("record type %s maps to %s", name, dns.TypeToString[typ])
		}
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
	plan, diags := compile(t, reg.Sample, true)
	if len(diags) > 0 {
		t.Fatalf("the sample does not validate on its own:\n%s", diags)
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

// The whole path from HCL to verdict: a threshold on answers and an assert
// on result.answers and result.rcode, against a loopback server.
func TestEvaluateThroughEngine(t *testing.T) {
	srv := newServer(t)
	plan, diags := compile(t, fmt.Sprintf(`
check "dns" "ok" {
  name   = "a.test"
  server = %[1]q
  assert {
    condition     = contains(result.answers, "10.0.0.2") && result.rcode == "NOERROR"
    error_message = "answers ${jsonencode(result.answers)}"
  }
}

check "dns" "few" {
  name   = "a.test"
  server = %[1]q
  threshold "answers" {
    warn      = 3
    crit      = 1
    direction = "below"
  }
}

check "dns" "spf" {
  name        = "txt.test"
  record_type = "TXT"
  server      = %[1]q
  protocol    = "tcp"
  assert {
    condition     = length([for t in result.answers : t if can(regex("^v=spf1 ", t))]) == 2
    error_message = "want two SPF records, got ${jsonencode(result.answers)}"
  }
}
`, srv.addr), false)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	cases := []struct {
		addr   string
		status checks.Status
		errHas string
	}{
		{"dns.ok", checks.StatusPassing, ""},
		{"dns.few", checks.StatusWarning, "answers 2 is below the warning threshold 3"},
		{"dns.spf", checks.StatusCritical, `want two SPF records, got ["v=spf1 ip4:10.0.0.0/8 -all","hello world"]`},
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
