package slowfs

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// slack is how much longer than the delay a synced call may take: the
// round trip through FUSE and tmpfs is well under a millisecond, but the
// machine may be busy with other tests.
const slack = 150 * time.Millisecond

// timeCalls makes n calls of f and returns their times, sorted.
func timeCalls(t *testing.T, n int, f func() error) []time.Duration {
	t.Helper()
	out := make([]time.Duration, 0, n)
	for range n {
		start := time.Now()
		if err := f(); err != nil {
			t.Fatal(err)
		}
		out = append(out, time.Since(start))
	}
	slices.Sort(out)
	return out
}

// wantDelayed checks that every call took at least d, and the median less
// than d plus slack.
func wantDelayed(t *testing.T, what string, times []time.Duration, d time.Duration) {
	t.Helper()
	t.Logf("%s with a %s delay: %v", what, d, times)
	if times[0] < d {
		t.Errorf("%s took %s, less than the %s delay", what, times[0], d)
	}
	if med := times[len(times)/2]; med >= d+slack {
		t.Errorf("%s took %s (median), more than the %s delay and %s", what, med, d, slack)
	}
}

func writeFile(t *testing.T, path string, flags int) *os.File {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|flags, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func TestFsyncDelay(t *testing.T) {
	rig := Start(t, Options{})
	f := writeFile(t, filepath.Join(rig.Mountpoint(), "wal"), 0)
	page := bytes.Repeat([]byte{0xa5}, 4096)
	off := int64(0)
	write := func() {
		if _, err := f.WriteAt(page, off); err != nil {
			t.Fatal(err)
		}
		off += int64(len(page))
	}
	// The delay changes while the rig runs, both ways.
	for _, d := range []time.Duration{0, 20 * time.Millisecond, 200 * time.Millisecond, 0, 20 * time.Millisecond} {
		rig.SetFsyncDelay(d)
		if got := rig.FsyncDelay(); got != d {
			t.Fatalf("FsyncDelay() = %s after SetFsyncDelay(%s)", got, d)
		}
		before := rig.Stats()
		wantDelayed(t, "fsync", timeCalls(t, 3, func() error { write(); return f.Sync() }), d)
		wantDelayed(t, "fdatasync", timeCalls(t, 3, func() error { write(); return unix.Fdatasync(int(f.Fd())) }), d)
		after := rig.Stats()
		if n := after.Fsyncs - before.Fsyncs; n != 6 {
			t.Errorf("%d FSYNC requests for 6 calls", n)
		}
		if n := after.Fdatasyncs - before.Fdatasyncs; n != 3 {
			t.Errorf("%d of them fdatasync, want 3", n)
		}
	}
}

// A write to a file opened with O_DSYNC (or O_SYNC) waits for the fsync
// delay: the kernel follows the WRITE with an FSYNC. etcd opens no file so,
// but others do (and dd oflag=dsync).
func TestSyncWrites(t *testing.T) {
	rig := Start(t, Options{FsyncDelay: 20 * time.Millisecond})
	for _, flag := range []struct {
		name     string
		flag     int
		datasync bool
	}{{"O_DSYNC", syscall.O_DSYNC, true}, {"O_SYNC", syscall.O_SYNC, false}} {
		t.Run(flag.name, func(t *testing.T) {
			before := rig.Stats()
			f := writeFile(t, filepath.Join(rig.Mountpoint(), flag.name), flag.flag)
			page := make([]byte, 4096)
			wantDelayed(t, "write", timeCalls(t, 3, func() error { _, err := f.Write(page); return err }), 20*time.Millisecond)
			after := rig.Stats()
			if n := after.SyncOpens - before.SyncOpens; n != 1 {
				t.Errorf("%d synchronous opens counted, want 1", n)
			}
			if n := after.Fsyncs - before.Fsyncs; n != 3 {
				t.Errorf("%d FSYNC requests for 3 writes", n)
			}
			want := int64(0)
			if flag.datasync {
				want = 3
			}
			if n := after.Fdatasyncs - before.Fdatasyncs; n != want {
				t.Errorf("%d of them datasync, want %d", n, want)
			}
		})
	}
	// A plain write is not slowed by the fsync delay.
	f := writeFile(t, filepath.Join(rig.Mountpoint(), "plain"), 0)
	times := timeCalls(t, 3, func() error { _, err := f.Write(make([]byte, 4096)); return err })
	if times[1] >= 20*time.Millisecond {
		t.Errorf("plain writes took %v", times)
	}
}

func TestWriteDelay(t *testing.T) {
	rig := Start(t, Options{WriteDelay: 20 * time.Millisecond})
	f := writeFile(t, filepath.Join(rig.Mountpoint(), "f"), 0)
	before := rig.Stats()
	wantDelayed(t, "write", timeCalls(t, 3, func() error { _, err := f.Write(make([]byte, 4096)); return err }), 20*time.Millisecond)
	if n := rig.Stats().Writes - before.Writes; n != 3 {
		t.Errorf("%d WRITE requests for 3 writes", n)
	}
	rig.SetWriteDelay(0)
	if times := timeCalls(t, 3, func() error { _, err := f.Write(make([]byte, 4096)); return err }); times[1] >= 20*time.Millisecond {
		t.Errorf("writes took %v without a delay", times)
	}
	// fsync is not slowed by the write delay.
	rig.SetWriteDelay(time.Second)
	if times := timeCalls(t, 3, f.Sync); times[1] >= 100*time.Millisecond {
		t.Errorf("fsyncs took %v with only a write delay", times)
	}
}

// etcd fsyncs the WAL directory after creating a file in it.
func TestDirFsync(t *testing.T) {
	rig := Start(t, Options{FsyncDelay: 20 * time.Millisecond})
	d, err := os.Open(rig.Mountpoint())
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	wantDelayed(t, "fsync of a directory", timeCalls(t, 3, d.Sync), 20*time.Millisecond)
	if n := rig.Stats().DirFsyncs; n != 3 {
		t.Errorf("%d FSYNCDIR requests for 3 calls", n)
	}
}

// What etcd and bbolt do to their data directory works through the rig, and
// the files are in the backing directory.
func TestFileSystem(t *testing.T) {
	rig := Start(t, Options{})
	mnt, backing := rig.Mountpoint(), rig.Backing()
	if err := os.MkdirAll(filepath.Join(mnt, "member", "wal"), 0o700); err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(mnt, "member", "wal", "0.tmp")
	f := writeFile(t, tmp, os.O_EXCL)

	// fallocate: etcd preallocates a WAL file of 64 MiB (mode 0, extending
	// the size); others keep the size (FALLOC_FL_KEEP_SIZE).
	if err := unix.Fallocate(int(f.Fd()), 0, 0, 64<<20); err != nil {
		t.Fatalf("fallocate: %v", err)
	}
	if st, _ := f.Stat(); st.Size() != 64<<20 {
		t.Errorf("size %d after fallocate of 64 MiB", st.Size())
	}
	if err := unix.Fallocate(int(f.Fd()), unix.FALLOC_FL_KEEP_SIZE, 64<<20, 1<<20); err != nil {
		t.Fatalf("fallocate KEEP_SIZE: %v", err)
	}
	if st, _ := f.Stat(); st.Size() != 64<<20 {
		t.Errorf("size %d after fallocate KEEP_SIZE", st.Size())
	}
	if _, err := f.WriteAt([]byte("record"), 0); err != nil {
		t.Fatal(err)
	}
	if err := unix.Fdatasync(int(f.Fd())); err != nil {
		t.Fatal(err)
	}
	// An exclusive flock, as etcd's fileutil.LockFile takes on every WAL file.
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		t.Fatalf("flock: %v", err)
	}
	// The rename of a finished WAL file into place, then the directory's fsync.
	final := filepath.Join(mnt, "member", "wal", "0000000000000000-0000000000000000.wal")
	if err := os.Rename(tmp, final); err != nil {
		t.Fatal(err)
	}
	d, err := os.Open(filepath.Dir(final))
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Sync(); err != nil {
		t.Fatal(err)
	}
	names, err := d.Readdirnames(-1)
	d.Close()
	if err != nil || len(names) != 1 || names[0] != filepath.Base(final) {
		t.Errorf("readdir: %v, %v", names, err)
	}
	// Written through the mount, it is in the backing directory.
	got, err := os.ReadFile(filepath.Join(backing, "member", "wal", filepath.Base(final)))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 64<<20 || string(got[:6]) != "record" {
		t.Errorf("backing file: %d bytes starting %q", len(got), got[:min(len(got), 6)])
	}
	if err := os.Link(final, final+".link"); err != nil {
		t.Errorf("link: %v", err)
	}
	if err := os.Symlink("wal", filepath.Join(mnt, "member", "w")); err != nil {
		t.Errorf("symlink: %v", err)
	}
	if target, err := os.Readlink(filepath.Join(backing, "member", "w")); err != nil || target != "wal" {
		t.Errorf("readlink in the backing directory: %q, %v", target, err)
	}
	if err := os.Remove(final + ".link"); err != nil {
		t.Error(err)
	}
	if err := os.Truncate(final, 4096); err != nil {
		t.Error(err)
	}

	// bbolt: the database is written with pwrite and fdatasync and read
	// through a shared read-only mapping, which must see the writes.
	db := writeFile(t, filepath.Join(mnt, "member", "db"), 0)
	if err := db.Truncate(32 << 10); err != nil {
		t.Fatal(err)
	}
	if _, err := db.WriteAt([]byte("page one"), 0); err != nil {
		t.Fatal(err)
	}
	m, err := unix.Mmap(int(db.Fd()), 0, 32<<10, unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		t.Fatalf("mmap: %v", err)
	}
	defer unix.Munmap(m)
	if string(m[:8]) != "page one" {
		t.Errorf("mapping reads %q", m[:8])
	}
	if _, err := db.WriteAt([]byte("page two"), 16<<10); err != nil {
		t.Fatal(err)
	}
	if err := unix.Fdatasync(int(db.Fd())); err != nil {
		t.Fatal(err)
	}
	if string(m[16<<10:16<<10+8]) != "page two" {
		t.Errorf("the mapping does not see a later write: %q", m[16<<10:16<<10+8])
	}
	// And a writable shared mapping, synced with msync.
	w, err := unix.Mmap(int(db.Fd()), 0, 32<<10, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		t.Fatalf("writable mmap: %v", err)
	}
	copy(w[8<<10:], "mapped")
	before := rig.Stats()
	if err := unix.Msync(w, unix.MS_SYNC); err != nil {
		t.Errorf("msync: %v", err)
	}
	if n := rig.Stats().Fsyncs - before.Fsyncs; n != 1 {
		t.Errorf("%d FSYNC requests for an msync, want 1", n)
	}
	unix.Munmap(w)
	back, err := os.ReadFile(filepath.Join(backing, "member", "db"))
	if err != nil || len(back) != 32<<10 || string(back[8<<10:8<<10+6]) != "mapped" {
		t.Errorf("backing db after msync: %d bytes, %v", len(back), err)
	}

	// statfs answers for the backing file system.
	var st syscall.Statfs_t
	if err := syscall.Statfs(mnt, &st); err != nil || st.Blocks == 0 {
		t.Errorf("statfs: %+v, %v", st, err)
	}
	if err := os.RemoveAll(filepath.Join(mnt, "member")); err != nil {
		t.Error(err)
	}
	if _, err := os.Stat(filepath.Join(backing, "member")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("removed through the mount, still in the backing directory: %v", err)
	}
}

func mounted(t *testing.T, mnt string) bool {
	t.Helper()
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		if f := strings.Fields(line); len(f) > 4 && f[4] == mnt {
			return true
		}
	}
	return false
}

// waitGoroutines waits for the goroutine count to come back to at most n.
func waitGoroutines(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > n {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines, %d before the mount:\n%s", runtime.NumGoroutine(), n, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestClose(t *testing.T) {
	base := runtime.NumGoroutine()
	rig := Start(t, Options{})
	if err := os.WriteFile(filepath.Join(rig.Mountpoint(), "f"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if !mounted(t, rig.Mountpoint()) {
		t.Fatal("not in mountinfo")
	}
	if err := rig.Close(); err != nil {
		t.Fatal(err)
	}
	if mounted(t, rig.Mountpoint()) {
		t.Error("still mounted after Close")
	}
	if err := rig.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	waitGoroutines(t, base)
	if _, err := os.Stat(filepath.Join(rig.Backing(), "f")); err != nil {
		t.Error(err)
	}
}

// Close ends a delay in progress: a hung test does not hang its cleanup.
func TestCloseDuringDelay(t *testing.T) {
	base := runtime.NumGoroutine()
	rig := Start(t, Options{FsyncDelay: time.Hour})
	f, err := os.Create(filepath.Join(rig.Mountpoint(), "f"))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		err := f.Sync()
		f.Close()
		done <- err
	}()
	time.Sleep(100 * time.Millisecond)
	start := time.Now()
	if err := rig.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		t.Logf("fsync returned %v; Close took %s", err, time.Since(start))
	case <-time.After(10 * time.Second):
		t.Fatal("fsync still blocked after Close")
	}
	if mounted(t, rig.Mountpoint()) {
		t.Error("still mounted after Close")
	}
	waitGoroutines(t, base)
}

// A file left open keeps the mount busy: Close detaches it at once, and
// aborts the connection when the file stays open.
func TestCloseBusy(t *testing.T) {
	defer func(d, a time.Duration) { detachWait, abortWait = d, a }(detachWait, abortWait)
	detachWait = 300 * time.Millisecond

	t.Run("closed soon", func(t *testing.T) {
		base := runtime.NumGoroutine()
		rig := Start(t, Options{})
		f, err := os.Create(filepath.Join(rig.Mountpoint(), "f"))
		if err != nil {
			t.Fatal(err)
		}
		time.AfterFunc(100*time.Millisecond, func() { f.Close() })
		if err := rig.Close(); err != nil {
			t.Fatal(err)
		}
		if mounted(t, rig.Mountpoint()) {
			t.Error("still mounted after Close")
		}
		waitGoroutines(t, base)
	})
	t.Run("left open", func(t *testing.T) {
		base := runtime.NumGoroutine()
		rig := Start(t, Options{})
		f, err := os.Create(filepath.Join(rig.Mountpoint(), "f"))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if err := rig.Close(); err != nil {
			t.Fatal(err)
		}
		if mounted(t, rig.Mountpoint()) {
			t.Error("still mounted after Close")
		}
		if _, err := f.Write([]byte("x")); !errors.Is(err, syscall.ENOTCONN) {
			t.Errorf("write to a file of the aborted mount: %v, want ENOTCONN", err)
		}
		waitGoroutines(t, base)
	})
}

func TestMountErrors(t *testing.T) {
	if os.Geteuid() != 0 {
		if _, err := Mount(t.TempDir(), t.TempDir(), Options{}); err == nil || !strings.Contains(err.Error(), "root") {
			t.Errorf("without root: %v", err)
		}
		return
	}
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ backing, mnt, want string }{
		{filepath.Join(t.TempDir(), "missing"), t.TempDir(), "no such file"},
		{t.TempDir(), file, "not a directory"},
	} {
		if rig, err := Mount(tt.backing, tt.mnt, Options{}); err == nil || !strings.Contains(err.Error(), tt.want) {
			if rig != nil {
				rig.Close()
			}
			t.Errorf("Mount(%s, %s): %v, want %q", tt.backing, tt.mnt, err, tt.want)
		}
	}
}
