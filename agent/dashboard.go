package agent

import (
	"path/filepath"
	"sort"

	"github.com/satellite-hq/satellite/health"
)

// Checks are the checks as this node compiled them, sorted by address
// (api.CheckBackend: GET /v1/checks, the dashboard's check page).
func (a *Agent) Checks() []health.CheckConfig {
	_, plan := a.config()
	if plan == nil {
		return nil
	}
	out := make([]health.CheckConfig, 0, len(plan.Checks))
	for _, c := range plan.Checks {
		cc := health.CheckConfig{
			Address: c.Address, Type: c.Type, IntervalSeconds: c.Interval.Seconds(), TimeoutSeconds: c.Timeout.Seconds(),
			Runs: c.Runs, OnlyOn: c.OnlyOn, DependsOn: nonNil(c.DependsOn), Labels: c.Labels, Notify: nonNil(c.Notify), Sinks: c.Sinks,
			FailuresBeforeCritical: c.FailuresBeforeCritical, SuccessesBeforePassing: c.SuccessesBeforePassing,
			Thresholds: make([]health.ThresholdConfig, 0, len(c.Thresholds)),
			File:       filepath.Base(c.DeclRange.Filename), Line: c.DeclRange.Start.Line,
		}
		if cc.Labels == nil {
			cc.Labels = map[string]string{}
		}
		for _, t := range c.Thresholds {
			dir := "above"
			if t.Below {
				dir = "below"
			}
			cc.Thresholds = append(cc.Thresholds, health.ThresholdConfig{Metric: t.Metric, Warn: t.Warn, Crit: t.Crit, Direction: dir})
		}
		out = append(out, cc)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Address < out[j].Address })
	return out
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
