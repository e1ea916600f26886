package slowfs

import (
	"os"
	"syscall"
	"testing"

	"github.com/satellite-hq/satellite/internal/testenv"
)

// TmpfsSize is the size limit of the tmpfs Start puts under a rig (only
// what is written takes memory): room for etcd's 64 MiB WAL files and its
// database.
const TmpfsSize = "1g"

// Start mounts a rig for a test, with opts, and unmounts it when the test
// ends. The backing directory is a private tmpfs (so an fsync costs the
// delay and nothing else; a plain temporary folder if tmpfs cannot be
// mounted), the mount point a new temporary folder: use rig.Mountpoint().
// Without root the test ends through testenv.Unavailable: it skips, saying
// why, or fails under make test (SATELLITE_TEST_SERVICES=1).
func Start(t testing.TB, opts Options) *Rig {
	t.Helper()
	testenv.NeedRoot(t, "mounting a slowfs FUSE file system")
	if _, err := os.Stat("/dev/fuse"); err != nil {
		testenv.Unavailable(t, "slowfs needs /dev/fuse: "+err.Error())
	}
	backing := TmpfsDir(t)
	rig, err := Mount(backing, t.TempDir(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := rig.Close(); err != nil {
			t.Error(err)
		}
	})
	return rig
}

// TmpfsDir returns a new temporary folder with a private tmpfs (TmpfsSize)
// mounted on it, unmounted when the test ends; when tmpfs cannot be mounted
// (not root, no CAP_SYS_ADMIN) it logs why and returns a plain temporary
// folder.
func TmpfsDir(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	err := syscall.Mount("tmpfs", dir, "tmpfs", syscall.MS_NOSUID|syscall.MS_NODEV, "size="+TmpfsSize+",mode=0755")
	if err != nil {
		t.Logf("tmpfs on %s: %v; using the folder as it is", dir, err)
		return dir
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			syscall.Unmount(dir, syscall.MNT_DETACH)
		}
	})
	return dir
}
