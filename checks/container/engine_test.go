package containercheck

import (
	"context"
	"io"
	"testing"

	"github.com/satellite-hq/satellite/checks"
	_ "github.com/satellite-hq/satellite/checks/tcp" // for a dependent check
	"github.com/satellite-hq/satellite/engine"
)

// runOnce runs a plan once, as `satellite run --once` does, and returns
// each check's status.
func runOnce(t *testing.T, plan *engine.Plan) map[string]checks.Status {
	t.Helper()
	out := map[string]checks.Status{}
	for _, ev := range engine.RunOnce(context.Background(), plan.Checks, engine.OnceOptions{}) {
		out[ev.Check.Address] = ev.State.Status
	}
	for _, c := range plan.Checks {
		if cl, ok := c.Checker.(io.Closer); ok {
			_ = cl.Close()
		}
	}
	return out
}
