package pagerduty_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"

	_ "github.com/satellite-hq/satellite/checks/tcp" // a check to route
	"github.com/satellite-hq/satellite/dsl"
	"github.com/satellite-hq/satellite/engine"
	"github.com/satellite-hq/satellite/notify"
	"github.com/satellite-hq/satellite/notify/pagerduty"
)

// compile loads src, a config file in dir, the way the agent does: the
// engine takes the meta-arguments and hands the rest to the type's Build.
func compile(t *testing.T, src, dir string, unknownEnv bool) (*engine.Plan, hcl.Diagnostics) {
	t.Helper()
	opts := dsl.Options{LookupEnv: func(k string) (string, bool) {
		if k == "SATELLITE_VAR_pd_key" {
			return routingKey, true
		}
		return "", false
	}, UnknownEnv: unknownEnv}
	cfg, diags := dsl.LoadSource(filepath.Join(dir, "notify.hcl"), []byte(src), opts)
	if diags.HasErrors() {
		return nil, diags
	}
	plan, more := engine.Compile(cfg)
	return plan, append(diags, more...)
}

// routed routes a check to pagerduty.oncall, so that no "Notifier without
// routes" warning comes.
const routed = `
defaults {
  notify = [notifier.pagerduty.oncall]
}

check "tcp" "etcd" {
  address = "127.0.0.1:2379"
}
`

// The example of docs/notify/pagerduty.md, with its url on the fake.
func TestBuildSends(t *testing.T) {
	f := newFakePD(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "pagerduty.key"), []byte(routingKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	src := `notifier "pagerduty" "oncall" {
  routing_key_file = "pagerduty.key"   # or routing_key = var.pd_key
  client           = "satellite prod"
  client_url       = "https://satellite.example:7575/v1/status"
  timeout          = "5s"
  url              = "` + f.URL() + `"
  min_severity     = "critical"
}
` + routed
	plan, diags := compile(t, src, dir, false)
	if len(diags) > 0 {
		t.Fatal(diags)
	}
	n := plan.NotifierByAddress("pagerduty.oncall")
	if n == nil || n.Notifier == nil || n.RemindEvery != 0 {
		t.Fatalf("notifier %+v", n)
	}
	if _, err := n.Notifier.Send(context.Background(), message(problem("node-a", "tcp.etcd", notify.SeverityCritical, "refused"))); err != nil {
		t.Fatal(err)
	}
	noProblems(t, f)
	ev := f.Events()[0]
	if ev["routing_key"] != routingKey || ev["client"] != "satellite prod" || ev["client_url"] != "https://satellite.example:7575/v1/status" {
		t.Errorf("event %v", ev)
	}

	// The defaults, and the key from a sensitive variable.
	src = "variable \"pd_key\" {\n  type = string\n  sensitive = true\n}\nnotifier \"pagerduty\" \"oncall\" {\n  routing_key = var.pd_key\n}\n" + routed
	plan, diags = compile(t, src, dir, false)
	if len(diags) > 0 {
		t.Fatal(diags)
	}
	pd, ok := plan.NotifierByAddress("pagerduty.oncall").Notifier.(*pagerduty.PagerDuty)
	if !ok || !strings.Contains(pd.String(), "https://events.pagerduty.com/") || !strings.Contains(pd.String(), `client="satellite"`) {
		t.Errorf("defaults: %v", pd)
	}
}

func TestBuildDiagnostics(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string]string{"empty.key": "\n", "short.key": "R0UT1NGk3ys3cr3t\n"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	const ok = `routing_key = "` + routingKey + `"` + "\n"
	for _, tc := range []struct {
		name, body, summary, detail string
		warning                     bool
	}{
		{"empty key", `routing_key = "" # <-`, "Empty routing_key", "Integration Key", false},
		{"empty file", `routing_key_file = "empty.key" # <-`, "Empty routing_key", "", false},
		{"unreadable", `routing_key_file = "missing.key" # <-`, "Unreadable routing_key_file", "missing.key", false},
		{"both", ok + `routing_key_file = "short.key" # <-`, "Conflicting attributes", "not both", false},
		{"space", `routing_key = "R0UT1NGk3ys3cr3t 123456789abcdef" # <-`, "Invalid routing_key", "space", false},
		{"short", `routing_key_file = "short.key" # <-`, "Unusual routing_key", "16 characters", true},
		{"url", ok + `url = "events.pagerduty.com/v2/enqueue" # <-`, "Invalid url", "absolute", false},
		{"url credentials", ok + `url = "https://u:hunter2@events.pagerduty.com/v2/enqueue" # <-`, "Invalid url", "without credentials", false},
		{"client", ok + `client = " " # <-`, "Invalid client", "one line", false},
		{"client_url", ok + `client_url = "/v1/status" # <-`, "Invalid client_url", "absolute", false},
		{"zero timeout", ok + `timeout = 0 # <-`, "Invalid timeout", "positive", false},
		{"bad timeout", ok + `timeout = "soon" # <-`, "Invalid duration", "", false},
		// The engine refuses it, from the registration's NoReminders.
		{"remind_every", ok + `remind_every = "1h" # <-`, "Reminders not supported", "incident open", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := "notifier \"pagerduty\" \"oncall\" {\n" + tc.body + "\n}\n" + routed
			plan, diags := compile(t, src, dir, false)
			if len(diags) != 1 {
				t.Fatalf("%d diagnostics, want 1: %v", len(diags), diags)
			}
			d := diags[0]
			wantSev := hcl.DiagError
			if tc.warning {
				wantSev = hcl.DiagWarning
			}
			if d.Severity != wantSev || d.Summary != tc.summary || !strings.Contains(d.Detail, tc.detail) {
				t.Errorf("got %v %q: %q; want %v %q containing %q", d.Severity, d.Summary, d.Detail, wantSev, tc.summary, tc.detail)
			}
			line := strings.Count(src[:strings.Index(src, "# <-")], "\n") + 1
			if d.Subject == nil || d.Subject.Start.Line != line || filepath.Base(d.Subject.Filename) != "notify.hcl" {
				t.Errorf("diagnostic at %v, want notify.hcl line %d", d.Subject, line)
			}
			for _, secret := range []string{routingKey, "R0UT1NGk3ys3cr3t", "hunter2"} {
				if strings.Contains(d.Detail, secret) {
					t.Errorf("the diagnostic shows a secret: %q", d.Detail)
				}
			}
			if n := plan.NotifierByAddress("pagerduty.oncall"); tc.name != "remind_every" && (n.Notifier != nil) != tc.warning {
				t.Errorf("built %v with diagnostic %v", n.Notifier != nil, d)
			}
		})
	}

	plan, diags := compile(t, "notifier \"pagerduty\" \"oncall\" {\n  client = \"x\"\n}\n"+routed, dir, false)
	if len(diags) != 1 || diags[0].Summary != "Missing routing_key" || diags[0].Subject.Start.Line != 1 {
		t.Errorf("diagnostics %v, want Missing routing_key at line 1", diags)
	}
	if plan.NotifierByAddress("pagerduty.oncall").Notifier != nil {
		t.Error("built without a routing key")
	}
}

// validate --unknown-env: a key from env() is unknown; the block is checked
// as far as it can be, and not built.
func TestBuildUnknown(t *testing.T) {
	src := "notifier \"pagerduty\" \"oncall\" {\n  routing_key = env(\"PD_KEY\")\n  client_url = \"https://satellite.example\"\n}\n" + routed
	plan, diags := compile(t, src, t.TempDir(), true)
	if len(diags) > 0 {
		t.Fatal(diags)
	}
	if n := plan.NotifierByAddress("pagerduty.oncall"); n == nil || n.Notifier != nil {
		t.Errorf("notifier %+v built from an unknown key", n)
	}
	_, diags = compile(t, strings.Replace(src, `"https://satellite.example"`, `"satellite.example"`, 1), t.TempDir(), true)
	if len(diags) != 1 || diags[0].Summary != "Invalid client_url" {
		t.Errorf("diagnostics %v, want Invalid client_url", diags)
	}
}

func TestRegistration(t *testing.T) {
	reg, ok := notify.Lookup(pagerduty.Type)
	if !ok {
		t.Fatal("pagerduty is not registered")
	}
	if !reg.NoReminders || reg.Doc == "" || strings.Contains(reg.Doc, "\n") {
		t.Errorf("registration %+v", reg)
	}
}
