package mesh

import (
	"errors"
	"strings"
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

// Peer tokens come from anyone who can reach the peer endpoint: whatever
// the header, checking it must not panic, and only a token made with a
// key of the keyring, for this request and node, within the window, in
// its one canonical spelling, is accepted, and only once.
func FuzzPeerToken(f *testing.F) {
	k1, k2 := []byte("0123456789abcdef0123456789abcdef"), []byte("fedcba9876543210")
	outsider := []byte("an outsider key, 32 bytes long!!")
	keys := [][]byte{k1, k2}
	now := time.Unix(1_800_000_000, 0)
	good := makePeerToken(k1, "GET", PeerPath, "node-a", now, peerNonce{7})
	f.Add(good, "GET", PeerPath, "node-a", int64(0))
	f.Add(makePeerToken(k2, "HEAD", PeerPath, "node-a", now.Add(-20*time.Second), peerNonce{1}), "HEAD", PeerPath, "node-a", int64(31))
	f.Add("Bearer "+strings.Repeat("ab", 32), "GET", "/", "", int64(-31))
	f.Add(peerTokenScheme+" 1:2:3", "POST", PeerPath, "n\x00", int64(1<<40))
	f.Add("", "", "", "", int64(0))
	f.Fuzz(func(t *testing.T, header, method, path, node string, skew int64) {
		// Any header, for the request the fuzzer chose.
		nonce, forget, err := checkPeerToken(header, method, path, node, now, keys)
		if err == nil {
			ts, n2, mac, perr := parsePeerToken(header)
			if perr != nil || n2 != nonce {
				t.Fatalf("accepted a header that does not parse: %q", header)
			}
			if formatPeerToken(ts, nonce, mac) != header {
				t.Fatalf("accepted a non-canonical spelling: %q", header)
			}
			if d := now.Sub(time.Unix(ts, 0)); d > peerTokenWindow || d < -peerTokenWindow || forget.Sub(time.Unix(ts, 0)) <= peerTokenWindow {
				t.Fatalf("accepted a token %v from now (forget at %v): %q", d, forget, header)
			}
			if _, _, err := checkPeerToken(header, method, path, node, now, [][]byte{outsider}); err == nil {
				t.Fatalf("accepted without the key: %q", header)
			}
			c := newNonceCache(4)
			if c.use(nonce, forget, now) != nil || !errors.Is(c.use(nonce, forget, now), errTokenReplay) {
				t.Fatal("the nonce cache let a nonce through twice")
			}
		}

		// A real token for that request, checked skew seconds later.
		skew %= 1 << 40
		at := now.Add(time.Duration(skew) * time.Second)
		tok := makePeerToken(k2, method, path, node, now, nonce)
		_, _, err = checkPeerToken(tok, method, path, node, at, keys)
		inWindow := skew >= -30 && skew <= 30
		if (err == nil) != inWindow {
			t.Fatalf("token checked %ds later: %v", skew, err)
		}
		if inWindow && err == nil {
			for _, other := range []struct{ m, p, n string }{{method + "X", path, node}, {method, path + "/", node}, {method, path, node + "\x00"}} {
				if _, _, err := checkPeerToken(tok, other.m, other.p, other.n, at, keys); err == nil {
					t.Fatalf("a token for %q %q %q accepted for %q %q %q", method, path, node, other.m, other.p, other.n)
				}
			}
		}
	})
}
