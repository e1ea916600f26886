package containercheck

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// NetnsDir holds the bind mounts of the isolated network namespaces the
// agent creates, one per run of a group, named OWNER-RUN so that the sweep
// at start can tell a crashed agent's leftovers from this process's own.
var NetnsDir = "/run/satellite/container-netns"

// newNetns creates a network namespace with only loopback, up, and pins it
// on a file under NetnsDir, so that it lives without any process in it:
// the agent holds it, not one of the user's containers.
func newNetns(name string) (string, error) {
	if err := os.MkdirAll(NetnsDir, 0o700); err != nil {
		return "", fmt.Errorf("create %s: %w", NetnsDir, err)
	}
	path := filepath.Join(NetnsDir, name)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_RDONLY, 0o400)
	if err != nil {
		return "", fmt.Errorf("create the network namespace file: %w", err)
	}
	_ = f.Close()
	errc := make(chan error, 1)
	go func() {
		// The thread enters the new namespace and never leaves it: it stays
		// locked, so the runtime ends it when this goroutine returns instead
		// of reusing it for other goroutines.
		runtime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("unshare the network namespace: %w", err)
			return
		}
		if err := loopbackUp(); err != nil {
			errc <- err
			return
		}
		src := fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid())
		if err := unix.Mount(src, path, "", unix.MS_BIND, ""); err != nil {
			errc <- fmt.Errorf("bind-mount the network namespace on %s: %w", path, err)
			return
		}
		errc <- nil
	}()
	if err := <-errc; err != nil {
		_ = os.Remove(path)
		return "", err
	}
	return path, nil
}

// loopbackUp sets IFF_UP on lo in the calling thread's network namespace.
func loopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("bring lo up: %w", err)
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return fmt.Errorf("bring lo up: %w", err)
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return fmt.Errorf("bring lo up: %w", err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("bring lo up: %w", err)
	}
	return nil
}

// removeNetns unmounts and removes a namespace file; the namespace goes
// away with its last user.
func removeNetns(path string) error {
	if err := unix.Unmount(path, unix.MNT_DETACH); err != nil && err != unix.EINVAL && err != unix.ENOENT {
		return fmt.Errorf("unmount %s: %w", path, err)
	}
	if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("remove %s: %w", path, err)
	}
	return nil
}

// waitReady dials addr until it accepts, from inside the namespace pinned
// at nsPath (or from the agent's own when nsPath is empty), or until ctx or
// exited ends the wait.
func waitReady(ctx context.Context, nsPath, addr string, exited <-chan struct{}) error {
	errc := make(chan error, 1)
	go func() {
		if nsPath != "" {
			// As in newNetns: a thread that joined another namespace is
			// never handed back to the scheduler.
			runtime.LockOSThread()
			fd, err := unix.Open(nsPath, unix.O_RDONLY|unix.O_CLOEXEC, 0)
			if err != nil {
				errc <- fmt.Errorf("open the network namespace: %w", err)
				return
			}
			err = unix.Setns(fd, unix.CLONE_NEWNET)
			_ = unix.Close(fd)
			if err != nil {
				errc <- fmt.Errorf("enter the network namespace: %w", err)
				return
			}
		}
		errc <- dialUntil(ctx, addr, exited)
	}()
	return <-errc
}

func dialUntil(ctx context.Context, addr string, exited <-chan struct{}) error {
	const pause = 20 * time.Millisecond
	var last error
	for {
		d := net.Dialer{Timeout: time.Second}
		conn, err := d.DialContext(ctx, "tcp", addr)
		if err == nil {
			_ = conn.Close()
			return nil
		}
		last = err
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w (last attempt: %v)", ctx.Err(), last)
		case <-exited:
			t.Stop()
			return errExitedBeforeReady
		case <-t.C:
		}
	}
}

// cgroupOOMKilled reports whether the kernel counted an OOM kill in the
// memory cgroup at path (the OCI spec's cgroupsPath), under cgroup v1 or v2.
func cgroupOOMKilled(path string) bool {
	if path == "" || !filepath.IsAbs(path) {
		return false
	}
	for _, f := range []string{
		filepath.Join("/sys/fs/cgroup/memory", path, "memory.oom_control"), // v1
		filepath.Join("/sys/fs/cgroup", path, "memory.events"),             // v2
	} {
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(data), "\n") {
			if n, ok := strings.CutPrefix(line, "oom_kill "); ok {
				return strings.TrimSpace(n) != "0"
			}
		}
	}
	return false
}

// swapLimitWanted reports whether a memory limit should also cap swap: only
// when the node has swap, and, under cgroup v1, the kernel accounts it
// (memory.memsw.*, off with swapaccount=0, where runc would refuse the limit).
var swapLimitWanted = sync.OnceValue(func() bool {
	swaps, err := os.ReadFile("/proc/swaps")
	if err != nil || strings.Count(string(swaps), "\n") <= 1 { // the header only: no swap
		return false
	}
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil {
		return true // cgroup v2: runc turns it into memory.swap.max
	}
	_, err = os.Stat("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes")
	return err == nil
})
