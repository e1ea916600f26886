package engine

import (
	"errors"
	"fmt"
	"path"
	"slices"
	"sort"
	"strings"
	"time"
	_ "time/tzdata" // time zone names resolve in a container without /usr/share/zoneinfo

	"github.com/hashicorp/hcl/v2"
	"github.com/robfig/cron/v3"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"

	"github.com/satellite-hq/satellite/dsl"
)

// Maintenance is a declared maintenance window (docs/language.md): during
// it, the notification dispatcher holds the alerts of the checks it
// matches, on the nodes it runs on.
//
// Only the next occurrence is ever computed: Active and NextChange ask the
// schedule for the first start after a given time, a few times, and keep
// no list of occurrences.
type Maintenance struct {
	Name string
	// Schedule gives the starts, read in Location (cron/v3 semantics; ask
	// Active and NextChange, which correct what cron/v3 misses near changes
	// of offset). It is nil only when validating with unknown values
	// (--unknown-env); such a window is never active.
	Schedule cron.Schedule
	// Spec is the schedule as written.
	Spec string
	// Duration is how long each window lasts, more than 0 and at most 24h;
	// see Maintenance.End for the nights the clocks go back.
	Duration time.Duration
	// Location is the time zone the schedule is read in (default UTC).
	Location *time.Location
	// OnlyOn are the tags a node needs for the window to apply; nil applies
	// everywhere.
	OnlyOn map[string]string
	// Runs is true when only_on matches this node. Active and NextChange do
	// not look at it: a dispatcher asks Runs, Matches and Active.
	Runs bool
	// Checks are the glob patterns of the check addresses it holds (default
	// ["*"], every check); see Matches.
	Checks []string
	// DeclRange is the block's header.
	DeclRange hcl.Range
}

// MaxMaintenanceDuration is the longest window; a window may be exactly this
// long, so that `@daily` windows of 24h cover every instant.
const MaxMaintenanceDuration = 24 * time.Hour

// maxStretch bounds how much longer than its duration a window may last
// when the clocks go back during it (End): the largest change of a UTC
// offset in use is 2h (Antarctica/Troll). It also widens the search of
// Active, so it is kept small.
const maxStretch = 3 * time.Hour

// Matches reports whether a check address (TYPE.NAME, or TYPE.NAME["key"])
// matches one of the window's patterns; see matchAddress.
func (m *Maintenance) Matches(check string) bool {
	for _, p := range m.Checks {
		if matchAddress(p, check) {
			return true
		}
	}
	return false
}

// matchAddress matches a check address against a pattern in path.Match
// syntax over the whole address, except that "/" is an ordinary character:
// for_each keys are often paths, and "disk.*" must match
// disk.mount["/var/log"] as "*" must match every check. path.Match is given
// both with "/" replaced by a character no address holds (strconv.Quote
// escapes it in keys). A "/" that ends a range of a set ("[+-/]") would
// mean something else once replaced: such a pattern is matched as written.
func matchAddress(pattern, addr string) bool {
	const slash = "\x00"
	if !strings.Contains(pattern, "-/") && !strings.Contains(pattern, "/-") && !strings.Contains(pattern, "-\\/") {
		pattern, addr = strings.ReplaceAll(pattern, "/", slash), strings.ReplaceAll(addr, "/", slash)
	}
	ok, _ := path.Match(pattern, addr)
	return ok
}

// End returns when the window that starts at s ends: Duration later, and,
// if the clocks went back during it, later by as much as they went back,
// so that it ends when the wall clock shows the start plus Duration (02:00
// for 2h ends at 04:00 local time on the night the clocks go back too, three
// hours after it started). When the clocks go forward the window keeps its
// duration and ends later on the wall clock. Back-to-back windows (@daily,
// 24h) therefore cover every instant in any time zone: a 25-hour day's
// window lasts 25 hours, a 23-hour day's overlaps the next by one.
func (m *Maintenance) End(s time.Time) time.Time {
	e := s.Add(m.Duration)
	loc := m.zone()
	if loc == time.UTC {
		return e
	}
	_, before := s.In(loc).Zone()
	_, after := e.In(loc).Zone()
	if back := time.Duration(before-after) * time.Second; back > 0 && back <= maxStretch {
		e = e.Add(back)
	}
	return e
}

// zone is Location, UTC when unset.
func (m *Maintenance) zone() *time.Location {
	if m.Location == nil {
		return time.UTC
	}
	return m.Location
}

// maxSteps bounds the schedule's starts looked at by one Active or
// NextChange: starts are at least a minute apart (the schedule has no
// seconds), so a span of Duration+maxStretch holds fewer; the bound is
// twice that, a guard only.
func (m *Maintenance) maxSteps() int {
	return 2*int((m.Duration+maxStretch)/time.Minute) + 8
}

// next returns the schedule's first start strictly after t, or the zero
// time when there is none (cron/v3 looks five years ahead). A start that
// does not move forward is not trusted (it would loop): it reads as none.
//
// Near a change of the zone's offset cron/v3 can miss starts: when its hour
// loop steps from before a change by part of an hour it lands on :30 and
// moves on (Australia/Lord_Howe), and when it starts over from the top of
// an hour the clocks repeat, time.Date may give the repeat, skipping what
// comes before it (a change of two hours, Antarctica/Troll). Asked from the
// change, from the whole hour after it, and from every quarter hour of the
// repeated time before it, it finds them. So next asks again from those
// instants, for each change between t and the start found (and the one
// just before t); where cron/v3 reads a schedule right, as with changes of
// an hour, that finds the same start. Every start is then the same
// whatever t it is reached from, which Active's answers rely on.
func (m *Maintenance) next(t time.Time) time.Time {
	s := m.Schedule.Next(t)
	if s.IsZero() || !s.After(t) {
		return time.Time{}
	}
	loc := m.zone()
	if loc == time.UTC {
		return s
	}
	ask := func(from time.Time) {
		if r := m.Schedule.Next(from.Add(-time.Nanosecond)); !r.IsZero() && r.After(t) && r.Before(s) {
			s = r
		}
	}
	start, change := t.In(loc).ZoneBounds()
	if !start.IsZero() && t.Sub(start) < 2*time.Hour {
		change = start
	}
	for i := 0; i < 32 && !change.IsZero() && !change.After(s); i++ {
		l := change.In(loc)
		ask(change)
		ask(time.Date(l.Year(), l.Month(), l.Day(), l.Hour()+1, 0, 0, 0, loc))
		from := change.Add(-maxStretch)
		if from.Before(t) {
			from = t
		}
		for q := from.Truncate(15 * time.Minute).Add(15 * time.Minute); q.Before(change); q = q.Add(15 * time.Minute) {
			ask(q)
		}
		_, change = l.ZoneBounds()
	}
	return s
}

// Active reports whether now is within a window, and when that window ends
// (the latest end if windows overlap; the zero time when not active). A
// window is [start, End(start)): active at its start, no longer at its end.
//
// The windows that may hold now started after now-Duration-maxStretch (a
// window never lasts longer than that), and Next, strictly after its
// argument, returns the first of them: a start exactly Duration before now
// (and no stretch) is not returned, which is right, as its window ends at
// now. When the zone's offset does not change from there to now+Duration
// (UTC, and most of the year elsewhere), no window is stretched, so the
// latest start up to now decides alone: lastStart finds it in at most about
// 25 calls of Next. Otherwise every start up to now is looked at, each
// found giving the next.
func (m *Maintenance) Active(now time.Time) (bool, time.Time) {
	if m.Schedule == nil || m.Duration <= 0 {
		return false, time.Time{}
	}
	from := now.Add(-(m.Duration + maxStretch))
	if m.steady(from, now.Add(m.Duration)) {
		if s, ok := m.lastStart(from, now); ok {
			if e := m.End(s); e.After(now) {
				return true, e
			}
		}
		return false, time.Time{}
	}
	var end time.Time
	s := m.next(from)
	for i := m.maxSteps(); i > 0 && !s.IsZero() && !s.After(now); i-- {
		if e := m.End(s); e.After(now) && e.After(end) {
			end = e
		}
		s = m.next(s)
	}
	return !end.IsZero(), end
}

// steady reports whether the zone's UTC offset is the same from from to to.
func (m *Maintenance) steady(from, to time.Time) bool {
	_, end := from.In(m.zone()).ZoneBounds()
	return end.IsZero() || end.After(to)
}

// lastStart returns the latest start in (from, now]: the starts in turn,
// and when there are many (a start every few minutes), by bisection:
// Next(x) <= now holds for x up to just before the latest start, and not
// after it. Starts are whole seconds at least a minute apart, so once the
// interval is a second wide, Next of its low end is the start.
func (m *Maintenance) lastStart(from, now time.Time) (time.Time, bool) {
	lo := from // Next(lo) <= now
	s := m.next(lo)
	if s.IsZero() || s.After(now) {
		return time.Time{}, false
	}
	for range 8 {
		n := m.next(s)
		if n.IsZero() || n.After(now) {
			return s, true
		}
		lo, s = s, n
	}
	hi := now
	for hi.Sub(lo) > time.Second {
		mid := lo.Add(hi.Sub(lo) / 2)
		if n := m.next(mid); !n.IsZero() && !n.After(now) {
			lo = mid
		} else {
			hi = mid
		}
	}
	return m.next(lo), true
}

// NextChange returns the next instant after now at which Active's answer
// changes, for a single timer: the next start when no window is active;
// when one is, its end, or the start of an overlapping window that ends
// later (the end moves). At the end of a window that another one follows
// back to back, Active stays true with the next window's end. The zero time
// means never (no start in the next five years).
func (m *Maintenance) NextChange(now time.Time) time.Time {
	if m.Schedule == nil || m.Duration <= 0 {
		return time.Time{}
	}
	active, end := m.Active(now)
	if !active {
		return m.next(now)
	}
	s := m.next(now)
	for i := m.maxSteps(); i > 0 && !s.IsZero() && s.Before(end); i-- {
		if m.End(s).After(end) {
			return s
		}
		s = m.next(s)
	}
	return end
}

// maintenanceAttrs are the attributes of a maintenance block.
var maintenanceAttrs = []string{"schedule", "duration", "timezone", "only_on", "checks"}

var maintenanceSchema = &hcl.BodySchema{Attributes: attrSchema(maintenanceAttrs...)}

// cronParser reads standard 5-field cron expressions and descriptors.
var cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// cronDescriptors are the descriptors a schedule may be: cron/v3's
// @annually and @midnight aliases and its @every (a period with no fixed
// start) are not.
var cronDescriptors = []string{"@hourly", "@daily", "@weekly", "@monthly", "@yearly"}

const (
	scheduleHelp = `schedule must be a cron expression of 5 fields (minute hour day-of-month month day-of-week), such as "0 2 * * SUN", or one of @hourly, @daily, @weekly, @monthly, @yearly`
	durationHelp = `duration must be longer than 0s and at most 24h (a 24h window is allowed), written like "2h" or "90m"`
	timezoneHelp = `timezone must be an IANA time zone name, such as "Europe/Berlin" or "UTC" (the default)`
	patternHelp  = `patterns use path.Match syntax on check addresses (TYPE.NAME, TYPE.NAME["key"]): * matches any characters, ? one character, [abc] or [a-z] one of a set, \ escapes the next character`
)

// parseSchedule parses a schedule and reads it in loc.
func parseSchedule(spec string, loc *time.Location) (sched cron.Schedule, err error) {
	spec = strings.TrimSpace(spec)
	switch {
	case spec == "":
		return nil, errors.New("it is empty")
	case strings.HasPrefix(spec, "TZ=") || strings.HasPrefix(spec, "CRON_TZ="):
		// cron/v3 would read the zone itself (and panics on "TZ=x" alone).
		return nil, errors.New("the time zone is set with the timezone attribute, not in the schedule")
	case strings.HasPrefix(spec, "@") && !slices.Contains(cronDescriptors, spec):
		return nil, fmt.Errorf("%q is not one of the descriptors", spec)
	}
	defer func() {
		// A schedule is user input: whatever cron/v3 does with it must not
		// take the agent down.
		if r := recover(); r != nil {
			sched, err = nil, fmt.Errorf("it cannot be parsed (%v)", r)
		}
	}()
	s, err := cronParser.Parse(spec)
	if err != nil {
		return nil, err
	}
	ss, ok := s.(*cron.SpecSchedule)
	if !ok {
		return nil, errors.New("it is not a calendar schedule")
	}
	read := *ss
	read.Location = loc
	return &read, nil
}

// loadLocation resolves a timezone attribute.
func loadLocation(name string) (*time.Location, error) {
	if name == "" || name == "Local" {
		// "" would be UTC and "Local" the machine's zone: a window must mean
		// the same on every node, so the name is written out.
		return nil, fmt.Errorf("%q is not a time zone name", name)
	}
	return time.LoadLocation(name)
}

// compileMaintenance decodes every maintenance block. It runs after the
// checks, so that a pattern that matches no check is known.
func (c *compiler) compileMaintenance() {
	seen := map[string]hcl.Range{}
	for _, rb := range c.cfg.Maintenance {
		before := len(c.diags)
		m := c.compileWindow(rb)
		if prev, dup := seen[rb.Name]; dup {
			c.errf(rb.NameRange.Ptr(), "Duplicate maintenance window", "A maintenance %q was already declared at %s; each window needs its own name.", rb.Name, rangeString(prev))
			continue
		}
		seen[rb.Name] = rb.DefRange
		if !c.diags[before:].HasErrors() {
			c.plan.Maintenance = append(c.plan.Maintenance, m)
		}
	}
	sort.SliceStable(c.plan.Maintenance, func(i, j int) bool { return c.plan.Maintenance[i].Name < c.plan.Maintenance[j].Name })
}

func (c *compiler) compileWindow(rb *dsl.RawBlock) *Maintenance {
	m := &Maintenance{Name: rb.Name, Location: time.UTC, Checks: []string{"*"}, Runs: true, DeclRange: rb.DefRange}
	content, diags := rb.Body.Content(maintenanceSchema)
	for _, d := range diags {
		if strings.HasPrefix(d.Summary, "Unsupported") {
			d.Detail += " A maintenance block takes schedule, duration, timezone, only_on and checks."
		}
	}
	c.diags = append(c.diags, diags...)
	ctx := c.cfg.EvalContext(rb.BaseDir)
	attrs := content.Attributes

	// timezone first: the schedule is read in it.
	zoneKnown := true
	if a, ok := attrs["timezone"]; ok {
		if v, ok := c.windowString(a, a.Expr, ctx); !ok {
			zoneKnown = false
		} else if v != nil {
			loc, err := loadLocation(*v)
			if err != nil {
				c.errf(a.Expr.Range().Ptr(), "Invalid timezone", "%s: %s.", timezoneHelp, err)
				zoneKnown = false
			} else {
				m.Location = loc
			}
		}
	}

	if a, ok := attrs["schedule"]; !ok {
		c.errf(rb.DefRange.Ptr(), "Missing schedule", "A maintenance block needs schedule: %s.", strings.TrimPrefix(scheduleHelp, "schedule must be "))
	} else if v, ok := c.windowString(a, a.Expr, ctx); ok {
		if v == nil {
			c.errf(a.Expr.Range().Ptr(), "Invalid schedule", "%s, not null.", scheduleHelp)
		} else {
			m.Spec = *v
			sched, err := parseSchedule(*v, m.Location)
			switch {
			case err != nil:
				c.errf(a.Expr.Range().Ptr(), "Invalid schedule", "%s: %s.", scheduleHelp, err)
			case sched.Next(time.Now()).IsZero():
				c.errf(a.Expr.Range().Ptr(), "Schedule never starts", "%q never starts: no date in the next five years matches it (as with the 30th of February); %s.", *v, scheduleHelp)
			case zoneKnown:
				m.Schedule = sched
			}
		}
	}

	if a, ok := attrs["duration"]; !ok {
		c.errf(rb.DefRange.Ptr(), "Missing duration", "A maintenance block needs duration: %s.", strings.TrimPrefix(durationHelp, "duration must be "))
	} else if v, ok := c.windowValue(a.Expr, ctx); ok {
		d, err := dsl.DurationValue(v)
		switch {
		case v.IsNull():
			c.errf(a.Expr.Range().Ptr(), "Invalid duration", "%s, not null.", durationHelp)
		case err != nil:
			c.errf(a.Expr.Range().Ptr(), "Invalid duration", "%s: %s.", durationHelp, err)
		case d <= 0 || d > MaxMaintenanceDuration:
			c.errf(a.Expr.Range().Ptr(), "Invalid duration", "%s, not %s.", durationHelp, d)
		default:
			m.Duration = d
		}
	}

	if a, ok := attrs["only_on"]; ok {
		if tags, ok := c.eval(a, ctx).StringMap(); ok {
			m.OnlyOn = tags
			if len(tags) == 0 {
				c.warnf(a.Expr.Range().Ptr(), "Empty only_on", "only_on = {} matches every node; remove it, or list the tags a node needs.")
			}
		}
	}
	m.Runs = matches(m.OnlyOn, c.cfg.Node.Tags)

	if a, ok := attrs["checks"]; ok {
		m.Checks = c.windowPatterns(a, ctx)
	}
	return m
}

// windowValue evaluates an attribute's expression; ok is false when it
// failed (reported) or is not known yet (validate --unknown-env).
func (c *compiler) windowValue(expr hcl.Expression, ctx *hcl.EvalContext) (cty.Value, bool) {
	v, diags := expr.Value(ctx)
	c.diags = append(c.diags, diags...)
	if diags.HasErrors() || !v.IsWhollyKnown() {
		return cty.NilVal, false
	}
	v, _ = v.UnmarkDeep()
	return v, true
}

// windowString evaluates expr (the attribute a, or an element of it) as a
// string; nil for null.
func (c *compiler) windowString(a *hcl.Attribute, expr hcl.Expression, ctx *hcl.EvalContext) (*string, bool) {
	v, ok := c.windowValue(expr, ctx)
	if !ok {
		return nil, false
	}
	if v.IsNull() {
		return nil, true
	}
	s, err := convert.Convert(v, cty.String)
	if err != nil {
		c.errf(expr.Range().Ptr(), "Incorrect attribute value type", "Inappropriate value for attribute %q: a string is required, not %s.", a.Name, v.Type().FriendlyName())
		return nil, false
	}
	str := s.AsString()
	return &str, true
}

// windowPatterns reads checks: each pattern must be valid, and should
// match a declared check (whatever its only_on). Errors and warnings point
// at the element when the list is written out, else at the attribute.
func (c *compiler) windowPatterns(a *hcl.Attribute, ctx *hcl.EvalContext) []string {
	type pattern struct {
		p   string
		rng hcl.Range
	}
	var pats []pattern
	known := true
	if exprs, diags := hcl.ExprList(a.Expr); !diags.HasErrors() {
		for _, e := range exprs {
			v, ok := c.windowString(a, e, ctx)
			switch {
			case !ok:
				known = false
			case v == nil:
				c.errf(e.Range().Ptr(), "Invalid pattern", "checks must not contain null: %s.", patternHelp)
			default:
				pats = append(pats, pattern{*v, e.Range()})
			}
		}
	} else if list, ok := c.eval(a, ctx).StringList(); ok {
		for _, p := range list {
			pats = append(pats, pattern{p, a.Expr.Range()})
		}
	} else {
		known = false
	}
	if known && len(pats) == 0 {
		c.warnf(a.Expr.Range().Ptr(), "Empty checks", "checks = [] matches no check, so the window holds nothing; remove checks for every check, or list patterns.")
	}
	// Under --unknown-env a for_each may have unknown keys: a pattern may
	// match instances not known yet, so it is not judged.
	judge := len(c.forEachUnknown) == 0
	var addrs, types []string
	for _, ch := range c.plan.Checks {
		addrs = append(addrs, ch.Address)
		if !slices.Contains(types, ch.Type) {
			types = append(types, ch.Type)
		}
	}
	out := make([]string, 0, len(pats))
	for _, p := range pats {
		if _, err := path.Match(p.p, ""); err != nil {
			c.errf(p.rng.Ptr(), "Invalid pattern", "%q is not a valid pattern (%s): %s.", p.p, err, patternHelp)
			continue
		}
		out = append(out, p.p)
		if !judge {
			continue
		}
		if !slices.ContainsFunc(addrs, func(a string) bool { return matchAddress(p.p, a) }) {
			typ, _, _ := strings.Cut(p.p, ".")
			var hint string
			switch {
			case strings.Contains(p.p, "["):
				hint = ` In a pattern, [ starts a set of characters: to match one instance, escape the brackets (in HCL, "http.api\\[\"a\"\\]" matches http.api["a"]), or write "http.api*" for every instance.`
			case !strings.ContainsAny(typ, "*?\\") && !slices.Contains(types, typ):
				hint = didYouMean(typ, types)
			default:
				hint = didYouMean(p.p, addrs)
			}
			c.warnf(p.rng.Ptr(), "Pattern matches no check", "%q matches no declared check, so it holds nothing.%s", p.p, hint)
		}
	}
	return out
}
