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
	// Clocks reads the clocks of the alive peers and returns one sample per
	// peer read before ctx was done; its error, when some peers gave none,
	// says which and why (the samples are still returned).
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

// ClockSample is one peer's clock against ours, from the best of a few
// NTP-style exchanges (t1 sent, t2 received by the peer, t3 answered by the
// peer, t4 answer received).
type ClockSample struct {
	Peer string
	// Offset is the peer's clock minus ours: ((t2 − t1) + (t3 − t4)) / 2,
	// of the exchange with the smallest RTT. It is exact when the way out
	// and the way back take as long; otherwise off by half their
	// difference, so by at most RTT/2. (A peer too far off to accept our
	// requests is read from its refusal's Date, to about half a second:
	// mesh.Mesh.Clocks.)
	Offset time.Duration
	// RTT is that exchange's delay, the round trip less the peer's time
	// answering: (t4 − t1) − (t3 − t2).
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
