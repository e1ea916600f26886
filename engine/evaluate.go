package engine

import (
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"

	"github.com/satellite-hq/satellite/checks"
)

// Verdict is a run's status after thresholds and asserts, before hysteresis.
type Verdict struct {
	Status checks.Status
	// Error says why the run is not passing; empty when it is.
	Error string
}

// Evaluate applies the check's thresholds and asserts to a run's result.
// Thresholds apply to every metric the run reported. Asserts run only when
// the checker itself did not find the check critical: a refused connection
// needs no second message saying the status code was not 200. took is the
// run's duration as the scheduler measured it (result.duration_ms).
func (c *Check) Evaluate(res checks.Result, took time.Duration) Verdict {
	v := Verdict{Status: res.Verdict(), Error: res.Error}
	var msgs []string
	if v.Error != "" {
		msgs = append(msgs, v.Error)
	}
	for _, t := range c.Thresholds {
		m, ok := res.Metrics[t.Metric]
		if !ok {
			continue
		}
		st, msg := t.judge(m)
		if st != checks.StatusPassing {
			v.Status = checks.Worse(v.Status, st)
			msgs = append(msgs, msg)
		}
	}
	if res.Verdict() != checks.StatusCritical && len(c.Asserts) > 0 {
		ctx := c.resultCtx(c.Registration.ResultValue(res, took))
		for _, a := range c.Asserts {
			if msg, ok := a.eval(ctx); !ok {
				v.Status = checks.StatusCritical
				msgs = append(msgs, msg)
			}
		}
	}
	if v.Status != checks.StatusPassing {
		v.Error = strings.Join(msgs, "; ")
	}
	return v
}

func (t Threshold) judge(m float64) (checks.Status, string) {
	side, past := "above", func(limit float64) bool { return m > limit }
	if t.Below {
		side, past = "below", func(limit float64) bool { return m < limit }
	}
	switch {
	case t.Crit != nil && past(*t.Crit):
		return checks.StatusCritical, fmt.Sprintf("%s %g is %s the critical threshold %g", t.Metric, m, side, *t.Crit)
	case t.Warn != nil && past(*t.Warn):
		return checks.StatusWarning, fmt.Sprintf("%s %g is %s the warning threshold %g", t.Metric, m, side, *t.Warn)
	}
	return checks.StatusPassing, ""
}

// eval returns false and the error message when the condition does not hold.
func (a Assert) eval(ctx *hcl.EvalContext) (string, bool) {
	v, diags := a.Condition.Value(ctx)
	if diags.HasErrors() {
		return "assert could not be evaluated: " + diagsText(diags), false
	}
	v, _ = v.UnmarkDeep()
	if v.IsKnown() && !v.IsNull() {
		if b, err := convert.Convert(v, cty.Bool); err == nil && b.True() {
			return "", true
		}
	}
	if a.ErrorMessage != nil {
		m, diags := a.ErrorMessage.Value(ctx)
		if !diags.HasErrors() {
			if s, err := convert.Convert(m, cty.String); err == nil && s.IsKnown() && !s.IsNull() {
				return s.AsString(), false
			}
		}
	}
	rng := a.Condition.Range()
	return fmt.Sprintf("assert failed (%s:%d)", rng.Filename, rng.Start.Line), false
}

func diagsText(diags hcl.Diagnostics) string {
	var parts []string
	for _, d := range diags {
		if d.Severity == hcl.DiagError {
			parts = append(parts, d.Summary+": "+d.Detail)
		}
	}
	return strings.Join(parts, "; ")
}
