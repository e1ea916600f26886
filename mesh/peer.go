package mesh

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/satellite-hq/satellite/health"
)

// PeerPath is the peer endpoint's one resource: this node's full status.
const PeerPath = "/v1/peer/status"

// maxPeerBody bounds what a peer may send back: a node with thousands of
// checks fits, a broken or hostile one cannot exhaust memory.
const maxPeerBody = 8 << 20

func (m *Mesh) peerServer() *http.Server {
	mux := http.NewServeMux()
	mux.HandleFunc(PeerPath, m.servePeer)
	return &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      10 * time.Second,
		IdleTimeout:       90 * time.Second,
		MaxHeaderBytes:    8 << 10,
		ErrorLog:          m.cfg.Logger.Named("peer").StandardLogger(nil),
	}
}

func (m *Mesh) servePeer(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "read-only", http.StatusMethodNotAllowed)
		return
	}
	if keys := m.keys(); keys != nil {
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || !tokenMatches(tok, keys) {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
	}
	ns := m.local()
	w.Header().Set("Content-Type", "application/json")
	if err := json.NewEncoder(w).Encode(ns); err != nil {
		m.log.Debug("writing peer status", "error", err)
	}
}

// local is this node's status with the mesh's own fields filled in.
func (m *Mesh) local() health.Node {
	ns := m.cfg.Local()
	if ns.Name == "" {
		ns.Name = m.cfg.NodeName
	}
	if ns.ConfigHash == "" {
		m.mu.Lock()
		ns.ConfigHash = m.cfg.ConfigHash
		m.mu.Unlock()
	}
	if ns.Version == "" {
		ns.Version = m.cfg.Version
	}
	if ns.ObservedAt.IsZero() {
		ns.ObservedAt = time.Now().UTC()
	}
	return ns
}

// keys is the gossip keyring, nil when the mesh is open.
func (m *Mesh) keys() [][]byte {
	if m.keyring == nil {
		return nil
	}
	return m.keyring.GetKeys()
}

// token is the bearer token for peers: derived from the primary key, which
// every member has once `keyring use` has run.
func (m *Mesh) token() string {
	if m.keyring == nil {
		return ""
	}
	return PeerToken(m.keyring.GetPrimaryKey())
}

// fetchPeer reads a member's full status from its peer endpoint.
func (m *Mesh) fetchPeer(ctx context.Context, host string, port int) (health.Node, error) {
	var ns health.Node
	ctx, cancel := context.WithTimeout(ctx, m.cfg.PeerTimeout)
	defer cancel()
	u := "http://" + net.JoinHostPort(host, strconv.Itoa(port)) + PeerPath
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return ns, fmt.Errorf("peer request: %w", err)
	}
	if tok := m.token(); tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := m.client.Do(req)
	if err != nil {
		return ns, fmt.Errorf("peer endpoint: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
		return ns, fmt.Errorf("peer endpoint %s: %s", u, resp.Status)
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxPeerBody)).Decode(&ns); err != nil {
		return ns, fmt.Errorf("peer endpoint %s: decoding: %w", u, err)
	}
	return ns, nil
}
