package agent

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/satellite-hq/satellite/dsl"
	"github.com/satellite-hq/satellite/health"
)

// LocalStatus is this node's entry of the status document, secrets
// redacted, with its mesh membership when it has a mesh (the shape of the
// entries of GET /v1/status).
func (a *Agent) LocalStatus() health.Node {
	n := a.node()
	if m := a.meshRunning(); m != nil {
		n.MemberStatus = m.LocalMember()
	}
	return n
}

// node is this node's status without its membership: what the mesh serves
// peers and summarises in digests.
func (a *Agent) node() health.Node {
	cfg, plan := a.config()
	var probes []health.Probe
	if a.sched != nil {
		probes = a.sched.Probes()
	}
	for i := range probes {
		probes[i].Error = cfg.Redact(probes[i].Error)
		probes[i].Detail = cfg.Redact(probes[i].Detail)
	}
	a.markSilenced(cfg.Agent.Name, probes)
	return health.Node{
		Name:       cfg.Agent.Name,
		Status:     health.NodeStateOf(probes),
		ConfigHash: plan.Hash,
		Version:    a.opts.Version,
		ObservedAt: time.Now().UTC(),
		Probes:     probes,
	}
}

// Reload compiles the config again. If it is invalid, the running plan is
// kept and the diagnostics returned. If it is valid, it replaces the plan:
// unchanged checks keep their state and schedule. Changes to mesh,
// api.listen or agent.data_dir need a restart: they are reported as
// warnings and not applied.
//
// A reload asked for while Run is still starting (a SIGHUP early on) waits
// until the agent has started; one asked for when Run is not running
// returns an error.
func (a *Agent) Reload(ctx context.Context) (string, []dsl.JSONDiagnostic, error) {
	select {
	case <-a.started:
	case <-a.stopped: // Run failed before it started
		return "", nil, errors.New("the agent is not running")
	case <-ctx.Done():
		return "", nil, ctx.Err()
	}
	hash, diags, err := a.reload(ctx)
	cfg, _ := a.config()
	return hash, dsl.JSONDiagnostics(diags, cfg.Secrets()), err
}

func (a *Agent) reload(ctx context.Context) (string, hcl.Diagnostics, error) {
	// One reload at a time. The compile holds only reloadMu, which Run
	// never takes: a compile that takes long (or hangs) cannot keep the
	// agent from stopping. The apply below holds applyMu, which Run takes
	// to set stopping, so a stop waits for an apply under way only.
	a.reloadMu.Lock()
	defer a.reloadMu.Unlock()
	if a.isStopping() {
		return "", nil, errStopping
	}
	old, oldPlan := a.config()
	cfg, plan, diags := a.load(a.opts.Paths, a.opts.Load)
	if diags.HasErrors() || plan == nil {
		a.log.Error("reload refused: the config is invalid; the previous one keeps running", "errors", countErrors(diags), "config_hash", oldPlan.Hash)
		for _, d := range diags {
			if d.Severity == hcl.DiagError {
				a.log.Error("config error", "error", old.Redact(diagString(d)))
			}
		}
		return oldPlan.Hash, diags, nil
	}
	for _, change := range restartNeeded(old, cfg) {
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagWarning, Summary: "Restart needed",
			Detail: change + " changed; the agent keeps the old value until it is restarted."})
		a.log.Warn("restart needed to apply a change", "what", change)
	}
	a.applyMu.Lock()
	defer a.applyMu.Unlock()
	if a.stopping {
		a.log.Warn("reload compiled, not applied: the agent is stopping", "config_hash", plan.Hash)
		return oldPlan.Hash, diags, errStopping
	}
	// Keep what cannot change without a restart.
	cfg.Mesh, cfg.Agent.DataDir, cfg.Agent.History, cfg.API = old.Mesh, old.Agent.DataDir, old.Agent.History, old.API
	a.openSinks(ctx, plan)
	a.mu.Lock()
	a.cfg, a.plan = cfg, plan
	a.mu.Unlock()
	a.pubCfg.Store(cfg)
	if a.sched != nil {
		a.sched.Update(plan)
		a.indexHeartbeats(plan)
	}
	if m := a.meshRunning(); m != nil {
		if err := m.SetConfigHash(plan.Hash); err != nil {
			a.log.Error("announcing the new config hash to the mesh", "error", err)
		}
	}
	a.log.Info("reloaded", "config_hash", plan.Hash, "checks", len(plan.Running()), "sinks", len(plan.Sinks))
	return plan.Hash, diags, nil
}

// errStopping refuses a reload once Run is stopping.
var errStopping = errors.New("the agent is stopping")

func (a *Agent) isStopping() bool {
	a.applyMu.Lock()
	defer a.applyMu.Unlock()
	return a.stopping
}

func restartNeeded(old, cfg *dsl.Config) []string {
	var out []string
	if !sameMesh(old.Mesh, cfg.Mesh) {
		out = append(out, "the mesh block")
	}
	if old.API.Listen != cfg.API.Listen {
		out = append(out, "api.listen")
	}
	if old.Agent.DataDir != cfg.Agent.DataDir {
		out = append(out, "agent.data_dir")
	}
	if old.Agent.History != cfg.Agent.History {
		out = append(out, "agent.history")
	}
	if old.API.TokenFile != cfg.API.TokenFile || old.API.ReadTokenFile != cfg.API.ReadTokenFile || !reflect.DeepEqual(old.API.TLS, cfg.API.TLS) {
		out = append(out, "the api block's tokens or TLS files")
	}
	return out
}

// sameMesh compares two mesh blocks by their settings, not their place.
func sameMesh(a, b *dsl.Mesh) bool {
	if a == nil || b == nil {
		return a == b
	}
	x, y := *a, *b
	x.DeclRange, y.DeclRange = hcl.Range{}, hcl.Range{}
	return reflect.DeepEqual(x, y)
}

func diagString(d *hcl.Diagnostic) string {
	if d.Subject != nil {
		return fmt.Sprintf("%s:%d:%d: %s: %s", d.Subject.Filename, d.Subject.Start.Line, d.Subject.Start.Column, d.Summary, d.Detail)
	}
	return d.Summary + ": " + d.Detail
}
