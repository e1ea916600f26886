// Package httptransport hands out the HTTP transports of the checks that
// speak HTTP (the http and metrics types): one per distinct connection
// configuration, the tls block and a unix socket, shared by every check
// that has the same one, instead of one per check.
//
// By default they share the configuration, not connections: keep-alives
// are off, so every run dials, makes its own TLS handshake (reading the tls
// files then, so a rotated CA or client certificate is picked up without a
// reload) and measures a real connect, as kubelet's and Consul's probes do.
// A check with keep_alive = true gets a transport that keeps connections
// (per host and port, for IdleTimeout) for the checks of the same key, and
// measures a connect only when there is none to reuse.
//
// Two checks with different tls blocks never share a transport, so a
// connection made with one client certificate or CA never serves a check
// that did not name it. The environment's proxy is ignored: health checks
// go direct.
package httptransport

import (
	"context"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/satellite-hq/satellite/internal/tlsblock"
)

// Key is what a transport is shared by.
type Key struct {
	// TLS is the check's tls block (file paths and flags, never file
	// contents).
	TLS tlsblock.Options
	// UnixSocket, when set, is dialed instead of the URL's host.
	UnixSocket string
	// KeepAlive keeps connections open between runs.
	KeepAlive bool
}

// With KeepAlive: how long an idle connection is kept, and how many per
// host (as many as the agent runs at once by default, so that a burst of
// checks on one server does not close what the next burst needs).
const (
	IdleTimeout    = 90 * time.Second
	MaxIdlePerHost = 16
	maxIdleInTotal = 256
)

// MaxResponseHeaderBytes bounds the response headers a check reads.
const MaxResponseHeaderBytes = 1 << 20

var (
	mu    sync.Mutex
	byKey = map[Key]*http.Transport{}
)

// For returns the transport for k, making it on first use. An entry holds
// no connections (keep-alives are off), only its configuration, so the map
// grows only with the distinct tls blocks and sockets the process has
// configured.
func For(k Key) *http.Transport {
	mu.Lock()
	defer mu.Unlock()
	if tr, ok := byKey[k]; ok {
		return tr
	}
	tr := newTransport(k)
	byKey[k] = tr
	return tr
}

func newTransport(k Key) *http.Transport {
	dialer := &net.Dialer{KeepAlive: -1}
	dial := dialer.DialContext
	if k.UnixSocket != "" {
		sock := k.UnixSocket
		dial = func(ctx context.Context, _, _ string) (net.Conn, error) {
			return dialer.DialContext(ctx, "unix", sock)
		}
	}
	opts := k.TLS
	tr := &http.Transport{
		Proxy:             nil,
		DialContext:       dial,
		DisableKeepAlives: !k.KeepAlive,
		DialTLSContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return opts.Dial(ctx, dial, network, addr)
		},
		MaxResponseHeaderBytes: MaxResponseHeaderBytes,
		// A health check's request is a line and a few headers.
		WriteBufferSize: 1 << 10,
	}
	if k.KeepAlive {
		tr.IdleConnTimeout = IdleTimeout
		tr.MaxIdleConnsPerHost = MaxIdlePerHost
		tr.MaxIdleConns = maxIdleInTotal
	}
	return tr
}
