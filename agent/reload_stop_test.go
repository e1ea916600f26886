package agent

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/satellite-hq/satellite/dsl"
	"github.com/satellite-hq/satellite/engine"
)

// A reload whose compile hangs (a file() on a FIFO, before config reads
// were bounded; or a huge config) does not keep the agent from stopping:
// Run returns promptly, and the reload, when its compile ends, is refused.
func TestStopDuringAHungReload(t *testing.T) {
	dir := t.TempDir()
	cfgText := "agent {\n  name = \"n\"\n  data_dir = \"" + filepath.Join(dir, "data") + "\"\n  history = false\n}\n"
	if err := os.WriteFile(filepath.Join(dir, "node.hcl"), []byte(cfgText), 0o600); err != nil {
		t.Fatal(err)
	}
	a, _, _, err := New(Options{Paths: []string{dir}, Load: dsl.Options{LookupEnv: func(string) (string, bool) { return "", false }}, Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	compiling, release := make(chan struct{}), make(chan struct{})
	a.load = func(paths []string, opts dsl.Options) (*dsl.Config, *engine.Plan, hcl.Diagnostics) {
		close(compiling)
		<-release
		return Load(paths, opts)
	}
	ctx, cancel := context.WithCancel(context.Background())
	runErr := make(chan error, 1)
	go func() { runErr <- a.Run(ctx) }()
	select {
	case <-a.started:
	case <-time.After(10 * time.Second):
		t.Fatal("the agent did not start")
	}
	reloadErr := make(chan error, 1)
	go func() {
		_, _, err := a.Reload(context.Background())
		reloadErr <- err
	}()
	<-compiling
	start := time.Now()
	cancel() // SIGTERM
	select {
	case err := <-runErr:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		close(release)
		t.Fatal("Run waited for the hung reload")
	}
	stopped := time.Since(start)
	close(release)
	if err := <-reloadErr; !errors.Is(err, errStopping) {
		t.Fatalf("the reload after the stop: %v, want %v", err, errStopping)
	}
	t.Logf("stopped %s after SIGTERM with a reload compiling", stopped)
}
