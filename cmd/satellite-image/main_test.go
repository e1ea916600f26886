package main

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/containerd/v2/core/leases"
	"github.com/containerd/containerd/v2/core/snapshots"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/containerd/v2/pkg/oci"
	"github.com/containerd/errdefs"
	"github.com/opencontainers/runtime-spec/specs-go"

	"github.com/satellite-hq/satellite/internal/ociarchive"
	"github.com/satellite-hq/satellite/internal/testenv"
)

// testNamespace keeps these tests away from the container check's and
// anything else on the containerd.
const testNamespace = "satellite-image-test"

// satelliteBin is the static satellite binary TestMain builds, as
// `make build` does (empty when the build failed: buildErr says why).
var (
	satelliteBin string
	buildErr     error
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "satellite-image-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	satelliteBin, buildErr = testenv.BuildSatellite(dir, "-s -w -X main.version=imagetest")
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

func binary(t *testing.T) string {
	t.Helper()
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return satelliteBin
}

// TestReproducible packs one binary twice, into two files, and gets the same
// bytes and digest; the image is what the Kubernetes manifests rely on.
func TestReproducible(t *testing.T) {
	bin := binary(t)
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.tar"), filepath.Join(dir, "b.tar")
	d1, err := ociarchive.WriteFile(a, Options(bin, "satellite/satellite:test", "", "1.2.3"))
	if err != nil {
		t.Fatal(err)
	}
	d2, err := ociarchive.WriteFile(b, Options(bin, "satellite/satellite:test", "", "1.2.3"))
	if err != nil {
		t.Fatal(err)
	}
	ab, _ := os.ReadFile(a)
	bb, _ := os.ReadFile(b)
	if d1 != d2 || !bytes.Equal(ab, bb) {
		t.Fatalf("two builds of one binary differ: %s %s", d1, d2)
	}
	img, err := ociarchive.Image(Options(bin, "", "", ""))
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	c := cf.Config
	if c.User != "10001:10001" || strings.Join(c.Entrypoint, " ") != "/usr/bin/satellite" || strings.Join(c.Cmd, " ") != "run /etc/satellite" {
		t.Errorf("config: user %q entrypoint %q cmd %q", c.User, c.Entrypoint, c.Cmd)
	}
	for _, p := range []string{"7575/tcp", "7946/tcp", "7946/udp", "7947/tcp"} {
		if _, ok := c.ExposedPorts[p]; !ok {
			t.Errorf("port %s is not exposed: %v", p, c.ExposedPorts)
		}
	}
	layers, err := img.Layers()
	if err != nil || len(layers) != 1 {
		t.Fatalf("layers %d, %v", len(layers), err)
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	found := map[string]*tar.Header{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		found[h.Name] = h
		if strings.HasPrefix(h.Name, "bin/") || h.Name == "bin/sh" {
			t.Errorf("the image has %s: it should have no shell", h.Name)
		}
	}
	if h := found["var/lib/satellite/"]; h == nil || h.Uid != UID || h.Gid != UID || h.Mode&0o200 == 0 {
		t.Errorf("var/lib/satellite/ is not the satellite user's: %+v", h)
	}
	if h := found["usr/bin/satellite"]; h == nil || h.Mode != 0o755 || h.Uid != 0 {
		t.Errorf("usr/bin/satellite: %+v", h)
	}
	if found["etc/satellite/satellite.hcl"] == nil || found["etc/passwd"] == nil || found["etc/group"] == nil {
		t.Errorf("the layer lacks the default config or the accounts: %v", found)
	}
}

// TestDefaultConfigValid runs the real `satellite validate` on the image's
// default config, with and without NODE_NAME.
func TestDefaultConfigValid(t *testing.T) {
	bin := binary(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "satellite.hcl"), defaultConfig, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, env := range [][]string{{"NODE_NAME=node-1"}, nil} {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		cmd := exec.CommandContext(ctx, bin, "validate", dir)
		cmd.Env = append([]string{"PATH=/usr/bin:/bin"}, env...)
		out, err := cmd.CombinedOutput()
		cancel()
		if err != nil || !strings.Contains(string(out), "Valid") {
			t.Errorf("satellite validate (env %v): %v: %s", env, err, out)
		}
	}
}

// TestContainer imports the image into the test's containerd and runs it
// as a container with the host network, the way a DaemonSet with
// hostNetwork runs it: the API answers from the host, the process runs as
// the satellite user, writes its history into the image's data folder, and
// stops cleanly on SIGTERM. Its default config validates inside it too.
func TestContainer(t *testing.T) {
	testenv.NeedRoot(t, "running containers")
	sock := testenv.Need(t, testenv.ContainerdSocket, "containerd")
	bin := binary(t)
	dir := t.TempDir()
	archive := filepath.Join(dir, "satellite-image.tar")
	const ref = "satellite-image-test/satellite:test"
	if _, err := ociarchive.WriteFile(archive, Options(bin, ref, "", "imagetest")); err != nil {
		t.Fatal(err)
	}

	cl, err := containerd.New(sock, containerd.WithTimeout(10*time.Second))
	if err != nil {
		t.Fatalf("connect to containerd at %s: %v", sock, err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(namespaces.WithNamespace(context.Background(), testNamespace), 2*time.Minute)
	defer cancel()
	defer cleanNamespace(t, cl) // before cl.Close

	img := importImage(ctx, t, cl, archive, ref)

	// The default config, in the container (no mount: the image's own file).
	out, code := runOnce(ctx, t, cl, img, "validate", "satellite-image-validate", []string{"NODE_NAME=image-test-node"}, "/usr/bin/satellite", "validate", "/etc/satellite")
	if code != 0 || !strings.Contains(out, "Valid") {
		t.Fatalf("satellite validate /etc/satellite in the image: exit %d: %s", code, out)
	}

	// A config folder mounted on /etc/satellite, as the ConfigMap is; the
	// API on a free loopback port of the host.
	port := freePort(t)
	cfgDir := filepath.Join(dir, "config")
	if err := os.Mkdir(cfgDir, 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`agent {
  name     = env("NODE_NAME")
  data_dir = "/var/lib/satellite"
}

api {
  listen = "127.0.0.1:%d"
}

check "http" "self" {
  url           = "http://127.0.0.1:%d/healthz"
  interval      = "1s"
  expect_status = [200, 503]
}
`, port, port)
	if err := os.WriteFile(filepath.Join(cfgDir, "satellite.hcl"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	id := "satellite-image-run"
	ctr, err := cl.NewContainer(ctx, id,
		containerd.WithImage(img),
		containerd.WithNewSnapshot(id, img),
		containerd.WithNewSpec(
			oci.WithImageConfig(img),
			oci.WithHostNamespace(specs.NetworkNamespace),
			oci.WithHostHostsFile,
			oci.WithEnv([]string{"NODE_NAME=image-test-node"}),
			oci.WithCapabilities(nil),
			oci.WithNoNewPrivileges,
			oci.WithMounts([]specs.Mount{{Destination: "/etc/satellite", Type: "bind", Source: cfgDir, Options: []string{"rbind", "ro"}}}),
		))
	if err != nil {
		t.Fatalf("create the container: %v", err)
	}
	defer deleteContainer(t, ctr)
	var logs testenv.Buffer
	task, err := ctr.NewTask(ctx, cio.NewCreator(cio.WithStreams(nil, &logs, &logs)))
	if err != nil {
		t.Fatalf("create the task: %v", err)
	}
	defer func() { _, _ = task.Delete(context.WithoutCancel(ctx), containerd.WithProcessKill) }()
	exited, err := task.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := task.Start(ctx); err != nil {
		t.Fatalf("start the task: %v", err)
	}

	// /healthz answers 200 from the host once the first round ran.
	url := fmt.Sprintf("http://127.0.0.1:%d/healthz", port)
	hc := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(30 * time.Second)
	status, body := 0, ""
	for time.Now().Before(deadline) {
		select {
		case st := <-exited:
			t.Fatalf("satellite exited (%d) before answering: %s", st.ExitCode(), logs.String())
		default:
		}
		status, body = get(ctx, hc, url)
		if status == http.StatusOK && strings.Contains(body, "healthy") {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if status != http.StatusOK || !strings.Contains(body, "healthy") {
		t.Fatalf("GET %s from the host: %d %q; the agent's log: %s", url, status, body, logs.String())
	}

	// The process runs as the satellite user, not root.
	st, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", task.Pid()))
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("%d\t%d\t%d\t%d", UID, UID, UID, UID)
	for _, line := range strings.Split(string(st), "\n") {
		if (strings.HasPrefix(line, "Uid:") || strings.HasPrefix(line, "Gid:")) && strings.TrimSpace(line[4:]) != want {
			t.Errorf("the agent runs as %q, want %q", line, want)
		}
	}
	// It writes its history into the image's /var/lib/satellite.
	if _, err := os.Stat(fmt.Sprintf("/proc/%d/root/var/lib/satellite/history.db", task.Pid())); err != nil {
		t.Errorf("no history in the container's /var/lib/satellite: %v", err)
	}

	// SIGTERM stops it, with exit code 0.
	if err := task.Kill(ctx, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case s := <-exited:
		if s.ExitCode() != 0 {
			t.Errorf("exit code %d after SIGTERM; the agent's log: %s", s.ExitCode(), logs.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("satellite did not stop within 30s of SIGTERM; the agent's log: %s", logs.String())
	}
}

// importImage imports the archive under ref and unpacks it.
func importImage(ctx context.Context, t *testing.T, cl *containerd.Client, archive, ref string) containerd.Image {
	t.Helper()
	f, err := os.Open(archive)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// Under a lease, as the container check imports: content the import
	// wrote is not garbage collected before the image refers to it.
	ctx, done, err := cl.WithLease(ctx, leases.WithRandomID(), leases.WithExpiration(10*time.Minute))
	if err != nil {
		t.Fatalf("create a lease: %v", err)
	}
	defer func() { _ = done(context.WithoutCancel(ctx)) }()
	imgs, err := cl.Import(ctx, f, containerd.WithIndexName(ref))
	if err != nil {
		t.Fatalf("import %s: %v", archive, err)
	}
	for _, i := range imgs {
		if i.Name != ref {
			continue
		}
		if err := containerd.NewImage(cl, i).Unpack(ctx, ""); err != nil {
			t.Fatalf("unpack: %v", err)
		}
		img, err := cl.GetImage(ctx, ref)
		if err != nil {
			t.Fatalf("get the imported image: %v", err)
		}
		return img
	}
	t.Fatalf("the archive holds no image named %s: %v", ref, imgs)
	return nil
}

// runOnce runs the image with args (env added) and returns its output and
// exit code.
func runOnce(ctx context.Context, t *testing.T, cl *containerd.Client, img containerd.Image, what, id string, env []string, args ...string) (string, uint32) {
	t.Helper()
	id = strings.NewReplacer("/", "-", ":", "-").Replace(id)
	opts := []oci.SpecOpts{oci.WithImageConfig(img), oci.WithProcessArgs(args...), oci.WithCapabilities(nil), oci.WithNoNewPrivileges}
	if len(env) > 0 {
		opts = append(opts, oci.WithEnv(env))
	}
	ctr, err := cl.NewContainer(ctx, id, containerd.WithImage(img), containerd.WithNewSnapshot(id, img), containerd.WithNewSpec(opts...))
	if err != nil {
		t.Fatalf("%s: create the container: %v", what, err)
	}
	defer deleteContainer(t, ctr)
	var out testenv.Buffer
	task, err := ctr.NewTask(ctx, cio.NewCreator(cio.WithStreams(nil, &out, &out)))
	if err != nil {
		t.Fatalf("%s: create the task: %v", what, err)
	}
	defer func() { _, _ = task.Delete(context.WithoutCancel(ctx), containerd.WithProcessKill) }()
	exited, err := task.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := task.Start(ctx); err != nil {
		t.Fatalf("%s: start: %v", what, err)
	}
	select {
	case s := <-exited:
		if _, err := task.Delete(ctx); err != nil && !errdefs.IsNotFound(err) {
			t.Errorf("%s: delete the task: %v", what, err)
		}
		return out.String(), s.ExitCode()
	case <-ctx.Done():
		t.Fatalf("%s: no exit: %v; output: %s", what, ctx.Err(), out.String())
		return "", 0
	}
}

func deleteContainer(t *testing.T, ctr containerd.Container) {
	t.Helper()
	ctx, cancel := context.WithTimeout(namespaces.WithNamespace(context.Background(), testNamespace), 30*time.Second)
	defer cancel()
	if task, err := ctr.Task(ctx, nil); err == nil {
		_, _ = task.Delete(ctx, containerd.WithProcessKill)
	}
	if err := ctr.Delete(ctx, containerd.WithSnapshotCleanup); err != nil && !errdefs.IsNotFound(err) {
		t.Errorf("delete the container %s: %v", ctr.ID(), err)
	}
}

// cleanNamespace removes the test's images (and so, by garbage
// collection, their content and snapshots), then fails the test if
// anything is left in its namespace.
func cleanNamespace(t *testing.T, cl *containerd.Client) {
	ctx, cancel := context.WithTimeout(namespaces.WithNamespace(context.Background(), testNamespace), 30*time.Second)
	defer cancel()
	imgs, err := cl.ImageService().List(ctx)
	if err != nil {
		t.Errorf("list images: %v", err)
	}
	for _, i := range imgs {
		if err := cl.ImageService().Delete(ctx, i.Name, images.SynchronousDelete()); err != nil && !errdefs.IsNotFound(err) {
			t.Errorf("delete image %s: %v", i.Name, err)
		}
	}
	var left []string
	ctrs, _ := cl.Containers(ctx)
	for _, c := range ctrs {
		left = append(left, "container "+c.ID())
	}
	_ = cl.SnapshotService("").Walk(ctx, func(_ context.Context, info snapshots.Info) error {
		left = append(left, "snapshot "+info.Name)
		return nil
	})
	if len(left) > 0 {
		t.Errorf("left behind in namespace %s: %s", testNamespace, strings.Join(left, ", "))
		return
	}
	// The namespace itself goes too (it cannot while anything is in it).
	if err := cl.NamespaceService().Delete(ctx, testNamespace); err != nil && !errdefs.IsNotFound(err) {
		t.Errorf("delete the namespace %s: %v", testNamespace, err)
	}
}

// freePort returns a loopback TCP port nothing listens on now.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func get(ctx context.Context, hc *http.Client, url string) (int, string) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err.Error()
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil && !errors.Is(err, io.EOF) {
		return resp.StatusCode, err.Error()
	}
	return resp.StatusCode, string(b)
}
