package systemdcheck

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/satellite-hq/satellite/checks"
	"github.com/satellite-hq/satellite/engine"
)

// memSource answers from memory. It stands in for systemd, which does not
// run on this machine, to test the decisions; the sources themselves are
// tested against captured output, a real dbus-daemon and real processes.
type memSource struct {
	units map[string]unit
	err   error
}

func (m memSource) String() string { return "memory" }

func (m memSource) named(_ context.Context, names []string) ([]unit, error) {
	if m.err != nil {
		return nil, m.err
	}
	out := make([]unit, len(names))
	for i, n := range names {
		u, ok := m.units[n]
		if !ok {
			u = unit{ID: n, LoadState: "not-found", ActiveState: "inactive", SubState: "dead"}
		}
		u.Name = n
		out[i] = u
	}
	return out, nil
}

func (m memSource) failed(context.Context) ([]unit, error) {
	if m.err != nil {
		return nil, m.err
	}
	var out []unit
	for n, u := range m.units {
		if u.ActiveState == "failed" {
			u.Name = n
			out = append(out, u)
		}
	}
	return out, nil
}

func mem(states ...string) memSource {
	m := memSource{units: map[string]unit{}}
	for _, s := range states {
		f := strings.Fields(s) // NAME ACTIVE SUB [RESULT]
		u := unit{ID: f[0], LoadState: "loaded", ActiveState: f[1], SubState: f[2]}
		if len(f) > 3 {
			u.Result = f[3]
		}
		m.units[f[0]] = u
	}
	return m
}

var node = mem(
	"kubelet.service active running success",
	"containerd.service active running success",
	"etcd.service activating auto-restart exit-code",
	"kube-apiserver.service reloading reload success",
	"kube-proxy.service failed failed exit-code",
	"etcd-backup.service failed failed timeout",
	"kube-scheduler.service inactive dead success",
)

func TestJudgeNamed(t *testing.T) {
	tests := []struct {
		units  []string
		status checks.Status
		err    string
		failed []string
	}{
		{[]string{"kubelet.service", "containerd.service"}, checks.StatusPassing, "", nil},
		{[]string{"kubelet.service", "etcd.service"}, checks.StatusWarning, "etcd.service is activating (SubState=auto-restart, Result=exit-code)", nil},
		{[]string{"kube-apiserver.service"}, checks.StatusWarning, "kube-apiserver.service is reloading (SubState=reload)", nil},
		{[]string{"kube-proxy.service", "kubelet.service"}, checks.StatusCritical, "kube-proxy.service is failed (Result=exit-code)", []string{"kube-proxy.service"}},
		{[]string{"etcd.service", "kube-scheduler.service"}, checks.StatusCritical,
			"etcd.service is activating (SubState=auto-restart, Result=exit-code); kube-scheduler.service is inactive", []string{"kube-scheduler.service"}},
		{[]string{"nosuch.service"}, checks.StatusCritical, "nosuch.service is inactive (LoadState=not-found)", []string{"nosuch.service"}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.units, ","), func(t *testing.T) {
			c := &Checker{units: tt.units, bus: node, ctl: memSource{err: errors.New("unused")}}
			res := run(c, time1s)
			if res.Verdict() != tt.status || res.Error != tt.err {
				t.Fatalf("%s %q, want %s %q", res.Verdict(), res.Error, tt.status, tt.err)
			}
			if res.Metrics[MetricFailedUnits] != float64(len(tt.failed)) {
				t.Errorf("failed_units %v", res.Metrics)
			}
			if got := strList(res.Attrs["failed"]); strings.Join(got, ",") != strings.Join(tt.failed, ",") {
				t.Errorf("failed %q, want %q", got, tt.failed)
			}
			states := res.Attrs["states"].AsValueMap()
			for _, u := range tt.units {
				want := node.units[u].ActiveState
				if want == "" {
					want = "inactive"
				}
				if states[u].AsString() != want {
					t.Errorf("states[%s] = %s, want %s", u, states[u].AsString(), want)
				}
			}
			if !strings.HasPrefix(res.Detail, "via memory\n") {
				t.Errorf("detail %q", res.Detail)
			}
		})
	}
}

func TestJudgeFailed(t *testing.T) {
	c := &Checker{bus: node}
	res := run(c, time1s)
	wantStatus(t, res, checks.StatusCritical)
	if res.Error != "2 units failed: etcd-backup.service, kube-proxy.service" {
		t.Errorf("error %q", res.Error)
	}

	c.ignore = []string{"etcd-*.service"}
	res = run(c, time1s)
	if res.Error != "1 unit failed: kube-proxy.service" || res.Metrics[MetricFailedUnits] != 1 {
		t.Errorf("ignore: %q %v", res.Error, res.Metrics)
	}

	c.ignore = []string{"etcd-backup.service", "kube-?roxy.service"}
	res = run(c, time1s)
	wantStatus(t, res, checks.StatusPassing)
	if res.Metrics[MetricFailedUnits] != 0 || res.Attrs["failed"].LengthInt() != 0 {
		t.Errorf("all ignored: %v %#v", res.Metrics, res.Attrs)
	}

	// A name with a backslash, which path.Match would take as an escape.
	esc := &Checker{bus: mem(`dev-disk-by\x2dlabel-data.device failed failed`), ignore: []string{`dev-disk-by\x2dlabel-data.device`}}
	wantStatus(t, run(esc, time1s), checks.StatusPassing)

	// A long list is cut in the message, not in result.failed.
	var many []string
	for i := range 62 {
		many = append(many, fmt.Sprintf("u%02d.service failed failed", i))
	}
	res = run(&Checker{bus: mem(many...)}, time1s)
	if !strings.HasSuffix(res.Detail, "\n... and 12 more") {
		t.Errorf("detail %q", res.Detail)
	}
	if !strings.HasSuffix(res.Error, "u09.service and 52 more") || !strings.HasPrefix(res.Error, "62 units failed: u00.service, ") {
		t.Errorf("error %q", res.Error)
	}
	if res.Attrs["failed"].LengthInt() != 62 || strings.Count(res.Detail, "\n") != 51 {
		t.Errorf("failed %#v", res.Attrs["failed"])
	}
}

func TestDescribe(t *testing.T) {
	for _, tt := range []struct {
		u    unit
		want string
	}{
		{unit{Name: "kubelet.service", LoadState: "loaded", ActiveState: "failed", SubState: "failed", Result: "exit-code"}, "kubelet.service is failed (Result=exit-code)"},
		{unit{Name: "x.service", LoadState: "masked", ActiveState: "inactive", SubState: "dead"}, "x.service is inactive (LoadState=masked)"},
		{unit{Name: "x.service", LoadState: "loaded", ActiveState: "deactivating", SubState: "stop-sigterm"}, "x.service is deactivating (SubState=stop-sigterm)"},
		{unit{Name: "sshd.service", ID: "ssh.service", LoadState: "loaded", ActiveState: "failed", Result: "signal"}, "sshd.service is failed (Result=signal, Id=ssh.service)"},
		{unit{Name: "x.service"}, "x.service is in an unknown state"},
	} {
		if got := describe(tt.u); got != tt.want {
			t.Errorf("got %q, want %q", got, tt.want)
		}
	}
}

// The whole path: HCL, compile, a run, thresholds and asserts on result.
func TestEvaluateThroughEngine(t *testing.T) {
	plan, diags := compile(t, `
check "systemd" "node" {
  units = ["kubelet.service", "etcd.service"]
  assert {
    condition     = result.states["etcd.service"] != "activating" || result.failed_units > 0
    error_message = "etcd is restarting: ${result.states["etcd.service"]}"
  }
}
check "systemd" "ok" {
  units = ["kubelet", "containerd"]
  assert {
    condition     = length(result.failed) == 0 && result.states["kubelet.service"] == "active"
    error_message = "unreachable"
  }
}
check "systemd" "failed" {
  threshold "failed_units" {
    warn = 0
  }
}
`, false)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	eval := func(addr string) engine.Verdict {
		c, _ := plan.Check(addr)
		c.Checker.(*Checker).bus = node
		return c.Evaluate(run(c.Checker, time1s), 0)
	}
	if v := eval("systemd.node"); v.Status != checks.StatusCritical || !strings.Contains(v.Error, "etcd is restarting: activating") {
		t.Errorf("node: %s %q", v.Status, v.Error)
	}
	if v := eval("systemd.ok"); v.Status != checks.StatusPassing {
		t.Errorf("ok: %s %q", v.Status, v.Error)
	}
	if v := eval("systemd.failed"); v.Status != checks.StatusCritical || !strings.Contains(v.Error, "failed_units 2 is above the warning threshold 0") {
		t.Errorf("failed: %s %q", v.Status, v.Error)
	}
}

func strList(v cty.Value) []string {
	var out []string
	for _, e := range v.AsValueSlice() {
		out = append(out, e.AsString())
	}
	return out
}
