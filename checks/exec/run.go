package execcheck

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/zclconf/go-cty/cty"
	"golang.org/x/sys/unix"

	"github.com/satellite-hq/satellite/checks"
)

// Grace periods after the command's process group has been killed.
const (
	// reapGrace bounds the wait for killed processes to be reaped; a process
	// stuck in uninterruptible sleep can outlive SIGKILL for a while, and the
	// run must still end near its deadline. The reaping goroutine goes on
	// until the process is gone.
	reapGrace = time.Second
	// drainGrace bounds the wait for the end of the output once the command
	// has exited: a process that left the group (setsid) may hold the pipe.
	drainGrace = 250 * time.Millisecond
)

// Checker runs one command per run. It holds no state between runs and is
// safe for concurrent use.
type Checker struct {
	argv []string
	// path is argv[0] made absolute when it holds a slash; empty when argv[0]
	// is a bare name, looked up in lookPath at every run.
	path     string
	lookPath string
	pathSet  bool
	// env is the command's whole environment, never nil.
	env  []string
	dir  string
	user string
}

// Check starts the command, waits for it or for the deadline, and judges its
// exit status.
func (c *Checker) Check(ctx context.Context) checks.Result {
	start := time.Now()
	if ctx.Err() != nil {
		return fail("did not start: " + ctxReason(ctx, start))
	}
	prog, err := c.program()
	if err != nil {
		return fail(err.Error())
	}
	// exec would only say "no such file or directory", as if the program
	// were missing.
	if fi, err := os.Stat(c.dir); err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return fail("working directory " + c.dir + ": " + err.Error())
	} else if !fi.IsDir() {
		return fail("working directory " + c.dir + ": not a directory")
	}
	cred, err := credential(ctx, c.user)
	if err != nil {
		if ctx.Err() != nil {
			return fail("looking up user " + strconv.Quote(c.user) + ": " + ctxReason(ctx, start))
		}
		return fail(err.Error())
	}

	r, w, err := os.Pipe()
	if err != nil {
		return fail("output pipe: " + err.Error())
	}
	defer r.Close()
	cmd := &exec.Cmd{
		Path:   prog,
		Args:   c.argv,
		Env:    c.env,
		Dir:    c.dir,
		Stdout: w, // one pipe for both keeps their order
		Stderr: w,
		SysProcAttr: &syscall.SysProcAttr{
			Setpgid:    true, // its own group, so the timeout kills everything it started
			Credential: cred,
		},
	}
	err = cmd.Start()
	_ = w.Close() // the child has its copies; EOF comes when every holder is gone
	if err != nil {
		return fail("start " + prog + ": " + startError(err))
	}
	started := time.Now()
	pid := cmd.Process.Pid

	out := &capture{}
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		out.readFrom(r)
	}()

	// exited closes when the command has exited, before it is reaped: while
	// it is an unreaped zombie its pid, which is also the group id, cannot be
	// reused, so killing the group cannot hit a stranger.
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		waitExited(pid)
	}()

	timedOut := false
	select {
	case <-exited:
	case <-ctx.Done():
		select {
		case <-exited: // exited at the deadline: judge its status
		default:
			timedOut = true
		}
	}
	took := time.Since(started)

	// Kill the whole group: at the timeout that is the command and its
	// children; after a normal exit, whatever it left running.
	waited := make(chan error, 1)      // the command reaped
	groupReaped := make(chan struct{}) // and what it left, when ours to reap
	go func() {
		defer close(groupReaped)
		_ = unix.Kill(-pid, unix.SIGKILL)
		<-exited
		waited <- cmd.Wait()
		reapGroup(pid)
	}()
	var waitErr error
	finished := true
	reapTimer := time.NewTimer(reapGrace)
	defer reapTimer.Stop()
	select {
	case waitErr = <-waited:
		select {
		case <-groupReaped:
		case <-reapTimer.C:
		}
	case <-reapTimer.C:
		finished = false
	}

	// Let the reader reach EOF, but not for long: a process that left the
	// group may hold the pipe open.
	drain := drainGrace
	if dl, ok := ctx.Deadline(); ok && !timedOut {
		drain = min(drain, max(time.Until(dl), 0))
	}
	select {
	case <-readDone:
	case <-time.After(drain):
		_ = r.SetReadDeadline(time.Now())
		<-readDone
	}

	output, detail := out.text()
	res := checks.Result{
		Detail:  detail,
		Metrics: map[string]float64{MetricDuration: float64(took) / float64(time.Millisecond)},
		Attrs:   map[string]cty.Value{"output": cty.StringVal(output)},
	}
	switch {
	case timedOut:
		res.Status = checks.StatusCritical
		res.Error = ctxReason(ctx, start) + "; killed its process group"
		return res
	case !finished:
		res.Status = checks.StatusCritical
		res.Error = fmt.Sprintf("process %d did not exit within %s of SIGKILL", pid, reapGrace)
		return res
	}

	state := cmd.ProcessState
	if state == nil {
		res.Status = checks.StatusCritical
		res.Error = "wait: " + waitErr.Error()
		return res
	}
	ws, _ := state.Sys().(syscall.WaitStatus)
	if ws.Signaled() {
		sig := ws.Signal()
		res.Status = checks.StatusCritical
		res.Error = fmt.Sprintf("killed by signal %s (%s)", unix.SignalName(sig), sig)
		if line := firstLine(output); line != "" {
			res.Error += ": " + line
		}
		return res
	}
	code := state.ExitCode()
	res.Metrics[MetricExitCode] = float64(code)
	res.Attrs["exit_code"] = cty.NumberIntVal(int64(code))
	switch code {
	case 0:
		return res
	case 1:
		res.Status = checks.StatusWarning
	default:
		res.Status = checks.StatusCritical
	}
	res.Error = firstLine(output)
	if res.Error == "" {
		res.Error = "exit status " + strconv.Itoa(code)
	}
	return res
}

// fail is a run that did not get to start the command.
func fail(msg string) checks.Result {
	return checks.Result{Status: checks.StatusCritical, Error: msg}
}

// ctxReason says why ctx ended: the deadline, or a cancel.
func ctxReason(ctx context.Context, start time.Time) string {
	return checks.Interrupted(ctx, start)
}

// program returns the absolute path of the program to run.
func (c *Checker) program() (string, error) {
	if c.path == "" {
		return lookPath(c.argv[0], c.lookPath)
	}
	if filepath.IsAbs(c.path) {
		return c.path, nil
	}
	// Only when the config had no folder (a config from memory): exec would
	// take a relative path as relative to dir, so fix it here.
	p, err := filepath.Abs(c.path)
	if err != nil {
		return "", fmt.Errorf("resolve %s: %w", c.path, err)
	}
	return p, nil
}

// lookPath finds an executable file called name in the directories of
// pathList. Relative entries are skipped: they would depend on dir.
func lookPath(name, pathList string) (string, error) {
	for _, dir := range filepath.SplitList(pathList) {
		if !filepath.IsAbs(dir) {
			continue
		}
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%q not found in PATH %s", name, pathList)
}

// startError shortens exec's errors ("fork/exec /x: permission denied"
// becomes "permission denied"); the caller names the program.
func startError(err error) string {
	var pe *os.PathError
	if errors.As(err, &pe) {
		if pe.Op == "fork/exec" {
			return pe.Err.Error()
		}
		return pe.Op + " " + pe.Path + ": " + pe.Err.Error()
	}
	return err.Error()
}

// credential resolves user to the uid, gid and groups to run as; nil means
// run as the agent's own user. Switching users needs root.
func credential(ctx context.Context, name string) (*syscall.Credential, error) {
	if name == "" {
		return nil, nil
	}
	type found struct {
		u   *user.User
		err error
	}
	// The user database may sit behind NSS (LDAP, sssd), which knows no
	// deadlines: look up on the side and stop waiting at the deadline.
	ch := make(chan found, 1)
	go func() {
		u, err := user.Lookup(name)
		var unknown user.UnknownUserError
		if errors.As(err, &unknown) {
			if _, numErr := strconv.ParseUint(name, 10, 32); numErr == nil {
				u, err = user.LookupId(name)
			}
		}
		ch <- found{u, err}
	}()
	var f found
	select {
	case f = <-ch:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if f.err != nil {
		return nil, fmt.Errorf("user %q: %w", name, f.err)
	}
	uid, err1 := strconv.ParseUint(f.u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(f.u.Gid, 10, 32)
	if err1 != nil || err2 != nil {
		return nil, fmt.Errorf("user %q has uid %q and gid %q, which are not numbers", name, f.u.Uid, f.u.Gid)
	}
	if euid := os.Geteuid(); euid != 0 {
		if uint64(euid) == uid && uint64(os.Getegid()) == gid {
			return nil, nil // already that user
		}
		return nil, fmt.Errorf("cannot run the command as user %q: the agent runs as uid %d, and only root can switch users; run the agent as root or remove user", name, euid)
	}
	gids, err := f.u.GroupIds()
	if err != nil {
		return nil, fmt.Errorf("groups of user %q: %w", name, err)
	}
	groups := make([]uint32, 0, len(gids))
	for _, g := range gids {
		n, err := strconv.ParseUint(g, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("user %q is in group %q, which is not a number", name, g)
		}
		groups = append(groups, uint32(n))
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: groups}, nil
}

// waitExited blocks until process pid has exited, without reaping it.
func waitExited(pid int) {
	var info unix.Siginfo
	for {
		err := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOWAIT, nil)
		if err != unix.EINTR {
			return
		}
	}
}

// reapGroup reaps what is left of process group pgid after SIGKILL. Only
// an agent that is a child subreaper (PR_SET_CHILD_SUBREAPER) inherits the
// command's orphans; otherwise there is nothing to reap here and init does it.
func reapGroup(pgid int) {
	for {
		var ws unix.WaitStatus
		_, err := unix.Wait4(-pgid, &ws, 0, nil)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return // ECHILD: none left
		}
	}
}

// capture keeps the first MaxOutput bytes of the output and counts the rest.
type capture struct {
	buf   []byte
	total int
}

func (c *capture) readFrom(r *os.File) {
	c.buf = make([]byte, 0, MaxOutput)
	chunk := make([]byte, 8<<10)
	for {
		n, err := r.Read(chunk)
		c.add(chunk[:n])
		if errors.Is(err, os.ErrDeadlineExceeded) {
			c.drain(r, chunk)
			return
		}
		if err != nil {
			return
		}
	}
}

// drain takes what is already in the pipe once the read deadline has passed
// (a read past its deadline does not even look), at most a pipe's worth.
func (c *capture) drain(r *os.File, chunk []byte) {
	rc, err := r.SyscallConn()
	if err != nil {
		return
	}
	_ = rc.Control(func(fd uintptr) {
		for left := 64 << 10; left > 0; {
			n, err := syscall.Read(int(fd), chunk) // non-blocking: os.Pipe's descriptors are
			if n <= 0 || err != nil {
				return
			}
			c.add(chunk[:n])
			left -= n
		}
	})
}

// add keeps what fits in MaxOutput and counts everything.
func (c *capture) add(p []byte) {
	c.total += len(p)
	if room := cap(c.buf) - len(c.buf); room > 0 {
		c.buf = append(c.buf, p[:min(room, len(p))]...)
	}
}

// text returns the kept output as valid UTF-8, and the same with a note when
// output was cut, for Detail.
func (c *capture) text() (output, detail string) {
	b := c.buf
	if c.total > len(b) {
		// Do not keep half a character at the cut.
		for i := len(b) - 1; i >= 0 && i >= len(b)-utf8.UTFMax; i-- {
			if utf8.RuneStart(b[i]) {
				if !utf8.FullRune(b[i:]) {
					b = b[:i]
				}
				break
			}
		}
	}
	output = strings.ToValidUTF8(string(b), "\uFFFD")
	detail = output
	if c.total > len(c.buf) {
		detail += fmt.Sprintf("\n[output cut at %d of %d bytes]", len(b), c.total)
	}
	return output, detail
}

// firstLine is the first non-blank line of output, like a Nagios plugin's
// status line.
func firstLine(s string) string {
	s = strings.TrimLeft(s, " \t\r\n")
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return strings.TrimSpace(s)
}
