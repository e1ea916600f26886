package mesh

import (
	"testing"
	"time"

	"github.com/satellite-hq/satellite/health"
)

// Digests come from the network: whatever arrives, decoding and using it
// (rendering probes, overlaying a fetched list, ordering) must not panic,
// and what decodes has a node name.
func FuzzDecodeDigest(f *testing.F) {
	ns := healthyStatus("node-a", 3)
	ns.Status = health.Degraded
	ns.Probes[0].Status = "critical"
	d, names := digestOf(ns, 7, 3, time.Unix(1_700_000_000, 0))
	good, err := encodeDigest(d, names)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add([]byte{digestFormat})
	f.Add([]byte{digestFormat, '{', '}'})
	f.Add([]byte{digestFormat + 1, '{', '}'})
	f.Add(append([]byte{digestFormat}, `{"n":"x","f":{"c":["a","b"],"zz":["q"]},"m":-3}`...))
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := decodeDigest(b)
		if err != nil {
			return
		}
		if got.Node == "" {
			t.Fatal("a digest without a node name decoded")
		}
		_ = got.probes()
		_ = got.overlay(ns.Probes)
		_ = got.Newer(d)
		_ = d.Newer(got)
	})
}
