package mesh

import (
	"testing"

	"github.com/satellite-hq/satellite/checks"
	"github.com/satellite-hq/satellite/health"
)

// A newer digest updates the probe list fetched earlier instead of
// replacing it: the list of a node that went away keeps every check.
func TestDigestOverlay(t *testing.T) {
	full := []health.Probe{
		{Checker: "http.api", Type: "http", Status: checks.StatusPassing, Metrics: map[string]float64{"latency_ms": 3}},
		{Checker: "tcp.etcd", Type: "tcp", Status: checks.StatusCritical, Error: "refused"},
		{Checker: "disk.root", Type: "disk", Status: checks.StatusPassing},
	}
	d := Digest{NotPassing: map[string][]string{"c": {"http.api"}, "w": {"peers.mesh"}}}
	got := d.overlay(full)
	want := map[string]checks.Status{
		"http.api":   checks.StatusCritical, // the digest says so
		"tcp.etcd":   checks.StatusPassing,  // not named, digest complete: passing now
		"disk.root":  checks.StatusPassing,
		"peers.mesh": checks.StatusWarning, // only in the digest
	}
	if len(got) != len(want) {
		t.Fatalf("got %d probes, want %d: %+v", len(got), len(want), got)
	}
	for _, p := range got {
		if want[p.Checker] != p.Status {
			t.Errorf("%s: %s, want %s", p.Checker, p.Status, want[p.Checker])
		}
	}
	if got[0].Metrics["latency_ms"] != 3 || got[1].Error != "" {
		t.Errorf("fields from the fetch: %+v", got[:2])
	}

	// A truncated digest does not know every non-passing check: the ones
	// it does not name keep their last known state.
	d.More = 5
	for _, p := range d.overlay(full) {
		if p.Checker == "tcp.etcd" && p.Status != checks.StatusCritical {
			t.Errorf("truncated digest: tcp.etcd is %s, want its last known critical", p.Status)
		}
	}
}
