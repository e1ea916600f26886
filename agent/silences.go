package agent

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/satellite-hq/satellite/dsl"
	"github.com/satellite-hq/satellite/health"
	"github.com/satellite-hq/satellite/notify/silence"
)

// silenceFetchInterval is how often a node reads another member's
// silences: what gossip lost (it was down, or apart) is repaired within it.
const silenceFetchInterval = 5 * time.Minute

// openSilences opens the node's silences (agent.data_dir/silences.json)
// and, with a mesh, reads a member's shortly after the start and every
// silenceFetchInterval.
func (a *Agent) openSilences(cfg *dsl.Config) error {
	st, err := silence.Open(cfg.Agent.DataDir, silence.Options{Logger: a.log.Named("silences")})
	if err != nil {
		return err
	}
	a.silences = st
	return nil
}

// fetchSilences merges another member's silences until ctx is done.
func (a *Agent) fetchSilences(ctx context.Context) error {
	t := time.NewTimer(5 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		t.Reset(silenceFetchInterval)
		rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		b, err := a.mesh.ReadApp(rctx, appSilence)
		cancel()
		var all []silence.Silence
		if err == nil {
			err = json.Unmarshal(b, &all)
		}
		if err != nil {
			a.log.Debug("reading a member's silences", "error", err)
			continue
		}
		var ok []silence.Silence
		for _, s := range all {
			if s.Validate() == nil {
				ok = append(ok, s)
			}
		}
		if n := a.silences.MergeAll(ok); n > 0 {
			a.log.Info("silences from a member", "changed", n)
		}
	}
}

// Silences lists the node's silences (api.SilenceBackend).
func (a *Agent) Silences(includeExpired bool) []silence.Silence {
	if a.silences == nil {
		return nil
	}
	return a.silences.List(time.Now(), includeExpired)
}

// errNoSilences is the answer before the agent has started.
var errNoSilences = errors.New("the agent is not running yet")

// AddSilence makes a silence here and gossips it to every member.
func (a *Agent) AddSilence(_ context.Context, s silence.Silence) (silence.Silence, error) {
	if a.silences == nil {
		return silence.Silence{}, errNoSilences
	}
	s, err := a.silences.Add(s)
	if err == nil {
		a.gossipSilence(s)
	}
	return s, err
}

// ExpireSilence ends a silence now, on every member.
func (a *Agent) ExpireSilence(_ context.Context, id string) (silence.Silence, error) {
	if a.silences == nil {
		return silence.Silence{}, errNoSilences
	}
	s, err := a.silences.Expire(id, time.Now())
	if err == nil {
		a.gossipSilence(s)
	}
	return s, err
}

// gossipSilence sends a silence made or ended here to every member (only
// those: a merged one came from gossip already).
func (a *Agent) gossipSilence(s silence.Silence) {
	if a.mesh == nil {
		return
	}
	b, err := silence.Encode(s)
	if err == nil {
		err = a.mesh.PublishApp(appSilence, b)
	}
	if err != nil {
		a.log.Warn("gossiping a silence: the others learn of it within "+silenceFetchInterval.String(), "id", s.ID, "error", err)
	}
}

// receiveSilence takes a silence another member gossiped.
func (a *Agent) receiveSilence(b []byte) {
	s, err := silence.Decode(b)
	if err != nil || a.silences == nil {
		a.log.Debug("ignoring a gossiped silence", "error", err)
		return
	}
	a.silences.Merge(s)
}

// silencesState is every silence kept, for a member that missed some.
func (a *Agent) silencesState() []byte {
	b, _ := json.Marshal(a.silences.All())
	return b
}

// hold says whether a check's alerts are held now: a silence, or a
// maintenance window (notify.Options.Hold).
func (a *Agent) hold(node, check string, now time.Time) (string, bool) {
	if s, ok := a.silences.Match(node, check, now); ok {
		return "silence " + s.ID, true
	}
	_, plan := a.config()
	for _, w := range plan.Maintenance {
		if !w.Runs || !w.Matches(check) {
			continue
		}
		if on, _ := w.Active(now); on {
			return "maintenance " + w.Name, true
		}
	}
	return "", false
}

// markSilenced sets silenced and silence_id on the probes a silence holds.
func (a *Agent) markSilenced(node string, probes []health.Probe) {
	if a.silences == nil {
		return
	}
	now := time.Now()
	for i := range probes {
		if s, ok := a.silences.Match(node, probes[i].Checker, now); ok {
			probes[i].Silenced, probes[i].SilenceID = true, s.ID
		}
	}
}
