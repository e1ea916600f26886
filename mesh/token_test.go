package mesh

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestCheckPeerToken(t *testing.T) {
	_, k1 := mustKey(t)
	_, k2 := mustKey(t)
	_, outsider := mustKey(t)
	now := time.Unix(1_800_000_000, 0)
	nonce := peerNonce{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
	tok := func(key []byte, method, path, node string, at time.Time) string {
		return makePeerToken(key, method, path, node, at, nonce)
	}
	good := tok(k1, http.MethodGet, PeerPath, "node-a", now)
	ts, _, mac, err := parsePeerToken(good)
	if err != nil {
		t.Fatal(err)
	}
	upper := formatPeerToken(ts, nonce, mac)
	upper = upper[:len(upper)-64] + strings.ToUpper(upper[len(upper)-64:])
	for name, tc := range map[string]struct {
		header string
		want   error // nil: accepted
	}{
		"good":                       {good, nil},
		"second key of the keyring":  {tok(k2, http.MethodGet, PeerPath, "node-a", now), nil},
		"29s old":                    {tok(k1, http.MethodGet, PeerPath, "node-a", now.Add(-29*time.Second)), nil},
		"30s ahead (skew)":           {tok(k1, http.MethodGet, PeerPath, "node-a", now.Add(30*time.Second)), nil},
		"expired":                    {tok(k1, http.MethodGet, PeerPath, "node-a", now.Add(-31*time.Second)), errTokenTime},
		"future":                     {tok(k1, http.MethodGet, PeerPath, "node-a", now.Add(31*time.Second)), errTokenTime},
		"years old":                  {tok(k1, http.MethodGet, PeerPath, "node-a", time.Unix(0, 0)), errTokenTime},
		"wrong method":               {tok(k1, http.MethodHead, PeerPath, "node-a", now), errTokenMAC},
		"wrong path":                 {tok(k1, http.MethodGet, PeerPath+"/", "node-a", now), errTokenMAC},
		"for another node":           {tok(k1, http.MethodGet, PeerPath, "node-b", now), errTokenMAC},
		"wrong key":                  {tok(outsider, http.MethodGet, PeerPath, "node-a", now), errTokenMAC},
		"MAC of another nonce":       {strings.Replace(good, ":01020304", ":01020305", 1), errTokenMAC},
		"none":                       {"", errTokenMissing},
		"v1 static bearer token":     {"Bearer " + strings.Repeat("ab", 32), errTokenMalformed},
		"scheme only":                {peerTokenScheme + " ", errTokenMalformed},
		"lower-case scheme":          {strings.ToLower(good), errTokenMalformed},
		"two spaces":                 {strings.Replace(good, " ", "  ", 1), errTokenMalformed},
		"upper-case hex":             {upper, errTokenMalformed},
		"leading zero":               {strings.Replace(good, " ", " 0", 1), errTokenMalformed},
		"plus sign":                  {strings.Replace(good, " ", " +", 1), errTokenMalformed},
		"negative time":              {peerTokenScheme + " -1:" + strings.Repeat("0", 32) + ":" + strings.Repeat("0", 64), errTokenMalformed},
		"time beyond int64":          {peerTokenScheme + " 99999999999999999999:" + strings.Repeat("0", 32) + ":" + strings.Repeat("0", 64), errTokenMalformed},
		"short nonce":                {strings.Replace(good, ":0102", ":02", 1), errTokenMalformed},
		"long MAC":                   {good + "00", errTokenMalformed},
		"extra field":                {good + ":00", errTokenMalformed},
		"not hex":                    {good[:len(good)-1] + "g", errTokenMalformed},
		"trailing newline":           {good + "\n", errTokenMalformed},
		"garbage":                    {"\x00\xff:::", errTokenMalformed},
		"far future, valid encoding": {tok(k1, http.MethodGet, PeerPath, "node-a", time.Unix(1<<62, 0)), errTokenTime},
	} {
		n, forget, err := checkPeerToken(tc.header, http.MethodGet, PeerPath, "node-a", now, [][]byte{k1, k2})
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: got %v, want %v", name, err, tc.want)
			continue
		}
		// The nonce must be remembered until the token fails the time check.
		if ts, _, _, _ := parsePeerToken(tc.header); err == nil && (n != nonce || forget.Sub(time.Unix(ts, 0)) <= peerTokenWindow) {
			t.Errorf("%s: nonce %x, forget at %v", name, n, forget)
		}
	}
}

func TestNonceCache(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	c := newNonceCache(100)
	n := func(i int) peerNonce { return peerNonce{byte(i), byte(i >> 8), byte(i >> 16)} }
	if err := c.use(n(1), now.Add(time.Minute), now); err != nil {
		t.Fatal(err)
	}
	if err := c.use(n(1), now.Add(time.Minute), now); !errors.Is(err, errTokenReplay) {
		t.Fatalf("replay: %v", err)
	}
	// A flood of valid tokens: the cache stays at its cap and refuses
	// the rest rather than forgetting a nonce still valid.
	refused := 0
	for i := 2; i < 10_000; i++ {
		if err := c.use(n(i), now.Add(time.Minute), now); errors.Is(err, errNonceCacheFull) {
			refused++
		} else if err != nil {
			t.Fatal(err)
		}
	}
	if c.len() != 100 || refused != 10_000-2-99 {
		t.Fatalf("cache of %d, %d refused", c.len(), refused)
	}
	if err := c.use(n(1), now.Add(time.Minute), now); !errors.Is(err, errTokenReplay) {
		t.Fatalf("replay with a full cache: %v", err)
	}
	// Once their tokens have expired, nonces are forgotten and room is made.
	later := now.Add(time.Minute)
	if err := c.use(n(20_000), later.Add(time.Minute), later); err != nil || c.len() != 1 {
		t.Fatalf("after expiry: %v, %d cached", err, c.len())
	}
}

// recordRT records the requests a mesh's client sends.
type recordRT struct {
	mu   sync.Mutex
	reqs []*http.Request
	next http.RoundTripper
}

func (r *recordRT) requests() []*http.Request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*http.Request(nil), r.reqs...)
}

func (r *recordRT) RoundTrip(req *http.Request) (*http.Response, error) {
	r.mu.Lock()
	r.reqs = append(r.reqs, req.Clone(context.Background()))
	r.mu.Unlock()
	return r.next.RoundTrip(req)
}

// Finding 4: a token seen on the wire must not open any node's status.
func TestPeerTokenCannotBeReplayed(t *testing.T) {
	_, k := mustKey(t)
	a := startNode(t, "a", addr(12, 1), func(c *Config) { c.EncryptKey = k })
	rec := &recordRT{}
	b := startNodeWith(t, "b", addr(12, 2), func(c *Config) { c.EncryptKey = k; c.Join = []string{gossip(addr(12, 1))} },
		func(m *Mesh) { rec.next = m.client.Transport; m.client.Transport = rec })
	startNode(t, "c", addr(12, 3), func(c *Config) { c.EncryptKey = k; c.Join = []string{gossip(addr(12, 1))} })
	waitFor(t, 10*time.Second, "3 alive", func() bool { return a.aliveCount() == 3 && b.aliveCount() == 3 })
	cs, _ := b.m.NodeView(context.Background(), "a") // a live read
	if cs.Status != "healthy" {
		t.Fatalf("b's view: %s %q", cs.Status, cs.Summary)
	}
	var sniffed string
	for _, r := range rec.requests() {
		if strings.HasPrefix(r.URL.Host, addr(12, 1)+":") {
			sniffed = r.Header.Get("Authorization")
		}
	}
	if sniffed == "" {
		t.Fatal("b sent no token to a")
	}
	// Replayed to the node it was for, and to another one.
	for _, ip := range []string{addr(12, 1), addr(12, 3)} {
		if got := peerGet(t, ip, sniffed); got != http.StatusUnauthorized {
			t.Errorf("sniffed token replayed to %s: %d", ip, got)
		}
	}
	if s := a.m.Stats(); s.PeerRefused != 1 || s.SeenNonces == 0 {
		t.Errorf("a's stats: %+v", s)
	}
	// b's next view makes new tokens, still accepted.
	if cs, _ := b.m.NodeView(context.Background(), "a"); cs.Status != "healthy" {
		t.Fatalf("b's second view: %s %q", cs.Status, cs.Summary)
	}
}
