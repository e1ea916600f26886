// Package filecheck is the `file` check type: a file exists (or does not),
// is recent enough, and holds a pattern.
package filecheck

import (
	"bytes"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"regexp"
	"regexp/syntax"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/zclconf/go-cty/cty"
	"golang.org/x/sys/unix"

	"github.com/satellite-hq/satellite/checks"
	"github.com/satellite-hq/satellite/dsl"
)

//go:embed sample.hcl
var sample string

// Type is the first label of `check "file" "NAME"`.
const Type = "file"

// Metric names the type reports.
const (
	MetricAgeSeconds = "age_seconds"
	MetricSizeBytes  = "size_bytes"
)

// MaxContent is how much of a file `contains` searches.
const MaxContent = 1 << 20

// Spec is the schema of the type's own attributes.
var Spec = hcldec.ObjectSpec{
	"path":     &hcldec.AttrSpec{Name: "path", Type: cty.String, Required: true},
	"max_age":  &hcldec.AttrSpec{Name: "max_age", Type: cty.DynamicPseudoType},
	"contains": &hcldec.AttrSpec{Name: "contains", Type: cty.String},
	"exists":   &hcldec.AttrSpec{Name: "exists", Type: cty.Bool},
	// follow_symlinks = false refuses a path with a symbolic link anywhere
	// in it, for files in folders that others can write.
	"follow_symlinks": &hcldec.AttrSpec{Name: "follow_symlinks", Type: cty.Bool},
}

// ResultAttrs are the extra attributes of `result` for assert.
var ResultAttrs = map[string]cty.Type{
	"mode":   cty.String,
	"exists": cty.Bool,
}

func init() {
	checks.Register(&checks.Registration{
		Type:    Type,
		Spec:    Spec,
		Metrics: []string{MetricAgeSeconds, MetricSizeBytes},
		Result:  ResultAttrs,
		Build:   Build,
		Sample:  sample,
		Doc:     "A file exists (or not), is recent enough and holds a pattern.",
	})
}

// Build validates a decoded `file` body and returns its checker. It does no
// I/O; a nil Checker comes back when a value it needs is unknown or invalid.
func Build(cfg cty.Value, env checks.Env) (checks.Checker, hcl.Diagnostics) {
	if !cfg.IsKnown() {
		return nil, nil // nothing to check yet (validate --unknown-env)
	}
	a := dsl.NewAttrs(cfg, env.Body, env.Block)
	c := &Checker{wantExists: true, follow: true}
	complete := true

	if p, ok := dsl.Required(a, "path", `the file to check, such as "/etc/kubernetes/kubelet.conf"`, a.String); ok {
		switch {
		case p == "":
			a.Errorf("path", "Empty path", "path must name the file to check, such as \"/etc/kubernetes/kubelet.conf\".")
		case strings.IndexByte(p, 0) >= 0:
			a.Errorf("path", "Invalid path", "The path %q contains a NUL byte, which no file name can hold.", p)
		}
		c.path = dsl.ResolvePath(env.BaseDir, p)
	} else {
		complete = false
	}

	if d, ok := a.Duration("max_age"); ok {
		if d == 0 {
			a.Errorf("max_age", "Invalid max_age", "max_age must be longer than 0, such as \"26h\": every file is older than 0s.")
		}
		c.maxAge = d
	} else if a.IsUnknown("max_age") {
		complete = false
	}

	if s, ok := a.String("contains"); ok {
		re, err := regexp.Compile(s)
		if err != nil {
			a.Errorf("contains", "Invalid regular expression", "contains %q is not a regular expression (Go RE2 syntax): %s.", s, checks.RegexpError(err))
		}
		c.contains = re
		if err == nil {
			c.mustHave = requiredLiteral(s)
		}
	} else if a.IsUnknown("contains") {
		complete = false
	}

	if b, ok := a.Bool("exists"); ok {
		c.wantExists = b
		if !b {
			for _, name := range []string{"max_age", "contains"} {
				if a.IsSet(name) {
					a.Errorf(name, "Conflicting arguments", "%s cannot hold for a file that must be absent (exists = false); remove one of them.", name)
				}
			}
		}
	} else if a.IsUnknown("exists") {
		complete = false
	}

	if b, ok := a.Bool("follow_symlinks"); ok {
		c.follow = b
	} else if a.IsUnknown("follow_symlinks") {
		complete = false
	}

	if a.Diags.HasErrors() || !complete {
		return nil, a.Diags
	}
	return c, a.Diags
}

// Checker looks at one file per run. It is safe for concurrent use.
type Checker struct {
	path       string
	maxAge     time.Duration  // 0: any age
	contains   *regexp.Regexp // nil: content not read
	mustHave   []byte         // a literal every match of contains holds; nil if none
	wantExists bool
	// follow is false with follow_symlinks = false: the path is opened with
	// openat2's RESOLVE_NO_SYMLINKS, so a link planted anywhere in it (by
	// another user, in /tmp) is refused rather than read through.
	follow bool
	guard  checks.HangGuard
	// probe is (*Checker).look; tests replace it to simulate a hung mount.
	probe func() finding
}

// finding is what one look at the file saw.
type finding struct {
	statErr error // nil when the file exists
	info    fs.FileInfo
	// With contains, for a regular file: whether the pattern matched in the
	// first MaxContent bytes, and whether the file was longer than that.
	matched, truncated bool
	readErr            error
}

// Check stats the file (following symbolic links) and, with contains, reads
// its first MaxContent bytes. The file system work runs on its own goroutine
// so that a hung network mount does not hold the run past its deadline.
func (c *Checker) Check(ctx context.Context) checks.Result {
	start := time.Now()
	if ctx.Err() != nil {
		return critical(ctxError(ctx, c.path, start))
	}
	probe := c.probe
	if probe == nil {
		probe = c.look
	}
	var f finding
	if err := c.guard.Do(ctx, func() { f = probe() }); err != nil {
		var blocked checks.ErrBlocked
		if errors.As(err, &blocked) {
			return critical(c.path + ": " + blocked.Error())
		}
		return critical(ctxError(ctx, c.path, start))
	}
	return c.judge(f, start)
}

// look does the file system work of a run.
func (c *Checker) look() finding {
	var f finding
	if c.follow {
		f.info, f.statErr = os.Stat(c.path)
	} else {
		f.info, f.statErr = statNoFollow(c.path)
	}
	if f.statErr != nil || c.contains == nil || !f.info.Mode().IsRegular() {
		return f
	}
	f.matched, f.truncated, f.readErr = c.search()
	return f
}

// smallFile is the size under which a file is read into a buffer of its own
// size; larger ones go into a pooled MaxContent buffer.
const smallFile = 64 << 10

// bigBuffers holds MaxContent+1 byte buffers: on the development VM, reading
// 1 MiB into a fresh buffer took 0.8-1.6 ms, into a reused one 0.1 ms.
var bigBuffers = sync.Pool{New: func() any {
	b := make([]byte, MaxContent+1)
	return &b
}}

// search reads the first MaxContent bytes of the file and matches contains
// against them. O_NONBLOCK keeps the open from hanging should the path have
// become a FIFO since the stat; the file is checked again once open.
func (c *Checker) search() (matched, truncated bool, err error) {
	flags := os.O_RDONLY | syscall.O_NONBLOCK | syscall.O_NOCTTY
	var fh *os.File
	if c.follow {
		fh, err = os.OpenFile(c.path, flags, 0)
	} else {
		fh, err = openNoFollow(c.path, flags)
	}
	if err != nil {
		return false, false, err
	}
	defer fh.Close()
	info, err := fh.Stat()
	if err != nil {
		return false, false, err
	}
	if !info.Mode().IsRegular() {
		return false, false, fmt.Errorf("%s is %s now", c.path, dsl.FileKind(info.Mode()))
	}
	var data []byte
	if info.Size() < smallFile {
		// Size is 0 for /proc files, which still have content; a file that
		// grew since the stat grows the buffer.
		var buf bytes.Buffer
		buf.Grow(int(info.Size()) + bytes.MinRead)
		if _, err := buf.ReadFrom(io.LimitReader(fh, MaxContent+1)); err != nil {
			return false, false, err
		}
		data = buf.Bytes()
	} else {
		bp := bigBuffers.Get().(*[]byte)
		defer bigBuffers.Put(bp)
		n, err := io.ReadFull(fh, *bp)
		if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
			return false, false, err
		}
		data = (*bp)[:n]
	}
	if len(data) > MaxContent {
		data, truncated = data[:MaxContent], true
	}
	return c.matches(data), truncated, nil
}

// judge turns a finding into the run's result, listing every failure.
func (c *Checker) judge(f finding, start time.Time) checks.Result {
	if f.statErr != nil {
		if errors.Is(f.statErr, fs.ErrNotExist) || errors.Is(f.statErr, syscall.ENOTDIR) {
			res := checks.Result{Attrs: map[string]cty.Value{"exists": cty.False}}
			if c.wantExists {
				res.Status, res.Error = checks.StatusCritical, c.path+" does not exist"
			}
			return res
		}
		if errors.Is(f.statErr, syscall.ELOOP) && !c.follow {
			return checks.Result{Status: checks.StatusCritical, Attrs: map[string]cty.Value{"exists": cty.True},
				Error: c.path + " has a symbolic link in it, which follow_symlinks = false does not follow"}
		}
		return checks.Result{Status: checks.StatusCritical, Error: f.statErr.Error()}
	}

	age := start.Sub(f.info.ModTime())
	res := checks.Result{
		Metrics: map[string]float64{
			MetricAgeSeconds: age.Seconds(),
			MetricSizeBytes:  float64(f.info.Size()),
		},
		Attrs: map[string]cty.Value{
			"exists": cty.True,
			"mode":   cty.StringVal(octalMode(f.info.Mode())),
		},
	}
	var problems []string
	if !c.wantExists {
		problems = append(problems, c.path+" exists; it must be absent (exists = false)")
	}
	if c.maxAge > 0 && age > c.maxAge {
		problems = append(problems, fmt.Sprintf("%s was last modified %s ago, longer than max_age %s", c.path, age.Round(time.Second), c.maxAge))
	}
	if c.contains != nil {
		switch {
		case !f.info.Mode().IsRegular():
			problems = append(problems, fmt.Sprintf("%s is %s; contains needs a regular file", c.path, dsl.FileKind(f.info.Mode())))
		case f.readErr != nil:
			problems = append(problems, f.readErr.Error())
		case !f.matched:
			where := ""
			if f.truncated {
				where = " in its first 1 MiB"
			}
			problems = append(problems, fmt.Sprintf("%s does not match contains %q%s", c.path, c.contains.String(), where))
		}
	}
	if len(problems) > 0 {
		res.Status, res.Error = checks.StatusCritical, strings.Join(problems, "; ")
	}
	return res
}

// matches reports whether contains matches data. Go's regexp costs up to
// about 100 ns a byte for a pattern that does not start with a literal (such
// as "(?m)^server:"), so a literal that every match must hold is looked for
// first, at memchr speed: a file without it cannot match.
func (c *Checker) matches(data []byte) bool {
	if c.mustHave != nil && !bytes.Contains(data, c.mustHave) {
		return false
	}
	return c.contains.Match(data)
}

// requiredLiteral returns the longest literal that every match of the
// regular expression expr contains, or nil. It looks only where that is
// certain: concatenations, captures and repetitions of at least one.
func requiredLiteral(expr string) []byte {
	re, err := syntax.Parse(expr, syntax.Perl)
	if err != nil {
		return nil
	}
	var walk func(re *syntax.Regexp) string
	walk = func(re *syntax.Regexp) string {
		switch re.Op {
		case syntax.OpLiteral:
			lit := string(re.Rune)
			// Case folding has no single byte string; U+FFFD also matches
			// invalid UTF-8, which its encoding does not.
			if re.Flags&syntax.FoldCase != 0 || strings.ContainsRune(lit, utf8.RuneError) {
				return ""
			}
			return lit
		case syntax.OpCapture, syntax.OpPlus:
			return walk(re.Sub[0])
		case syntax.OpRepeat:
			if re.Min >= 1 {
				return walk(re.Sub[0])
			}
		case syntax.OpConcat:
			best := ""
			for _, sub := range re.Sub {
				if l := walk(sub); len(l) > len(best) {
					best = l
				}
			}
			return best
		}
		return ""
	}
	if lit := walk(re.Simplify()); lit != "" {
		return []byte(lit)
	}
	return nil
}

// octalMode renders permission bits as chmod takes them: "0644", "4755".
func octalMode(m fs.FileMode) string {
	bits := uint32(m.Perm())
	if m&fs.ModeSetuid != 0 {
		bits |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		bits |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		bits |= 0o1000
	}
	return fmt.Sprintf("%04o", bits)
}

func critical(msg string) checks.Result {
	return checks.Result{Status: checks.StatusCritical, Error: msg}
}

// ctxError says that the run ran out of time, or was canceled.
func ctxError(ctx context.Context, what string, start time.Time) string {
	return what + ": " + checks.Interrupted(ctx, start)
}

// openNoFollow opens path with no symbolic link in any of its components
// (openat2 with RESOLVE_NO_SYMLINKS, Linux 5.6 and later): a link is
// ELOOP.
func openNoFollow(path string, flags int) (*os.File, error) {
	fd, err := unix.Openat2(unix.AT_FDCWD, path, &unix.OpenHow{Flags: uint64(flags | unix.O_CLOEXEC), Resolve: unix.RESOLVE_NO_SYMLINKS})
	if err != nil {
		if errors.Is(err, unix.ENOSYS) {
			err = fmt.Errorf("follow_symlinks = false needs Linux 5.6 or later (openat2): %w", err)
		}
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	return os.NewFile(uintptr(fd), path), nil
}

// statNoFollow is os.Stat of a path that may hold no symbolic link: it
// opens the path itself (O_PATH: no read access needed, nothing opened that
// could block) and stats what it opened.
func statNoFollow(path string) (fs.FileInfo, error) {
	fh, err := openNoFollow(path, unix.O_PATH)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	return fh.Stat()
}
