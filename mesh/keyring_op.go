package mesh

import (
	"context"
	"fmt"

	"github.com/hashicorp/serf/serf"
)

// Keyring operations, as the API and `satellite keyring` name them.
const (
	KeyringList    = "list"
	KeyringInstall = "install"
	KeyringUse     = "use"
	KeyringRemove  = "remove"
)

// KeyringResult is every member's answer to a keyring operation.
type KeyringResult struct {
	// Keys maps each installed key (base64) to how many members have it.
	Keys map[string]int
	// PrimaryKeys maps each primary key to how many members use it.
	PrimaryKeys map[string]int
	// NumNodes members were asked, NumResp answered, NumErr failed.
	NumNodes, NumResp, NumErr int
	// Messages maps a member to its error message.
	Messages map[string]string
}

// Keyring runs op (KeyringList, KeyringInstall, KeyringUse, KeyringRemove)
// on every member and returns their answers; the error is a *KeyringError
// when some members failed or did not answer, with the answers still given.
func (m *Mesh) Keyring(ctx context.Context, op, key string) (KeyringResult, error) {
	var f func(*serf.KeyManager) (*serf.KeyResponse, error)
	switch op {
	case KeyringList:
		f = (*serf.KeyManager).ListKeys
	case KeyringInstall, KeyringUse, KeyringRemove:
		if _, err := DecodeKey(key); err != nil {
			return KeyringResult{}, err
		}
		f = func(k *serf.KeyManager) (*serf.KeyResponse, error) {
			switch op {
			case KeyringInstall:
				return k.InstallKey(key)
			case KeyringUse:
				return k.UseKey(key)
			default:
				return k.RemoveKey(key)
			}
		}
	default:
		return KeyringResult{}, fmt.Errorf("unknown keyring operation %q", op)
	}
	r, err := m.keyOp(ctx, op, f)
	if r == nil {
		return KeyringResult{}, err
	}
	return KeyringResult{
		Keys: r.Keys, PrimaryKeys: r.PrimaryKeys, NumNodes: r.NumNodes, NumResp: r.NumResp,
		NumErr: r.NumErr, Messages: r.Messages,
	}, err
}
