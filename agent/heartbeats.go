package agent

import (
	"context"
	"errors"
	"fmt"

	"github.com/satellite-hq/satellite/api"
	heartbeatcheck "github.com/satellite-hq/satellite/checks/heartbeat"
	"github.com/satellite-hq/satellite/engine"
	"github.com/satellite-hq/satellite/internal/fileperm"
)

var _ api.HeartbeatBackend = (*Agent)(nil)

// errNotStarted answers a heartbeat that comes before the scheduler has
// its plan.
var errNotStarted = errors.New("the agent is not running yet")

// heartbeatIndex is the heartbeat checkers the scheduler runs, by address.
type heartbeatIndex map[string]*heartbeatcheck.Checker

// indexHeartbeats indexes the heartbeat checks of plan once the scheduler
// has it (NewScheduler, Update): by then an unchanged check's Checker is the
// one that has been running, and the scheduler never writes this plan's
// checks again. A request finds its check here without taking the
// scheduler's lock, whoever sends it: the API looks the check up before it
// can judge the check's own token.
func (a *Agent) indexHeartbeats(plan *engine.Plan) {
	idx := heartbeatIndex{}
	for _, ch := range plan.Running() {
		if c, ok := ch.Checker.(*heartbeatcheck.Checker); ok {
			idx[ch.Address] = c
		}
	}
	a.heartbeats.Store(&idx)
}

// HeartbeatCheck finds a heartbeat check this node runs now
// (api.HeartbeatBackend).
func (a *Agent) HeartbeatCheck(address string) (api.HeartbeatCheck, error) {
	idx := a.heartbeats.Load()
	if idx == nil {
		return nil, errNotStarted
	}
	if c, ok := (*idx)[address]; ok {
		return heartbeatTarget{c}, nil
	}
	return nil, fmt.Errorf("%w %s runs on this node", api.ErrNoHeartbeat, address)
}

// heartbeatTarget is a heartbeat checker as the API sees it.
type heartbeatTarget struct{ c *heartbeatcheck.Checker }

func (t heartbeatTarget) Address() string              { return t.c.Address() }
func (t heartbeatTarget) Token() (string, bool, error) { return t.c.Token() }
func (t heartbeatTarget) Beat(_ context.Context, failed bool, message string) (api.Heartbeat, error) {
	rec, err := t.c.Beat(failed, message)
	if err != nil {
		return api.Heartbeat{}, err
	}
	hb := api.Heartbeat{Check: rec.Check, At: rec.Last, Status: "ok", Message: rec.Message}
	if rec.Failed {
		hb.Status = "fail"
	}
	return hb, nil
}

// warnHeartbeatTokens warns, as warnPermissions does for the API's tokens,
// about a heartbeat check's token_file that others may read.
func (a *Agent) warnHeartbeatTokens(plan *engine.Plan) {
	seen := map[string]bool{}
	for _, ch := range plan.Running() {
		c, ok := ch.Checker.(*heartbeatcheck.Checker)
		if !ok || c.TokenFile() == "" || seen[c.TokenFile()] {
			continue
		}
		seen[c.TokenFile()] = true
		if w := fileperm.Secret(c.TokenFile(), ch.Address+" token_file"); w != "" {
			a.log.Warn("permissions: " + w)
		}
	}
}
