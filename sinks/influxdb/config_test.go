package influxdb

import (
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/satellite-hq/satellite/dsl"
	"github.com/satellite-hq/satellite/engine"
	"github.com/satellite-hq/satellite/sinks"
)

// compile loads src, a config file in dir, the way the agent does: the
// engine splits off the meta-arguments and hands the rest to Build.
func compile(t *testing.T, src, dir string, unknownEnv bool) (*engine.Plan, hcl.Diagnostics) {
	t.Helper()
	opts := dsl.Options{LookupEnv: func(k string) (string, bool) {
		if k == "INFLUX_TOKEN" {
			return "s3cret", true
		}
		return "", false
	}, UnknownEnv: unknownEnv}
	cfg, diags := dsl.LoadSource(filepath.Join(dir, "sinks.hcl"), []byte(src), opts)
	if diags.HasErrors() {
		return nil, diags
	}
	plan, more := engine.Compile(cfg)
	return plan, append(diags, more...)
}

func TestBuild(t *testing.T) {
	dir := t.TempDir()
	src := `sink "influxdb" "tsdb" {
  url                = "https://influx.internal:8086/proxy/"
  token              = env("INFLUX_TOKEN")
  org                = "ops"
  bucket             = "satellite/autogen"
  measurement_prefix = "sat_"
  timeout            = 3
  batch_size         = 5000
  flush_interval     = "2s"
  tls {
    ca_file     = "pki/ca.pem"
    cert_file   = "/etc/pki/client.pem"
    key_file    = "/etc/pki/client-key.pem"
    server_name = "influx"
  }
}
`
	plan, diags := compile(t, src, dir, false)
	if len(diags) > 0 {
		t.Fatal(diags)
	}
	if len(plan.Sinks) != 1 || plan.Sinks[0].BatchSize != 5000 || plan.Sinks[0].FlushInterval != 2*time.Second {
		t.Fatalf("plan sinks %+v", plan.Sinks)
	}
	want := &Config{
		URL: "https://influx.internal:8086/proxy/", Token: "s3cret", Org: "ops", Bucket: "satellite/autogen",
		MeasurementPrefix: "sat_", Timeout: 3 * time.Second,
		TLS: TLSOptions{CAFile: filepath.Join(dir, "pki/ca.pem"), CertFile: "/etc/pki/client.pem", KeyFile: "/etc/pki/client-key.pem", ServerName: "influx"},
	}
	if got, ok := plan.Sinks[0].Opener.(*Config); !ok || !reflect.DeepEqual(got, want) {
		t.Errorf("got %#v\nwant %#v", plan.Sinks[0].Opener, want)
		if ok {
			t.Errorf("fields: %+v", *got)
		}
	}
	if c, ch := want.Measurements(); c != "sat_check" || ch != "sat_state_change" {
		t.Errorf("measurements %s, %s", c, ch)
	}

	// The defaults.
	plan, diags = compile(t, "sink \"influxdb\" \"t\" {\n  url = \"http://127.0.0.1:8086\"\n  bucket = \"b\"\n}\n", dir, false)
	if len(diags) > 0 {
		t.Fatal(diags)
	}
	want = &Config{URL: "http://127.0.0.1:8086", Bucket: "b", MeasurementPrefix: DefaultMeasurementPrefix, Timeout: DefaultTimeout}
	if got := plan.Sinks[0].Opener.(*Config); !reflect.DeepEqual(got, want) {
		t.Errorf("defaults: got %+v, want %+v", *got, *want)
	}
}

func TestBuildDiagnostics(t *testing.T) {
	for _, tc := range []struct {
		name, body, summary, detail string
		warning                     bool
	}{
		{"no scheme", `url = "influx:8086" # <-`, "Missing URL scheme", `"http://influx:8086"`, false},
		{"scheme", `url = "udp://influx:8089" # <-`, "Unsupported URL scheme", `"udp"`, false},
		{"credentials", `url = "http://admin:hunter2@influx:8086" # <-`, "Credentials in the URL", "token", false},
		{"no host", `url = "http:///x" # <-`, "URL without a host", "", false},
		{"query", `url = "http://influx:8086/?db=x" # <-`, "URL with a query", "", false},
		{"unparsable", `url = "http://[::1/" # <-`, "Invalid URL", "", false},
		{"empty bucket", "bucket = \" \" # <-", "Empty bucket", "satellite/autogen", false},
		{"token newline", "token = \"abc\\n\" # <-", "Invalid token", "line break", false},
		{"prefix underscore", "measurement_prefix = \"_sat\" # <-", "Invalid measurement prefix", `"_"`, false},
		{"prefix control", "measurement_prefix = \"a\\tb\" # <-", "Invalid measurement prefix", "control character", false},
		{"zero timeout", "timeout = \"0s\" # <-", "Invalid timeout", "positive", false},
		{"bad timeout", "timeout = \"soon\" # <-", "Invalid duration", "", false},
		{"cert without key", "url = \"https://127.0.0.1:8086\"\ntls {\n  cert_file = \"c.pem\" # <-\n}", "Client certificate without key", "", false},
		{"key without cert", "url = \"https://127.0.0.1:8086\"\ntls {\n  key_file = \"k.pem\" # <-\n}", "Client key without certificate", "", false},
		{"empty ca_file", "url = \"https://127.0.0.1:8086\"\ntls {\n  ca_file = \"\" # <-\n}", "Empty value", "tls.ca_file", false},
		{"tls for http", "tls {\n  server_name = \"x\" # <-\n}", "TLS settings for an http:// URL", "not used", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := tc.body
			if !strings.HasPrefix(body, "url") {
				body = "url = \"http://127.0.0.1:8086\"\n" + body
			}
			if !strings.Contains(body, "bucket") {
				body += "\nbucket = \"b\""
			}
			src := "sink \"influxdb\" \"t\" {\n" + body + "\n}\n"
			plan, diags := compile(t, src, t.TempDir(), false)
			if len(diags) != 1 {
				t.Fatalf("%d diagnostics, want 1: %v", len(diags), diags)
			}
			d := diags[0]
			wantSev := hcl.DiagError
			if tc.warning {
				wantSev = hcl.DiagWarning
			}
			if d.Severity != wantSev || d.Summary != tc.summary || !strings.Contains(d.Detail, tc.detail) || !strings.HasSuffix(d.Detail, ".") {
				t.Errorf("got %v %q: %q; want %v %q containing %q", d.Severity, d.Summary, d.Detail, wantSev, tc.summary, tc.detail)
			}
			line := 1 + len(strings.Split(src[:strings.Index(src, "# <-")], "\n")) - 1
			if d.Subject == nil || d.Subject.Start.Line != line || filepath.Base(d.Subject.Filename) != "sinks.hcl" {
				t.Errorf("diagnostic at %v, want sinks.hcl line %d", d.Subject, line)
			}
			if strings.Contains(d.Detail, "hunter2") || strings.Contains(d.Detail, "abc") {
				t.Errorf("the detail shows a secret: %q", d.Detail)
			}
			if !tc.warning && plan != nil && len(plan.Sinks) == 1 && plan.Sinks[0].Opener != nil {
				t.Error("an Opener came back with errors")
			}
		})
	}

	// Missing required attributes are the spec's own errors.
	for _, src := range []string{`bucket = "b"`, `url = "http://127.0.0.1:8086"`} {
		if _, diags := compile(t, "sink \"influxdb\" \"t\" {\n"+src+"\n}\n", t.TempDir(), false); !diags.HasErrors() {
			t.Errorf("no error for %s alone", src)
		}
	}
}

// validate --unknown-env: a token (or anything) from env() is unknown; the
// block is checked as far as it can be, without error, and not built.
func TestBuildUnknown(t *testing.T) {
	src := `sink "influxdb" "t" {
  url    = env("INFLUX_URL")
  token  = env("INFLUX_TOKEN")
  bucket = "b"
  tls {
    ca_file = env("CA")
  }
}
`
	plan, diags := compile(t, src, t.TempDir(), true)
	if len(diags) > 0 {
		t.Fatal(diags)
	}
	if plan.Sinks[0].Opener != nil {
		t.Errorf("Opener %v built from unknown values", plan.Sinks[0].Opener)
	}
	// Known mistakes are still reported.
	_, diags = compile(t, strings.Replace(src, `bucket = "b"`, `bucket = ""`, 1), t.TempDir(), true)
	if len(diags) != 1 || diags[0].Summary != "Empty bucket" {
		t.Errorf("diagnostics %v, want Empty bucket", diags)
	}
}

func TestSample(t *testing.T) {
	reg, ok := sinks.Lookup(Type)
	if !ok {
		t.Fatal("influxdb is not registered")
	}
	if reg.Doc == "" || strings.Contains(reg.Doc, "\n") {
		t.Errorf("Doc %q is not one line", reg.Doc)
	}
	plan, diags := compile(t, reg.Sample, "/etc/satellite", false)
	if len(diags) > 0 {
		t.Fatal(diags)
	}
	if len(plan.Sinks) != 1 || plan.Sinks[0].Type != Type || plan.Sinks[0].Opener == nil {
		t.Fatalf("the sample is not one built influxdb sink: %+v", plan.Sinks)
	}
}

func TestConfigStringHidesToken(t *testing.T) {
	c := &Config{URL: "http://x:8086", Bucket: "b", Token: "hunter2"}
	for _, s := range []string{c.String(), c.GoString()} {
		if strings.Contains(s, "hunter2") || !strings.Contains(s, "(sensitive)") {
			t.Errorf("%q", s)
		}
	}
}
