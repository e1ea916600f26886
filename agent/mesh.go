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
	"github.com/satellite-hq/satellite/mesh"
	"github.com/satellite-hq/satellite/sinks/sqlite"
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
		Local: a.LocalStatus, Health: a.health, OnEvent: a.onClusterEvent,
		Logger: a.log.Named("mesh"),
	}
	if a.opts.MeshTune != nil {
		a.opts.MeshTune(&conf)
	}
	return mesh.New(conf)
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
	for _, w := range a.writers {
		s := w.writer.Stats()
		backlog += s.Queued
		dropped += s.Dropped
	}
	return backlog, dropped
}

// clusterEventBuffer bounds the cluster events waiting for the history; a
// burst beyond it (a whole rack failing at once) is logged, not stored.
const clusterEventBuffer = 1024

// onClusterEvent queues a cluster event for the local history. It runs on
// the mesh's event goroutine and never blocks.
func (a *Agent) onClusterEvent(e mesh.ClusterEvent) {
	a.log.Info("cluster event", "node", e.Node, "event", string(e.Kind), "from", e.From, "to", e.To, "detail", e.Detail)
	if a.clusterEvents == nil {
		return
	}
	select {
	case a.clusterEvents <- e:
	default:
		a.log.Warn("cluster event not stored in the history: too many at once", "node", e.Node, "event", string(e.Kind))
	}
}

// storeClusterEvents writes queued cluster events to the history until
// ctx is done.
func (a *Agent) storeClusterEvents(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case e := <-a.clusterEvents:
			if err := a.history.AddEvent(ctx, eventChange(e)); err != nil && ctx.Err() == nil {
				a.log.Error("storing a cluster event in the history", "error", err)
			}
		}
	}
}

// eventChange is how a cluster event reads in the history: a member's
// changes under the check name "mesh.member", a node's status changes under
// "mesh.node".
func eventChange(e mesh.ClusterEvent) sqlite.StateChange {
	c := sqlite.StateChange{Time: e.Time, Node: e.Node, Type: "mesh", Error: e.Detail}
	switch e.Kind {
	case mesh.EventStatus:
		c.Check, c.Previous, c.Status = "mesh.node", e.From, e.To
	case mesh.EventJoined:
		c.Check, c.Status = "mesh.member", "alive"
	default:
		c.Check, c.Status = "mesh.member", string(e.Kind)
	}
	return c
}

// ClusterStatus is the status document: every member with a mesh, this
// node alone without one.
func (a *Agent) ClusterStatus(ctx context.Context) engine.ClusterStatus {
	if m := a.meshRunning(); m != nil {
		cs := m.ClusterView(ctx)
		for i := range cs.Nodes {
			if cs.Nodes[i].Name == a.nodeName() {
				// This node's own entry is read directly, never stale.
				local := a.LocalStatus()
				local.MemberStatus = cs.Nodes[i].MemberStatus
				cs.Nodes[i] = local
			}
		}
		return cs
	}
	return engine.ClusterOf([]engine.NodeStatus{a.LocalStatus()}, time.Now())
}

// Members lists the mesh's members; none without a mesh.
func (a *Agent) Members() []engine.MemberStatus {
	if m := a.meshRunning(); m != nil {
		return m.Members()
	}
	return []engine.MemberStatus{}
}

// ListKeys lists the gossip keys of every member (api.KeyringBackend).
func (a *Agent) ListKeys(ctx context.Context) (api.KeyringStatus, error) {
	m := a.meshRunning()
	if m == nil {
		return api.KeyringStatus{}, api.ErrNoMesh
	}
	return keyringStatus(m.Keyring(ctx, mesh.KeyringList, ""))
}

// KeyringOp installs, uses or removes a gossip key on every member
// (api.KeyringBackend).
func (a *Agent) KeyringOp(ctx context.Context, op, key string) (api.KeyringStatus, error) {
	m := a.meshRunning()
	if m == nil {
		return api.KeyringStatus{}, api.ErrNoMesh
	}
	return keyringStatus(m.Keyring(ctx, op, key))
}

func keyringStatus(r mesh.KeyringResult, err error) (api.KeyringStatus, error) {
	if errors.Is(err, mesh.ErrNotEncrypted) {
		return api.KeyringStatus{}, fmt.Errorf("%w: %v", api.ErrNoMesh, err)
	}
	return api.KeyringStatus{
		Keys: r.Keys, PrimaryKeys: r.PrimaryKeys, NumNodes: r.NumNodes, NumResp: r.NumResp,
		NumErr: r.NumErr, Errors: r.Messages,
	}, err
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
