// Package processcheck is the `process` check type: a number of processes
// with a given name, or whose command line matches a pattern, are running.
//
// It reads /proc directly (Linux only): no ps, no pgrep.
package processcheck

import (
	_ "embed"
	"regexp"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/satellite-hq/satellite/checks"
	"github.com/satellite-hq/satellite/dsl"
	"github.com/zclconf/go-cty/cty"
)

//go:embed sample.hcl
var sample string

// Type is the first label of `check "process" "NAME"`.
const Type = "process"

// MetricCount is the number of matching processes.
const MetricCount = "count"

// ProcRoot is where the kernel's process table is mounted.
const ProcRoot = "/proc"

// Spec is the schema of the type's own attributes.
var Spec = hcldec.ObjectSpec{
	"name":    &hcldec.AttrSpec{Name: "name", Type: cty.String},
	"pattern": &hcldec.AttrSpec{Name: "pattern", Type: cty.String},
	"min":     &hcldec.AttrSpec{Name: "min", Type: cty.Number},
	"max":     &hcldec.AttrSpec{Name: "max", Type: cty.Number},
}

// ResultAttrs are the extra attributes of `result` for assert.
var ResultAttrs = map[string]cty.Type{
	"pids": cty.List(cty.Number),
}

func init() {
	checks.Register(&checks.Registration{
		Type:    Type,
		Spec:    Spec,
		Metrics: []string{MetricCount},
		Result:  ResultAttrs,
		Build:   Build,
		Sample:  sample,
		Doc:     "Between min and max processes with a name, or matching a command-line pattern, are running.",
	})
}

// Build validates a decoded `process` body and returns its checker. It does
// no I/O; a nil Checker comes back when a value it needs is unknown or invalid.
func Build(cfg cty.Value, env checks.Env) (checks.Checker, hcl.Diagnostics) {
	if !cfg.IsKnown() {
		return nil, nil // nothing to check yet (validate --unknown-env)
	}
	a := dsl.NewAttrs(cfg, env.Body, env.Block)
	c := &Checker{procRoot: ProcRoot, min: 1}
	complete := true

	if !a.ExactlyOne("name", "pattern",
		"Set either name (the process name, such as \"nginx\") or pattern (a regular expression over the command line), not both.",
		"Missing name or pattern",
		"A process check needs name (the process name, such as \"nginx\") or pattern (a regular expression over the whole command line, such as \"java .*-jar /opt/app/app.jar\").") {
		complete = false
	}

	if n, ok := a.String("name"); ok {
		if n == "" {
			a.Errorf("name", "Empty process name", "name must be a process name, such as \"nginx\", as ps -o comm shows it.")
			complete = false
		}
		c.name = n
	} else if a.IsUnknown("name") {
		complete = false
	}

	if p, ok := a.String("pattern"); ok {
		switch re, err := regexp.Compile(p); {
		case p == "":
			a.Errorf("pattern", "Empty pattern", "An empty pattern matches every process; write a regular expression over the command line, such as \"^/usr/bin/python3 .*worker\\\\.py\".")
			complete = false
		case err != nil:
			a.Errorf("pattern", "Invalid regular expression", "%q is not a regular expression: %s.", p, checks.RegexpError(err))
			complete = false
		default:
			c.pattern = re
		}
	} else if a.IsUnknown("pattern") {
		complete = false
	}

	minSet := false
	if n, ok := a.Int("min"); ok {
		if n < 0 {
			a.Errorf("min", "Negative minimum", "min is the fewest matching processes that pass; it cannot be negative (%d). Use 0 to allow none.", n)
			complete = false
		}
		c.min, minSet = n, true
	} else if a.IsSet("min") {
		complete = false // unknown, or an error already reported
	}

	if n, ok := a.Int("max"); ok {
		switch {
		case n < 0:
			a.Errorf("max", "Negative maximum", "max is the most matching processes that pass; it cannot be negative (%d). Use 0 to require that none runs.", n)
			complete = false
		case n < c.min && (minSet || !a.IsSet("min")):
			which := "min"
			if !minSet {
				which = "the default min"
			}
			a.Errorf("max", "Maximum below minimum", "max (%d) is less than %s (%d), so no count could pass; raise max or set min = %d.", n, which, c.min, n)
			complete = false
		}
		c.max, c.hasMax = n, true
	} else if a.IsSet("max") {
		complete = false
	}

	if a.Diags.HasErrors() || !complete {
		return nil, a.Diags
	}
	return c, a.Diags
}
