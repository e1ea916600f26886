package engine_test

import (
	"slices"
	"testing"
	"time"

	"github.com/satellite-hq/satellite/dsl"
	"github.com/satellite-hq/satellite/engine"
	"github.com/satellite-hq/satellite/notify"
)

// The valid fixture's routes and settings, as the dispatcher gets them.
func TestNotifyRoutesCompile(t *testing.T) {
	_, plan, diags := engine.Load([]string{"../testdata/valid/notify.hcl"}, dsl.Options{LookupEnv: func(string) (string, bool) { return "", false }})
	if diags.HasErrors() || plan == nil {
		t.Fatalf("diagnostics: %v", diags)
	}
	if got := plan.MeshNotify; !slices.Equal(got, []string{"webhook.cluster"}) {
		t.Errorf("MeshNotify = %v", got)
	}
	for _, c := range []struct {
		addr   string
		notify []string
	}{{"tcp.etcd", []string{"webhook.ops"}}, {"tcp.quiet", nil}} {
		ch, ok := plan.Check(c.addr)
		if !ok {
			t.Fatalf("no check %s", c.addr)
		}
		if !slices.Equal(ch.Notify, c.notify) {
			t.Errorf("%s notify = %v, want %v", c.addr, ch.Notify, c.notify)
		}
	}
	n := plan.NotifierByAddress("webhook.ops")
	if n == nil || n.Notifier == nil || n.MinSeverity != notify.SeverityWarning || n.GroupWait != 5*time.Second ||
		n.MaxPerMinute != 20 || n.RemindEvery != 4*time.Hour || !n.SendOnResolved {
		t.Errorf("webhook.ops = %+v", n)
	}
	if d := plan.NotifierByAddress("webhook.unused"); d == nil || d.GroupWait != engine.DefaultGroupWait || d.MaxPerMinute != engine.DefaultMaxPerMinute || d.MinSeverity != notify.SeverityCritical {
		t.Errorf("defaults: %+v", d)
	}
}
