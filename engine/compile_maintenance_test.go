package engine_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/satellite-hq/satellite/dsl"
	"github.com/satellite-hq/satellite/engine"
)

// windowOpts are load options for maintenance tests: env holds the
// environment (SATELLITE_VAR_* sets variables), tags the node's tags.
type windowOpts struct {
	env        map[string]string
	tags       map[string]string
	unknownEnv bool
}

// compileWindows compiles src (a check is added so that patterns have
// something to match) and returns the plan and every diagnostic.
func compileWindows(src string, o windowOpts) (*engine.Plan, *dsl.Config, hcl.Diagnostics) {
	src = "check \"disk\" \"root\" {\n  path = \"/\"\n}\n" + src
	opts := dsl.Options{
		LookupEnv:  func(k string) (string, bool) { v, ok := o.env[k]; return v, ok },
		Hostname:   func() (string, error) { return "test-host", nil },
		NodeTags:   o.tags,
		UnknownEnv: o.unknownEnv,
	}
	cfg, diags := dsl.LoadSource("maintenance.hcl", []byte(src), opts)
	if cfg == nil || len(cfg.Files) == 0 || diags.HasErrors() {
		return nil, cfg, diags
	}
	plan, more := engine.Compile(cfg)
	return plan, cfg, append(diags, more...)
}

func diagText(diags hcl.Diagnostics, cfg *dsl.Config) string {
	var files map[string]*hcl.File
	if cfg != nil {
		files = cfg.Files
	}
	var sb strings.Builder
	_ = dsl.WriteDiagnostics(&sb, diags, files, false, nil)
	return sb.String()
}

// window compiles one maintenance block (the body of maintenance "w") and
// returns it; the compile must be clean of errors.
func window(t *testing.T, body string) *engine.Maintenance {
	t.Helper()
	plan, cfg, diags := compileWindows("maintenance \"w\" {\n"+body+"\n}\n", windowOpts{})
	if diags.HasErrors() || plan == nil {
		t.Fatalf("maintenance does not compile:\n%s", diagText(diags, cfg))
	}
	if len(plan.Maintenance) != 1 {
		t.Fatalf("plan has %d windows, want 1", len(plan.Maintenance))
	}
	return plan.Maintenance[0]
}

func utc(y int, mo time.Month, d, h, mi int) time.Time {
	return time.Date(y, mo, d, h, mi, 0, 0, time.UTC)
}

func mustZone(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// expectActive asserts Active(now) and NextChange(now).
func expectActive(t *testing.T, m *engine.Maintenance, now time.Time, active bool, end, change time.Time) {
	t.Helper()
	gotActive, gotEnd := m.Active(now)
	if gotActive != active || !gotEnd.Equal(end) {
		t.Errorf("Active(%s) = %v, %s; want %v, %s", now.UTC(), gotActive, gotEnd.UTC(), active, end.UTC())
	}
	if got := m.NextChange(now); !got.Equal(change) {
		t.Errorf("NextChange(%s) = %s; want %s", now.UTC(), got.UTC(), change.UTC())
	}
}

// checkChanges asserts what NextChange promises, from each of the instants:
// it is after now, Active's answer is the same just before it and
// different at it.
func checkChanges(t *testing.T, m *engine.Maintenance, instants []time.Time) {
	t.Helper()
	for _, now := range instants {
		a, e := m.Active(now)
		if a && !e.After(now) {
			t.Fatalf("Active(%s) ends at %s, not after now", now.UTC(), e.UTC())
		}
		nc := m.NextChange(now)
		if nc.IsZero() {
			t.Fatalf("NextChange(%s) is zero for a schedule that keeps starting", now.UTC())
		}
		if !nc.After(now) {
			t.Fatalf("NextChange(%s) = %s, not after now", now.UTC(), nc.UTC())
		}
		if a2, e2 := m.Active(nc.Add(-time.Nanosecond)); a2 != a || !e2.Equal(e) {
			t.Fatalf("from %s: the answer changed before NextChange %s: (%v, %s) then (%v, %s)", now.UTC(), nc.UTC(), a, e.UTC(), a2, e2.UTC())
		}
		if a3, e3 := m.Active(nc); a3 == a && e3.Equal(e) {
			t.Fatalf("from %s: the answer did not change at NextChange %s: (%v, %s)", now.UTC(), nc.UTC(), a, e.UTC())
		}
	}
}

// sweep is the step of a sweep of instants: longer under the race
// detector, which only slows these single-goroutine computations down.
func sweep(step time.Duration) time.Duration {
	return step * time.Duration(raceSlowdown/3+1)
}

func TestMaintenanceBoundaries(t *testing.T) {
	m := window(t, `schedule = "0 2 * * *"
duration = "2h"`)
	start, end := utc(2025, 6, 10, 2, 0), utc(2025, 6, 10, 4, 0)
	next := utc(2025, 6, 11, 2, 0)
	ns := time.Nanosecond
	expectActive(t, m, start.Add(-ns), false, time.Time{}, start)
	expectActive(t, m, start.Add(-time.Minute), false, time.Time{}, start)
	// A window starting exactly now is active.
	expectActive(t, m, start, true, end, end)
	expectActive(t, m, start.Add(ns), true, end, end)
	expectActive(t, m, start.Add(30*time.Second), true, end, end)
	expectActive(t, m, end.Add(-ns), true, end, end)
	// A window ending exactly now is not.
	expectActive(t, m, end, false, time.Time{}, next)
	expectActive(t, m, end.Add(ns), false, time.Time{}, next)
	// The answer does not depend on the location now is given in.
	tokyo := mustZone(t, "Asia/Tokyo")
	expectActive(t, m, start.In(tokyo), true, end, end)
	expectActive(t, m, end.In(tokyo), false, time.Time{}, next)

	var instants []time.Time
	for now := utc(2025, 6, 9, 0, 0); now.Before(utc(2025, 6, 12, 0, 0)); now = now.Add(7*time.Minute + 13*time.Second) {
		instants = append(instants, now)
	}
	checkChanges(t, m, instants)
}

func TestMaintenanceSubMinuteDuration(t *testing.T) {
	m := window(t, `schedule = "*/5 * * * *"
duration = "90s"`)
	s := utc(2025, 1, 1, 12, 5)
	expectActive(t, m, s, true, s.Add(90*time.Second), s.Add(90*time.Second))
	expectActive(t, m, s.Add(90*time.Second), false, time.Time{}, s.Add(5*time.Minute))
}

// @daily for 24h: back to back, so active at every instant, in UTC and in
// zones whose days are 23 or 25 hours long (26 and 22 in Antarctica/Troll,
// 24.5 and 23.5 in Australia/Lord_Howe, where cron/v3 alone would miss the
// start after the change).
func TestMaintenanceBackToBack24h(t *testing.T) {
	for _, zone := range []string{"UTC", "Europe/Berlin", "America/New_York", "Australia/Sydney", "Antarctica/Troll", "Australia/Lord_Howe"} {
		t.Run(zone, func(t *testing.T) {
			m := window(t, fmt.Sprintf(`schedule = "@daily"
duration = "24h"
timezone = %q`, zone))
			loc := mustZone(t, zone)
			var instants []time.Time
			from, to := utc(2025, 1, 1, 0, 0), utc(2026, 1, 1, 0, 0)
			step := sweep(4*time.Hour + 13*time.Minute)
			if testing.Short() {
				step = 12 * time.Hour
			}
			for now := from; now.Before(to); now = now.Add(step) {
				instants = append(instants, now)
			}
			// Every midnight of the zone, and the instants around it.
			for now := m.NextChange(from); now.After(from) && now.Before(to); now = m.NextChange(now) {
				instants = append(instants, now.Add(-time.Nanosecond), now, now.Add(time.Nanosecond))
				if l := now.In(loc); l.Hour() != 0 || l.Minute() != 0 {
					t.Errorf("the answer changes at %s, not a midnight", l)
				}
			}
			for _, now := range instants {
				if active, end := m.Active(now); !active {
					t.Fatalf("not active at %s (%s)", now.UTC(), now.In(loc))
				} else if end.Sub(now) > 26*time.Hour {
					t.Fatalf("at %s the window ends at %s, over 26h later", now.UTC(), end.UTC())
				}
			}
			var some []time.Time
			for i := 0; i < len(instants); i += 3 {
				some = append(some, instants[i])
			}
			checkChanges(t, m, some)
		})
	}
}

// Around every change of offset of 2025, in zones with changes of an hour,
// half an hour, two hours, or at midnight: the answers agree with each
// other whatever instant they are asked at (NextChange's promise).
func TestMaintenanceConsistentAcrossChanges(t *testing.T) {
	schedules := []string{"30 2 * * *", "0 2 * * SUN", "@daily", "*/20 * * * *", "0 0 1 * *"}
	for _, zone := range []string{"Europe/Berlin", "Australia/Lord_Howe", "Antarctica/Troll", "America/Santiago", "Africa/Cairo", "Pacific/Chatham"} {
		t.Run(zone, func(t *testing.T) {
			loc := mustZone(t, zone)
			var changes []time.Time
			for _, c := utc(2025, 1, 1, 0, 0).In(loc).ZoneBounds(); !c.IsZero() && c.Year() == 2025; _, c = c.In(loc).ZoneBounds() {
				changes = append(changes, c)
			}
			if len(changes) != 2 {
				t.Fatalf("%d changes of offset in 2025", len(changes))
			}
			for _, sched := range schedules {
				for _, d := range []string{"30m", "24h"} {
					m := window(t, fmt.Sprintf("schedule = %q\nduration = %q\ntimezone = %q", sched, d, zone))
					var instants []time.Time
					for _, c := range changes {
						for now := c.Add(-20 * time.Hour); now.Before(c.Add(20 * time.Hour)); now = now.Add(sweep(53*time.Minute + 31*time.Second)) {
							instants = append(instants, now)
						}
					}
					checkChanges(t, m, instants)
				}
			}
		})
	}
}

// A start at a wall-clock time that does not exist is skipped (cron/v3):
// zones that change their clocks at midnight lose @daily's start that day,
// and a 24h @daily window then leaves the rest of that day uncovered. These
// are cron/v3's answers, pinned here so that a change of them is noticed
// (docs/language.md describes them).
func TestMaintenanceSkippedStarts(t *testing.T) {
	for _, c := range []struct {
		zone       string
		gap, until time.Time // the gap: from the end of a window to the next start
	}{
		// 2025-09-07 00:00 -04 → 01:00 -03: no midnight.
		{"America/Santiago", utc(2025, 9, 7, 4, 0), utc(2025, 9, 8, 3, 0)},
		// 2025-04-25 00:00 EET → 01:00 EEST: no midnight.
		{"Africa/Cairo", utc(2025, 4, 24, 22, 0), utc(2025, 4, 25, 21, 0)},
	} {
		t.Run(c.zone, func(t *testing.T) {
			m := window(t, fmt.Sprintf("schedule = \"@daily\"\nduration = \"24h\"\ntimezone = %q", c.zone))
			expectActive(t, m, c.gap.Add(-time.Nanosecond), true, c.gap, c.gap)
			expectActive(t, m, c.gap, false, time.Time{}, c.until)
			expectActive(t, m, c.until, true, c.until.Add(24*time.Hour), c.until.Add(24*time.Hour))
			var instants []time.Time
			for now := c.gap.Add(-36 * time.Hour); now.Before(c.until.Add(36 * time.Hour)); now = now.Add(sweep(11*time.Minute + 3*time.Second)) {
				instants = append(instants, now)
			}
			checkChanges(t, m, instants)

			// A start that always exists leaves no gap (the advice of
			// docs/language.md).
			at3 := window(t, fmt.Sprintf("schedule = \"0 3 * * *\"\nduration = \"24h\"\ntimezone = %q", c.zone))
			for now := c.gap.Add(-36 * time.Hour); now.Before(c.until.Add(36 * time.Hour)); now = now.Add(sweep(7*time.Minute + 7*time.Second)) {
				if active, _ := at3.Active(now); !active {
					t.Fatalf("0 3 * * * for 24h: not active at %s", now.UTC())
				}
			}
		})
	}
}

// A weekly window read in a zone other than the machine's or UTC.
func TestMaintenanceWeeklyInZone(t *testing.T) {
	m := window(t, `schedule = "0 2 * * SUN"
duration = "3h"
timezone = "America/New_York"`)
	// 2025-06-15 is a Sunday; New York is UTC-4 (EDT) in June, UTC-5 (EST) in January.
	summer := utc(2025, 6, 15, 6, 0)
	expectActive(t, m, summer.Add(-time.Second), false, time.Time{}, summer)
	expectActive(t, m, summer, true, summer.Add(3*time.Hour), summer.Add(3*time.Hour))
	expectActive(t, m, summer.Add(3*time.Hour), false, time.Time{}, summer.Add(7*24*time.Hour))
	winter := utc(2025, 1, 19, 7, 0)
	expectActive(t, m, winter.Add(-time.Hour), false, time.Time{}, winter)
	expectActive(t, m, winter.Add(2*time.Hour), true, winter.Add(3*time.Hour), winter.Add(3*time.Hour))
	// Monday: nothing all day.
	if active, _ := m.Active(utc(2025, 6, 16, 7, 0)); active {
		t.Error("active on a Monday")
	}
	if m.Location.String() != "America/New_York" || m.Spec != "0 2 * * SUN" || m.Duration != 3*time.Hour {
		t.Errorf("window compiled as %s %q %s", m.Location, m.Spec, m.Duration)
	}
}

// The nights the clocks change in Europe/Berlin (2025-03-30 02:00 CET →
// 03:00 CEST; 2025-10-26 03:00 CEST → 02:00 CET), with cron/v3's reading
// of the schedule.
func TestMaintenanceDST(t *testing.T) {
	berlin := mustZone(t, "Europe/Berlin")
	at := func(y int, mo time.Month, d, h, mi int) time.Time { return time.Date(y, mo, d, h, mi, 0, 0, berlin) }

	t.Run("spring forward skips a start in the missing hour", func(t *testing.T) {
		m := window(t, `schedule = "30 2 * * *"
duration = "1h"
timezone = "Europe/Berlin"`)
		// 02:30 does not exist on 2025-03-30: no window that day.
		sat := at(2025, 3, 29, 2, 30)
		expectActive(t, m, sat, true, sat.Add(time.Hour), sat.Add(time.Hour))
		for _, now := range []time.Time{utc(2025, 3, 30, 0, 59), utc(2025, 3, 30, 1, 0), utc(2025, 3, 30, 1, 30), utc(2025, 3, 30, 2, 0)} {
			expectActive(t, m, now, false, time.Time{}, at(2025, 3, 31, 2, 30))
		}
		// The example's weekly window is skipped that Sunday too.
		w := window(t, `schedule = "0 2 * * SUN"
duration = "2h"
timezone = "Europe/Berlin"`)
		expectActive(t, w, utc(2025, 3, 30, 1, 0), false, time.Time{}, at(2025, 4, 6, 2, 0))
	})

	t.Run("spring forward keeps the duration", func(t *testing.T) {
		m := window(t, `schedule = "0 1 * * *"
duration = "2h"
timezone = "Europe/Berlin"`)
		// 01:00 CET + 2h = 04:00 CEST.
		s := at(2025, 3, 30, 1, 0)
		expectActive(t, m, s, true, s.Add(2*time.Hour), s.Add(2*time.Hour))
		if end := at(2025, 3, 30, 4, 0); !s.Add(2 * time.Hour).Equal(end) {
			t.Fatalf("test's arithmetic: %s", end)
		}
	})

	t.Run("fall back: the repeated hour starts twice, one window to the wall-clock end", func(t *testing.T) {
		m := window(t, `schedule = "30 2 * * *"
duration = "2h"
timezone = "Europe/Berlin"`)
		first, second := utc(2025, 10, 26, 0, 30), utc(2025, 10, 26, 1, 30) // 02:30 CEST, 02:30 CET
		end := at(2025, 10, 26, 4, 30)                                      // CET: 03:30 UTC
		if !end.Equal(utc(2025, 10, 26, 3, 30)) {
			t.Fatalf("test's arithmetic: %s", end.UTC())
		}
		expectActive(t, m, first.Add(-time.Nanosecond), false, time.Time{}, first)
		expectActive(t, m, first, true, end, end)
		expectActive(t, m, second, true, end, end)
		expectActive(t, m, end.Add(-time.Nanosecond), true, end, end)
		expectActive(t, m, end, false, time.Time{}, at(2025, 10, 27, 2, 30))
		if got := m.End(first); !got.Equal(end) {
			t.Errorf("End(02:30 CEST) = %s, want %s", got.UTC(), end.UTC())
		}

		// The example's weekly window, 02:00 for 2h, ends at 04:00 local time.
		w := window(t, `schedule = "0 2 * * SUN"
duration = "2h"
timezone = "Europe/Berlin"`)
		s, e := utc(2025, 10, 26, 0, 0), at(2025, 10, 26, 4, 0)
		expectActive(t, w, s, true, e, e)
		expectActive(t, w, utc(2025, 10, 26, 2, 30), true, e, e)
		expectActive(t, w, e, false, time.Time{}, at(2025, 11, 2, 2, 0))
	})

	t.Run("fall back: a short window in the repeated hour", func(t *testing.T) {
		m := window(t, `schedule = "0 2 * * *"
duration = "30m"
timezone = "Europe/Berlin"`)
		// 02:00 CEST for 30m ends at 02:30 CEST (the wall clock's first
		// 02:30); 02:00 CET starts again an hour after it started.
		first, second := utc(2025, 10, 26, 0, 0), utc(2025, 10, 26, 1, 0)
		expectActive(t, m, first, true, first.Add(30*time.Minute), first.Add(30*time.Minute))
		expectActive(t, m, first.Add(30*time.Minute), false, time.Time{}, second)
		expectActive(t, m, second, true, second.Add(30*time.Minute), second.Add(30*time.Minute))
	})

	t.Run("both nights, nothing loops", func(t *testing.T) {
		for _, sched := range []string{"30 2 * * *", "0 2 * * SUN", "*/7 1-3 * * *", "@hourly", "0 0 * * *", "59 23 * * *"} {
			for _, d := range []string{"1m", "2h", "24h"} {
				m := window(t, fmt.Sprintf("schedule = %q\nduration = %q\ntimezone = \"Europe/Berlin\"", sched, d))
				var instants []time.Time
				for _, day := range []time.Time{utc(2025, 3, 29, 22, 0), utc(2025, 10, 25, 22, 0)} {
					// Every 4m17s: in steps of whole seconds too, and checkChanges
					// probes each change itself, to the nanosecond.
					for now := day; now.Before(day.Add(8 * time.Hour)); now = now.Add(sweep(4*time.Minute + 17*time.Second)) {
						instants = append(instants, now)
					}
				}
				checkChanges(t, m, instants)
			}
		}
	})
}

// A window that starts again before it ends: always active, and the end
// moves at each start.
func TestMaintenanceOverlapping(t *testing.T) {
	m := window(t, `schedule = "*/30 * * * *"
duration = "1h"`)
	now := utc(2025, 5, 5, 10, 10)
	expectActive(t, m, now, true, utc(2025, 5, 5, 11, 0), utc(2025, 5, 5, 10, 30))
	expectActive(t, m, utc(2025, 5, 5, 10, 30), true, utc(2025, 5, 5, 11, 30), utc(2025, 5, 5, 11, 0))
	// Every minute for 24h: the worst case of the search stays correct.
	e := window(t, `schedule = "* * * * *"
duration = "24h"`)
	expectActive(t, e, now, true, now.Add(24*time.Hour), now.Add(time.Minute))
	expectActive(t, e, now.Add(30*time.Second), true, now.Add(24*time.Hour), now.Add(time.Minute))
}

func TestMaintenanceMatches(t *testing.T) {
	all := window(t, `schedule = "@daily"
duration = "1h"`)
	if len(all.Checks) != 1 || all.Checks[0] != "*" {
		t.Errorf("default checks = %q, want [\"*\"]", all.Checks)
	}
	for _, addr := range []string{"disk.root", `http.api["a"]`, `disk.mount["/var/log"]`, `file.x["a/b/c"]`} {
		if !all.Matches(addr) {
			t.Errorf("the default matches no %s", addr)
		}
	}

	m := window(t, `schedule = "@daily"
duration = "1h"
checks = ["disk.*", "systemd.kub?let", "http.api\\[\"a\"\\]", "tls.[a-c]*", "exec.x\\[\"[+-/]\"\\]"]`)
	cases := map[string]bool{
		"disk.root":               true,
		`disk.mount["/var/log"]`:  true, // "/" is an ordinary character
		"systemd.kubelet":         true,
		"systemd.kublet":          false,
		"systemd.kubXlet":         true,
		`http.api["a"]`:           true,
		`http.api["b"]`:           false,
		"http.api":                false,
		"tls.api":                 true,
		"tls.etcd":                false,
		`exec.x["/"]`:             true, // a range ending at "/" keeps its meaning
		`exec.x["a"]`:             false,
		"memory.main":             false,
		"diskXroot":               false,
		"disk.root.extra.suffix!": true,
	}
	for addr, want := range cases {
		if got := m.Matches(addr); got != want {
			t.Errorf("Matches(%s) = %v, want %v", addr, got, want)
		}
	}

	none := window(t, `schedule = "@daily"
duration = "1h"
checks = []`)
	if none.Matches("disk.root") {
		t.Error("checks = [] matched a check")
	}
}

// Variables, locals and functions in the attributes; only_on against the
// node's tags; the plan's windows by name.
func TestMaintenanceCompile(t *testing.T) {
	src := `
variable "zone" {
  type    = string
  default = "Europe/Berlin"
}
variable "role" {
  type = string
}
locals {
  hours = 2
  globs = ["disk.*"]
}
maintenance "zeta" {
  schedule = "@weekly"
  duration = "${local.hours}h"
  timezone = var.zone
  only_on  = { role = var.role }
  checks   = concat(local.globs, ["disk.root"])
}
maintenance "alpha" {
  schedule = lower("0 3 * * MON")
  duration = local.hours * 3600
  only_on  = { role = "master" }
}
`
	plan, cfg, diags := compileWindows(src, windowOpts{env: map[string]string{"SATELLITE_VAR_role": "worker"}, tags: map[string]string{"role": "worker"}})
	if diags.HasErrors() || plan == nil {
		t.Fatalf("does not compile:\n%s", diagText(diags, cfg))
	}
	if len(diags) != 0 {
		t.Errorf("unexpected diagnostics:\n%s", diagText(diags, cfg))
	}
	if len(plan.Maintenance) != 2 || plan.Maintenance[0].Name != "alpha" || plan.Maintenance[1].Name != "zeta" {
		t.Fatalf("windows not by name: %v", plan.Maintenance)
	}
	a, z := plan.Maintenance[0], plan.Maintenance[1]
	if z.Location.String() != "Europe/Berlin" || z.Duration != 2*time.Hour || !z.Runs ||
		z.OnlyOn["role"] != "worker" || strings.Join(z.Checks, ",") != "disk.*,disk.root" {
		t.Errorf("zeta compiled as %+v", z)
	}
	if a.Location != time.UTC || a.Duration != 2*time.Hour || a.Runs || a.Spec != "0 3 * * mon" {
		t.Errorf("alpha compiled as %+v", a)
	}
	if a.DeclRange.Filename != "maintenance.hcl" || a.DeclRange.Start.Line != 23 {
		t.Errorf("alpha declared at %s", a.DeclRange)
	}
	// Mondays 03:00 UTC, 2025-06-16 is a Monday.
	if active, end := a.Active(utc(2025, 6, 16, 4, 0)); !active || !end.Equal(utc(2025, 6, 16, 5, 0)) {
		t.Errorf("alpha on Monday 04:00: %v, %s", active, end)
	}
}

// A duplicate or a block with an error is not in the plan (the plan is not
// run with errors, but what it holds must be whole).
func TestMaintenanceErrorsLeaveThePlan(t *testing.T) {
	plan, cfg, diags := compileWindows(`
maintenance "a" {
  schedule = "@daily"
  duration = "1h"
}
maintenance "a" {
  schedule = "@hourly"
  duration = "1m"
}
maintenance "b" {
  schedule = "@daily"
  duration = "48h"
}
`, windowOpts{})
	if plan == nil {
		t.Fatalf("no plan:\n%s", diagText(diags, cfg))
	}
	var summaries []string
	for _, d := range diags {
		summaries = append(summaries, fmt.Sprintf("%s@%d", d.Summary, d.Subject.Start.Line))
	}
	if got := strings.Join(summaries, ", "); got != "Duplicate maintenance window@9, Invalid duration@15" {
		t.Errorf("diagnostics: %s", got)
	}
	if len(plan.Maintenance) != 1 || plan.Maintenance[0].Spec != "@daily" {
		t.Errorf("plan holds %v", plan.Maintenance)
	}
}

// validate --unknown-env: a schedule from env() is not known; nothing is
// reported, and the window is never active.
func TestMaintenanceUnknownEnv(t *testing.T) {
	plan, cfg, diags := compileWindows(`
maintenance "w" {
  schedule = env("SCHEDULE")
  duration = "1h"
  timezone = env("ZONE")
  checks   = [env("PATTERN"), "disk.*"]
}
`, windowOpts{unknownEnv: true})
	if len(diags) != 0 || plan == nil {
		t.Fatalf("diagnostics:\n%s", diagText(diags, cfg))
	}
	m := plan.Maintenance[0]
	if m.Schedule != nil {
		t.Error("an unknown schedule was compiled")
	}
	if active, _ := m.Active(time.Now()); active || !m.NextChange(time.Now()).IsZero() {
		t.Error("a window of unknown schedule is active or changes")
	}
}

// Inputs that made cron/v3 panic (a zone prefix without a schedule) are
// errors like any other.
func TestMaintenanceScheduleNeverPanics(t *testing.T) {
	for _, spec := range []string{"TZ=x", "CRON_TZ=Europe/Berlin", "TZ=", "@every 1h", "@annually", "@", "", "   ", "0 0 31 4 *", "*/0 * * * *", "0 2 * * 7"} {
		plan, cfg, diags := compileWindows(fmt.Sprintf("maintenance \"w\" {\n  schedule = %q\n  duration = \"1h\"\n}\n", spec), windowOpts{})
		if !diags.HasErrors() {
			t.Errorf("schedule %q: no error", spec)
			continue
		}
		for _, d := range diags {
			if d.Subject == nil || d.Subject.Start.Line != 5 || !strings.Contains(d.Detail, "cron expression of 5 fields") {
				t.Errorf("schedule %q: %s", spec, diagText(hcl.Diagnostics{d}, cfg))
			}
		}
		if plan != nil && len(plan.Maintenance) != 0 {
			t.Errorf("schedule %q: in the plan", spec)
		}
	}
}

// FuzzMaintenance feeds random schedules, time zones, durations and
// patterns (through variables, as SATELLITE_VAR_*) to Compile: it must
// never panic or hang, every error must point into the file, and a window
// that compiles must answer Active and NextChange sensibly.
//
//	go test -run '^$' -fuzz 'FuzzMaintenance$' -fuzztime 1m ./engine
func FuzzMaintenance(f *testing.F) {
	seeds := [][4]string{
		{"0 2 * * SUN", "Europe/Berlin", "2h", "disk.*"},
		{"@daily", "UTC", "24h", "*"},
		{"30 2 * * *", "Europe/Berlin", "1h", `http.api\["a"\]`},
		{"* * * * *", "Australia/Lord_Howe", "24h", "?"},
		{"*/7 1-3 * 3,10 0", "America/Sao_Paulo", "90s", "[a-z]*"},
		{"0 0 29 2 *", "Pacific/Apia", "1ns", "disk.[a-"},
		{"TZ=x", "Local", "0s", "\\"},
		{"CRON_TZ=UTC 0 2 * * *", "", "-1h", ""},
		{"@every 1h", "../../etc/passwd", "25h", "[]"},
		{"0 0 30 2 *", "Europe/berlin", "soon", "[^/]"},
		{"60 24 32 13 8", "Antarctica/Troll", "1e3", "[+-/]"},
		{"1-59/0 * * * *", "America/Santiago", "1h30m", "disk.root"},
	}
	for _, s := range seeds {
		f.Add(s[0], s[1], s[2], s[3])
	}
	src := []byte(`variable "schedule" { type = string }
variable "timezone" { type = string }
variable "duration" { type = string }
variable "pattern" { type = string }

check "disk" "root" {
  path = "/"
}

maintenance "fuzz" {
  schedule = var.schedule
  duration = var.duration
  timezone = var.timezone
  checks   = [var.pattern, "disk.*"]
}
`)
	instants := []time.Time{
		time.Now(),
		utc(2025, 3, 30, 0, 59), utc(2025, 3, 30, 1, 0), utc(2025, 10, 26, 0, 30), utc(2025, 10, 26, 1, 0),
		utc(2024, 2, 29, 0, 0), time.Date(2025, 1, 1, 0, 0, 0, 1, time.UTC),
	}
	f.Fuzz(func(t *testing.T, schedule, timezone, duration, pattern string) {
		env := map[string]string{
			dsl.VarEnvPrefix + "schedule": schedule, dsl.VarEnvPrefix + "timezone": timezone,
			dsl.VarEnvPrefix + "duration": duration, dsl.VarEnvPrefix + "pattern": pattern,
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			opts := dsl.Options{
				LookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok },
				Hostname:  func() (string, error) { return "fuzz-host", nil },
			}
			cfg, diags := dsl.LoadSource("fuzz.hcl", src, opts)
			if cfg == nil || len(cfg.Files) == 0 {
				t.Errorf("nothing loaded: %v", diags)
				return
			}
			plan, more := engine.Compile(cfg)
			diags = append(diags, more...)
			checkDiagRanges(t, "fuzz.hcl", src, false, diags)
			if plan == nil {
				t.Error("no plan")
				return
			}
			for _, m := range plan.Maintenance {
				if m.Duration <= 0 || m.Duration > engine.MaxMaintenanceDuration || m.Schedule == nil {
					t.Errorf("window compiled as %+v", m)
					continue
				}
				m.Matches(`disk.mount["/x"]`)
				for _, now := range instants {
					if active, end := m.Active(now); active && (!end.After(now) || end.Sub(now) > m.Duration+3*time.Hour) {
						t.Errorf("Active(%s) ends at %s", now, end)
					}
					if nc := m.NextChange(now); !nc.IsZero() && !nc.After(now) {
						t.Errorf("NextChange(%s) = %s, not after now", now, nc)
					}
				}
			}
		}()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			t.Fatalf("compiling schedule %q timezone %q duration %q hangs", schedule, timezone, duration)
		}
	})
}

// Active's search at its worst: a start every minute, 24h long, in a zone
// with DST: on most days (bisection), and on the day the clocks go back
// (every start within 27h is looked at).
func BenchmarkMaintenanceActive(b *testing.B) {
	plan, cfg, diags := compileWindows("maintenance \"w\" {\n  schedule = \"* * * * *\"\n  duration = \"24h\"\n  timezone = \"Europe/Berlin\"\n}\n", windowOpts{})
	if diags.HasErrors() {
		b.Fatal(diagText(diags, cfg))
	}
	m := plan.Maintenance[0]
	for _, c := range []struct {
		name string
		now  time.Time
	}{{"steady", utc(2025, 6, 15, 12, 0)}, {"dst", utc(2025, 10, 26, 12, 0)}} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				if active, _ := m.Active(c.now); !active {
					b.Fatal("not active")
				}
			}
		})
	}
}
