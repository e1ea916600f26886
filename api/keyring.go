package api

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/satellite-hq/satellite/dsl"
	"github.com/satellite-hq/satellite/mesh"
)

// KeyringBackend is what a Backend with a mesh may also implement to serve
// GET and POST /v1/keyring: the gossip keyring of serf's key manager. It is
// optional, so that a Backend without it still builds; the API then answers
// 501.
type KeyringBackend interface {
	// ListKeys asks every member for its keys.
	ListKeys(ctx context.Context) (mesh.KeyringResult, error)
	// KeyringOp runs op ("install", "use" or "remove") with key, a base64
	// key the API has already checked, on every member. When some members
	// failed it returns their errors in the status, and may return an error
	// too: the status is still shown when NumNodes > 0.
	KeyringOp(ctx context.Context, op, key string) (mesh.KeyringResult, error)
}

// ErrNoMesh is what a KeyringBackend returns when the agent runs without a
// mesh block; the API answers 409.
var ErrNoMesh = errors.New("this agent has no mesh (its config has no mesh block)")

// KeyringRequest is the body of POST /v1/keyring.
type KeyringRequest struct {
	Op  string `json:"op"`
	Key string `json:"key"`
}

// KeyringAnswer is the body of a /v1/keyring answer: the status, and the
// backend's error when some members failed.
type KeyringAnswer struct {
	mesh.KeyringResult
	Error string `json:"error,omitempty"`
}

// maxKeyringBody bounds the body of POST /v1/keyring: a key is 44 characters.
const maxKeyringBody = 4 << 10

// CheckKey reports whether key is a gossip key serf accepts: standard
// base64 of 16, 24 or 32 bytes (AES-128, -192 or -256). The error does not
// quote the key.
func CheckKey(key string) error {
	b, err := base64.StdEncoding.DecodeString(key)
	if err != nil {
		return errors.New("the key is not valid base64; `satellite keygen` makes one")
	}
	switch len(b) {
	case 16, 24, 32:
		return nil
	}
	return fmt.Errorf("the key is %d bytes long; a gossip key is 16, 24 or 32 bytes, in base64 (`satellite keygen` makes one)", len(b))
}

// KeyFingerprint names a key without revealing it, for logs and tables: the
// first 12 hex digits of the SHA-256 of its bytes (of the text when it is
// not base64).
func KeyFingerprint(key string) string {
	b, err := base64.StdEncoding.DecodeString(key)
	if err != nil {
		b = []byte(key)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:6])
}

// keyringBackend returns the backend's keyring, or answers 501.
func (s *Server) keyringBackend(w http.ResponseWriter) (KeyringBackend, bool) {
	kb, ok := s.b.(KeyringBackend)
	if !ok {
		writeError(w, http.StatusNotImplemented, "this agent has no mesh: it does not support a keyring")
	}
	return kb, ok
}

func (s *Server) handleKeyringList(w http.ResponseWriter, r *http.Request) {
	kb, ok := s.keyringBackend(w)
	if !ok {
		return
	}
	st, err := kb.ListKeys(r.Context())
	s.writeKeyring(w, "list", "", st, err)
}

func (s *Server) handleKeyringOp(w http.ResponseWriter, r *http.Request) {
	var req KeyringRequest
	dec := json.NewDecoder(io.LimitReader(r.Body, maxKeyringBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		// The decoder's message may quote the body, which holds a key.
		writeError(w, http.StatusBadRequest, `the body must be {"op":"install|use|remove","key":"BASE64"}`)
		return
	}
	switch req.Op {
	case mesh.KeyringInstall, mesh.KeyringUse, mesh.KeyringRemove:
	default:
		writeError(w, http.StatusBadRequest, fmt.Sprintf("op must be install, use or remove, not %q", req.Op))
		return
	}
	if err := CheckKey(req.Key); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	kb, ok := s.keyringBackend(w)
	if !ok {
		return
	}
	// Once sent, the query reaches members whatever the client does; the
	// answer should say how it went, so the client leaving does not cut it.
	st, err := kb.KeyringOp(context.WithoutCancel(r.Context()), req.Op, req.Key)
	s.writeKeyring(w, req.Op, req.Key, st, err)
}

// writeKeyring answers a keyring request. key, when set, is removed from
// every message, in case a backend's error quotes it.
func (s *Server) writeKeyring(w http.ResponseWriter, op, key string, st mesh.KeyringResult, err error) {
	secrets := append([]string{key}, s.secrets...)
	clean := func(msg string) string { return dsl.Redact(msg, secrets) }
	fp := ""
	if key != "" {
		fp = KeyFingerprint(key)
	}
	switch {
	case errors.Is(err, ErrNoMesh):
		writeError(w, http.StatusConflict, ErrNoMesh.Error())
		return
	case err != nil && st.NumNodes == 0:
		msg := clean(err.Error())
		s.log.Error("keyring request failed", "op", op, "key", fp, "error", msg)
		writeError(w, http.StatusInternalServerError, "keyring "+op+" failed: "+msg)
		return
	}
	ans := KeyringAnswer{KeyringResult: st}
	if err != nil {
		ans.Error = clean(err.Error())
	}
	if len(st.Errors) > 0 {
		errs := make(map[string]string, len(st.Errors))
		for node, msg := range st.Errors {
			errs[node] = clean(msg)
		}
		ans.Errors = errs
	}
	if ans.Keys == nil {
		ans.Keys = map[string]int{}
	}
	if ans.PrimaryKeys == nil {
		ans.PrimaryKeys = map[string]int{}
	}
	if op != "list" {
		s.log.Info("keyring changed", "op", op, "key", fp, "nodes", st.NumNodes, "answered", st.NumResp, "errors", st.NumErr)
	}
	writeJSON(w, http.StatusOK, ans)
}
