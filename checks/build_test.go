package checks

import (
	"errors"
	"regexp"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"

	"github.com/satellite-hq/satellite/dsl"
)

func TestRegexpError(t *testing.T) {
	for pattern, want := range map[string]string{
		"java (-jar": "missing closing ) in `java (-jar`",
		"a**":        "invalid nested repetition operator in `**`",
		"(?=a)b":     "invalid or unsupported Perl syntax in `(?=` (RE2 has no lookarounds such as (?=...) or (?<=...))",
		"(?<=a)b":    "invalid named capture in `(?<=a)b` (RE2 has no lookarounds such as (?=...) or (?<=...))",
	} {
		_, err := regexp.Compile(pattern)
		if err == nil {
			t.Fatalf("%q compiles", pattern)
		}
		if got := RegexpError(err); got != want {
			t.Errorf("%q: %q\nwant %q", pattern, got, want)
		}
	}
	if got := RegexpError(errors.New("other")); got != "other" {
		t.Errorf("not a syntax error: %q", got)
	}
}

func TestValidateHostPort(t *testing.T) {
	const like = `"127.0.0.1:2379" or "[::1]:2379"`
	for addr, want := range map[string]struct{ summary, detail string }{
		"127.0.0.1:2379":      {},
		"etcd.internal:1":     {},
		"[::1]:65535":         {},
		"127.0.0.1":           {"Invalid address", `"127.0.0.1" is not a host:port address (missing port in address); write it like "127.0.0.1:2379" or "[::1]:2379".`},
		"::1:443":             {"Invalid address", `"::1:443" is not a host:port address (too many colons in address); write it like "127.0.0.1:2379" or "[::1]:2379".`},
		":2379":               {"Address without a host", `":2379" has no host; write the host to connect to, such as "127.0.0.1:2379".`},
		"etcd.internal:0":     {"Invalid port", `"etcd.internal:0" has port "0"; a port is a number from 1 to 65535.`},
		"etcd.internal:http":  {"Invalid port", `"etcd.internal:http" has port "http"; a port is a number from 1 to 65535.`},
		"etcd.internal:65536": {"Invalid port", `"etcd.internal:65536" has port "65536"; a port is a number from 1 to 65535.`},
	} {
		src := "server = " + `"` + addr + `"` + "\n"
		f, diags := hclsyntax.ParseConfig([]byte(src), "test.hcl", hcl.InitialPos)
		if diags.HasErrors() {
			t.Fatal(diags)
		}
		val, _ := hcldec.Decode(f.Body, hcldec.ObjectSpec{"server": &hcldec.AttrSpec{Name: "server", Type: cty.String}}, nil)
		a := dsl.NewAttrs(val, f.Body, hcl.Range{Filename: "test.hcl"})
		ok := ValidateHostPort(a, "server", addr, like)
		if want.summary == "" {
			if !ok || len(a.Diags) > 0 {
				t.Errorf("%s: %v %s", addr, ok, a.Diags)
			}
			continue
		}
		if ok || len(a.Diags) != 1 {
			t.Fatalf("%s: %v %s", addr, ok, a.Diags)
		}
		d := a.Diags[0]
		if d.Summary != want.summary || d.Detail != want.detail {
			t.Errorf("%s: %q: %q\nwant %q: %q", addr, d.Summary, d.Detail, want.summary, want.detail)
		}
		if d.Subject == nil || *d.Subject != a.Range("server") || d.Subject.Start.Column != 10 {
			t.Errorf("%s: subject %v, want the value of server", addr, d.Subject)
		}
	}
}
