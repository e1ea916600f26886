package processcheck

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/zclconf/go-cty/cty"

	"github.com/satellite-hq/satellite/checks"
)

// commLen is how much of a process name the kernel keeps (TASK_COMM_LEN - 1).
const commLen = 15

// maxCmdline is the most of a command line a pattern is matched against.
const maxCmdline = 1 << 20

// maxDetailPIDs is how many pids a failed run lists in its detail.
const maxDetailPIDs = 20

// Checker counts matching processes once per run. It holds no state between
// runs and is safe for concurrent use.
type Checker struct {
	procRoot string
	name     string         // exact process name; or
	pattern  *regexp.Regexp // over the command line
	min, max int64
	hasMax   bool
}

// Check counts the processes that match and compares the count with min and max.
func (c *Checker) Check(ctx context.Context) checks.Result {
	start := time.Now()
	if ctx.Err() != nil {
		return fail("scanning " + c.procRoot + ": " + ctxReason(ctx, start))
	}
	// Reading a process's command line takes its memory-map lock, which a
	// process stuck in the kernel can hold for long (the reason ps and
	// pgrep sometimes hang): scan on the side and stop waiting at the
	// deadline. The scan stops at the next process once ctx is done.
	type scanned struct {
		pids []int
		err  error
	}
	done := make(chan scanned, 1)
	go func() {
		pids, err := c.scan(ctx)
		done <- scanned{pids, err}
	}()
	var s scanned
	select {
	case s = <-done:
	case <-ctx.Done():
		return fail("scanning " + c.procRoot + ": " + ctxReason(ctx, start))
	}
	if s.err != nil {
		if ctx.Err() != nil {
			return fail("scanning " + c.procRoot + ": " + ctxReason(ctx, start))
		}
		return fail(s.err.Error())
	}

	n := len(s.pids)
	res := checks.Result{
		Metrics: map[string]float64{MetricCount: float64(n)},
		Attrs:   map[string]cty.Value{"pids": pidList(s.pids)},
	}
	switch {
	case int64(n) < c.min:
		res.Error = fmt.Sprintf("%s, expected at least %d", matching(n), c.min)
	case c.hasMax && int64(n) > c.max:
		res.Error = fmt.Sprintf("%s, expected at most %d", matching(n), c.max)
	default:
		return res
	}
	res.Status = checks.StatusCritical
	res.Detail = detail(s.pids)
	return res
}

func fail(msg string) checks.Result {
	return checks.Result{Status: checks.StatusCritical, Error: msg}
}

// ctxReason says why ctx ended: the deadline, or a cancel.
func ctxReason(ctx context.Context, start time.Time) string {
	return checks.Interrupted(ctx, start)
}

func matching(n int) string {
	if n == 1 {
		return "1 process matches"
	}
	return strconv.Itoa(n) + " processes match"
}

func pidList(pids []int) cty.Value {
	if len(pids) == 0 {
		return cty.ListValEmpty(cty.Number)
	}
	vals := make([]cty.Value, len(pids))
	for i, p := range pids {
		vals[i] = cty.NumberIntVal(int64(p))
	}
	return cty.ListVal(vals)
}

func detail(pids []int) string {
	if len(pids) == 0 {
		return ""
	}
	var sb strings.Builder
	sb.WriteString("pids: ")
	for i, p := range pids {
		if i == maxDetailPIDs {
			fmt.Fprintf(&sb, " and %d more", len(pids)-i)
			break
		}
		if i > 0 {
			sb.WriteString(", ")
		}
		sb.WriteString(strconv.Itoa(p))
	}
	return sb.String()
}

// scan returns the sorted pids of the matching processes, except this one.
func (c *Checker) scan(ctx context.Context) ([]int, error) {
	d, err := os.Open(c.procRoot)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	self := os.Getpid()
	r := reader{root: c.procRoot, rootFD: int(d.Fd()), buf: make([]byte, 0, 1024)}
	var pids []int
	for {
		names, err := d.Readdirnames(256)
		for _, name := range names {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			pid, ok := parsePID(name)
			if !ok || pid == self {
				continue
			}
			if c.matches(&r, name) {
				pids = append(pids, pid)
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("list %s: %w", c.procRoot, err)
		}
	}
	slices.Sort(pids)
	return pids, nil
}

// matches reports whether the process in directory pid matches. A process
// that ends while it is read simply does not match.
func (c *Checker) matches(r *reader, pid string) bool {
	if c.pattern != nil {
		// Zombies and kernel threads have an empty command line: no match.
		line, ok := r.cmdline(pid)
		return ok && len(line) > 0 && c.pattern.Match(line)
	}
	// comm is far cheaper to read than stat, which only the few processes
	// with the right name need.
	comm, ok := r.read(pid, "comm", 64)
	if !ok {
		return false
	}
	comm = bytes.TrimSuffix(comm, []byte("\n"))
	long := false
	if string(comm) != c.name {
		// The kernel keeps 15 bytes of a name: a longer name matches a
		// process whose comm is its first 15 bytes and whose program has
		// that name.
		if len(c.name) <= commLen || len(comm) != commLen || string(comm) != c.name[:commLen] {
			return false
		}
		long = true
	}
	if !r.running(pid) {
		return false
	}
	return !long || c.programNamed(r, pid)
}

// programNamed reports whether argv[0], or else the executable, of process
// pid has c.name as its base name.
func (c *Checker) programNamed(r *reader, pid string) bool {
	if b, ok := r.read(pid, "cmdline", maxCmdline); ok {
		if i := bytes.IndexByte(b, 0); i >= 0 {
			b = b[:i]
		}
		if filepath.Base(string(b)) == c.name {
			return true
		}
	}
	// Needs the same user or root; a failure is no match.
	exe, err := os.Readlink(r.root + "/" + pid + "/exe")
	return err == nil && filepath.Base(strings.TrimSuffix(exe, " (deleted)")) == c.name
}

// reader reads small /proc files into one reused buffer, without the cost
// of an *os.File per file.
type reader struct {
	root   string
	rootFD int // root, open: files are opened relative to it
	buf    []byte
}

// running reports whether process pid is alive and not a zombie.
func (r *reader) running(pid string) bool {
	stat, ok := r.read(pid, "stat", 4096)
	if !ok {
		return false
	}
	// "pid (comm) S ...": comm may hold spaces and parentheses, so it ends
	// at the last ')'.
	end := bytes.LastIndexByte(stat, ')')
	if end < 0 || end+2 >= len(stat) {
		return false
	}
	state := stat[end+2]
	return state != 'Z' && state != 'X' && state != 'x' // exited, not yet reaped
}

// cmdline returns the command line with its arguments joined by spaces, as
// ps and pgrep -f show it. The result is valid until the next read.
func (r *reader) cmdline(pid string) ([]byte, bool) {
	b, ok := r.read(pid, "cmdline", maxCmdline)
	if !ok {
		return nil, false
	}
	b = bytes.TrimRight(b, "\x00")
	for i, ch := range b {
		if ch == 0 {
			b[i] = ' '
		}
	}
	return b, true
}

// read returns up to limit bytes of root/pid/file; valid until the next read.
// comm and stat come from one show function, whole at the first read when
// the buffer is large enough: a read that leaves room is their end, which
// saves a syscall per process. cmdline is read to EOF.
func (r *reader) read(pid, file string, limit int) ([]byte, bool) {
	oneShot := file != "cmdline"
	fd, err := syscall.Openat(r.rootFD, pid+"/"+file, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, false
	}
	defer syscall.Close(fd)
	b := r.buf[:0]
	for len(b) < limit {
		if len(b) == cap(b) {
			b = slices.Grow(b, min(cap(b), limit-len(b)))
		}
		n, err := syscall.Read(fd, b[len(b):min(cap(b), limit)])
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			r.buf = b
			return nil, false // ESRCH: the process is gone
		}
		if n == 0 {
			break
		}
		b = b[:len(b)+n]
		if oneShot && len(b) < min(cap(b), limit) {
			break
		}
	}
	r.buf = b
	return b, true
}

// parsePID returns the pid a /proc entry names, if it names one.
func parsePID(name string) (int, bool) {
	if name == "" || name[0] < '1' || name[0] > '9' {
		return 0, false
	}
	n, err := strconv.Atoi(name)
	return n, err == nil
}
