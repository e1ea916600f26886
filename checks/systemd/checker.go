package systemdcheck

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os/exec"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/satellite-hq/satellite/checks"
	"github.com/zclconf/go-cty/cty"
)

// unit is what a source reports of one unit.
type unit struct {
	// Name is the name the check asked for, or the unit's name in a listing
	// of failed units.
	Name string
	// ID is systemd's primary name of the unit; it differs from Name when
	// Name is an alias (sshd.service for ssh.service).
	ID          string
	LoadState   string // loaded, not-found, masked, bad-setting, error
	ActiveState string // active, reloading, inactive, failed, activating, deactivating
	SubState    string // running, dead, auto-restart, ...
	Result      string // success, exit-code, signal, timeout, ...; "" when unknown
}

// source is one way to ask systemd: the D-Bus system bus or systemctl.
type source interface {
	// named returns the state of each of names, in the same order.
	named(ctx context.Context, names []string) ([]unit, error)
	// failed returns the units whose ActiveState is "failed".
	failed(ctx context.Context) ([]unit, error)
	// String names the source in messages.
	String() string
}

// Errors that mark a source as absent rather than failing.
var (
	errNoBus       = errors.New("no D-Bus system bus")
	errNoSystemctl = errors.New("no systemctl")
)

// Checker asks systemd once per run, over D-Bus or else through systemctl.
// It is safe for concurrent use.
type Checker struct {
	units  []string // exact names; empty: look for failed units
	ignore []string // patterns of failed units to leave out

	bus source // tried first
	ctl source // when bus fails for any reason but the run's deadline
}

func newChecker(units, ignore []string) *Checker {
	return &Checker{
		units:  units,
		ignore: ignore,
		bus:    newDBusSource(DefaultBusSocket),
		ctl:    systemctlSource{program: DefaultSystemctl},
	}
}

// Check asks systemd for the units' states and judges them.
func (c *Checker) Check(ctx context.Context) checks.Result {
	start := time.Now()
	states, via, err := c.query(ctx, start)
	if err != nil {
		return checks.Result{Status: checks.StatusCritical, Error: err.Error()}
	}
	var res checks.Result
	if len(c.units) > 0 {
		res = judgeNamed(states)
	} else {
		res = judgeFailed(filterIgnored(states, c.ignore))
	}
	res.Detail = detail(states, via)
	return res
}

// query asks the bus, then systemctl. The error says why neither answered.
func (c *Checker) query(ctx context.Context, start time.Time) ([]unit, source, error) {
	ask := func(s source) ([]unit, error) {
		if len(c.units) > 0 {
			return s.named(ctx, c.units)
		}
		return s.failed(ctx)
	}
	states, err := ask(c.bus)
	if err == nil {
		return states, c.bus, nil
	}
	if cerr := ctxError(ctx, start, c.bus); cerr != nil && !errors.Is(err, errNoBus) {
		return nil, nil, cerr
	}
	busErr := err
	states, err = ask(c.ctl)
	if err == nil {
		return states, c.ctl, nil
	}
	if cerr := ctxError(ctx, start, c.ctl); cerr != nil {
		return nil, nil, cerr
	}
	if errors.Is(err, errNoSystemctl) && errors.Is(busErr, errNoBus) {
		return nil, nil, fmt.Errorf("systemd: %v and %w", busErr, err)
	}
	return nil, nil, fmt.Errorf("systemd: %v; %w", busErr, err)
}

// ctxError returns the error of a run cut short by its deadline or a
// cancel, or nil while ctx is live.
func ctxError(ctx context.Context, start time.Time, s source) error {
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		if dl, ok := ctx.Deadline(); ok {
			// Rounded to 10ms: the deadline was set a moment before start.
			return fmt.Errorf("systemd: timed out after %s waiting for %s", max(dl.Sub(start), 0).Round(10*time.Millisecond), s)
		}
		return fmt.Errorf("systemd: timed out waiting for %s", s)
	case ctx.Err() != nil:
		return fmt.Errorf("systemd: canceled while waiting for %s", s)
	}
	return nil
}

// judgeNamed passes when every named unit is active; activating or
// reloading is a warning, anything else critical.
func judgeNamed(states []unit) checks.Result {
	status := checks.StatusPassing
	var problems, failed []string
	active := make(map[string]cty.Value, len(states))
	for _, u := range states {
		active[u.Name] = cty.StringVal(u.ActiveState)
		switch u.ActiveState {
		case "active":
			continue
		case "activating", "reloading":
			status = checks.Worse(status, checks.StatusWarning)
		default:
			status = checks.StatusCritical
			failed = append(failed, u.Name)
		}
		problems = append(problems, describe(u))
	}
	res := checks.Result{
		Metrics: map[string]float64{MetricFailedUnits: float64(len(failed))},
		Attrs:   attrs(failed, active),
	}
	if status != checks.StatusPassing {
		res.Status = status
		res.Error = strings.Join(problems, "; ")
	}
	return res
}

// maxListed is how many failed units an error message names.
const maxListed = 10

// judgeFailed passes when no unit is failed.
func judgeFailed(failedUnits []unit) checks.Result {
	var failed []string
	states := make(map[string]cty.Value, len(failedUnits))
	for _, u := range failedUnits {
		failed = append(failed, u.Name)
		states[u.Name] = cty.StringVal(u.ActiveState)
	}
	slices.Sort(failed)
	failed = slices.Compact(failed)
	res := checks.Result{
		Metrics: map[string]float64{MetricFailedUnits: float64(len(failed))},
		Attrs:   attrs(failed, states),
	}
	if len(failed) > 0 {
		names := failed
		more := ""
		if len(names) > maxListed {
			names, more = names[:maxListed], fmt.Sprintf(" and %d more", len(failed)-maxListed)
		}
		res.Status = checks.StatusCritical
		res.Error = fmt.Sprintf("%s failed: %s%s", plural(len(failed), "unit"), strings.Join(names, ", "), more)
	}
	return res
}

func attrs(failed []string, states map[string]cty.Value) map[string]cty.Value {
	out := map[string]cty.Value{
		"failed": cty.ListValEmpty(cty.String),
		"states": cty.MapValEmpty(cty.String),
	}
	if len(failed) > 0 {
		vals := make([]cty.Value, len(failed))
		for i, f := range failed {
			vals[i] = cty.StringVal(f)
		}
		out["failed"] = cty.ListVal(vals)
	}
	if len(states) > 0 {
		out["states"] = cty.MapVal(states)
	}
	return out
}

// filterIgnored leaves out the failed units that match an ignore pattern.
func filterIgnored(states []unit, ignore []string) []unit {
	if len(ignore) == 0 {
		return states
	}
	out := states[:0:0]
	for _, u := range states {
		// Names may hold a backslash (\x2d), which path.Match takes as an
		// escape: an exact name matches as it is.
		if !slices.ContainsFunc(ignore, func(p string) bool { ok, _ := path.Match(p, u.Name); return ok || p == u.Name }) {
			out = append(out, u)
		}
	}
	return out
}

// describe says what is wrong with a unit that is not active:
// "kubelet.service is failed (Result=exit-code)".
func describe(u unit) string {
	var notes []string
	if u.LoadState != "" && u.LoadState != "loaded" {
		notes = append(notes, "LoadState="+u.LoadState)
	}
	switch u.ActiveState {
	case "activating", "reloading", "deactivating":
		if u.SubState != "" {
			notes = append(notes, "SubState="+u.SubState)
		}
	}
	if u.Result != "" && u.Result != "success" {
		notes = append(notes, "Result="+u.Result)
	}
	if u.ID != "" && u.ID != u.Name {
		notes = append(notes, "Id="+u.ID)
	}
	state := u.ActiveState
	if state == "" {
		state = "in an unknown state"
	}
	s := u.Name + " is " + state
	if len(notes) > 0 {
		s += " (" + strings.Join(notes, ", ") + ")"
	}
	return s
}

// maxDetail is how many units detail lists.
const maxDetail = 50

// detail lists the units as systemctl list-units would, and the source.
func detail(states []unit, via source) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "via %s", via)
	for i, u := range states {
		if i == maxDetail {
			fmt.Fprintf(&sb, "\n... and %d more", len(states)-maxDetail)
			break
		}
		fmt.Fprintf(&sb, "\n%s %s %s %s", u.Name, u.LoadState, u.ActiveState, u.SubState)
		if u.Result != "" {
			fmt.Fprintf(&sb, " Result=%s", u.Result)
		}
	}
	return sb.String()
}

// notInstalled reports whether starting a program failed because it does
// not exist.
func notInstalled(err error) bool {
	return errors.Is(err, exec.ErrNotFound) || errors.Is(err, fs.ErrNotExist)
}

// Close closes the D-Bus connection the checker keeps between runs. The
// engine does not call it yet; until it does, the connection closes itself
// after five minutes without a run.
func (c *Checker) Close() error {
	if cl, ok := c.bus.(io.Closer); ok {
		return cl.Close()
	}
	return nil
}
