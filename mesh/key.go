package mesh

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"strings"

	"github.com/hashicorp/memberlist"

	"github.com/satellite-hq/satellite/dsl"
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
	b, err := dsl.ReadRegularFile(path, 4<<10, "the gossip key file")
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
