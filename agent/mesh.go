package agent

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/satellite-hq/satellite/api"
	"github.com/satellite-hq/satellite/dsl"
	"github.com/satellite-hq/satellite/engine"
	"github.com/satellite-hq/satellite/health"
	"github.com/satellite-hq/satellite/mesh"
	"github.com/satellite-hq/satellite/notify"
)

// newMesh builds the mesh of a config with a mesh block; nil without one.
// apiAddr is the API's address, advertised in the node's tags.
func (a *Agent) newMesh(cfg *dsl.Config, plan *engine.Plan, apiAddr string) (*mesh.Mesh, error) {
	mc := cfg.Mesh
	if mc == nil {
		return nil, nil
	}
	var key []byte
	if mc.EncryptKeyFile != "" {
		path := mc.EncryptKeyFile
		if !filepath.IsAbs(path) && mc.DeclRange.Filename != "" {
			path = filepath.Join(filepath.Dir(mc.DeclRange.Filename), path)
		}
		var err error
		if key, err = mesh.ReadKeyFile(path); err != nil {
			return nil, err
		}
	}
	conf := mesh.Config{
		NodeName: cfg.Agent.Name, Bind: mc.Bind, Advertise: mc.Advertise, PeerPort: mc.PeerPort,
		Join: mc.Join, RetryJoin: mc.RetryJoin, RetryInterval: mc.RetryInterval,
		EncryptKey: key, DataDir: cfg.Agent.DataDir,
		Role: cfg.Agent.Tags["role"], Tags: cfg.Agent.Tags, APIAddr: apiAddr,
		ConfigHash: plan.Hash, Version: a.opts.Version,
		Local: a.node, Health: a.health, OnEvent: a.publishCluster,
		OnApp:    a.onApp,
		AppState: a.appState,
		Logger:   a.log.Named("mesh"),
	}
	if t := mc.TLS; t != nil {
		// dsl has resolved the paths against the declaring file.
		conf.TLS = &mesh.TLSFiles{CAFile: t.CAFile, CertFile: t.CertFile, KeyFile: t.KeyFile}
	}
	if a.opts.MeshTune != nil {
		a.opts.MeshTune(&conf)
	}
	return mesh.New(conf)
}

// The app kinds the agent shares over the mesh (mesh.PublishApp).
const (
	appNotifyLog = "nlog"
	appSilence   = "silence"
)

// onApp takes an app event another member gossiped.
func (a *Agent) onApp(kind string, payload []byte) {
	switch kind {
	case appNotifyLog:
		if c := a.clusterAlerts.Load(); c != nil {
			c.Receive(payload)
		}
	case appSilence:
		a.receiveSilence(payload)
	}
}

// appState is an app's whole state, for a member that missed events.
func (a *Agent) appState(kind string) ([]byte, bool) {
	switch kind {
	case appNotifyLog:
		if c := a.clusterAlerts.Load(); c != nil {
			return c.State(), true
		}
	case appSilence:
		if a.silences != nil {
			return a.silencesState(), true
		}
	}
	return nil, false
}

// startClusterAlerts runs the cluster alerts (notify.Cluster) when the
// config routes them (mesh { notify = [...] }).
func (a *Agent) startClusterAlerts(cfg *dsl.Config, plan *engine.Plan, p *parts) error {
	if a.mesh == nil || a.notify == nil || len(plan.MeshNotify) == 0 {
		return nil
	}
	m, d, to := a.mesh, a.notify, plan.MeshNotify
	opts := notify.ClusterOptions{
		Node: cfg.Agent.Name, DataDir: cfg.Agent.DataDir, RolloutTimeout: cfg.Mesh.RolloutTimeout,
		Members: func() []notify.ClusterMember {
			ms := m.AlertMembers()
			out := make([]notify.ClusterMember, len(ms))
			for i, x := range ms {
				out[i] = notify.ClusterMember{Name: x.Name, Status: x.Status, Stale: x.Stale, ConfigHash: x.ConfigHash}
			}
			return out
		},
		Publish: func(b []byte) error { return m.PublishApp(appNotifyLog, b) },
		Fetch:   func(ctx context.Context) ([]byte, error) { return m.ReadApp(ctx, appNotifyLog) },
		Send:    func(al notify.Alert) { d.SendCluster(al, to) },
		Logger:  a.log.Named("notify").Named("cluster"),
	}
	if a.opts.ClusterTune != nil {
		a.opts.ClusterTune(&opts)
	}
	c, err := notify.NewCluster(opts)
	if err != nil {
		return fmt.Errorf("cluster alerts: %w", err)
	}
	a.clusterAlerts.Store(c)
	p.goRun(context.Background(), func(ctx context.Context) error { c.Run(ctx); return nil })
	return nil
}

// health is the agent's own health for digests: results waiting in the
// sinks' queues and results dropped, over the history and every sink.
func (a *Agent) health() (backlog, dropped uint64) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	if a.histW != nil {
		s := a.histW.Stats()
		backlog, dropped = s.Queued, s.Dropped
	}
	for _, w := range a.sinks {
		s := w.writer.Stats()
		backlog += s.Queued
		dropped += s.Dropped
	}
	return backlog, dropped
}

// ClusterStatus is the status document: every member with a mesh, from
// this node's state (it never waits on a peer), this node alone without one.
func (a *Agent) ClusterStatus(ctx context.Context) health.Cluster {
	if m := a.meshRunning(); m != nil {
		return a.withLocal(m.ClusterView(ctx))
	}
	return health.ClusterOf([]health.Node{a.LocalStatus()}, time.Now())
}

// NodeStatus is the status document of one member, read from it now
// (GET /v1/status?node=NAME); ok is false when name is no member.
func (a *Agent) NodeStatus(ctx context.Context, name string) (health.Cluster, bool) {
	if m := a.meshRunning(); m != nil {
		cs, ok := m.NodeView(ctx, name)
		return a.withLocal(cs), ok
	}
	if name != a.nodeName() {
		return health.Cluster{}, false
	}
	return health.ClusterOf([]health.Node{a.LocalStatus()}, time.Now()), true
}

// withLocal puts this node's own entry, read directly and never stale, in
// a document.
func (a *Agent) withLocal(cs health.Cluster) health.Cluster {
	for i := range cs.Nodes {
		if cs.Nodes[i].Name == a.nodeName() {
			local := a.node()
			local.MemberStatus = cs.Nodes[i].MemberStatus
			cs.Nodes[i] = local
		}
	}
	return cs
}

// Members lists the mesh's members; none without a mesh.
func (a *Agent) Members() []health.Member {
	if m := a.meshRunning(); m != nil {
		return m.Members()
	}
	return []health.Member{}
}

// ListKeys lists the gossip keys of every member (api.KeyringBackend).
func (a *Agent) ListKeys(ctx context.Context) (mesh.KeyringResult, error) {
	m := a.meshRunning()
	if m == nil {
		return mesh.KeyringResult{}, api.ErrNoMesh
	}
	return keyringStatus(m.Keyring(ctx, mesh.KeyringList, ""))
}

// KeyringOp installs, uses or removes a gossip key on every member
// (api.KeyringBackend).
func (a *Agent) KeyringOp(ctx context.Context, op, key string) (mesh.KeyringResult, error) {
	m := a.meshRunning()
	if m == nil {
		return mesh.KeyringResult{}, api.ErrNoMesh
	}
	return keyringStatus(m.Keyring(ctx, op, key))
}

// keyringStatus turns a mesh without encryption into the API's ErrNoMesh.
func keyringStatus(r mesh.KeyringResult, err error) (mesh.KeyringResult, error) {
	if errors.Is(err, mesh.ErrNotEncrypted) {
		return mesh.KeyringResult{}, fmt.Errorf("%w: %v", api.ErrNoMesh, err)
	}
	return r, err
}

var _ api.KeyringBackend = (*Agent)(nil)

// meshRunning is the mesh once Run has started the agent; nil before, and
// without a mesh block.
func (a *Agent) meshRunning() *mesh.Mesh {
	select {
	case <-a.started:
		return a.mesh
	default:
		return nil
	}
}

func (a *Agent) nodeName() string {
	cfg, _ := a.config()
	return cfg.Agent.Name
}
