package api

import (
	"strings"
	"sync/atomic"
	"testing"
)

// GET /readyz: public like /healthz, 503 with the pending count until the
// backend's first round has finished, 200 after; 404 without a Ready func.
func TestReadyz(t *testing.T) {
	var ready atomic.Bool
	var pending atomic.Int64
	pending.Store(3)
	_, base := newServer(t, &stubBackend{local: sampleNode()}, Options{Token: "full", ReadToken: "read",
		Ready: func() (bool, int) { return ready.Load(), int(pending.Load()) }})

	if a := do(t, nil, "GET", base+"/v1/status", ""); a.code != 401 {
		t.Fatalf("/v1/status without a token: %d, want 401", a.code)
	}
	a := do(t, nil, "GET", base+"/readyz", "")
	if a.code != 503 || strings.TrimSpace(a.body) != `{"status":"starting","pending":3}` {
		t.Errorf("/readyz while starting: %d %s", a.code, a.body)
	}
	pending.Store(-1) // not known yet: no count
	if a := do(t, nil, "GET", base+"/readyz", ""); a.code != 503 || strings.TrimSpace(a.body) != `{"status":"starting"}` {
		t.Errorf("/readyz with the count unknown: %d %s", a.code, a.body)
	}
	ready.Store(true)
	for _, token := range []string{"", "wrong", "read"} {
		if a := do(t, nil, "GET", base+"/readyz", token); a.code != 200 || strings.TrimSpace(a.body) != `{"status":"ready"}` {
			t.Errorf("/readyz ready (token %q): %d %s", token, a.code, a.body)
		}
	}
	if a := do(t, nil, "POST", base+"/readyz", ""); a.code != 405 {
		t.Errorf("POST /readyz: %d, want 405", a.code)
	}

	_, bare := newServer(t, &stubBackend{local: sampleNode()}, Options{})
	if a := do(t, nil, "GET", bare+"/readyz", ""); a.code != 404 {
		t.Errorf("/readyz without Ready: %d %s, want 404", a.code, a.body)
	}
}
