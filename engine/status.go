package engine

import (
	"time"

	"github.com/satellite-hq/satellite/health"
)

// ProbeOf renders a check's state as a probe of the status document.
func ProbeOf(c *Check, s State) health.Probe {
	p := health.Probe{
		Checker: c.Address, Type: c.Type, Status: s.Status, Error: s.Error, Detail: s.Detail,
		Metrics: s.Metrics, Flapping: s.Flapping, DurationMS: float64(s.Duration) / float64(time.Millisecond),
	}
	if !s.Since.IsZero() {
		since := s.Since.UTC()
		p.Since = &since
	}
	if !s.LastRun.IsZero() {
		lr := s.LastRun.UTC()
		p.LastRun = &lr
	}
	return p
}
