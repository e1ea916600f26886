//go:build satellite_testhook

package agent

import (
	"context"
	"os"

	"github.com/hashicorp/go-hclog"
)

// testLoopHook, only in binaries built with -tags satellite_testhook (the
// process tests of the systemd watchdog build one), blocks the run loop
// while the file named by $SATELLITE_TEST_BLOCK_LOOP exists, as a stuck
// loop would, until ctx is done. A build tag rather than a flag or an
// environment variable: no released binary can be made to wedge itself,
// and the test still drives the real agent process, from outside, at the
// moment it chooses.
func testLoopHook(ctx context.Context, log hclog.Logger) {
	path := os.Getenv("SATELLITE_TEST_BLOCK_LOOP")
	if path == "" {
		return
	}
	if _, err := os.Stat(path); err != nil {
		return
	}
	log.Warn("test hook: the run loop is blocked", "file", path)
	<-ctx.Done()
}
