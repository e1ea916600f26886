//go:build !satellite_testhook

package agent

import (
	"context"

	"github.com/hashicorp/go-hclog"
)

// testLoopHook is a no-op outside binaries built with -tags
// satellite_testhook (see testhook_on.go).
func testLoopHook(context.Context, hclog.Logger) {}
