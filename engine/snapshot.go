package engine

import "github.com/satellite-hq/satellite/checks"

// CheckSnapshot is one running check as the scheduler knows it now.
type CheckSnapshot struct {
	Check *Check
	State State
	// Runs counts this check's runs by their own status (before hysteresis),
	// blocked included, since the agent started or the check last changed.
	Runs map[checks.Status]uint64
}
