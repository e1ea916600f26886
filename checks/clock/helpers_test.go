package clockcheck

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/satellite-hq/satellite/checks"
	"github.com/satellite-hq/satellite/checks/checktest"
)

// The helpers every check type's tests share (checks/checktest).
var (
	compile      = checktest.Compile
	mustCheck    = checktest.MustCheck
	run          = checktest.Run
	wantDiag     = checktest.WantDiag
	wantCritical = checktest.WantCritical
	wantPassing  = checktest.WantPassing
)

func TestSample(t *testing.T)      { checktest.Sample(t, Type) }
func TestDocExamples(t *testing.T) { checktest.DocExamples(t, Type) }

// fakeMesh is a checks.MeshView whose Clocks returns what the test says.
// The real measurement (NTP-style requests to each peer's endpoint) is
// mesh/'s, tested there with real agents; here only what the check makes of
// the samples is under test.
type fakeMesh struct {
	peers   []checks.Peer
	samples []checks.ClockSample
	err     error
	// block makes Clocks wait for ctx, as peers that never answer do.
	block bool
	calls atomic.Int32
}

func (m *fakeMesh) Peers() []checks.Peer { return append([]checks.Peer(nil), m.peers...) }

func (m *fakeMesh) Clocks(ctx context.Context) ([]checks.ClockSample, error) {
	m.calls.Add(1)
	if m.block {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	return m.samples, m.err
}

func withMesh(m checks.MeshView) context.Context {
	return checks.WithMesh(context.Background(), m)
}
