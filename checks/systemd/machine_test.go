package systemdcheck

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/satellite-hq/satellite/checks"
)

// Tests of what happens on this machine, which has neither systemd nor a
// D-Bus system bus: real missing sockets, real processes, real Unix
// sockets that misbehave.

const time1s = time.Second

var nodeUnits = []string{"kubelet.service", "containerd.service"}

func TestNoBusNoSystemctl(t *testing.T) {
	t.Setenv("PATH", t.TempDir()) // a PATH without systemctl
	sock := missingPath(t, "system_bus_socket")
	for _, units := range [][]string{nodeUnits, nil} {
		res := run(newChecker(units, nil).at(sock, DefaultSystemctl), time1s)
		want := "systemd: no D-Bus system bus at " + sock + ` and no systemctl: exec: "systemctl": executable file not found in $PATH`
		if res.Verdict() != checks.StatusCritical || res.Error != want {
			t.Errorf("%s %q,\nwant critical %q", res.Verdict(), res.Error, want)
		}
		if res.Metrics != nil || res.Attrs != nil {
			t.Errorf("metrics %v, attrs %v on a run that learnt nothing", res.Metrics, res.Attrs)
		}
	}
	// A systemctl path that does not exist.
	res := run(newChecker(nodeUnits, nil).at(sock, missingPath(t, "systemctl")), time1s)
	wantStatus(t, res, checks.StatusCritical, "and no systemctl: ", "no such file or directory")
}

// With the defaults, as the agent runs here.
func TestDefaultsOnThisMachine(t *testing.T) {
	if _, err := os.Stat(DefaultBusSocket); err == nil {
		t.Skip("this machine has a D-Bus system bus")
	}
	t.Setenv("PATH", t.TempDir())
	c := mustChecker(t, `units = ["kubelet.service"]`)
	res := run(c, time1s)
	want := `systemd: no D-Bus system bus at /run/dbus/system_bus_socket and no systemctl: exec: "systemctl": executable file not found in $PATH`
	if res.Error != want {
		t.Errorf("error %q, want %q", res.Error, want)
	}
}

// This machine has systemctl installed but systemd is not running: the
// real systemctl's complaint reaches the error.
func TestRealSystemctlWithoutSystemd(t *testing.T) {
	path, err := exec.LookPath("systemctl")
	if err != nil {
		t.Skip("no systemctl here")
	}
	if _, err := os.Stat("/run/systemd/system"); err == nil {
		t.Skip("systemd runs here")
	}
	sock := missingPath(t, "bus")
	for _, units := range [][]string{nodeUnits, nil} {
		res := run(newChecker(units, nil).at(sock, path), 5*time.Second)
		t.Logf("%s", res.Error)
		wantStatus(t, res, checks.StatusCritical, "systemd: no D-Bus system bus at "+sock+"; systemctl ", ": exit status 1: ", "has not been booted with systemd")
	}
}

// argvFile is where a fake systemctl writes the arguments it got, one a line.
const logArgs = `for a in "$@"; do printf '%s\n' "$a"; done > "$(dirname "$0")/argv"` + "\n"

func TestSystemctlShow(t *testing.T) {
	show, _ := filepath.Abs(filepath.Join("testdata", "show.txt"))
	dir := fakeSystemctl(t, logArgs+"cat '"+show+"'\n")
	c := newChecker(showNames, nil).at(missingPath(t, "bus"), filepath.Join(dir, "systemctl"))
	res := run(c, 5*time.Second)
	wantStatus(t, res, checks.StatusCritical, "kubelet.service is failed (Result=exit-code); etcd.service is activating (SubState=auto-restart, Result=exit-code)")
	argv, err := os.ReadFile(filepath.Join(dir, "argv"))
	if err != nil {
		t.Fatal(err)
	}
	want := "show\n--property=Id,ActiveState,SubState,Result,LoadState\n--no-pager\n--\n" + strings.Join(showNames, "\n") + "\n"
	if string(argv) != want {
		t.Errorf("argv\n%s\nwant\n%s", argv, want)
	}
	if !strings.HasPrefix(res.Detail, "via systemctl\nkubelet.service loaded failed failed Result=exit-code\n") {
		t.Errorf("detail %q", res.Detail)
	}
}

func TestSystemctlListUnits(t *testing.T) {
	list, _ := filepath.Abs(filepath.Join("testdata", "list-units-failed.txt"))
	dir := fakeSystemctl(t, logArgs+"cat '"+list+"'\n")
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	c := newChecker(nil, []string{"etcd-*"}).at(missingPath(t, "bus"), DefaultSystemctl)
	res := run(c, 5*time.Second)
	wantStatus(t, res, checks.StatusCritical)
	if res.Error != "2 units failed: kube-scheduler.service, kubelet.service" {
		t.Errorf("error %q", res.Error)
	}
	argv, _ := os.ReadFile(filepath.Join(dir, "argv"))
	if string(argv) != "list-units\n--state=failed\n--plain\n--no-legend\n--no-pager\n" {
		t.Errorf("argv %q", argv)
	}

	none, _ := filepath.Abs(filepath.Join("testdata", "list-units-none.txt"))
	dir = fakeSystemctl(t, "cat '"+none+"'\n")
	res = run(newChecker(nil, nil).at(missingPath(t, "bus"), filepath.Join(dir, "systemctl")), 5*time.Second)
	wantStatus(t, res, checks.StatusPassing)
	if res.Metrics[MetricFailedUnits] != 0 || res.Detail != "via systemctl" {
		t.Errorf("metrics %v, detail %q", res.Metrics, res.Detail)
	}
}

func TestSystemctlFails(t *testing.T) {
	// What systemctl 252 prints on a machine not booted with systemd.
	dir := fakeSystemctl(t, `echo "System has not been booted with systemd as init system (PID 1). Can't operate." >&2
echo "Failed to connect to bus: Host is down" >&2
exit 1
`)
	sock := missingPath(t, "bus")
	res := run(newChecker(nodeUnits, nil).at(sock, filepath.Join(dir, "systemctl")), 5*time.Second)
	want := "systemd: no D-Bus system bus at " + sock + "; systemctl show: exit status 1: System has not been booted with systemd as init system (PID 1). Can't operate.; Failed to connect to bus: Host is down"
	if res.Error != want {
		t.Errorf("error %q\nwant  %q", res.Error, want)
	}

	for script, part := range map[string]string{
		"exit 3\n":                      "systemctl show: exit status 3",
		"echo garbage\n":                `systemctl show: unexpected line "garbage"`,
		"head -c 2000000 /dev/zero\n":   "printed more than 1048576 bytes",
		"kill -9 $$\n":                  "signal: killed",
		"printf 'Id=a\\nActiveState'\n": "unexpected line",
	} {
		dir := fakeSystemctl(t, script)
		res := run(newChecker(nodeUnits, nil).at(sock, filepath.Join(dir, "systemctl")), 5*time.Second)
		wantStatus(t, res, checks.StatusCritical, part)
	}
}

// A systemctl that hangs, with a child that holds its output open: the run
// ends at the deadline and the whole process group is killed.
func TestSystemctlTimeout(t *testing.T) {
	dir := fakeSystemctl(t, `sleep 30 &
echo $! > "$(dirname "$0")/child"
wait
`)
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	c := newChecker(nodeUnits, nil).at(missingPath(t, "bus"), DefaultSystemctl)
	start := time.Now()
	res := run(c, 300*time.Millisecond)
	took := time.Since(start)
	t.Logf("returned after %s", took)
	wantStatus(t, res, checks.StatusCritical)
	wantTimeout(t, res, 300*time.Millisecond, "systemctl")
	if took > 2*time.Second {
		t.Errorf("returned after %s", took)
	}
	b, err := os.ReadFile(filepath.Join(dir, "child"))
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	deadline := time.Now().Add(2 * time.Second)
	for alive(pid) {
		if time.Now().After(deadline) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("systemctl's child %d outlived the run", pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// alive reports whether a process runs: it exists and is not a zombie
// waiting for init, its new parent, to reap it.
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	_, rest, _ := strings.Cut(string(b), ") ")
	return !strings.HasPrefix(rest, "Z")
}

func TestCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	dir := fakeSystemctl(t, "exit 0\n")
	res := newChecker(nodeUnits, nil).at(missingPath(t, "bus"), filepath.Join(dir, "systemctl")).Check(ctx)
	if res.Error != "systemd: canceled while waiting for systemctl" {
		t.Errorf("error %q", res.Error)
	}
	ctx, cancel = context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	res = newChecker(nodeUnits, nil).at(missingPath(t, "bus"), filepath.Join(dir, "systemctl")).Check(ctx)
	if res.Error != "systemd: timed out after 0s waiting for systemctl" {
		t.Errorf("error %q", res.Error)
	}
}

// unixServer listens on a Unix socket in a temporary folder and hands each
// connection to serve.
func unixServer(t *testing.T, serve func(net.Conn)) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "bus")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			serve(c)
		}
	}()
	t.Cleanup(func() { _ = ln.Close(); <-done })
	return sock
}

// A socket where the bus should be that never answers: the D-Bus handshake
// hangs, and the run ends at its deadline.
func TestBusHangs(t *testing.T) {
	var conns []net.Conn
	t.Cleanup(func() {
		for _, c := range conns {
			_ = c.Close()
		}
	})
	sock := unixServer(t, func(c net.Conn) { conns = append(conns, c) })
	c := newChecker(nodeUnits, nil).at(sock, missingPath(t, "systemctl"))
	start := time.Now()
	res := run(c, 300*time.Millisecond)
	wantTimeout(t, res, 300*time.Millisecond, "D-Bus")
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("returned after %s", took)
	}
}

// A socket that closes every connection: D-Bus fails and systemctl answers.
func TestBusBrokenFallsBack(t *testing.T) {
	sock := unixServer(t, func(c net.Conn) { _ = c.Close() })
	one, _ := filepath.Abs(filepath.Join("testdata", "show-one.txt"))
	dir := fakeSystemctl(t, "cat '"+one+"'\n")
	res := run(newChecker([]string{"containerd.service"}, nil).at(sock, filepath.Join(dir, "systemctl")), 5*time.Second)
	wantStatus(t, res, checks.StatusPassing)
	if !strings.HasPrefix(res.Detail, "via systemctl\n") {
		t.Errorf("detail %q", res.Detail)
	}

	res = run(newChecker(nodeUnits, nil).at(sock, missingPath(t, "systemctl")), 5*time.Second)
	wantStatus(t, res, checks.StatusCritical, "systemd: D-Bus system bus at "+sock+": connect: ", "; no systemctl: ")
	t.Log(res.Error)
}
