package systemdcheck

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/satellite-hq/satellite/checks"
)

// TestRealSystemd runs both sources against a real systemd when one is at
// hand: set SATELLITE_SYSTEMD_TEST_BUS to a bus socket on which
// org.freedesktop.systemd1 answers (the system bus, or a user manager's
// $XDG_RUNTIME_DIR/bus as testdata/capture.sh sets up). It expects the units
// that capture.sh makes. This machine has no systemd, so it is skipped here
// unless run inside capture.sh.
func TestRealSystemd(t *testing.T) {
	bus := os.Getenv("SATELLITE_SYSTEMD_TEST_BUS")
	if bus == "" {
		t.Skip("SATELLITE_SYSTEMD_TEST_BUS is not set: no real systemd to ask")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	src := newDBusSource(bus)
	conn, err := src.connect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.close()
	names := []string{"kubelet.service", "containerd.service", "etcd.service", "kube-proxy.service", "nosuch.service", "default.target", "kube-apiserver.service", "cri.service", "-.mount"}
	st, err := conn.ListUnitsByNamesContext(ctx, names)
	if err != nil {
		t.Fatal(err)
	}
	failed, err := conn.ListUnitsFilteredContext(ctx, []string{"failed"})
	if err != nil {
		t.Fatal(err)
	}
	// Printed for dbus_test.go, whose values were captured this way.
	for _, s := range st {
		t.Logf("ListUnitsByNames: %#v", s)
	}
	for _, s := range failed {
		t.Logf("ListUnitsFiltered: %#v", s)
	}

	units, err := src.named(ctx, names)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][2]string{ // ActiveState, Result
		"kubelet.service":        {"failed", "exit-code"},
		"containerd.service":     {"active", ""},
		"etcd.service":           {"activating", "exit-code"},
		"kube-proxy.service":     {"inactive", "success"},
		"nosuch.service":         {"inactive", ""},
		"default.target":         {"active", ""},
		"kube-apiserver.service": {"reloading", "success"},
		"cri.service":            {"active", ""},
		"-.mount":                {"active", ""},
	}
	for _, u := range units {
		t.Logf("named: %+v", u)
		if w := want[u.Name]; u.ActiveState != w[0] || u.Result != w[1] {
			t.Errorf("%s: %s Result=%q, want %s Result=%q", u.Name, u.ActiveState, u.Result, w[0], w[1])
		}
	}
	if units[7].ID != "containerd.service" {
		t.Errorf("the alias cri.service has Id %q", units[7].ID)
	}

	c := newChecker(names, nil).at(bus, missingPath(t, "systemctl"))
	res := c.Check(ctx)
	t.Logf("check: %s: %s\n%s", res.Verdict(), res.Error, res.Detail)
	wantStatus(t, res, checks.StatusCritical, "kubelet.service is failed (Result=exit-code)",
		"etcd.service is activating (SubState=auto-restart, Result=exit-code)", "nosuch.service is inactive (LoadState=not-found)")

	res = newChecker(nil, nil).at(bus, missingPath(t, "systemctl")).Check(ctx)
	t.Logf("check failed: %s: %s\n%s", res.Verdict(), res.Error, res.Detail)
	wantStatus(t, res, checks.StatusCritical, "3 units failed: etcd-defrag.service, kube-scheduler.service, kubelet.service")
}
