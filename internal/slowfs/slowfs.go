// Package slowfs is a test rig: a FUSE loopback file system that mirrors a
// backing directory and makes fsync, fdatasync (and optionally write) as slow
// as a test says, changeable while it runs. It stands in for a slow disk
// (a network-attached volume, a saturated device) under a real program such
// as etcd, whose WAL waits for fdatasync on every commit.
//
//	rig, err := slowfs.Mount(backing, mnt, slowfs.Options{})
//	defer rig.Close()
//	rig.SetFsyncDelay(200 * time.Millisecond)
//
// Everything is the loopback of go-fuse (github.com/hanwen/go-fuse/v2/fs):
// files, directories, renames, hard and symbolic links, fallocate, xattrs,
// mmap (through the kernel's page cache). The rig adds its delay before
// passing the call on, so an fsync takes the delay plus what the backing file
// system takes: put the backing directory on tmpfs for a fsync that costs
// the delay alone.
//
// What is slowed, as the kernel sends it (Linux, without writeback cache):
//
//   - fsync(2) and fdatasync(2) on files, and msync(MS_SYNC) of a mapping:
//     one FUSE FSYNC each;
//   - a write(2) to a file opened with O_SYNC or O_DSYNC: the kernel sends
//     the WRITE and then an FSYNC for its range (generic_write_sync), so
//     such a write is slowed by the fsync delay (plus the write delay);
//   - fsync(2) of a directory (FSYNCDIR), as etcd does after creating a WAL
//     file;
//   - with a write delay, every FUSE WRITE (one per up to 128 KiB of a
//     write(2) call).
//
// Reads, metadata operations and close are not slowed.
//
// Mount needs root (it mounts with mount(2) directly, so fusermount is not
// needed). Passthrough (Linux 6.9+, which would let the kernel do reads and
// writes without asking the rig) is turned off, so every write is seen.
package slowfs

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"
)

// Options are a mount's settings.
type Options struct {
	// FsyncDelay and WriteDelay are the delays at mount; SetFsyncDelay and
	// SetWriteDelay change them later.
	FsyncDelay time.Duration
	WriteDelay time.Duration
	// AllowOther lets users other than root use the mount (allow_other);
	// without it only root can, which is enough for a process started as
	// root.
	AllowOther bool
	// Debug logs every FUSE request to the standard logger.
	Debug bool
}

// Stats counts what the kernel asked of the rig since it was mounted.
type Stats struct {
	// Fsyncs counts FSYNC requests on files: fsync, fdatasync, msync and
	// the fsync the kernel adds after an O_SYNC/O_DSYNC write.
	Fsyncs int64
	// Fdatasyncs counts those of them that asked for data only
	// (fdatasync, O_DSYNC).
	Fdatasyncs int64
	// DirFsyncs counts FSYNCDIR requests (fsync of a directory).
	DirFsyncs int64
	// Writes and WriteBytes count WRITE requests and their bytes.
	Writes     int64
	WriteBytes int64
	// SyncOpens counts files opened or created with O_SYNC or O_DSYNC.
	SyncOpens int64
}

// Rig is one mounted slow file system. Its methods are safe for concurrent
// use.
type Rig struct {
	backing, mountpoint string
	server              *fuse.Server
	dev                 uint64 // the mount's device: its minor is the FUSE connection
	fsyncDelay          atomic.Int64
	writeDelay          atomic.Int64
	closing             chan struct{} // closed by Close: delays end at once
	closeOnce           sync.Once
	closeErr            error

	fsyncs, fdatasyncs, dirFsyncs, writes, writeBytes, syncOpens atomic.Int64
}

// Mount mirrors backingDir (an existing directory) at mountpoint (an
// existing, preferably empty, directory) and serves it until Close. It needs
// root.
func Mount(backingDir, mountpoint string, opts Options) (*Rig, error) {
	if os.Geteuid() != 0 {
		return nil, errors.New("slowfs: mounting a FUSE file system without fusermount needs root")
	}
	backing, err := filepath.Abs(backingDir)
	if err != nil {
		return nil, fmt.Errorf("slowfs: %w", err)
	}
	mnt, err := filepath.Abs(mountpoint)
	if err != nil {
		return nil, fmt.Errorf("slowfs: %w", err)
	}
	for _, d := range []string{backing, mnt} {
		st, err := os.Stat(d)
		if err != nil {
			return nil, fmt.Errorf("slowfs: %w", err)
		}
		if !st.IsDir() {
			return nil, fmt.Errorf("slowfs: %s is not a directory", d)
		}
	}
	if opts.FsyncDelay < 0 || opts.WriteDelay < 0 {
		return nil, errors.New("slowfs: negative delay")
	}

	r := &Rig{backing: backing, mountpoint: mnt, closing: make(chan struct{})}
	r.fsyncDelay.Store(int64(opts.FsyncDelay))
	r.writeDelay.Store(int64(opts.WriteDelay))

	loop, err := fs.NewLoopbackRoot(backing)
	if err != nil {
		return nil, fmt.Errorf("slowfs: %w", err)
	}
	lb := loop.(*fs.LoopbackNode)
	root := &node{LoopbackNode: lb, rig: r}
	lb.RootData.RootNode = root

	server, err := fs.Mount(mnt, root, &fs.Options{
		MountOptions: fuse.MountOptions{
			// mount(2) directly: Debian's fuse3 (fusermount3) need not be
			// installed. Without root it falls back to fusermount.
			DirectMount: true,
			FsName:      backing,
			Name:        "slowfs",
			AllowOther:  opts.AllowOther,
			Debug:       opts.Debug,
			// Every read and write through the rig, never straight to the
			// backing file (FOPEN_PASSTHROUGH).
			DisabledCapabilities: fuse.CAP_PASSTHROUGH,
		},
	})
	if err != nil {
		return nil, fmt.Errorf("slowfs: mount %s on %s: %w", backing, mnt, err)
	}
	r.server = server
	var st syscall.Stat_t
	if err := syscall.Stat(mnt, &st); err == nil {
		r.dev = st.Dev
	}
	return r, nil
}

// Mountpoint is where the rig is mounted (absolute).
func (r *Rig) Mountpoint() string { return r.mountpoint }

// Backing is the directory the rig mirrors (absolute).
func (r *Rig) Backing() string { return r.backing }

// SetFsyncDelay sets the delay added to every fsync, fdatasync and
// directory fsync that starts from now on (0 for none).
func (r *Rig) SetFsyncDelay(d time.Duration) { r.fsyncDelay.Store(int64(max(d, 0))) }

// FsyncDelay returns the current fsync delay.
func (r *Rig) FsyncDelay() time.Duration { return time.Duration(r.fsyncDelay.Load()) }

// SetWriteDelay sets the delay added to every FUSE WRITE that starts from
// now on (0 for none).
func (r *Rig) SetWriteDelay(d time.Duration) { r.writeDelay.Store(int64(max(d, 0))) }

// WriteDelay returns the current write delay.
func (r *Rig) WriteDelay() time.Duration { return time.Duration(r.writeDelay.Load()) }

// Stats returns the counts so far.
func (r *Rig) Stats() Stats {
	return Stats{
		Fsyncs: r.fsyncs.Load(), Fdatasyncs: r.fdatasyncs.Load(), DirFsyncs: r.dirFsyncs.Load(),
		Writes: r.writes.Load(), WriteBytes: r.writeBytes.Load(), SyncOpens: r.syncOpens.Load(),
	}
}

// wait sleeps for d, or until the rig closes. It does not end when the
// request is interrupted: the kernel interrupts a FUSE request whenever the
// calling thread gets a signal, which for a Go program (etcd) is the
// runtime's preemption signal, and answering EINTR would fail an fdatasync
// that the program does not retry. A real disk does not give up either.
func (r *Rig) wait(d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-r.closing:
	}
}

// How long Close waits for the server to stop after a lazy unmount, before
// and after aborting the connection.
var (
	detachWait = 5 * time.Second
	abortWait  = 5 * time.Second
)

// Close ends every delay in progress and unmounts. If the mount is busy
// (a process still has a file or its working directory there) it is
// detached (umount -l): the mount point is free at once, and the server
// keeps answering for the open files until they are closed; if that takes
// longer than a few seconds, the FUSE connection is aborted (the open files
// then fail with ENOTCONN), so that no goroutine of the rig is left behind.
// Close is idempotent; it returns an error only if the server's goroutines
// could not be stopped.
func (r *Rig) Close() error {
	r.closeOnce.Do(func() {
		close(r.closing)
		r.closeErr = r.unmount()
	})
	return r.closeErr
}

func (r *Rig) unmount() error {
	if err := r.server.Unmount(); err == nil {
		return nil // it waited for the server's loops
	}
	if err := syscall.Unmount(r.mountpoint, syscall.MNT_DETACH); err != nil && !errors.Is(err, syscall.EINVAL) {
		// EINVAL: not mounted any more (unmounted from outside)
		return fmt.Errorf("slowfs: lazy unmount of %s: %w", r.mountpoint, err)
	}
	if r.waitServer(detachWait) {
		return nil
	}
	if err := abortConnection(r.dev); err != nil {
		return fmt.Errorf("slowfs: %s is detached but still in use, and the connection could not be aborted: %w", r.mountpoint, err)
	}
	if r.waitServer(abortWait) {
		return nil
	}
	return fmt.Errorf("slowfs: the server of %s did not stop after the connection was aborted", r.mountpoint)
}

// waitServer waits up to d for the server's loops to end.
func (r *Rig) waitServer(d time.Duration) bool {
	done := make(chan struct{})
	go func() { // ends with the loops; leaks only if they never do
		r.server.Wait()
		close(done)
	}()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-done:
		return true
	case <-t.C:
		return false
	}
}

// abortConnection aborts the FUSE connection of the mount whose device was
// dev, through the fusectl file system (/sys/fs/fuse/connections/N/abort,
// N the device's minor number); where fusectl is not mounted (no systemd),
// it is mounted on a temporary folder for the moment.
func abortConnection(dev uint64) error {
	if dev == 0 {
		return errors.New("the mount's device is unknown")
	}
	name := fmt.Sprint(unix.Minor(dev))
	abort := func(dir string) error {
		return os.WriteFile(filepath.Join(dir, name, "abort"), []byte("1"), 0)
	}
	const sys = "/sys/fs/fuse/connections"
	if err := abort(sys); err == nil {
		return nil
	}
	tmp, err := os.MkdirTemp("", "slowfs-fusectl-")
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	if err := syscall.Mount("fusectl", tmp, "fusectl", 0, ""); err != nil {
		return fmt.Errorf("mount fusectl: %w", err)
	}
	defer syscall.Unmount(tmp, syscall.MNT_DETACH)
	return abort(tmp)
}

// node is a loopback node whose fsyncs and writes wait first. Embedding
// *fs.LoopbackNode keeps everything else (and lets renames and links
// between nodes work: they look for the loopback node inside).
type node struct {
	*fs.LoopbackNode
	rig *Rig
}

var (
	_ fs.NodeWrapChilder    = (*node)(nil)
	_ fs.NodeOpener         = (*node)(nil)
	_ fs.NodeCreater        = (*node)(nil)
	_ fs.NodeFsyncer        = (*node)(nil)
	_ fs.NodeWriter         = (*node)(nil)
	_ fs.NodeWritever       = (*node)(nil)
	_ fs.NodeOpendirHandler = (*node)(nil)
	_ fs.NodeRenamer        = (*node)(nil)
	_ fs.NodeLinker         = (*node)(nil)
	_ fs.FileFsyncdirer     = (*dir)(nil)
	_ fs.FileReaddirenter   = (*dir)(nil)
	_ fs.FileSeekdirer      = (*dir)(nil)
	_ fs.FileReleasedirer   = (*dir)(nil)
)

// WrapChild makes every node the loopback creates one of the rig's.
func (n *node) WrapChild(ctx context.Context, ops fs.InodeEmbedder) fs.InodeEmbedder {
	if lb, ok := ops.(*fs.LoopbackNode); ok {
		return &node{LoopbackNode: lb, rig: n.rig}
	}
	return ops
}

const syncFlags = syscall.O_SYNC | syscall.O_DSYNC // O_SYNC includes the O_DSYNC bit

// Open counts files opened for synchronous writes; the loopback opens the
// backing file with the same flags.
func (n *node) Open(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	if flags&syncFlags != 0 {
		n.rig.syncOpens.Add(1)
	}
	return n.LoopbackNode.Open(ctx, flags)
}

// Create is Open for a new file.
func (n *node) Create(ctx context.Context, name string, flags, mode uint32, out *fuse.EntryOut) (*fs.Inode, fs.FileHandle, uint32, syscall.Errno) {
	if flags&syncFlags != 0 {
		n.rig.syncOpens.Add(1)
	}
	return n.LoopbackNode.Create(ctx, name, flags, mode, out)
}

// Fsync waits the fsync delay, then syncs the backing file.
func (n *node) Fsync(ctx context.Context, f fs.FileHandle, flags uint32) syscall.Errno {
	n.rig.fsyncs.Add(1)
	if flags&fsyncDatasync != 0 {
		n.rig.fdatasyncs.Add(1)
	}
	n.rig.wait(n.rig.FsyncDelay())
	if fs, ok := f.(fs.FileFsyncer); ok {
		return fs.Fsync(ctx, flags)
	}
	return syscall.ENOTSUP // what the loopback answers without a handle
}

// fsyncDatasync is FUSE_FSYNC_FDATASYNC, the bit of fsync_flags set by
// fdatasync(2).
const fsyncDatasync = 1

// Write waits the write delay, then writes to the backing file.
func (n *node) Write(ctx context.Context, f fs.FileHandle, data []byte, off int64) (uint32, syscall.Errno) {
	n.countWrite(len(data))
	n.rig.wait(n.rig.WriteDelay())
	if w, ok := f.(fs.FileWriter); ok {
		return w.Write(ctx, data, off)
	}
	return 0, syscall.ENOTSUP
}

// Writev is Write for data in several slices.
func (n *node) Writev(ctx context.Context, f fs.FileHandle, data [][]byte, off int64) (uint32, syscall.Errno) {
	size := 0
	for _, d := range data {
		size += len(d)
	}
	n.countWrite(size)
	n.rig.wait(n.rig.WriteDelay())
	if w, ok := f.(fs.FileWritever); ok {
		return w.Writev(ctx, data, off)
	}
	if w, ok := f.(fs.FileWriter); ok {
		buf := make([]byte, 0, size)
		for _, d := range data {
			buf = append(buf, d...)
		}
		return w.Write(ctx, buf, off)
	}
	return 0, syscall.ENOTSUP
}

func (n *node) countWrite(size int) {
	n.rig.writes.Add(1)
	n.rig.writeBytes.Add(int64(size))
}

// OpendirHandle wraps the loopback's directory handle, whose Fsyncdir the
// kernel's FSYNCDIR reaches (the node's Fsync does not).
func (n *node) OpendirHandle(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	h, fuseFlags, errno := n.LoopbackNode.OpendirHandle(ctx, flags)
	if errno != 0 {
		return nil, 0, errno
	}
	return &dir{h: h, rig: n.rig}, fuseFlags, 0
}

// dir is a directory handle whose fsync waits the fsync delay.
type dir struct {
	h   fs.FileHandle
	rig *Rig
}

func (d *dir) Fsyncdir(ctx context.Context, flags uint32) syscall.Errno {
	d.rig.dirFsyncs.Add(1)
	d.rig.wait(d.rig.FsyncDelay())
	if s, ok := d.h.(fs.FileFsyncdirer); ok {
		return s.Fsyncdir(ctx, flags)
	}
	return 0
}

func (d *dir) Readdirent(ctx context.Context) (*fuse.DirEntry, syscall.Errno) {
	if r, ok := d.h.(fs.FileReaddirenter); ok {
		return r.Readdirent(ctx)
	}
	return nil, 0
}

func (d *dir) Seekdir(ctx context.Context, off uint64) syscall.Errno {
	if s, ok := d.h.(fs.FileSeekdirer); ok {
		return s.Seekdir(ctx, off)
	}
	return syscall.ENOTSUP
}

func (d *dir) Releasedir(ctx context.Context, flags uint32) {
	if r, ok := d.h.(fs.FileReleasedirer); ok {
		r.Releasedir(ctx, flags)
	}
}
