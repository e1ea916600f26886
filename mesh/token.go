package mesh

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The peer endpoint's request token (when the mesh is encrypted):
//
//	Authorization: Satellite-Peer <unix seconds>:<nonce, 32 hex>:<mac, 64 hex>
//
// mac is HMAC-SHA256, keyed by a key derived from a gossip key
// (HMAC-SHA256(gossip key, peerTokenLabel)), over the method, the path, the
// name of the node asked, the timestamp and the nonce. A token is good for
// one request to one node within peerTokenWindow of its timestamp: a token
// seen on the wire cannot be used on another node, for another request,
// later, or twice.

// peerTokenScheme is the Authorization scheme of peer tokens.
const peerTokenScheme = "Satellite-Peer"

// peerTokenLabel separates the peer token's key from any other use of the
// gossip key; v2 is the time- and request-bound token (v1 was one static
// bearer token per key, no longer accepted).
const peerTokenLabel = "satellite peer endpoint v2"

// peerTokenWindow is how far a token's timestamp may be from the server's
// clock, either way: the tolerated clock skew between members, plus the
// request's own latency.
const peerTokenWindow = 30 * time.Second

// maxSeenNonces caps the replay cache of one node: every nonce accepted
// within the last 2·peerTokenWindow (the most a nonce must be remembered)
// is kept, so this allows about 270 peer requests per second to one node
// (a few hundred nodes building cluster views every second); beyond it,
// requests are refused (503) rather than the cache grown or a still-valid
// nonce forgotten. About 1 MB when full.
const maxSeenNonces = 16384

const (
	nonceLen   = 16
	peerMACLen = sha256.Size
)

type peerNonce [nonceLen]byte

// Why a token is refused. The endpoint answers 401 for all but
// errNonceCacheFull (503); the log says which.
var (
	errTokenMissing   = errors.New("no peer token")
	errTokenMalformed = errors.New("malformed peer token")
	errTokenTime      = fmt.Errorf("peer token outside the ±%v window (are the clocks synchronised?)", peerTokenWindow)
	errTokenMAC       = errors.New("peer token not made with any key of the keyring for this request")
	errTokenReplay    = errors.New("peer token already used")
	errNonceCacheFull = errors.New("too many peer requests in the token window")
)

// peerTokenKey derives the token key from a gossip key.
func peerTokenKey(gossipKey []byte) []byte {
	h := hmac.New(sha256.New, gossipKey)
	h.Write([]byte(peerTokenLabel))
	return h.Sum(nil)
}

// peerMAC is the token's MAC. Every field is length-prefixed, so no two
// different requests share a message.
func peerMAC(tokenKey []byte, method, path, node string, ts int64, nonce peerNonce) []byte {
	h := hmac.New(sha256.New, tokenKey)
	var n [8]byte
	for _, f := range []string{method, path, node} {
		binary.BigEndian.PutUint64(n[:], uint64(len(f)))
		h.Write(n[:])
		h.Write([]byte(f))
	}
	binary.BigEndian.PutUint64(n[:], uint64(ts))
	h.Write(n[:])
	h.Write(nonce[:])
	return h.Sum(nil)
}

// formatPeerToken is the Authorization header value of a token.
func formatPeerToken(ts int64, nonce peerNonce, mac []byte) string {
	return peerTokenScheme + " " + strconv.FormatInt(ts, 10) + ":" + hex.EncodeToString(nonce[:]) + ":" + hex.EncodeToString(mac)
}

// makePeerToken is the header value for one request with a given nonce.
func makePeerToken(gossipKey []byte, method, path, node string, now time.Time, nonce peerNonce) string {
	ts := now.Unix()
	return formatPeerToken(ts, nonce, peerMAC(peerTokenKey(gossipKey), method, path, node, ts, nonce))
}

// PeerToken is the Authorization header value for one request to node's
// peer endpoint (method and path as sent), made with a gossip key at now,
// with a fresh random nonce.
func PeerToken(gossipKey []byte, method, path, node string, now time.Time) (string, error) {
	var nonce peerNonce
	if _, err := rand.Read(nonce[:]); err != nil {
		return "", fmt.Errorf("peer token nonce: %w", err)
	}
	return makePeerToken(gossipKey, method, path, node, now, nonce), nil
}

// parsePeerToken splits a header value into its fields. Only the canonical
// form parses (decimal timestamp without sign or leading zeros, lower-case
// hex), so one token has one spelling.
func parsePeerToken(header string) (ts int64, nonce peerNonce, mac []byte, err error) {
	if header == "" {
		return 0, nonce, nil, errTokenMissing
	}
	rest, ok := strings.CutPrefix(header, peerTokenScheme+" ")
	if !ok {
		return 0, nonce, nil, errTokenMalformed
	}
	tsPart, rest, ok1 := strings.Cut(rest, ":")
	noncePart, macPart, ok2 := strings.Cut(rest, ":")
	if !ok1 || !ok2 || len(noncePart) != 2*nonceLen || len(macPart) != 2*peerMACLen {
		return 0, nonce, nil, errTokenMalformed
	}
	ts, err = strconv.ParseInt(tsPart, 10, 64)
	if err != nil || ts < 0 || strconv.FormatInt(ts, 10) != tsPart {
		return 0, nonce, nil, errTokenMalformed
	}
	if !isLowerHex(noncePart) || !isLowerHex(macPart) {
		return 0, nonce, nil, errTokenMalformed
	}
	_, _ = hex.Decode(nonce[:], []byte(noncePart))
	mac, _ = hex.DecodeString(macPart)
	return ts, nonce, mac, nil
}

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// checkPeerToken judges a token for a request (method, path) to this node
// (node) at now, against every key of the keyring: it returns the nonce
// and until when it must be remembered as used. It has no state: replays
// are the nonce cache's business.
func checkPeerToken(header, method, path, node string, now time.Time, keys [][]byte) (peerNonce, time.Time, error) {
	ts, nonce, mac, err := parsePeerToken(header)
	if err != nil {
		return nonce, time.Time{}, err
	}
	at := time.Unix(ts, 0)
	if d := now.Sub(at); d > peerTokenWindow || d < -peerTokenWindow {
		return nonce, time.Time{}, errTokenTime
	}
	ok := false
	for _, k := range keys {
		// hmac.Equal is constant-time; every key is tried, so the time
		// taken does not say which one matched.
		if hmac.Equal(mac, peerMAC(peerTokenKey(k), method, path, node, ts, nonce)) {
			ok = true
		}
	}
	if !ok {
		return nonce, time.Time{}, errTokenMAC
	}
	// After this the timestamp is outside the window, so the token is
	// refused whether or not the nonce is remembered. The extra second
	// covers the timestamp's truncation to whole seconds.
	return nonce, at.Add(peerTokenWindow + time.Second), nil
}

// nonceCache remembers the nonces of accepted tokens until their tokens
// expire, and at most max of them.
type nonceCache struct {
	mu        sync.Mutex
	max       int
	seen      map[peerNonce]time.Time
	lastSweep time.Time
}

func newNonceCache(max int) *nonceCache {
	return &nonceCache{max: max, seen: map[peerNonce]time.Time{}}
}

// use records a nonce as used until forgetAt: errTokenReplay when it
// already was, errNonceCacheFull when max unexpired nonces are remembered.
func (c *nonceCache) use(n peerNonce, forgetAt, now time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.seen[n]; ok {
		return errTokenReplay
	}
	// Sweep every window, and when full (at most once a second, so a full
	// cache costs no sweep per request).
	if now.Sub(c.lastSweep) > peerTokenWindow || len(c.seen) >= c.max && now.Sub(c.lastSweep) >= time.Second {
		for k, t := range c.seen {
			if !now.Before(t) {
				delete(c.seen, k)
			}
		}
		c.lastSweep = now
	}
	if len(c.seen) >= c.max {
		return errNonceCacheFull
	}
	c.seen[n] = forgetAt
	return nil
}

func (c *nonceCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.seen)
}
