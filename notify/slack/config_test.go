package slack_test

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
	"github.com/satellite-hq/satellite/notify/slack"
)

// The token of the webhook URL in the variable the configs read.
const varToken = "s3cretT0kenFromVar"

// compile loads src, a config file in dir, the way the agent does: the
// engine takes the meta-arguments and hands the rest to the type's Build.
func compile(t *testing.T, src, dir, webhookVar string, unknownEnv bool) (*engine.Plan, hcl.Diagnostics) {
	t.Helper()
	opts := dsl.Options{LookupEnv: func(k string) (string, bool) {
		if k == "SATELLITE_VAR_slack_webhook" {
			return webhookVar, true
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

// routed is a check that routes to slack.ops, so that no "Notifier without
// routes" warning comes.
const routed = `
check "tcp" "etcd" {
  address = "127.0.0.1:2379"
  notify  = [notifier.slack.ops]
}
`

// The worked example of docs/notify/slack.md.
const docExample = `
variable "slack_webhook" {
  type      = string
  sensitive = true   # never printed: the URL's path is the token
}

notifier "slack" "ops" {
  webhook_url  = var.slack_webhook   # or webhook_url_file = "slack-ops.url"
  channel      = "#ops-alerts"
  username     = "satellite"
  icon_emoji   = ":satellite:"
  link         = "http://satellite.example:7575"
  min_severity = "warning"
  group_wait   = "30s"
}

defaults {
  notify = [notifier.slack.ops]
}

check "tcp" "etcd" {
  address = "127.0.0.1:2379"
  labels  = { team = "platform" }
}
`

func TestDocExample(t *testing.T) {
	plan, diags := compile(t, docExample, t.TempDir(), "https://hooks.slack.com/services/T0AAAA1/B0BBBB2/"+varToken, false)
	if len(diags) > 0 {
		t.Fatal(diags)
	}
	n := plan.NotifierByAddress("slack.ops")
	if n == nil || n.MinSeverity != notify.SeverityWarning || n.Notifier == nil {
		t.Fatalf("notifier %+v", n)
	}
	s, ok := n.Notifier.(*slack.Slack)
	if !ok || strings.Contains(s.String(), varToken) || !strings.Contains(s.String(), "https://hooks.slack.com/...") {
		t.Errorf("built %T %v", n.Notifier, n.Notifier)
	}
}

// Every attribute takes effect: built from HCL, sent to the fake.
func TestBuildSends(t *testing.T) {
	f := newFakeSlack(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "ops.url"), []byte(f.URL()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	src := `notifier "slack" "ops" {
  webhook_url_file = "ops.url"
  channel          = "@alice"
  username         = "Satellite bot"
  icon_emoji       = ":rotating_light:"
  link             = "https://status.example/satellite/"
  timeout          = 2
}
` + routed
	plan, diags := compile(t, src, dir, "", false)
	if len(diags) > 0 {
		t.Fatal(diags)
	}
	s := plan.NotifierByAddress("slack.ops").Notifier
	if _, err := s.Send(context.Background(), message("x", problem("node a", "tcp.etcd", notify.SeverityCritical, "refused"))); err != nil {
		t.Fatal(err)
	}
	noProblems(t, f)
	p := f.Last(t)
	if p.Channel != "@alice" || p.Username != "Satellite bot" || p.IconEmoji != ":rotating_light:" {
		t.Errorf("envelope %+v", p)
	}
	if l := fieldTexts(p.blocks(t)[1])["Link"]; l != "<https://status.example/satellite/v1/status?node=node+a|status of node a>" {
		t.Errorf("link %q", l)
	}
}

func TestBuildDiagnostics(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "bad.url"), []byte("hooks.slack.com/services/T/B/"+varToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	const ok = `webhook_url = "https://hooks.slack.com/services/T/B/x"` + "\n"
	for _, tc := range []struct {
		name, body, summary, detail string
		warning                     bool
	}{
		{"no scheme", `webhook_url = "hooks.slack.com/services/T/B/` + varToken + `" # <-`, "Invalid webhook_url", "https://", false},
		{"bad file", `webhook_url_file = "bad.url" # <-`, "Invalid webhook_url", "absolute", false},
		{"sensitive var", `webhook_url = var.slack_webhook # <-`, "Invalid webhook_url", "", false},
		{"unreadable", `webhook_url_file = "missing.url" # <-`, "Unreadable webhook_url_file", "missing.url", false},
		{"both", "webhook_url = \"https://hooks.slack.com/x\"\nwebhook_url_file = \"a.url\" # <-", "Conflicting attributes", "not both", false},
		{"http", `webhook_url = "http://hooks.slack.com/services/T/B/` + varToken + `" # <-`, "Unencrypted webhook URL", "https://", true},
		{"empty channel", ok + `channel = "" # <-`, "Invalid channel", "#ops", false},
		{"channel space", ok + `channel = "#ops alerts" # <-`, "Invalid channel", "without spaces", false},
		{"username", ok + `username = "a\nb" # <-`, "Invalid username", "one line", false},
		{"icon", ok + `icon_emoji = "satellite" # <-`, "Invalid icon_emoji", "between colons", false},
		{"link scheme", ok + `link = "satellite.example:7575" # <-`, "Invalid link", "absolute", false},
		{"link user", ok + `link = "http://admin:hunter2@satellite.example" # <-`, "Credentials in the link", "password", false},
		{"link query", ok + `link = "http://satellite.example/?x=1" # <-`, "Invalid link", "query", false},
		{"link pipe", ok + `link = "http://satellite.example/a|b" # <-`, "Invalid link", "< > | &", false},
		{"zero timeout", ok + `timeout = "0s" # <-`, "Invalid timeout", "positive", false},
		{"bad timeout", ok + `timeout = "soon" # <-`, "Invalid duration", "", false},
		{"unknown attribute", ok + `color = "red" # <-`, "Unsupported argument", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := "variable \"slack_webhook\" {\n  type = string\n  sensitive = true\n}\nnotifier \"slack\" \"ops\" {\n" + tc.body + "\n}\n" + routed
			plan, diags := compile(t, src, dir, "not a URL "+varToken, false)
			if len(diags) != 1 {
				for _, d := range diags {
					t.Log(d)
				}
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
			if strings.Contains(d.Detail, varToken) || strings.Contains(d.Summary, varToken) || strings.Contains(d.Detail, "hunter2") {
				t.Errorf("the diagnostic shows a secret: %q", d.Detail)
			}
			if plan != nil && d.Summary != "Unsupported argument" { // the engine's: it builds without it
				n := plan.NotifierByAddress("slack.ops")
				if built := n != nil && n.Notifier != nil; built == !tc.warning {
					t.Errorf("built %v with diagnostic %v", built, d)
				}
			}
		})
	}

	// Neither webhook_url nor webhook_url_file: at the block.
	plan, diags := compile(t, "notifier \"slack\" \"ops\" {\n  channel = \"#ops\"\n}\n"+routed, dir, "", false)
	if len(diags) != 1 || diags[0].Summary != "Missing webhook_url" || diags[0].Subject.Start.Line != 1 {
		t.Errorf("diagnostics %v, want Missing webhook_url at line 1", diags)
	}
	if plan.NotifierByAddress("slack.ops").Notifier != nil {
		t.Error("built without a URL")
	}
	// A loopback http:// URL is no warning: tests and local relays.
	if _, diags := compile(t, "notifier \"slack\" \"ops\" {\n  webhook_url = \"http://127.0.0.1:9/x\"\n}\n"+routed, dir, "", false); len(diags) > 0 {
		t.Errorf("loopback: %v", diags)
	}
}

// validate --unknown-env: the URL from env() is unknown; the block is
// checked as far as it can be, and not built.
func TestBuildUnknown(t *testing.T) {
	src := "notifier \"slack\" \"ops\" {\n  webhook_url = env(\"SLACK_URL\")\n  channel = \"#ops\"\n}\n" + routed
	plan, diags := compile(t, src, t.TempDir(), "", true)
	if len(diags) > 0 {
		t.Fatal(diags)
	}
	if n := plan.NotifierByAddress("slack.ops"); n == nil || n.Notifier != nil {
		t.Errorf("notifier %+v built from an unknown URL", n)
	}
	_, diags = compile(t, strings.Replace(src, `"#ops"`, `""`, 1), t.TempDir(), "", true)
	if len(diags) != 1 || diags[0].Summary != "Invalid channel" {
		t.Errorf("diagnostics %v, want Invalid channel", diags)
	}
}

func TestRegistration(t *testing.T) {
	reg, ok := notify.Lookup(slack.Type)
	if !ok {
		t.Fatal("slack is not registered")
	}
	if reg.Doc == "" || strings.Contains(reg.Doc, "\n") || reg.NoReminders || reg.Resends != 0 {
		t.Errorf("registration %+v", reg)
	}
	// remind_every is a meta-argument a slack notifier takes.
	src := "notifier \"slack\" \"ops\" {\n  webhook_url = \"https://hooks.slack.com/services/T/B/x\"\n  remind_every = \"1h\"\n}\n" + routed
	plan, diags := compile(t, src, t.TempDir(), "", false)
	if len(diags) > 0 || plan.NotifierByAddress("slack.ops").RemindEvery.Hours() != 1 {
		t.Errorf("remind_every: %v", diags)
	}
}
