package systemdcheck

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	sdbus "github.com/coreos/go-systemd/v22/dbus"
	"github.com/godbus/dbus/v5"
	"github.com/satellite-hq/satellite/checks"
)

// A real dbus-daemon, started by the test on a socket of its own, with a
// stand-in for systemd's manager on it: systemd cannot run here, but
// dbus-daemon can, so the D-Bus path (handshake, Hello, the calls and the
// decoding of their answers) runs for real. The manager answers with the
// values systemd 252 gave (dbus_test.go); TestRealSystemd runs the same
// path against a real systemd where one is at hand.

const busConfig = `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>custom</type>
  <listen>unix:path=%s</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*"/>
    <allow receive_sender="*"/>
  </policy>
</busconfig>
`

// fakeManager is the stand-in for org.freedesktop.systemd1.Manager.
type fakeManager struct {
	byName  map[string]sdbus.UnitStatus
	results map[string]string // unit → Result
	failed  []sdbus.UnitStatus
	hang    chan struct{} // ListUnitsByNames of "hang.service" waits on it

	mu      sync.Mutex
	calls   []string
	senders []string // the connection of each ListUnitsByNames
}

// connections returns how many connections asked ListUnitsByNames.
func (m *fakeManager) connections() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	seen := map[string]bool{}
	for _, s := range m.senders {
		seen[s] = true
	}
	return len(seen)
}

func (m *fakeManager) record(call string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls = append(m.calls, call)
}

func (m *fakeManager) ListUnitsByNames(sender dbus.Sender, names []string) ([]sdbus.UnitStatus, *dbus.Error) {
	m.record("ListUnitsByNames " + strings.Join(names, ","))
	m.mu.Lock()
	m.senders = append(m.senders, string(sender))
	m.mu.Unlock()
	out := make([]sdbus.UnitStatus, 0, len(names))
	for _, n := range names {
		if n == "hang.service" {
			<-m.hang
		}
		s, ok := m.byName[n]
		if !ok {
			s = sdbus.UnitStatus{Name: n, Description: n, LoadState: "not-found", ActiveState: "inactive", SubState: "dead",
				Path: dbus.ObjectPath("/org/freedesktop/systemd1/unit/" + sdbus.PathBusEscape(n)), JobPath: "/"}
		}
		out = append(out, s)
	}
	return out, nil
}

func (m *fakeManager) ListUnitsFiltered(states []string) ([]sdbus.UnitStatus, *dbus.Error) {
	m.record("ListUnitsFiltered " + strings.Join(states, ","))
	return m.failed, nil
}

// unitProps answers org.freedesktop.DBus.Properties.Get on a unit's object.
type unitProps struct {
	m    *fakeManager
	unit string
}

func (p unitProps) Get(iface, name string) (dbus.Variant, *dbus.Error) {
	p.m.record("Get " + p.unit + " " + iface + "." + name)
	if r, ok := p.m.results[p.unit]; ok && name == "Result" && iface == "org.freedesktop.systemd1.Service" {
		return dbus.MakeVariant(r), nil
	}
	return dbus.Variant{}, dbus.NewError("org.freedesktop.DBus.Error.UnknownProperty", []any{"no " + name})
}

// testBus is a dbus-daemon started by a test, with the fake manager on it.
type testBus struct {
	sock string
	conn *dbus.Conn // the manager's connection
	cmd  *exec.Cmd
}

// stop ends the daemon (and with it every connection to the bus).
func (b *testBus) stop() {
	_ = b.conn.Close()
	_ = b.cmd.Process.Kill()
	_ = b.cmd.Wait()
	_ = os.Remove(b.sock)
}

// startBus starts dbus-daemon and the fake manager on it, and returns the
// bus socket and the manager's connection.
func startBus(t testing.TB, m *fakeManager) (string, *dbus.Conn) {
	t.Helper()
	b := startBusAt(t, m, filepath.Join(t.TempDir(), "bus"))
	return b.sock, b.conn
}

func startBusAt(t testing.TB, m *fakeManager, sock string) *testBus {
	t.Helper()
	daemon, err := exec.LookPath("dbus-daemon")
	if err != nil {
		if os.Getenv("SATELLITE_TEST_SERVICES") != "" {
			t.Fatal("no dbus-daemon: make test installs it (scripts/test.sh); install the dbus-daemon package")
		}
		t.Skip("no dbus-daemon here (make test installs it)")
	}
	conf := sock + ".conf"
	if err := os.WriteFile(conf, []byte(strings.Replace(busConfig, "%s", sock, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(daemon, "--nofork", "--nopidfile", "--nosyslog", "--config-file="+conf, "--print-address=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder // it complains it may not raise its fd limit
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	b := &testBus{sock: sock, cmd: cmd}
	// The daemon prints its address once it listens.
	line := make(chan string, 1)
	go func() {
		l, _ := bufio.NewReader(out).ReadString('\n')
		line <- l
	}()
	select {
	case l := <-line:
		if !strings.Contains(l, sock) {
			t.Fatalf("dbus-daemon printed %q", l)
		}
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatalf("dbus-daemon did not start: %s", stderr.String())
	}

	b.conn, err = dbus.Connect("unix:path=" + sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.stop)
	if m.hang == nil {
		m.hang = make(chan struct{})
		t.Cleanup(func() { close(m.hang) })
	}
	if err := b.conn.Export(m, "/org/freedesktop/systemd1", "org.freedesktop.systemd1.Manager"); err != nil {
		t.Fatal(err)
	}
	for n := range m.byName {
		path := dbus.ObjectPath("/org/freedesktop/systemd1/unit/" + sdbus.PathBusEscape(n))
		if err := b.conn.Export(unitProps{m, n}, path, "org.freedesktop.DBus.Properties"); err != nil {
			t.Fatal(err)
		}
	}
	reply, err := b.conn.RequestName("org.freedesktop.systemd1", dbus.NameFlagDoNotQueue)
	if err != nil || reply != dbus.RequestNameReplyPrimaryOwner {
		t.Fatalf("RequestName: %v, %v", reply, err)
	}
	return b
}

func captured() *fakeManager {
	m := &fakeManager{byName: map[string]sdbus.UnitStatus{}, failed: capturedFailed,
		results: map[string]string{"kubelet.service": "exit-code", "etcd.service": "exit-code", "kube-proxy.service": "success", "kube-apiserver.service": "success"}}
	for i, s := range capturedByNames {
		m.byName[showNames[i]] = s
	}
	return m
}

func TestDBusDaemon(t *testing.T) {
	m := captured()
	sock, _ := startBus(t, m)
	noCtl := missingPath(t, "systemctl")

	res := run(newChecker(showNames, nil).at(sock, noCtl), 5*time.Second)
	want := "kubelet.service is failed (Result=exit-code); " +
		"etcd.service is activating (SubState=auto-restart, Result=exit-code); " +
		"kube-proxy.service is inactive; " +
		"nosuch.service is inactive (LoadState=not-found); " +
		"kube-apiserver.service is reloading (SubState=reload)"
	if res.Verdict() != checks.StatusCritical || res.Error != want {
		t.Errorf("%s %q\nwant %q", res.Verdict(), res.Error, want)
	}
	if !strings.HasPrefix(res.Detail, "via D-Bus\n") {
		t.Errorf("detail %q", res.Detail)
	}
	// The Result is asked for where it explains a problem only, and not of
	// a not-found unit.
	m.mu.Lock()
	calls := strings.Join(m.calls, "\n")
	m.mu.Unlock()
	for _, c := range []string{"ListUnitsByNames " + strings.Join(showNames, ","), "Get etcd.service org.freedesktop.systemd1.Service.Result"} {
		if !strings.Contains(calls, c) {
			t.Errorf("no call %q in\n%s", c, calls)
		}
	}
	for _, c := range []string{"Get containerd.service", "Get nosuch.service", "Get default.target"} {
		if strings.Contains(calls, c) {
			t.Errorf("call %q in\n%s", c, calls)
		}
	}

	res = run(newChecker([]string{"containerd.service", "cri.service", "-.mount"}, nil).at(sock, noCtl), 5*time.Second)
	wantStatus(t, res, checks.StatusPassing)

	res = run(newChecker(nil, []string{"kube-scheduler.service"}).at(sock, noCtl), 5*time.Second)
	if res.Error != "2 units failed: etcd-defrag.service, kubelet.service" {
		t.Errorf("failed: %q", res.Error)
	}
}

// A manager that does not answer: the call ends at the run's deadline.
func TestDBusDaemonTimeout(t *testing.T) {
	sock, _ := startBus(t, captured())
	start := time.Now()
	res := run(newChecker([]string{"hang.service"}, nil).at(sock, missingPath(t, "systemctl")), 300*time.Millisecond)
	wantTimeout(t, res, 300*time.Millisecond, "D-Bus")
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("returned after %s", took)
	}
}

// A bus without systemd on it (a container with dbus but another init):
// the error says so, after systemctl's own.
func TestDBusDaemonWithoutSystemd(t *testing.T) {
	sock, conn := startBus(t, captured())
	// Take the manager off the bus.
	if reply, err := conn.ReleaseName("org.freedesktop.systemd1"); err != nil || reply != dbus.ReleaseNameReplyReleased {
		t.Fatalf("ReleaseName: %v, %v", reply, err)
	}
	res := run(newChecker(nodeUnits, nil).at(sock, missingPath(t, "systemctl")), 5*time.Second)
	t.Log(res.Error)
	wantStatus(t, res, checks.StatusCritical, "systemd: D-Bus system bus at "+sock+": ListUnitsByNames: The name org.freedesktop.systemd1 was not provided", "; no systemctl: ")
}

// A checker keeps its connection between runs, closes it when idle or at
// Close, and leaves nothing behind.
func TestDBusKeepsConnection(t *testing.T) {
	m := captured()
	sock, _ := startBus(t, m)
	before := runtime.NumGoroutine()
	c := newChecker([]string{"containerd.service"}, nil).at(sock, missingPath(t, "systemctl"))
	for range 20 {
		if res := run(c, 5*time.Second); res.Error != "" {
			t.Fatal(res.Error)
		}
	}
	if n := m.connections(); n != 1 {
		t.Errorf("20 runs used %d connections", n)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	waitGoroutines(t, before)

	// Idle: the connection closes itself, and the next run opens another.
	c = newChecker([]string{"containerd.service"}, nil).at(sock, missingPath(t, "systemctl"))
	bus := c.bus.(*dbusSource)
	bus.idle = 50 * time.Millisecond
	run(c, 5*time.Second)
	deadline := time.Now().Add(2 * time.Second)
	for {
		bus.mu.Lock()
		open := bus.conn != nil
		bus.mu.Unlock()
		if !open {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the idle connection was not closed")
		}
		time.Sleep(10 * time.Millisecond)
	}
	waitGoroutines(t, before)
	if res := run(c, 5*time.Second); res.Error != "" || m.connections() != 3 {
		t.Errorf("after idle: %q, %d connections", res.Error, m.connections())
	}
	_ = c.Close()
}

// The bus restarts between two runs: the kept connection is broken, and the
// run tries once more on a new one.
func TestDBusBusRestarts(t *testing.T) {
	m := captured()
	sock := filepath.Join(t.TempDir(), "bus")
	b := startBusAt(t, m, sock)
	c := newChecker([]string{"containerd.service"}, nil).at(sock, missingPath(t, "systemctl"))
	defer c.Close()
	if res := run(c, 5*time.Second); res.Error != "" {
		t.Fatal(res.Error)
	}
	bus := c.bus.(*dbusSource)
	first := bus.conn
	b.stop()
	startBusAt(t, m, sock)
	if res := run(c, 5*time.Second); res.Error != "" || !strings.HasPrefix(res.Detail, "via D-Bus") {
		t.Fatalf("after a restart of the bus: %q %q", res.Error, res.Detail)
	}
	if bus.conn == first || bus.conn == nil {
		t.Error("the broken connection was kept")
	}
}

func waitGoroutines(t *testing.T, want int) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > want {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines, want %d\n%s", runtime.NumGoroutine(), want, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}
