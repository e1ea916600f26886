package mesh

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"os"
	"strings"

	"github.com/hashicorp/memberlist"
)

// GenerateKey returns a new gossip key: 32 random bytes, base64 (`satellite keygen`).
func GenerateKey() (string, error) {
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		return "", fmt.Errorf("reading random bytes: %w", err)
	}
	return base64.StdEncoding.EncodeToString(k), nil
}

// DecodeKey decodes a base64 gossip key and checks its length.
func DecodeKey(s string) ([]byte, error) {
	k, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil {
		return nil, fmt.Errorf("the key is not base64 (make one with `satellite keygen`): %w", err)
	}
	if err := memberlist.ValidateKey(k); err != nil {
		return nil, fmt.Errorf("the key decodes to %d bytes; it must be 16, 24 or 32 (make one with `satellite keygen`)", len(k))
	}
	return k, nil
}

// ReadKeyFile reads a gossip key file written from `satellite keygen`.
func ReadKeyFile(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading the gossip key: %w", err)
	}
	if strings.TrimSpace(string(b)) == "" {
		return nil, fmt.Errorf("gossip key file %s is empty (make a key with `satellite keygen`)", path)
	}
	k, err := DecodeKey(string(b))
	if err != nil {
		return nil, fmt.Errorf("gossip key file %s: %w", path, err)
	}
	return k, nil
}

// peerTokenLabel makes the peer token useless for anything but the peer
// endpoint, and lets a future scheme change the label.
const peerTokenLabel = "satellite peer endpoint v1"

// PeerToken is the bearer token of the peer endpoint for a gossip key:
// HMAC-SHA256 of a fixed label, hex. Whoever holds the gossip key may read
// peer status; the key itself never travels.
func PeerToken(key []byte) string {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(peerTokenLabel))
	return hex.EncodeToString(h.Sum(nil))
}

// tokenMatches reports whether tok derives from any key in keys, in
// constant time per key so that a guess learns nothing from timing.
func tokenMatches(tok string, keys [][]byte) bool {
	ok := 0
	for _, k := range keys {
		ok |= subtle.ConstantTimeCompare([]byte(tok), []byte(PeerToken(k)))
	}
	return ok == 1
}
