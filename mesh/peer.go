package mesh

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
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
	mux.HandleFunc(ClockPath, m.serveClock)
	mux.HandleFunc(DigestsPath, m.serveDigests)
	mux.HandleFunc(AppPathPrefix, m.serveApp)
	var tc *tls.Config
	if m.tls != nil {
		tc = m.tls.server
	}
	return &http.Server{
		TLSConfig:         tc,
		Handler:           mux,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      10 * time.Second,
		IdleTimeout:       2 * DefaultWatchInterval, // the client's idle timeout
		MaxHeaderBytes:    8 << 10,
		ErrorLog: log.New(limitedWriter{l: m.serverWarn, log: func(n uint64, line string) {
			m.log.Warn("peer endpoint", "error", line, "count", n)
		}}, "", 0),
	}
}

func (m *Mesh) servePeer(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "read-only", http.StatusMethodNotAllowed)
		return
	}
	if !m.admitPeer(w, r, time.Now()) {
		return
	}
	ns := m.local()
	w.Header().Set("Content-Type", "application/json")
	if err := json.NewEncoder(w).Encode(ns); err != nil {
		m.log.Debug("writing peer status", "error", err)
	}
}

// admitPeer judges a peer request's token when the mesh is encrypted; a
// refused request is counted and answered (401, or 503 when the replay
// cache is full), and admitPeer returns false.
func (m *Mesh) admitPeer(w http.ResponseWriter, r *http.Request, now time.Time) bool {
	keys := m.keys()
	if keys == nil {
		return true
	}
	err := m.authorizePeer(r, keys, now)
	if err == nil {
		return true
	}
	m.refusedPeer(r, err)
	if errors.Is(err, errNonceCacheFull) {
		w.Header().Set("Retry-After", "1")
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return false
	}
	http.Error(w, "unauthorized: "+err.Error(), http.StatusUnauthorized)
	return false
}

// authorizePeer checks a request's peer token and spends its nonce.
func (m *Mesh) authorizePeer(r *http.Request, keys [][]byte, now time.Time) error {
	nonce, forgetAt, err := checkPeerToken(r.Header.Get("Authorization"), r.Method, r.URL.Path, m.cfg.NodeName, now, keys)
	if err != nil {
		return err
	}
	return m.nonces.use(nonce, forgetAt, now)
}

// refusedPeer counts a refused peer request and logs it at most once per
// warnInterval (a scanner must not flood the log).
func (m *Mesh) refusedPeer(r *http.Request, err error) {
	m.stats.PeerRefused.Add(1)
	m.peerWarn.note(func(n uint64) {
		m.log.Warn("refused peer endpoint requests", "count", n, "last_from", r.RemoteAddr, "last_reason", err)
	})
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

// fetchPeer reads a member's full status from its peer endpoint (peerGet),
// within PeerTimeout.
func (m *Mesh) fetchPeer(ctx context.Context, name, host string, port int) (health.Node, error) {
	var ns health.Node
	ctx, cancel := context.WithTimeout(ctx, m.cfg.PeerTimeout)
	defer cancel()
	resp, u, err := m.peerGet(ctx, name, host, port, PeerPath)
	if err != nil {
		return ns, err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxPeerBody)).Decode(&ns); err != nil {
		return ns, fmt.Errorf("peer endpoint %s: decoding: %w", u, err)
	}
	return ns, nil
}

// peerGet sends one GET for path to a member's peer endpoint (peerDo).
func (m *Mesh) peerGet(ctx context.Context, name, host string, port int, path string) (*http.Response, string, error) {
	return m.peerDo(ctx, http.MethodGet, name, host, port, path, nil)
}

// peerDo sends one request to a member's peer endpoint: over mutual TLS
// when configured (the server must prove it is member name), with a fresh
// token bound to the request when the mesh is encrypted. It returns the
// response of a 2xx, whose body the caller closes, and the URL asked; any
// other status is a *peerStatusError (body read and closed).
func (m *Mesh) peerDo(ctx context.Context, method, name, host string, port int, path string, body []byte) (*http.Response, string, error) {
	scheme := "http://"
	if m.tls != nil {
		scheme = "https://"
		ctx = context.WithValue(ctx, peerNameKey{}, name)
	}
	u := scheme + net.JoinHostPort(host, strconv.Itoa(port)) + path
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, u, fmt.Errorf("peer request: %w", err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if m.keyring != nil {
		// The primary key: every member has it once `keyring use` has run.
		// The token covers the resource, not the query (?all=1 only
		// asks for more of the same), as the server checks it.
		resource, _, _ := strings.Cut(path, "?")
		tok, err := PeerToken(m.keyring.GetPrimaryKey(), req.Method, resource, name, time.Now())
		if err != nil {
			return nil, u, err
		}
		req.Header.Set("Authorization", tok)
	}
	resp, err := m.client.Do(req)
	if err != nil {
		return nil, u, fmt.Errorf("peer endpoint: %w", err)
	}
	if m.tls != nil {
		// A kept-alive connection was verified for the member asked when it
		// was opened; another member advertising the same address must not
		// get that member's answer.
		verr := errors.New("not TLS")
		if resp.TLS != nil {
			verr = m.tls.verifyServer(*resp.TLS, name)
		}
		if verr != nil {
			resp.Body.Close()
			return nil, u, fmt.Errorf("peer endpoint %s: %w", u, verr)
		}
	}
	if resp.StatusCode/100 != 2 {
		defer resp.Body.Close()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
		return nil, u, &peerStatusError{url: u, status: resp.Status, code: resp.StatusCode, header: resp.Header, body: body}
	}
	return resp, u, nil
}

// peerStatusError is a peer endpoint's answer other than 200.
type peerStatusError struct {
	url, status string
	code        int
	header      http.Header
	// body is the start of the answer (Go's http.Error: the reason).
	body []byte
}

func (e *peerStatusError) Error() string { return fmt.Sprintf("peer endpoint %s: %s", e.url, e.status) }
