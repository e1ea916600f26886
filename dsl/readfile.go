package dsl

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"
)

// Every file read while a config is loaded (config files, variables files,
// file()) goes through readRegular, so that no path can hang or exhaust a
// load: a FIFO blocks its opener until a writer comes, a device or
// /dev/zero never ends, and /proc/kmsg blocks its reader until the kernel
// logs. The path is stat'ed first (a FIFO or device is never opened), then
// opened with O_NONBLOCK (a FIFO swapped in between opens without waiting,
// and a procfs file that would block fails instead), fstat'ed (only a
// regular file, the one stat'ed, is read), and read up to a size cap within
// readTimeout.

// Size caps of config-time reads.
const (
	// maxConfigFile bounds a config or variables file: 16 MiB holds some
	// 100,000 checks.
	maxConfigFile = 16 << 20
	// readTimeout bounds one read (a hung network file system).
	readTimeout = 10 * time.Second
)

// readRegular reads path, a regular file of at most max bytes; what names
// the reader in errors ("file()", "config file").
func readRegular(path string, max int64, what string) ([]byte, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file (%s): %s reads regular files only", path, FileKind(st.Mode()), what)
	}
	if st.Size() > max {
		return nil, fmt.Errorf("%s is %d bytes, larger than %s reads (%d bytes)", path, st.Size(), what, max)
	}
	// Raw system calls, not an *os.File: Go's poller would park a read of
	// a pollable file (/proc/kmsg) that returns EAGAIN until data comes.
	fd, err := syscall.Open(path, syscall.O_RDONLY|syscall.O_NONBLOCK|syscall.O_NOCTTY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	var fst syscall.Stat_t
	if err := syscall.Fstat(fd, &fst); err != nil {
		syscall.Close(fd)
		return nil, &os.PathError{Op: "fstat", Path: path, Err: err}
	}
	if fst.Mode&syscall.S_IFMT != syscall.S_IFREG || !sameFile(st, &fst) {
		syscall.Close(fd)
		return nil, fmt.Errorf("%s changed while it was opened, or is not a regular file: %s reads regular files only", path, what)
	}
	var sfs syscall.Statfs_t
	if err := syscall.Fstatfs(fd, &sfs); err == nil && sfs.Type == procSuperMagic {
		syscall.Close(fd)
		return nil, fmt.Errorf("%s is in /proc: %s does not read procfs files, some of which block or consume what they read (/proc/kmsg)", path, what)
	}
	type result struct {
		b   []byte
		err error
	}
	done := make(chan result, 1)
	go func() {
		defer syscall.Close(fd)
		var out []byte
		buf := make([]byte, 64<<10)
		for int64(len(out)) <= max {
			n, err := syscall.Read(fd, buf)
			if err == syscall.EINTR {
				continue
			}
			if err != nil {
				done <- result{nil, err}
				return
			}
			if n == 0 {
				break
			}
			out = append(out, buf[:n]...)
		}
		done <- result{out, nil}
	}()
	timer := time.NewTimer(readTimeout)
	defer timer.Stop()
	select {
	case r := <-done:
		if r.err != nil {
			if errors.Is(r.err, syscall.EAGAIN) {
				return nil, fmt.Errorf("%s would block (a special file): %s reads regular files only", path, what)
			}
			return nil, &os.PathError{Op: "read", Path: path, Err: r.err}
		}
		if int64(len(r.b)) > max {
			return nil, fmt.Errorf("%s is larger than %s reads (%d bytes)", path, what, max)
		}
		return r.b, nil
	case <-timer.C:
		// The reader goroutine is left to finish (or fail) on its own.
		return nil, fmt.Errorf("reading %s took longer than %s", path, readTimeout)
	}
}

// procSuperMagic is procfs' file system type (statfs(2)).
const procSuperMagic = 0x9fa0

func sameFile(st os.FileInfo, fst *syscall.Stat_t) bool {
	s, ok := st.Sys().(*syscall.Stat_t)
	return ok && s.Dev == fst.Dev && s.Ino == fst.Ino
}

// FileKind names a file's type for errors, such as "a named pipe (FIFO)"
// or "a directory"; "not a regular file" for any other kind. file() and the
// file check word it alike.
func FileKind(m os.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&os.ModeNamedPipe != 0:
		return "a named pipe (FIFO)"
	case m&os.ModeSocket != 0:
		return "a socket"
	case m&os.ModeCharDevice != 0:
		return "a character device"
	case m&os.ModeDevice != 0:
		return "a block device"
	case m&os.ModeSymlink != 0:
		return "a symbolic link"
	}
	return "not a regular file"
}

// ReadRegularFile reads a file named by a config (a token, a key, a
// certificate) as config files are read: a regular file only, never opened
// when it is a FIFO or a device, not in /proc, at most max bytes, within
// 10 s; what names the reader in errors ("the API token file"). For what
// is read at start and on every reload, where a FIFO would hang the reload.
func ReadRegularFile(path string, max int64, what string) ([]byte, error) {
	return readRegular(path, max, what)
}
