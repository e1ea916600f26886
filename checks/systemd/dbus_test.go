package systemdcheck

import (
	"reflect"
	"strings"
	"testing"

	sdbus "github.com/coreos/go-systemd/v22/dbus"
	"github.com/godbus/dbus/v5"
	"github.com/zclconf/go-cty/cty"
)

// capturedByNames is what systemd 252 answered to ListUnitsByNames for
// showNames, captured over D-Bus by TestRealSystemd (testdata/capture.sh).
// The alias cri.service comes back as containerd.service.
var capturedByNames = []sdbus.UnitStatus{
	{Name: "kubelet.service", Description: "kubelet: The Kubernetes Node Agent", LoadState: "loaded", ActiveState: "failed", SubState: "failed", Path: "/org/freedesktop/systemd1/unit/kubelet_2eservice", JobPath: "/"},
	{Name: "containerd.service", Description: "containerd container runtime", LoadState: "loaded", ActiveState: "active", SubState: "running", Path: "/org/freedesktop/systemd1/unit/containerd_2eservice", JobPath: "/"},
	{Name: "etcd.service", Description: "etcd key-value store", LoadState: "loaded", ActiveState: "activating", SubState: "auto-restart", Path: "/org/freedesktop/systemd1/unit/etcd_2eservice", JobPath: "/"},
	{Name: "kube-proxy.service", Description: "kube-proxy", LoadState: "loaded", ActiveState: "inactive", SubState: "dead", Path: "/org/freedesktop/systemd1/unit/kube_2dproxy_2eservice", JobPath: "/"},
	{Name: "nosuch.service", Description: "nosuch.service", LoadState: "not-found", ActiveState: "inactive", SubState: "dead", Path: "/org/freedesktop/systemd1/unit/nosuch_2eservice", JobPath: "/"},
	{Name: "default.target", Description: "Main User Target", LoadState: "loaded", ActiveState: "active", SubState: "active", Path: "/org/freedesktop/systemd1/unit/default_2etarget", JobPath: "/"},
	{Name: "kube-apiserver.service", Description: "Kubernetes API Server", LoadState: "loaded", ActiveState: "reloading", SubState: "reload", Path: "/org/freedesktop/systemd1/unit/kube_2dapiserver_2eservice", JobId: 0x6a, JobType: "reload", JobPath: "/org/freedesktop/systemd1/job/106"},
	{Name: "containerd.service", Description: "containerd container runtime", LoadState: "loaded", ActiveState: "active", SubState: "running", Path: "/org/freedesktop/systemd1/unit/containerd_2eservice", JobPath: "/"},
	{Name: "-.mount", Description: "Root Mount", LoadState: "loaded", ActiveState: "active", SubState: "mounted", Path: "/org/freedesktop/systemd1/unit/_2d_2emount", JobPath: "/"},
}

// capturedFailed is systemd 252's answer to ListUnitsFiltered(["failed"]).
var capturedFailed = []sdbus.UnitStatus{
	{Name: "kube-scheduler.service", Description: "Kubernetes Scheduler", LoadState: "loaded", ActiveState: "failed", SubState: "failed", Path: "/org/freedesktop/systemd1/unit/kube_2dscheduler_2eservice", JobPath: "/"},
	{Name: "etcd-defrag.service", Description: "Defragment etcd", LoadState: "loaded", ActiveState: "failed", SubState: "failed", Path: "/org/freedesktop/systemd1/unit/etcd_2ddefrag_2eservice", JobPath: "/"},
	{Name: "kubelet.service", Description: "kubelet: The Kubernetes Node Agent", LoadState: "loaded", ActiveState: "failed", SubState: "failed", Path: "/org/freedesktop/systemd1/unit/kubelet_2eservice", JobPath: "/"},
}

func TestFromUnitStatus(t *testing.T) {
	got, err := fromUnitStatus(showNames, capturedByNames)
	if err != nil {
		t.Fatal(err)
	}
	// The same states as systemctl show printed, but for Result, which
	// ListUnitsByNames does not carry (named() asks for it separately).
	want, err := parseShow(showNames, testdata(t, "show.txt"))
	if err != nil {
		t.Fatal(err)
	}
	for i := range want {
		want[i].Result = ""
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("D-Bus and systemctl disagree:\n%+v\n%+v", got, want)
	}
	if got[7].Name != "cri.service" || got[7].ID != "containerd.service" {
		t.Errorf("alias: %+v", got[7])
	}
	if _, err := fromUnitStatus(showNames[:2], capturedByNames); err == nil || !strings.Contains(err.Error(), "9 units in the answer for 2 names") {
		t.Errorf("length mismatch: %v", err)
	}
}

func TestFailedFromUnitStatus(t *testing.T) {
	st := append(append([]sdbus.UnitStatus(nil), capturedFailed...),
		// ListUnitsFiltered matches "failed" in any state column.
		sdbus.UnitStatus{Name: "odd.mount", LoadState: "loaded", ActiveState: "active", SubState: "failed", Path: dbus.ObjectPath("/x")})
	got := failedFromUnitStatus(st)
	res := judgeFailed(got)
	if res.Error != "3 units failed: etcd-defrag.service, kube-scheduler.service, kubelet.service" {
		t.Errorf("error %q", res.Error)
	}
	wantStates := cty.MapVal(map[string]cty.Value{
		"etcd-defrag.service": cty.StringVal("failed"), "kube-scheduler.service": cty.StringVal("failed"), "kubelet.service": cty.StringVal("failed"),
	})
	if !res.Attrs["states"].RawEquals(wantStates) {
		t.Errorf("states %#v", res.Attrs["states"])
	}
	if res := judgeFailed(failedFromUnitStatus(nil)); res.Verdict() != "passing" || res.Metrics[MetricFailedUnits] != 0 ||
		!res.Attrs["failed"].RawEquals(cty.ListValEmpty(cty.String)) || !res.Attrs["states"].RawEquals(cty.MapValEmpty(cty.String)) {
		t.Errorf("no failed units: %+v", res)
	}
}

func ctyString(s string) cty.Value { return cty.StringVal(s) }
