package containercheck

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/snapshots"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/containerd/v2/pkg/oci"

	"github.com/satellite-hq/satellite/checks"
	"github.com/satellite-hq/satellite/checks/checktest"
	"github.com/satellite-hq/satellite/internal/ociarchive"
)

// sweepNamespace is used only by TestSweepLeftovers, so that the sweep at
// first use in this process finds what the test planted.
const sweepNamespace = "satellite-test-sweep"

func namespaced(ctx context.Context, ns string) context.Context {
	return namespaces.WithNamespace(ctx, ns)
}

// client is a containerd client on the test namespace for assertions.
func client(t testing.TB) *containerd.Client {
	t.Helper()
	cl, err := containerd.New(socket(t), containerd.WithDefaultNamespace(testNamespace))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cl.Close() })
	return cl
}

// wantNothingLeft fails when the checker's runs left a container, a lease
// or a snapshot other than the images' own.
func wantNothingLeft(t *testing.T, c *Checker) {
	t.Helper()
	c.bg.Wait() // cleanups after a timeout run in the background
	cl := client(t)
	ctx := context.Background()
	ctrs, err := cl.Containers(ctx, `labels."`+LabelManaged+`"==true`)
	if err != nil {
		t.Fatal(err)
	}
	for _, ctr := range ctrs {
		t.Errorf("container %s left behind", ctr.ID())
	}
	ls, _ := cl.LeasesService().List(ctx, `labels."`+LabelManaged+`"==true`)
	for _, l := range ls {
		t.Errorf("lease %s left behind", l.ID)
	}
	_ = cl.SnapshotService("").Walk(ctx, func(_ context.Context, info snapshots.Info) error {
		if info.Labels[LabelManaged] == "true" {
			t.Errorf("snapshot %s left behind", info.Name)
		}
		return nil
	})
	if entries, _ := os.ReadDir(NetnsDir); len(entries) > 0 {
		t.Errorf("%d network namespace files left in %s", len(entries), NetnsDir)
	}
}

func TestPass(t *testing.T) {
	c := newChecker(t, probe("dns", "localhost")+`  expect_output = "Address: 127\\.0\\.0\\.1"`)
	res := runCheck(c, time.Minute)
	checktest.WantPassing(t, res)
	if res.Metrics[MetricExitCode] != 0 || res.Metrics[MetricDuration] <= 0 {
		t.Errorf("metrics %v", res.Metrics)
	}
	if out := res.Attrs["output"].AsString(); !strings.Contains(out, "Address:") {
		t.Errorf("output %q", out)
	}
	wantNothingLeft(t, c)
}

func TestUnprivileged(t *testing.T) {
	// The default user is nobody, with no capabilities.
	c := newChecker(t, probe("id")+`  expect_output = "uid=65534 gid=65534 host=main"`)
	checktest.WantPassing(t, runCheck(c, time.Minute))
	// The root file system is read-only, even for root in the container...
	ro := newChecker(t, probe("write", "/x")+`  user = "0:0"
  expect_exit = 1
  expect_output = "read-only file system"`)
	checktest.WantPassing(t, runCheck(ro, time.Minute))
	// ...unless asked; /tmp is writable either way.
	rw := newChecker(t, probe("write", "/x")+`  user = "0:0"
  read_only = false`)
	checktest.WantPassing(t, runCheck(rw, time.Minute))
	tmp := newChecker(t, probe("write", "/tmp/x"))
	checktest.WantPassing(t, runCheck(tmp, time.Minute))
	wantNothingLeft(t, c)
}

func TestWrongExitCode(t *testing.T) {
	c := newChecker(t, probe("exit", "3"))
	res := runCheck(c, time.Minute)
	checktest.WantCritical(t, res, `container "main" exited with 3, expected 0`)
	if res.Metrics[MetricExitCode] != 3 || res.Attrs["exit_code"].AsBigFloat().String() != "3" {
		t.Errorf("exit code: metrics %v attrs %v", res.Metrics, res.Attrs["exit_code"])
	}
	c = newChecker(t, probe("exit", "3")+"  expect_exit = 3\n")
	checktest.WantPassing(t, runCheck(c, time.Minute))
	wantNothingLeft(t, c)
}

func TestOutputMiss(t *testing.T) {
	c := newChecker(t, probe("tcp", "127.0.0.1:9")+`  expect_exit = 1
  expect_output = "connected"`)
	res := runCheck(c, time.Minute)
	checktest.WantCritical(t, res, `output does not match "connected"`)
	if !strings.Contains(res.Detail, "connection refused") {
		t.Errorf("detail %q: want the output's tail", res.Detail)
	}
	wantNothingLeft(t, c)
}

func TestTimeout(t *testing.T) {
	c := newChecker(t, probe("sleep", "1h"))
	start := time.Now()
	res := runCheck(c, 2*time.Second)
	if took := time.Since(start); took > 2*time.Second+500*time.Millisecond {
		t.Errorf("the run took %s past its 2s timeout", took)
	}
	checktest.WantCritical(t, res, "timed out after 2s", `container "main"`, "killed")
	wantNothingLeft(t, c)
}

func TestOOM(t *testing.T) {
	c := newChecker(t, probe("alloc", "64MiB")+`  memory = "16MiB"`)
	res := runCheck(c, time.Minute)
	checktest.WantCritical(t, res, `container "main" was killed by the OOM killer (memory limit 16 MiB)`)
	if !res.Attrs["oom_killed"].True() {
		t.Errorf("oom_killed %v", res.Attrs["oom_killed"])
	}
	wantNothingLeft(t, c)
}

func TestGroupTalks(t *testing.T) {
	c := newChecker(t, `
  container "server" {
    image_archive = "`+probeArchive+`"
    command = ["/probe", "serve", "--listen", "127.0.0.1:8080"]
    ready = "tcp://127.0.0.1:8080"
  }
  container "client" {
    image_archive = "`+probeArchive+`"
    command = ["/probe", "get", "http://127.0.0.1:8080/"]
    expect_output = "200 OK"
  }
`)
	for i := 0; i < 2; i++ { // the second run gets a fresh network
		res := runCheck(c, time.Minute)
		checktest.WantPassing(t, res)
	}
	wantNothingLeft(t, c)

	// The network is the group's own: the agent's loopback does not see it.
	if conn, err := net.DialTimeout("tcp", "127.0.0.1:8080", 200*time.Millisecond); err == nil {
		conn.Close()
		t.Log("something else listens on 127.0.0.1:8080 on the host; not a failure of the group")
	}
}

func TestGroupServerDies(t *testing.T) {
	c := newChecker(t, `
  container "server" {
    image_archive = "`+probeArchive+`"
    command = ["/probe", "exit", "4"]
    ready = "tcp://127.0.0.1:8080"
  }
  container "client" {
    image_archive = "`+probeArchive+`"
    command = ["/probe", "get", "http://127.0.0.1:8080/"]
  }
`)
	res := runCheck(c, time.Minute)
	checktest.WantCritical(t, res, `container "server" exited with 4 before tcp://127.0.0.1:8080 accepted`)
	wantNothingLeft(t, c)
}

func TestHostNetwork(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() { // ends when ln is closed
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			conn.Close()
		}
	}()
	c := newChecker(t, probe("tcp", ln.Addr().String())+`  network = "host"`)
	checktest.WantPassing(t, runCheck(c, time.Minute))
	iso := newChecker(t, probe("tcp", ln.Addr().String()))
	checktest.WantCritical(t, runCheck(iso, time.Minute), "exited with 1")
	wantNothingLeft(t, c)
}

func TestArchiveImportedOnce(t *testing.T) {
	// A copy of its own, so that another test's import does not count.
	dir := t.TempDir()
	archive := filepath.Join(dir, "probe.tar")
	data, err := os.ReadFile(probeArchive)
	if err != nil {
		t.Fatal(err)
	}
	// Another binary makes another digest: append a byte to a copy of the probe.
	bin, _ := os.ReadFile(probeBin)
	binCopy := filepath.Join(dir, "probe")
	if err := os.WriteFile(binCopy, append(bin, 0), 0o755); err != nil {
		t.Fatal(err)
	}
	_ = data
	writeArchive(t, binCopy, archive)

	c := newChecker(t, `
  image_archive = "`+archive+`"
  command = ["/probe", "exit", "0"]
`)
	for i := 0; i < 3; i++ {
		checktest.WantPassing(t, runCheck(c, time.Minute))
	}
	if n := c.imports.Load(); n != 1 {
		t.Errorf("%d imports over 3 runs, want 1", n)
	}
	// A new checker (as after a reload) finds the image by its digest.
	c2 := newChecker(t, `
  image_archive = "`+archive+`"
  command = ["/probe", "exit", "0"]
`)
	checktest.WantPassing(t, runCheck(c2, time.Minute))
	if n := c2.imports.Load(); n != 0 {
		t.Errorf("a new checker imported the unchanged archive again (%d)", n)
	}
	// A changed file is imported again.
	if err := os.WriteFile(binCopy, append(bin, 0, 1), 0o755); err != nil {
		t.Fatal(err)
	}
	writeArchive(t, binCopy, archive)
	checktest.WantPassing(t, runCheck(c, time.Minute))
	if n := c.imports.Load(); n != 2 {
		t.Errorf("%d imports after the archive changed, want 2", n)
	}
	wantNothingLeft(t, c)
}

func TestContainerdDown(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "containerd.sock")
	// A socket file nobody listens on: connection refused.
	fd, err := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Bind(fd, &syscall.SockaddrUnix{Name: sock}); err != nil {
		t.Fatal(err)
	}
	syscall.Close(fd)
	src := `check "container" "t" {
  socket = "` + sock + `"
  image = "probe"
}`
	c := checktest.MustCheck(t, src, "container.t").Checker.(*Checker)
	defer c.Close()
	start := time.Now()
	res := checktest.Run(c, 10*time.Second)
	checktest.WantCritical(t, res, "containerd at "+sock+": connection refused")
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("took %s to say containerd is down", took)
	}
	// No socket at all.
	src = `check "container" "t" {
  socket = "` + filepath.Join(dir, "none.sock") + `"
  image = "probe"
}`
	c2 := checktest.MustCheck(t, src, "container.t").Checker.(*Checker)
	defer c2.Close()
	checktest.WantCritical(t, checktest.Run(c2, 10*time.Second), "no such file or directory")
}

func TestContainerdDownBlocksDependents(t *testing.T) {
	dir := t.TempDir()
	src := `check "container" "smoke" {
  socket = "` + filepath.Join(dir, "none.sock") + `"
  image = "probe"
}
check "tcp" "after" {
  address = "127.0.0.1:9"
  depends_on = [check.container.smoke]
}`
	plan := checktest.MustCompile(t, src)
	res := runOnce(t, plan)
	if res["container.smoke"] != checks.StatusCritical || res["tcp.after"] != checks.StatusBlocked {
		t.Errorf("statuses %v: want the container check critical and its dependent blocked", res)
	}
}

// TestSweepLeftovers plants what a killed agent leaves behind (a running
// managed container with another owner, its snapshot and lease, a network
// namespace file) next to an unmanaged container, and checks that the first
// run in the namespace removes the former and keeps the latter.
func TestSweepLeftovers(t *testing.T) {
	sock := socket(t)
	cl, err := containerd.New(sock, containerd.WithDefaultNamespace(sweepNamespace))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx := context.Background()
	f, err := os.Open(probeArchive)
	if err != nil {
		t.Fatal(err)
	}
	imgs, err := cl.Import(ctx, f, containerd.WithIndexName("satellite.local/test:sweep"))
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	img := containerd.NewImage(cl, imgs[0])
	if err := img.Unpack(ctx, ""); err != nil {
		t.Fatal(err)
	}
	other := map[string]string{LabelManaged: "true", LabelOwner: "0000000000000000", LabelRun: "dead-1"}
	plant := func(id string, labels map[string]string) containerd.Container {
		ctr, err := cl.NewContainer(ctx, id, containerd.WithContainerLabels(labels), containerd.WithImage(img),
			containerd.WithNewSnapshot(id, img, snapshots.WithLabels(labels)),
			containerd.WithNewSpec(oci.WithImageConfig(img), oci.WithProcessArgs("/probe", "sleep", "1h")))
		if err != nil {
			t.Fatal(err)
		}
		return ctr
	}
	left := plant("leftover", other)
	task, err := left.NewTask(ctx, cio.NullIO)
	if err != nil {
		t.Fatal(err)
	}
	if err := task.Start(ctx); err != nil {
		t.Fatal(err)
	}
	mine := plant("not-ours", map[string]string{"app": "someone-else"})
	defer func() { _ = mine.Delete(ctx, containerd.WithSnapshotCleanup) }()
	ns, err := newNetns("0000000000000000-dead-1")
	if err != nil {
		t.Fatal(err)
	}

	c := newCheckerIn(t, sweepNamespace, probe("exit", "0"))
	checktest.WantPassing(t, runCheck(c, time.Minute))

	if _, err := cl.LoadContainer(ctx, "leftover"); err == nil {
		t.Error("the leftover container is still there")
	}
	if _, err := cl.SnapshotService("").Stat(ctx, "leftover"); err == nil {
		t.Error("the leftover snapshot is still there")
	}
	if _, err := cl.LoadContainer(ctx, "not-ours"); err != nil {
		t.Errorf("the unmanaged container was removed: %v", err)
	}
	if _, err := os.Stat(ns); err == nil {
		t.Error("the leftover network namespace file is still there")
	}
}

func writeArchive(t *testing.T, bin, archive string) {
	t.Helper()
	if _, err := ociarchive.WriteFile(archive, ociarchive.Options{Binary: bin, Path: "/probe"}); err != nil {
		t.Fatal(err)
	}
}
