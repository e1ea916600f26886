// Package systemdcheck is the `systemd` check type: the named units are
// active, or, with no units named, no unit is in the failed state.
//
// It asks systemd over the D-Bus system bus and falls back to running
// systemctl when the bus is absent or does not answer.
package systemdcheck

import (
	_ "embed"
	"fmt"
	"path"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/satellite-hq/satellite/checks"
	"github.com/satellite-hq/satellite/dsl"
	"github.com/zclconf/go-cty/cty"
)

//go:embed sample.hcl
var sample string

// Type is the first label of `check "systemd" "NAME"`.
const Type = "systemd"

// MetricFailedUnits counts the units that make the run critical.
const MetricFailedUnits = "failed_units"

// Defaults of where systemd is found; the checker's fields can be changed in tests.
const (
	// DefaultBusSocket is the D-Bus system bus socket.
	DefaultBusSocket = "/run/dbus/system_bus_socket"
	// DefaultSystemctl is the systemctl program, looked up in PATH at each run.
	DefaultSystemctl = "systemctl"
)

// MaxUnitNameLen is systemd's limit on a unit name (UNIT_NAME_MAX - 1).
const MaxUnitNameLen = 255

// Spec is the schema of the type's own attributes.
var Spec = hcldec.ObjectSpec{
	"units":  &hcldec.AttrSpec{Name: "units", Type: cty.List(cty.String)},
	"ignore": &hcldec.AttrSpec{Name: "ignore", Type: cty.List(cty.String)},
}

// ResultAttrs are the extra attributes of `result` for assert.
var ResultAttrs = map[string]cty.Type{
	"failed": cty.List(cty.String),
	"states": cty.Map(cty.String),
}

func init() {
	checks.Register(&checks.Registration{
		Type:    Type,
		Spec:    Spec,
		Metrics: []string{MetricFailedUnits},
		Result:  ResultAttrs,
		Build:   Build,
		Sample:  sample,
		Doc:     "systemd units are active, or no unit has failed.",
	})
}

// unitTypes are systemd's unit types, the suffixes a unit name may end with.
var unitTypes = []string{"service", "socket", "target", "device", "mount", "automount", "swap", "timer", "path", "slice", "scope"}

// Build validates a decoded `systemd` body and returns its checker. It does
// no I/O; a nil Checker comes back when a value is unknown or invalid.
func Build(cfg cty.Value, env checks.Env) (checks.Checker, hcl.Diagnostics) {
	if !cfg.IsKnown() {
		return nil, nil // nothing to check yet (validate --unknown-env)
	}
	a := dsl.NewAttrs(cfg, env.Body, env.Block)
	complete := true

	var units []string
	if list, ok := a.StringList("units"); ok {
		seen := map[string]bool{}
		for _, raw := range list {
			name, ok := unitName(a, raw)
			if !ok {
				complete = false
				continue
			}
			if seen[name] {
				a.Warnf("units", "Unit listed twice", "%s is listed more than once in units; it is checked once.", name)
				continue
			}
			seen[name] = true
			units = append(units, name)
		}
	} else if a.IsUnknown("units") {
		// Check the elements that are known (["kubelet", env("UNIT")]).
		if v, _ := a.Value("units").Unmark(); v.IsKnown() && v.CanIterateElements() {
			for it := v.ElementIterator(); it.Next(); {
				if _, e := it.Element(); e.IsKnown() && !e.IsNull() && e.Type() == cty.String {
					unitName(a, e.AsString())
				}
			}
		}
		complete = false
	}

	var ignore []string
	if list, ok := a.StringList("ignore"); ok {
		for _, p := range list {
			switch _, err := path.Match(p, ""); {
			case p == "":
				a.Errorf("ignore", "Empty unit pattern", "An element of ignore is empty; write a unit name or a pattern such as \"systemd-networkd-wait-online.service\" or \"*.mount\".")
				complete = false
			case err != nil:
				a.Errorf("ignore", "Invalid unit pattern", "%q is not a valid pattern (%v); use * and ? as wildcards and [...] for a set of characters.", p, err)
				complete = false
			default:
				ignore = append(ignore, p)
			}
		}
		if len(units) > 0 && len(ignore) > 0 {
			a.Errorf("ignore", "ignore needs an empty units", "ignore only applies when units is empty (the check then fails on any failed unit but these); with units set, leave out the units to ignore from units instead.")
			complete = false
		}
	} else if a.IsUnknown("ignore") {
		complete = false
	}

	if a.Diags.HasErrors() || !complete {
		return nil, a.Diags
	}
	return newChecker(units, ignore), a.Diags
}

// unitName checks one element of units and returns it with systemctl's
// default suffix added: "kubelet" is "kubelet.service".
func unitName(a *dsl.Attrs, name string) (string, bool) {
	fail := func(summary, format string, args ...any) (string, bool) {
		a.Errorf("units", summary, format, args...)
		return "", false
	}
	switch {
	case name == "":
		return fail("Empty unit name", "An element of units is empty; write a unit name such as \"kubelet.service\".")
	case strings.ContainsAny(name, "*?["):
		return fail("Unit pattern in units", "%q is a pattern; units takes exact unit names, such as \"kubelet.service\", because each listed unit must exist and be active.", name)
	case strings.Contains(name, "/"):
		return fail("Path in units", "%q is a path, not a unit name; write the unit's name, such as \"var-lib-etcd.mount\" for the mount point /var/lib/etcd (systemd-escape --path --suffix=mount /var/lib/etcd prints it).", name)
	}
	if !strings.Contains(name, ".") {
		name += ".service"
	}
	dot := strings.LastIndexByte(name, '.')
	prefix, suffix := name[:dot], name[dot+1:]
	switch {
	case len(name) > MaxUnitNameLen:
		return fail("Unit name too long", "%q has %d characters; systemd allows at most %d.", name, len(name), MaxUnitNameLen)
	case !isUnitType(suffix):
		return fail("Unknown unit type", "%q ends in %q, which is not a unit type; a unit name ends in .%s (a name without a dot means .service).", name, "."+suffix, strings.Join(unitTypes, ", ."))
	case prefix == "":
		return fail("Invalid unit name", "%q has nothing before %q; write a name such as \"kubelet.service\".", name, "."+suffix)
	}
	for _, r := range prefix {
		if !validUnitChar(r) {
			return fail("Invalid unit name", "%q contains %q; unit names use letters, digits and :-_.\\@ (systemd-escape turns other text into a valid name).", name, r)
		}
	}
	if at := strings.IndexByte(prefix, '@'); at >= 0 {
		switch {
		case at == 0:
			return fail("Invalid unit name", "%q has no name before @; write a name such as \"getty@tty1.service\".", name)
		case at == len(prefix)-1:
			return fail("Template unit in units", "%q is a template, which is never active itself; name an instance, such as %q.", name, prefix+"1."+suffix)
		}
	}
	return name, true
}

func isUnitType(s string) bool {
	for _, t := range unitTypes {
		if s == t {
			return true
		}
	}
	return false
}

func validUnitChar(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune(":-_.\\@", r)
}

// resultType returns the D-Bus interface suffix of a unit type that has a
// Result property ("Service" for kubelet.service), or "" when it has none.
func resultType(name string) string {
	dot := strings.LastIndexByte(name, '.')
	if dot < 0 {
		return ""
	}
	switch t := name[dot+1:]; t {
	case "service", "socket", "mount", "swap", "timer", "path", "scope":
		return strings.ToUpper(t[:1]) + t[1:]
	case "automount":
		return "Automount"
	default: // target, device and slice have no Result
		return ""
	}
}

// plural returns "1 unit" or "2 units".
func plural(n int, word string) string {
	if n == 1 {
		return fmt.Sprintf("1 %s", word)
	}
	return fmt.Sprintf("%d %ss", n, word)
}
