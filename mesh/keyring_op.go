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
	// Keys maps each installed key (base64) to how many members have it;
	// only a list fills it. Keys are secrets: the API gives them to the
	// full token only.
	Keys map[string]int `json:"keys"`
	// PrimaryKeys maps each primary key to how many members use it; only a
	// list fills it.
	PrimaryKeys map[string]int `json:"primary_keys"`
	// NumNodes is how many members were asked.
	NumNodes int `json:"num_nodes"`
	// NumResp is how many answered.
	NumResp int `json:"num_resp"`
	// NumErr is how many answered with an error.
	NumErr int `json:"num_err"`
	// Errors maps a member's name to its error message.
	Errors map[string]string `json:"errors,omitempty"`
}

// Complete reports whether every member answered, without an error.
func (k KeyringResult) Complete() bool {
	return k.NumResp >= k.NumNodes && k.NumErr == 0 && len(k.Errors) == 0
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
		NumErr: r.NumErr, Errors: r.Messages,
	}, err
}
