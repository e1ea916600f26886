package peerscheck

import (
	"context"
	"testing"

	"github.com/satellite-hq/satellite/checks"
	"github.com/satellite-hq/satellite/checks/checktest"
)

// The helpers every check type's tests share (checks/checktest).
var (
	compile      = checktest.Compile
	mustCheck    = checktest.MustCheck
	wantDiag     = checktest.WantDiag
	wantCritical = checktest.WantCritical
	wantPassing  = checktest.WantPassing
)

func TestSample(t *testing.T)      { checktest.Sample(t, Type) }
func TestDocExamples(t *testing.T) { checktest.DocExamples(t, Type) }

// fakeMesh is a checks.MeshView with a fixed member list. The real view is
// mesh/'s, over serf, and is tested there with real serf agents; here only
// what the check makes of a member list is under test.
type fakeMesh struct {
	peers []checks.Peer
}

func (m fakeMesh) Peers() []checks.Peer { return append([]checks.Peer(nil), m.peers...) }

func (m fakeMesh) Clocks(context.Context) ([]checks.ClockSample, error) { return nil, nil }

// withMesh is a run context that sees m.
func withMesh(m checks.MeshView) context.Context {
	return checks.WithMesh(context.Background(), m)
}
