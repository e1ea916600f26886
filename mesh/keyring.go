package mesh

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/hashicorp/serf/serf"
)

// ErrNotEncrypted is returned by keyring operations on an open mesh.
var ErrNotEncrypted = errors.New("the mesh is not encrypted: keyring operations need mesh.encrypt_key_file on every node")

// KeyringError says which nodes failed a keyring operation.
type KeyringError struct {
	Op string
	// Nodes maps a node to its error message; nodes that did not answer
	// at all are counted in Missing.
	Nodes   map[string]string
	Missing int
}

// Error names each node that failed and how many did not answer.
func (e *KeyringError) Error() string {
	names := make([]string, 0, len(e.Nodes))
	for n, msg := range e.Nodes {
		names = append(names, n+": "+msg)
	}
	sort.Strings(names)
	s := fmt.Sprintf("keyring %s failed on %d node(s)", e.Op, len(e.Nodes))
	if len(names) > 0 {
		s += " (" + strings.Join(names, "; ") + ")"
	}
	if e.Missing > 0 {
		s += fmt.Sprintf("; %d node(s) did not answer", e.Missing)
	}
	return s
}

// keyOp runs a serf key-manager query; serf bounds it by its query timeout,
// so the goroutine ends soon after ctx does.
func (m *Mesh) keyOp(ctx context.Context, op string, f func(*serf.KeyManager) (*serf.KeyResponse, error)) (*serf.KeyResponse, error) {
	s := m.getSerf()
	if s == nil {
		return nil, errors.New("mesh is not running")
	}
	if !s.EncryptionEnabled() {
		return nil, ErrNotEncrypted
	}
	type result struct {
		r   *serf.KeyResponse
		err error
	}
	ch := make(chan result, 1)
	go func() {
		r, err := f(s.KeyManager())
		ch <- result{r, err}
	}()
	var res result
	select {
	case <-ctx.Done():
		return nil, fmt.Errorf("keyring %s: %w", op, ctx.Err())
	case res = <-ch:
	}
	if res.r == nil {
		return nil, fmt.Errorf("keyring %s: %w", op, res.err)
	}
	kerr := &KeyringError{Op: op, Nodes: map[string]string{}, Missing: res.r.NumNodes - res.r.NumResp}
	for n, msg := range res.r.Messages {
		if msg != "" {
			kerr.Nodes[n] = msg
		}
	}
	if res.err != nil || res.r.NumErr > 0 || kerr.Missing > 0 {
		if len(kerr.Nodes) == 0 && kerr.Missing <= 0 && res.err != nil {
			return res.r, fmt.Errorf("keyring %s: %w", op, res.err)
		}
		return res.r, kerr
	}
	return res.r, nil
}

// ListKeys returns each installed key (base64) with how many nodes have
// it, and how many members were asked.
func (m *Mesh) ListKeys(ctx context.Context) (map[string]int, int, error) {
	r, err := m.keyOp(ctx, "list", (*serf.KeyManager).ListKeys)
	if r == nil {
		return nil, 0, err
	}
	return r.Keys, r.NumNodes, err
}

// InstallKey adds a key (base64) to every node's keyring.
func (m *Mesh) InstallKey(ctx context.Context, key string) error {
	if _, err := DecodeKey(key); err != nil {
		return err
	}
	_, err := m.keyOp(ctx, "install", func(k *serf.KeyManager) (*serf.KeyResponse, error) { return k.InstallKey(key) })
	return err
}

// UseKey makes an installed key the primary one on every node.
func (m *Mesh) UseKey(ctx context.Context, key string) error {
	_, err := m.keyOp(ctx, "use", func(k *serf.KeyManager) (*serf.KeyResponse, error) { return k.UseKey(key) })
	return err
}

// RemoveKey removes a key (not the primary one) from every node.
func (m *Mesh) RemoveKey(ctx context.Context, key string) error {
	_, err := m.keyOp(ctx, "remove", func(k *serf.KeyManager) (*serf.KeyResponse, error) { return k.RemoveKey(key) })
	return err
}
