package systemdcheck

import (
	"reflect"
	"strings"
	"testing"
)

// The files in testdata/ are captured real output of systemctl from systemd
// 252 (Debian 12), byte for byte: `systemctl --user` against a real user
// manager, whose output format is the system manager's; testdata/capture.sh
// is how. Note what a
// parser must expect there: the properties come in systemd's order, not in
// the order of --property (Result, from the Service interface, before Id);
// a target has no Result; a not-found unit still has a block; an alias is
// answered under the name it stands for; list-units pads its columns.

var showNames = []string{"kubelet.service", "containerd.service", "etcd.service", "kube-proxy.service",
	"nosuch.service", "default.target", "kube-apiserver.service", "cri.service", "-.mount"}

func TestParseShowCaptured(t *testing.T) {
	got, err := parseShow(showNames, testdata(t, "show.txt"))
	if err != nil {
		t.Fatal(err)
	}
	want := []unit{
		{"kubelet.service", "kubelet.service", "loaded", "failed", "failed", "exit-code"},
		{"containerd.service", "containerd.service", "loaded", "active", "running", "success"},
		{"etcd.service", "etcd.service", "loaded", "activating", "auto-restart", "exit-code"},
		{"kube-proxy.service", "kube-proxy.service", "loaded", "inactive", "dead", "success"},
		{"nosuch.service", "nosuch.service", "not-found", "inactive", "dead", "success"},
		{"default.target", "default.target", "loaded", "active", "active", ""},
		{"kube-apiserver.service", "kube-apiserver.service", "loaded", "reloading", "reload", "success"},
		{"cri.service", "containerd.service", "loaded", "active", "running", "success"},
		{"-.mount", "-.mount", "loaded", "active", "mounted", "success"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got\n%+v\nwant\n%+v", got, want)
	}

	got, err = parseShow([]string{"etcd-defrag.service", "kube-scheduler.service"}, testdata(t, "show-results.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if got[0].Result != "timeout" || got[1].Result != "signal" || got[0].ActiveState != "failed" {
		t.Errorf("%+v", got)
	}

	got, err = parseShow([]string{"containerd.service"}, testdata(t, "show-one.txt"))
	if err != nil || len(got) != 1 || got[0].ActiveState != "active" {
		t.Errorf("one unit: %+v, %v", got, err)
	}
}

// The judgement of the captured output: the error names every unit that is
// not active, with what explains it.
func TestJudgeCapturedShow(t *testing.T) {
	units, err := parseShow(showNames, testdata(t, "show.txt"))
	if err != nil {
		t.Fatal(err)
	}
	res := judgeNamed(units)
	want := "kubelet.service is failed (Result=exit-code); " +
		"etcd.service is activating (SubState=auto-restart, Result=exit-code); " +
		"kube-proxy.service is inactive; " +
		"nosuch.service is inactive (LoadState=not-found); " +
		"kube-apiserver.service is reloading (SubState=reload)"
	if res.Error != want {
		t.Errorf("error\n%s\nwant\n%s", res.Error, want)
	}
	if res.Metrics[MetricFailedUnits] != 3 {
		t.Errorf("failed_units %v", res.Metrics)
	}
	if got := res.Attrs["failed"].GoString(); !strings.Contains(got, `"kubelet.service"`) || !strings.Contains(got, `"nosuch.service"`) || strings.Contains(got, "etcd.service") {
		t.Errorf("failed %s", got)
	}
	if s := res.Attrs["states"].Index(ctyString("cri.service")).AsString(); s != "active" {
		t.Errorf("states[cri.service] = %s", s)
	}
}

func TestParseShowErrors(t *testing.T) {
	for name, tc := range map[string]struct {
		names []string
		out   string
		err   string
	}{
		"fewer blocks": {[]string{"a.service", "b.service"}, "Id=a.service\nActiveState=active\n", "printed 1 units for 2 names"},
		"more blocks":  {[]string{"a.service"}, "Id=a.service\nActiveState=active\n\nId=b.service\nActiveState=active\n", "printed 2 units for 1 names"},
		"no equals":    {[]string{"a.service"}, "Id=a.service\ngarbage\n", `unexpected line "garbage"`},
		"no state":     {[]string{"a.service"}, "Id=a.service\nLoadState=loaded\n", "no Id or ActiveState for a.service"},
		"empty":        {[]string{"a.service"}, "", "printed 0 units"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := parseShow(tc.names, []byte(tc.out))
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("error %v, want %q", err, tc.err)
			}
		})
	}
}

func TestParseListUnitsCaptured(t *testing.T) {
	want := []unit{
		{"etcd-defrag.service", "etcd-defrag.service", "loaded", "failed", "failed", ""},
		{"kube-scheduler.service", "kube-scheduler.service", "loaded", "failed", "failed", ""},
		{"kubelet.service", "kubelet.service", "loaded", "failed", "failed", ""},
	}
	for _, f := range []string{"list-units-failed.txt", "list-units-failed-notplain.txt"} {
		got, err := parseListUnits(testdata(t, f))
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: got\n%+v\nwant\n%+v", f, got, want)
		}
	}
	got, err := parseListUnits(testdata(t, "list-units-none.txt"))
	if err != nil || len(got) != 0 {
		t.Errorf("none: %+v, %v", got, err)
	}

	res := judgeFailed(want)
	if res.Error != "3 units failed: etcd-defrag.service, kube-scheduler.service, kubelet.service" || res.Metrics[MetricFailedUnits] != 3 {
		t.Errorf("%q %v", res.Error, res.Metrics)
	}
}

func TestParseListUnitsOddLines(t *testing.T) {
	// Older systemctl versions print "*" as the mark; a LOAD or SUB column
	// may say failed while the unit is not.
	out := "* a.service loaded failed failed A\n\n  b.mount  loaded active failed B\nc\\x20d.service not-found failed failed c d\n"
	got, err := parseListUnits([]byte(out))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Name != "a.service" || got[1].Name != `c\x20d.service` || got[1].LoadState != "not-found" {
		t.Errorf("%+v", got)
	}
	if _, err := parseListUnits([]byte("a.service loaded\n")); err == nil || !strings.Contains(err.Error(), "unexpected line") {
		t.Errorf("short line: %v", err)
	}
}
