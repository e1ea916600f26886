package slowfs

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/satellite-hq/satellite/internal/testenv"
)

// etcdBin finds Debian's etcd and etcdctl: $SATELLITE_TEST_ETCD and
// $SATELLITE_TEST_ETCDCTL (scripts/services/etcd.sh), else the PATH.
func etcdBin(t *testing.T, name, env string) string {
	t.Helper()
	if p := os.Getenv(env); p != "" {
		return p
	}
	p, err := exec.LookPath(name)
	if err != nil {
		testenv.Unavailable(t, name+" is not installed ($"+env+" is empty)")
	}
	return p
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// A real etcd keeps its data directory on the rig (WAL preallocation with
// fallocate, flock, renames, directory fsyncs, bbolt's mmap), and a write
// to it waits for the injected fdatasync latency.
func TestEtcdOnRig(t *testing.T) {
	etcd := etcdBin(t, "etcd", "SATELLITE_TEST_ETCD")
	etcdctl := etcdBin(t, "etcdctl", "SATELLITE_TEST_ETCDCTL")
	rig := Start(t, Options{})
	client := fmt.Sprintf("http://127.0.0.1:%d", freePort(t))
	peer := fmt.Sprintf("http://127.0.0.1:%d", freePort(t))
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, etcd, "--name", "slowfs",
		"--data-dir", filepath.Join(rig.Mountpoint(), "etcd"),
		"--listen-client-urls", client, "--advertise-client-urls", client,
		"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
		"--initial-cluster", "slowfs="+peer, "--log-level", "warn", "--logger", "zap")
	var logs testenv.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			cancel()
			cmd.Wait()
		}
	}
	t.Cleanup(stop) // before the rig's Close

	put := func(v string) (time.Duration, error) {
		start := time.Now()
		out, err := exec.Command(etcdctl, "--endpoints", client, "--command-timeout", "10s", "put", "k", v).CombinedOutput()
		if err != nil {
			return 0, fmt.Errorf("etcdctl put: %v: %s", err, out)
		}
		return time.Since(start), nil
	}
	var err error
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if _, err = put("first"); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("etcd did not take a write: %v\n%s", err, logs.String())
		}
	}
	fast, err := put("fast")
	if err != nil {
		t.Fatal(err)
	}
	before := rig.Stats()
	rig.SetFsyncDelay(200 * time.Millisecond)
	slow, err := put("slow")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("put without delay %s, with a 200ms fsync delay %s; %d fsyncs (%d fdatasync) during the slow put",
		fast, slow, rig.Stats().Fsyncs-before.Fsyncs, rig.Stats().Fdatasyncs-before.Fdatasyncs)
	if slow < 200*time.Millisecond {
		t.Errorf("a put took %s with a 200ms fsync delay", slow)
	}
	rig.SetFsyncDelay(0)
	stop()
	if _, err := os.Stat(filepath.Join(rig.Backing(), "etcd", "member", "snap", "db")); err != nil {
		t.Errorf("etcd's database is not in the backing directory: %v\n%s", err, logs.String())
	}
	if testing.Verbose() {
		t.Logf("etcd's log:\n%s", logs.String())
	}
}
