package containercheck

import (
	"context"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/satellite-hq/satellite/checks/checktest"
	"github.com/satellite-hq/satellite/internal/ociarchive"
)

// TestPullOutsideTimeout pulls the probe from a registry on 127.0.0.1 that
// serves blobs slowly: the first run ends at its timeout saying the pull goes
// on, the pull completes anyway, and a later run under the same short
// timeout uses the image without pulling again.
func TestPullOutsideTimeout(t *testing.T) {
	socket(t)
	var slow atomic.Bool
	reg := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if slow.Load() && strings.Contains(r.URL.Path, "/blobs/") && r.Method == http.MethodGet {
			time.Sleep(3 * time.Second)
		}
		reg.ServeHTTP(w, r)
	}))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	// A binary of its own (the probe plus a unique tail), so that no blob of
	// the image is in containerd's content store already.
	bin, err := os.ReadFile(probeBin)
	if err != nil {
		t.Fatal(err)
	}
	unique := filepath.Join(t.TempDir(), "probe")
	if err := os.WriteFile(unique, append(bin, []byte(time.Now().String())...), 0o755); err != nil {
		t.Fatal(err)
	}
	img, err := ociarchive.Image(ociarchive.Options{Binary: unique, Path: "/probe"})
	if err != nil {
		t.Fatal(err)
	}
	ref, err := name.ParseReference(host+"/satellite/probe:pull", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img, remote.WithContext(context.Background())); err != nil {
		t.Fatal(err)
	}
	slow.Store(true)

	c := newChecker(t, `
  image   = "`+ref.String()+`"
  command = ["/probe", "exit", "0"]
`)
	res := runCheck(c, time.Second)
	checktest.WantCritical(t, res, "is still being pulled", "outside the run's timeout")

	deadline := time.Now().Add(time.Minute)
	for {
		c.mu.Lock()
		n := len(c.preps)
		c.mu.Unlock()
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the pull did not finish")
		}
		time.Sleep(50 * time.Millisecond)
	}
	checktest.WantPassing(t, runCheck(c, time.Second))
	if n := c.pulls.Load(); n != 1 {
		t.Errorf("%d pulls, want 1", n)
	}
	wantNothingLeft(t, c)

	// A reference the registry does not have.
	missing := newChecker(t, `
  image   = "`+host+`/satellite/nothing:here"
  command = ["/probe", "exit", "0"]
`)
	slow.Store(false)
	checktest.WantCritical(t, runCheck(missing, 10*time.Second), "image "+host+"/satellite/nothing:here", "not found")
}
