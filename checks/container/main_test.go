package containercheck

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/containerd/v2/core/snapshots"

	"github.com/satellite-hq/satellite/checks"
	"github.com/satellite-hq/satellite/checks/checktest"
	"github.com/satellite-hq/satellite/internal/ociarchive"
	"github.com/satellite-hq/satellite/internal/testenv"
)

// testNamespace keeps the tests away from anything else on the containerd.
const testNamespace = "satellite-test"

// probeArchive is the probe image, built once for the package by TestMain
// (empty when the build failed: buildErr says why).
var (
	probeArchive string
	probeBin     string
	buildErr     error
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "satellite-container-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	NetnsDir = filepath.Join(dir, "netns")
	probeBin, probeArchive, buildErr = buildProbe(dir)
	code := m.Run()
	if code == 0 {
		if err := leftovers(); err != nil {
			fmt.Fprintln(os.Stderr, "FAIL: the tests left something behind:", err)
			code = 1
		}
	}
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// buildProbe builds cmd/satellite-probe statically and packs it.
func buildProbe(dir string) (string, string, error) {
	bin := filepath.Join(dir, "probe")
	cmd := exec.Command("go", "build", "-trimpath", "-o", bin, "github.com/satellite-hq/satellite/cmd/satellite-probe")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", "", fmt.Errorf("build the probe: %v: %s", err, out)
	}
	archive := filepath.Join(dir, "probe.tar")
	if _, err := ociarchive.WriteFile(archive, ociarchive.Options{Binary: bin, Path: "/probe", Ref: "satellite/probe:test"}); err != nil {
		return "", "", err
	}
	return bin, archive, nil
}

// leftovers reports what the suite left in the test namespaces, after
// removing the images it imported (which the check keeps on purpose, for
// reuse) so that their snapshots go too.
func leftovers() error {
	sock := os.Getenv(testenv.ContainerdSocket)
	if sock == "" {
		return nil
	}
	cl, err := containerd.New(sock, containerd.WithTimeout(2*time.Second))
	if err != nil {
		return err
	}
	defer cl.Close()
	var problems []string
	for _, ns := range []string{testNamespace, sweepNamespace} {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		ctx = namespaced(ctx, ns)
		problems = append(problems, leftIn(ctx, cl, ns)...)
		cancel()
	}
	if entries, _ := os.ReadDir(NetnsDir); len(entries) > 0 {
		problems = append(problems, fmt.Sprintf("%d network namespace files in %s", len(entries), NetnsDir))
	}
	mi, _ := os.ReadFile("/proc/self/mountinfo")
	if strings.Contains(string(mi), NetnsDir) {
		problems = append(problems, "mounts under "+NetnsDir)
	}
	if len(problems) > 0 {
		return fmt.Errorf("%s", strings.Join(problems, "; "))
	}
	return nil
}

func leftIn(ctx context.Context, cl *containerd.Client, ns string) []string {
	var problems []string
	ctrs, err := cl.Containers(ctx)
	if err != nil {
		return []string{err.Error()}
	}
	for _, c := range ctrs {
		problems = append(problems, ns+": container "+c.ID())
	}
	ls, _ := cl.LeasesService().List(ctx)
	for _, l := range ls {
		problems = append(problems, ns+": lease "+l.ID)
	}
	imgs, _ := cl.ImageService().List(ctx)
	for _, i := range imgs {
		_ = cl.ImageService().Delete(ctx, i.Name, images.SynchronousDelete())
	}
	_ = cl.SnapshotService("").Walk(ctx, func(_ context.Context, info snapshots.Info) error {
		problems = append(problems, ns+": snapshot "+info.Name)
		return nil
	})
	return problems
}

// socket returns the test containerd's socket, or ends the test.
func socket(t testing.TB) string {
	t.Helper()
	testenv.NeedRoot(t, "running containers")
	s := testenv.Need(t, testenv.ContainerdSocket, "containerd")
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return s
}

// newChecker builds a container check from the type's own attributes,
// in the test namespace of the test containerd, closed at the end.
func newChecker(t testing.TB, body string) *Checker {
	t.Helper()
	return newCheckerIn(t, testNamespace, body)
}

func newCheckerIn(t testing.TB, ns, body string) *Checker {
	t.Helper()
	src := fmt.Sprintf("check \"container\" \"t\" {\n  socket = %q\n  namespace = %q\n%s\n}\n", socket(t), ns, body)
	c := checktest.MustCheck(t, src, "container.t").Checker.(*Checker)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// probe is the HCL of a single probe container running args.
func probe(args ...string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = fmt.Sprintf("%q", a)
	}
	return fmt.Sprintf("  image_archive = %q\n  command = [\"/probe\", %s]\n", probeArchive, strings.Join(q, ", "))
}

func runCheck(c checks.Checker, timeout time.Duration) checks.Result {
	return checktest.Run(c, timeout)
}

// heap returns the live heap after a collection.
func heap() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}
