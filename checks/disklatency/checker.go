package disklatencycheck

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/satellite-hq/satellite/checks"
)

// Checker measures one directory per run. It is safe for concurrent use:
// every run has its own test file.
type Checker struct {
	path    string
	samples int
	size    int
	read    bool
	// direct is false in tests that check the buffered read.
	direct bool
	guard  checks.HangGuard
	// swept is done once the checker's first run has removed the test
	// files that a killed agent left behind.
	swept sync.Once
}

// staleAge is how old a test file must be for a run to take it for one
// left behind by an agent that died during a run: far longer than any
// run's timeout.
var staleAge = time.Hour

// align is the alignment of O_DIRECT reads (buffer, offset and length): the
// largest logical block size of common devices, a multiple of the others.
const align = 4096

// Check writes and fdatasyncs the samples in a new test file of the
// directory, reads them back if asked, and removes the file.
//
// The calls run on their own goroutine (checks.HangGuard): a run returns at
// its deadline even while an fdatasync is stuck in the kernel, with the
// samples taken so far, the one in flight counting with the time it had
// taken (a lower bound). That goroutine then stops after the call in flight
// and removes the file; until it has, the next runs fail at once.
func (c *Checker) Check(ctx context.Context) checks.Result {
	start := time.Now()
	if ctx.Err() != nil {
		return critical(fmt.Sprintf("test write in %s: %s", c.path, checks.Interrupted(ctx, start)))
	}
	s := &sampler{}
	err := c.guard.Do(ctx, func() { c.measure(ctx, s) })
	if msg, ok := errBlocked(c.path, err); ok {
		return critical(msg)
	}
	m, op, inFlight, complete, failure := s.snapshot()
	switch {
	case complete:
		return c.result(m, failure) // the cleanup may still be running
	case failure != "":
		return c.result(m, failure)
	default: // interrupted: between two calls (inFlight 0), or in one
		return c.result(m, interrupted(ctx, start, op, c.path, m.done, c.samples, inFlight))
	}
}

// measured is what a run measured.
type measured struct {
	write, fsync, read []time.Duration
	done               int    // complete samples (write and fdatasync)
	readMode           string // ReadDirect, ReadBuffered, or "" without read
}

// sampler holds a run's measurements, shared between the run's goroutine,
// which makes the calls, and Check, which may have to return before it is
// done.
type sampler struct {
	mu       sync.Mutex
	m        measured
	cur      string // the call in flight ("" between calls)
	curStart time.Time
	next     string // the call the run stopped before, when ctx ended
	complete bool   // every sample (and read) is taken
	failure  string // why the run failed
}

// call times f as op; on success its time is added to *into (when not nil).
func (s *sampler) call(op string, into *[]time.Duration, f func() error) error {
	s.mu.Lock()
	s.cur, s.curStart = op, time.Now()
	s.mu.Unlock()
	start := time.Now()
	err := f()
	took := time.Since(start)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cur = ""
	if err == nil && into != nil {
		*into = append(*into, took)
	}
	return err
}

func (s *sampler) fail(msg string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failure == "" {
		s.failure = msg
	}
}

func (s *sampler) update(f func(m *measured)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(&s.m)
}

// snapshot copies the measurements. A write, fdatasync or read in flight
// counts with the time it has taken so far, which the real one exceeds.
func (s *sampler) snapshot() (m measured, op string, inFlight time.Duration, complete bool, failure string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m = s.m
	m.write, m.fsync, m.read = slices.Clone(s.m.write), slices.Clone(s.m.fsync), slices.Clone(s.m.read)
	op = s.next
	if s.cur != "" {
		op, inFlight = s.cur, time.Since(s.curStart)
		switch s.cur {
		case opWrite:
			m.write = append(m.write, inFlight)
		case opFsync:
			m.fsync = append(m.fsync, inFlight)
		case opRead:
			m.read = append(m.read, inFlight)
		}
	}
	return m, op, inFlight, s.complete, s.failure
}

// The calls of a run, as errors name them.
const (
	opStat      = "stat"
	opCreate    = "create"
	opFallocate = "fallocate"
	opWrite     = "write"
	opFsync     = "fdatasync"
	opRead      = "read"
)

// measure is one run, on the guard's goroutine. It stops before the next
// call once ctx is done, and always removes its file.
func (c *Checker) measure(ctx context.Context, s *sampler) {
	stopped := func(next string) bool {
		if ctx.Err() == nil {
			return false
		}
		s.mu.Lock()
		s.next = next
		s.mu.Unlock()
		return true
	}

	var st os.FileInfo
	if err := s.call(opStat, nil, func() (err error) { st, err = os.Stat(c.path); return err }); err != nil {
		s.fail(describeStat(c.path, err))
		return
	}
	if !st.IsDir() {
		s.fail(fmt.Sprintf("%s is not a directory; disk_latency writes its test file into the directory path names", c.path))
		return
	}
	c.swept.Do(func() { sweep(c.path) })
	if stopped(opCreate) {
		return
	}

	var f *os.File
	if err := s.call(opCreate, nil, func() (err error) { f, err = os.CreateTemp(c.path, FilePrefix+"*"); return err }); err != nil {
		s.fail(describeCreate(c.path, err))
		return
	}
	name := f.Name()
	defer func() {
		f.Close()
		if err := os.Remove(name); err != nil {
			s.fail(fmt.Sprintf("remove the test file: %v", err))
		}
	}()
	fd := int(f.Fd())
	total := c.samples * c.size

	// Preallocate, as etcd does its WAL files (and fio's etcd test its
	// file): the fdatasyncs then need not record a new file size. A file
	// system without fallocate (EOPNOTSUPP) grows the file as it is written.
	if err := s.call(opFallocate, nil, func() error { return retryEINTR(func() error { return unix.Fallocate(fd, 0, 0, int64(total)) }) }); err != nil && !unsupported(err) {
		s.fail(fmt.Sprintf("fallocate %s in %s: %v", bytesText(total), c.path, describeErrno(err)))
		return
	}

	// Data that no file system can compress or deduplicate: random, and
	// stamped with the sample's number.
	buf := make([]byte, c.size)
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), uint64(os.Getpid())))
	for i := 0; i+8 <= len(buf); i += 8 {
		binary.LittleEndian.PutUint64(buf[i:], rng.Uint64())
	}
	for i := range c.samples {
		if stopped(opWrite) {
			return
		}
		if len(buf) >= 8 {
			binary.LittleEndian.PutUint64(buf, uint64(i))
		}
		off := int64(i) * int64(c.size)
		if err := s.call(opWrite, &s.m.write, func() error { return pwriteAll(fd, buf, off) }); err != nil {
			s.fail(fmt.Sprintf("write %s to a test file in %s: %v", bytesText(c.size), c.path, describeErrno(err)))
			return
		}
		if err := s.call(opFsync, &s.m.fsync, func() error { return retryEINTR(func() error { return unix.Fdatasync(fd) }) }); err != nil {
			s.fail(fmt.Sprintf("fdatasync a test file in %s: %v", c.path, describeErrno(err)))
			return
		}
		s.update(func(m *measured) { m.done++ })
	}

	if c.read && !c.readBack(s, name, stopped) {
		return
	}
	s.mu.Lock()
	s.complete = true
	s.mu.Unlock()
}

// readBack reads every sample back, with O_DIRECT where the file system
// takes it, else buffered after dropping the file's cached pages
// (POSIX_FADV_DONTNEED, which the just-synced, clean pages obey). It
// reports whether it read them all.
func (c *Checker) readBack(s *sampler, name string, stopped func(string) bool) bool {
	mode := ReadBuffered
	var rf *os.File
	if c.direct {
		fd, err := unix.Open(name, unix.O_RDONLY|unix.O_DIRECT|unix.O_CLOEXEC, 0)
		switch {
		case err == nil:
			mode, rf = ReadDirect, os.NewFile(uintptr(fd), name)
		case !errors.Is(err, unix.EINVAL): // EINVAL: no O_DIRECT here
			s.fail(fmt.Sprintf("open the test file in %s for reading: %v", c.path, describeErrno(err)))
			return false
		}
	}
	openBuffered := func() error {
		f, err := os.Open(name)
		if err != nil {
			return err
		}
		rf = f
		// No readahead: each read is of its own sample.
		unix.Fadvise(int(rf.Fd()), 0, 0, unix.FADV_RANDOM)
		return nil
	}
	if rf == nil {
		if err := openBuffered(); err != nil {
			s.fail(fmt.Sprintf("open the test file in %s for reading: %v", c.path, describeErrno(err)))
			return false
		}
	}
	defer func() { rf.Close() }()

	buf := alignedBuf(c.size + 2*align)
	for i := 0; i < c.samples; i++ {
		if stopped(opRead) {
			return false
		}
		off := int64(i) * int64(c.size)
		var err error
		if mode == ReadDirect {
			lo := off &^ (align - 1)
			hi := (off + int64(c.size) + align - 1) &^ (align - 1)
			err = s.call(opRead, &s.m.read, func() error { return preadAtLeast(int(rf.Fd()), buf[:hi-lo], lo, int(off+int64(c.size)-lo)) })
			if errors.Is(err, unix.EINVAL) && i == 0 {
				// The device wants a larger alignment: read buffered.
				rf.Close()
				if err := openBuffered(); err != nil {
					s.fail(fmt.Sprintf("open the test file in %s for reading: %v", c.path, describeErrno(err)))
					return false
				}
				mode = ReadBuffered
				i--
				continue
			}
		} else {
			unix.Fadvise(int(rf.Fd()), off, int64(c.size), unix.FADV_DONTNEED)
			err = s.call(opRead, &s.m.read, func() error { return preadAtLeast(int(rf.Fd()), buf[:c.size], off, c.size) })
		}
		if err != nil {
			s.fail(fmt.Sprintf("read the test file in %s: %v", c.path, describeErrno(err)))
			return false
		}
	}
	s.update(func(m *measured) { m.readMode = mode })
	return true
}

// sweep removes the test files of runs that never finished (the agent was
// killed during one): those of this type, older than staleAge.
func sweep(dir string) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), FilePrefix) || !e.Type().IsRegular() {
			continue
		}
		if info, err := e.Info(); err == nil && time.Since(info.ModTime()) > staleAge {
			os.Remove(dir + string(os.PathSeparator) + e.Name())
		}
	}
}

func retryEINTR(f func() error) error {
	for {
		if err := f(); !errors.Is(err, unix.EINTR) {
			return err
		}
	}
}

func pwriteAll(fd int, b []byte, off int64) error {
	for len(b) > 0 {
		n, err := unix.Pwrite(fd, b, off)
		switch {
		case errors.Is(err, unix.EINTR):
			continue
		case err != nil:
			return err
		case n == 0:
			return errors.New("wrote nothing")
		}
		b, off = b[n:], off+int64(n)
	}
	return nil
}

// preadAtLeast reads into b at off until it has want bytes (or b is full).
func preadAtLeast(fd int, b []byte, off int64, want int) error {
	got := 0
	for got < want {
		n, err := unix.Pread(fd, b[got:], off+int64(got))
		switch {
		case errors.Is(err, unix.EINTR):
			continue
		case err != nil:
			return err
		case n == 0:
			return fmt.Errorf("the file ended after %d of %d bytes", got, want)
		}
		got += n
	}
	return nil
}

// alignedBuf returns n bytes whose start is aligned to align (the heap does
// not move).
func alignedBuf(n int) []byte {
	b := make([]byte, n+align)
	skip := (align - int(uintptr(unsafe.Pointer(&b[0]))&(align-1))) & (align - 1)
	return b[skip : skip+n]
}

// unsupported reports an fallocate error that means "not here".
func unsupported(err error) bool {
	return errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EINVAL)
}

// describeErrno words the common errors of a write.
func describeErrno(err error) string {
	switch {
	case errors.Is(err, unix.ENOSPC):
		return "no space left on the file system"
	case errors.Is(err, unix.EDQUOT):
		return "disk quota exceeded"
	case errors.Is(err, unix.EIO):
		return "input/output error (a failing disk?)"
	case errors.Is(err, unix.EROFS):
		return "read-only file system"
	}
	return err.Error()
}

func describeStat(path string, err error) string {
	switch {
	case errors.Is(err, syscall.ENOENT):
		return fmt.Sprintf("%s does not exist", path)
	case errors.Is(err, syscall.ENOTDIR):
		return fmt.Sprintf("%s does not exist (a part of it is not a directory)", path)
	default:
		return fmt.Sprintf("stat %s: %v", path, err)
	}
}

func describeCreate(dir string, err error) string {
	switch {
	case errors.Is(err, syscall.EACCES), errors.Is(err, syscall.EPERM):
		return fmt.Sprintf("cannot create a test file in %s: permission denied (the check needs write permission there)", dir)
	case errors.Is(err, syscall.EROFS):
		return fmt.Sprintf("cannot create a test file in %s: read-only file system", dir)
	case errors.Is(err, syscall.ENOENT):
		return fmt.Sprintf("%s does not exist", dir) // removed since the stat
	}
	var pe *os.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	return fmt.Sprintf("cannot create a test file in %s: %v", dir, describeErrno(err))
}

// sortedMS returns the durations in milliseconds, sorted.
func sortedMS(d []time.Duration) []float64 {
	out := make([]float64, len(d))
	for i, v := range d {
		out[i] = float64(v) / float64(time.Millisecond)
	}
	slices.Sort(out)
	return out
}

// percentile is the nearest-rank percentile p (1 to 100) of sorted values:
// the smallest value that at least p% of them do not exceed, the value at
// rank ceil(p/100 × n). It is always one of the samples; with fewer than
// 100 samples, p99 is the largest.
func percentile(sorted []float64, p int) float64 {
	n := len(sorted)
	rank := (p*n + 99) / 100
	return sorted[max(rank, 1)-1]
}
