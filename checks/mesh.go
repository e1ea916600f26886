package checks

import (
	"context"
	"errors"
	"time"
)

// MeshView is what check types that look at the cluster (peers, clock) may
// read of the node's mesh. The agent puts it in the context of every run
// (WithMesh); a node without a mesh block has none.
type MeshView interface {
	// Peers lists the mesh's members other than this node.
	Peers() []Peer
	// Clocks asks the alive peers for their clocks and returns one sample
	// per peer that answered before ctx was done.
	Clocks(ctx context.Context) ([]ClockSample, error)
}

// Peer is one other member of the mesh as this node sees it.
type Peer struct {
	Name string
	// Status is serf's member status: alive, leaving, left, failed.
	Status string
	// RTT is the round trip estimated from serf's network coordinates; zero
	// when no coordinate is known yet.
	RTT time.Duration
	// HasRTT is false when RTT is unknown.
	HasRTT bool
}

// ClockSample is one peer's clock against ours.
type ClockSample struct {
	Peer string
	// Offset is the peer's clock minus ours, corrected by half the round trip.
	Offset time.Duration
	// RTT is the round trip of the query.
	RTT time.Duration
}

// ErrNoMesh is returned by MeshFrom when the run has no mesh.
var ErrNoMesh = errors.New("this node has no mesh (no mesh block, or satellite run --once)")

type meshKey struct{}

// WithMesh returns a context whose runs see m.
func WithMesh(ctx context.Context, m MeshView) context.Context {
	return context.WithValue(ctx, meshKey{}, m)
}

// MeshFrom returns the mesh of a run, or ErrNoMesh.
func MeshFrom(ctx context.Context) (MeshView, error) {
	if m, ok := ctx.Value(meshKey{}).(MeshView); ok && m != nil {
		return m, nil
	}
	return nil, ErrNoMesh
}
