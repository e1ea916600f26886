package metrics

import (
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"

	"github.com/satellite-hq/satellite/checks"
	"github.com/satellite-hq/satellite/checks/checktest"
)

func TestValidateErrors(t *testing.T) {
	const url = "  url = \"http://127.0.0.1:9100/metrics\"\n"
	tests := []struct {
		name    string
		body    string // the check's body; the line marked "# <-" is where the error must point
		summary string
		detail  string
	}{
		{"threshold on an undeclared value", url + "value \"p99\" {\n gauge = \"x\"\n}\nthreshold \"p90\" { # <-\n warn = 1\n}", "Unknown metric", `do not report a metric "p90"`},
		{"no kind", url + "value \"v\" { # <-\n over = \"1m\"\n}", "Value without a kind", `The value "v" needs exactly one of gauge`},
		{"two kinds", url + "value \"v\" {\n gauge = \"a\"\n rate = \"b\" # <-\n over = \"1m\"\n}", "Value with two kinds", "sets both gauge and rate"},
		{"quantile above 1", url + "value \"v\" {\n histogram_quantile = 99 # <-\n metric = \"h\"\n over = \"1m\"\n}", "Invalid quantile", "from 0 to 1"},
		{"quantile below 0", url + "value \"v\" {\n histogram_quantile = -0.5 # <-\n metric = \"h\"\n over = \"1m\"\n}", "Invalid quantile", "not -0.5"},
		{"quantile without metric", url + "value \"v\" { # <-\n histogram_quantile = 0.9\n over = \"1m\"\n}", "Missing required argument", `"metric" is required`},
		{"metric on a gauge", url + "value \"v\" {\n gauge = \"a\"\n metric = \"b\" # <-\n}", "metric without histogram_quantile", "a gauge names its series itself"},
		{"over too short", url + "value \"v\" {\n rate = \"a_total\"\n over = \"500ms\" # <-\n}", "Window too short", "at least 1s"},
		{"over not a duration", url + "value \"v\" {\n rate = \"a_total\"\n over = \"soon\" # <-\n}", "Invalid duration", `"soon" is not a duration`},
		{"over missing", url + "value \"v\" { # <-\n increase = \"a_total\"\n}", "Missing required argument", `"over" is required`},
		{"over on a gauge", url + "value \"v\" {\n gauge = \"a\"\n over = \"1m\" # <-\n}", "over on a gauge", "newest scrape alone"},
		{"duplicate value", url + "value \"v\" {\n gauge = \"a\"\n}\nvalue \"v\" { # <-\n gauge = \"b\"\n}", "Duplicate value", `named "v"`},
		{"reserved name", url + "value \"scrape_ms\" { # <-\n gauge = \"a\"\n}", "Reserved value name", `"scrape_ms" is a metric`},
		{"reserved result attribute", url + "value \"error\" { # <-\n gauge = \"a\"\n}", "Reserved value name", `"error"`},
		{"invalid name", url + "value \"p99-ms\" { # <-\n gauge = \"a\"\n}", "Invalid value name", `"p99-ms"`},
		{"empty metric", url + "value \"v\" {\n gauge = \"\" # <-\n}", "Empty metric name", "gauge must name a metric"},
		{"selector as a name", url + "value \"v\" {\n gauge = \"up{job=\\\"a\\\"}\" # <-\n}", "Invalid metric name", "labels in match"},
		{"bad aggregate", url + "value \"v\" {\n gauge = \"a\"\n aggregate = \"avg\" # <-\n}", "Invalid aggregate", `not "avg"`},
		{"zero scale", url + "value \"v\" {\n gauge = \"a\"\n scale = 0 # <-\n}", "Invalid scale", "other than 0"},
		{"match on le", url + "value \"v\" {\n histogram_quantile = 0.5\n metric = \"h\"\n over = \"1m\"\n match = { le = \"1\" } # <-\n}", "Matching a bucket", "le is the bucket label"},
		{"match on __name__", url + "value \"v\" {\n gauge = \"a\"\n match = { __name__ = \"b\" } # <-\n}", "Matching the metric name", "__name__"},
		{"url scheme", "  url = \"ftp://127.0.0.1/metrics\" # <-\nvalue \"v\" {\n gauge = \"a\"\n}", "Unsupported URL scheme", `scheme "ftp"`},
		{"url without scheme", "  url = \"127.0.0.1:9100/metrics\" # <-", "Missing URL scheme", `"http://127.0.0.1:9100/metrics"`},
		{"url without host", "  url = \"http:///metrics\" # <-", "URL without a host", ""},
		{"url port", "  url = \"http://127.0.0.1:99999/metrics\" # <-", "Invalid port", `"99999"`},
		{"max_body", url + "max_body = \"lots\" # <-", "Invalid max_body", `not "lots"`},
		{"max_body too large", url + "max_body = \"2GiB\" # <-", "max_body too large", "1.0 GiB"},
		{"header", url + "headers = { \"Bad Name\" = \"x\" } # <-", "Invalid header name", `"Bad Name"`},
		{"accept header", url + "headers = { Accept = \"text/plain\" } # <-", "Accept header set", "remove Accept"},
		{"tls", url + "tls {\n cert_file = \"c.pem\" # <-\n}", "Client certificate without key", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := "check \"metrics\" \"t\" {\n" + tt.body + "\n}\n"
			_, diags := checktest.Compile(t, src, false)
			checktest.WantDiag(t, src, diags, tt.summary, tt.detail)
		})
	}
}

func TestValidateWarnsOnBucketName(t *testing.T) {
	src := "check \"metrics\" \"t\" {\n  url = \"http://127.0.0.1/metrics\"\n  value \"v\" {\n    histogram_quantile = 0.9\n    metric = \"h_bucket\"\n    over = \"1m\"\n  }\n}\n"
	plan, diags := checktest.Compile(t, src, false)
	if diags.HasErrors() || len(diags) != 1 || diags[0].Severity != hcl.DiagWarning || !strings.Contains(diags[0].Detail, `Write metric = "h"`) {
		t.Fatalf("diags %s, want one warning", diags)
	}
	if c, _ := plan.Check("metrics.t"); c == nil || c.Checker == nil {
		t.Error("no checker after a warning")
	}
}

// The values' names are metrics of the check: thresholds and asserts name
// them, and validate lists them when a name is wrong.
func TestValueNamesAreMetrics(t *testing.T) {
	src := `
check "metrics" "t" {
  url = "http://127.0.0.1:9100/metrics"
  value "open_fds" { gauge = "process_open_fds" }
  value "cpu" {
    rate = "process_cpu_seconds_total"
    over = "1m"
  }
  threshold "open_fds" {
    warn = 1000
  }
  threshold "scrape_ms" {
    warn = 500
  }
  assert {
    condition     = try(result.cpu < 0.5, true) && result.samples > 0
    error_message = "cpu ${result.cpu}"
  }
}
`
	c := checktest.MustCheck(t, src, "metrics.t")
	for _, m := range []string{"open_fds", "cpu", MetricScrapeMs, MetricSamples, MetricBodyBytes} {
		if !c.Registration.HasMetric(m) {
			t.Errorf("%s is not a metric of the check", m)
		}
	}
	// Another check of the type has its own names only.
	if reg, _ := checks.Lookup(Type); reg.HasMetric("open_fds") {
		t.Error("the type's registration lists a check's value")
	}

	bad := strings.Replace(src, `try(result.cpu < 0.5, true) && result.samples > 0`, `result.cpu_rate > 0`, 1)
	_, diags := checktest.Compile(t, bad, false)
	if !diags.HasErrors() || !strings.Contains(diags.Error(), "cpu_rate") {
		t.Errorf("an assert on an undeclared value: %s", diags)
	}

	bad = strings.Replace(src, `threshold "open_fds"`, `threshold "open_fd"`, 1)
	_, diags = checktest.Compile(t, bad, false)
	if !diags.HasErrors() || !strings.Contains(diags.Error(), `Did you mean "open_fds"?`) || !strings.Contains(diags.Error(), "open_fds, cpu") {
		t.Errorf("a threshold on an undeclared value: %s", diags)
	}
}

func TestValueNames(t *testing.T) {
	f, diags := hclsyntax.ParseConfig([]byte("url = 1\nvalue \"a\" { gauge = 1 }\nvalue \"b\" {}\nvalue {}\nother \"c\" {}\n"), "x.hcl", hcl.InitialPos)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	if got := ValueNames(f.Body); !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("ValueNames %q", got)
	}
	if ValueNames(nil) != nil {
		t.Error("ValueNames(nil)")
	}
}

func TestBuildUnknownEnv(t *testing.T) {
	for _, body := range []string{
		`url = env("METRICS_URL")`,
		"url = \"http://127.0.0.1/metrics\"\nvalue \"v\" {\n gauge = env(\"NAME\")\n}",
		"url = \"http://127.0.0.1/metrics\"\nvalue \"v\" {\n rate = \"x_total\"\n over = env(\"WINDOW\")\n}",
		"url = \"http://127.0.0.1/metrics\"\nvalue \"v\" {\n gauge = \"x\"\n match = { job = env(\"JOB\") }\n}",
		"url = \"http://127.0.0.1/metrics\"\nmax_body = env(\"MAX\")",
	} {
		src := "check \"metrics\" \"t\" {\n" + body + "\n}\n"
		plan, diags := checktest.Compile(t, src, true)
		if len(diags) > 0 {
			t.Errorf("%s: %s", body, diags)
			continue
		}
		if c, _ := plan.Check("metrics.t"); c.Checker != nil {
			t.Errorf("%s: a checker with unknown values", body)
		}
	}
	// What is known is still checked.
	src := "check \"metrics\" \"t\" {\nurl = env(\"URL\")\nvalue \"v\" {\n rate = \"x\"\n over = \"10ms\" # <-\n}\n}\n"
	_, diags := checktest.Compile(t, src, true)
	checktest.WantDiag(t, src, diags, "Window too short", "at least 1s")
}

func TestBuildDefaults(t *testing.T) {
	c := compile(t, "check \"metrics\" \"t\" {\n  url = \"http://127.0.0.1/metrics\"\n  value \"v\" { gauge = \"x\" }\n}\n").checker
	v := c.values[0]
	if c.maxBody != DefaultMaxBody || v.agg != aggSum || v.scale != 1 || v.kind != kindGauge || c.history[0] != nil {
		t.Errorf("defaults: max_body %d, value %+v", c.maxBody, v)
	}
	if c.client != nil {
		t.Error("Build made the HTTP client")
	}
}

func TestSample(t *testing.T) { checktest.Sample(t, Type) }

func TestDocExamples(t *testing.T) { checktest.DocExamples(t, Type) }
