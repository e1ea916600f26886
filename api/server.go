// Package api serves the agent's HTTP API (spec/API.md): the status
// document, members, history, reload, the gossip keyring, /healthz and
// /metrics, with bearer token auth and optional TLS; and a small Client of
// it, for the CLI.
//
// The package knows nothing of the scheduler, the mesh or the history file:
// the agent hands it a Backend.
package api

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/satellite-hq/satellite/dsl"
	"github.com/satellite-hq/satellite/events"
	"github.com/satellite-hq/satellite/health"
)

// Backend is what the agent gives the API to answer from. Every method may
// be called from many request goroutines at once.
type Backend interface {
	// LocalStatus is this node's status (GET /v1/status/local, /healthz).
	LocalStatus() health.Node
	// ClusterStatus is the cluster as this node knows it (GET /v1/status);
	// without a mesh, this node alone.
	ClusterStatus(ctx context.Context) health.Cluster
	// NodeStatus is the status document of one member only, read from it
	// now (GET /v1/status?node=NAME); ok is false when name is no member.
	NodeStatus(ctx context.Context, name string) (cs health.Cluster, ok bool)
	// Members are the mesh members (GET /v1/members); none without a mesh.
	Members() []health.Member
	// Reload reads the config again and, when it has no errors, applies it.
	// It returns the new config hash, and the diagnostics (warnings, or the
	// errors that kept the old config running) already converted with
	// dsl.JSONDiagnostics and redacted. err is for failures that are not
	// about the config; its text is shown to the client, so it must not
	// hold a secret. The API never runs two reloads at once, and ctx is not
	// cancelled when the client goes away.
	Reload(ctx context.Context) (hash string, diags []dsl.JSONDiagnostic, err error)
}

// TLSFiles are the `api.tls` files.
type TLSFiles struct {
	CertFile string
	KeyFile  string
	// ClientCAFile, when set, makes clients present a certificate signed by
	// one of its CAs.
	ClientCAFile string
}

// Options configure a Server.
type Options struct {
	// Listen is host:port; default dsl.DefaultListen. Port 0 picks a free
	// port (see Server.Addr).
	Listen string
	// Token grants every endpoint; empty means no auth at all, which New
	// allows only on a loopback address. Already read from token_file;
	// surrounding white space is ignored.
	Token string
	// ReadToken grants the GET endpoints only; it needs Token.
	ReadToken string
	// TLS, when set, serves HTTPS only.
	TLS *TLSFiles
	// Logger is a named sub-logger; default a null logger.
	Logger hclog.Logger
	// Registry is what GET /metrics serves; nil answers 404 there.
	Registry *prometheus.Registry
	// History is what GET /v1/history reads (q.Limit always between 1 and
	// MaxHistoryLimit); nil, for a node with agent.history = false, answers
	// 404 there.
	History health.HistoryStore
	// Results is what GET /v1/history/results reads; nil answers 404
	// there. The agent's SQLite history serves both.
	Results health.ResultStore
	// Events is the bus GET /v1/events streams from, one subscription per
	// client; nil answers 404 there.
	Events *events.Bus
	// Ready backs GET /readyz: whether the first round of checks has
	// finished, and how many checks have not settled yet (-1: unknown, the
	// agent is still starting). nil answers 404 there.
	Ready func() (ready bool, pending int)
}

// Timeouts of the HTTP server; a reload may compile a large config, hence
// the generous write timeout.
const (
	readHeaderTimeout = 10 * time.Second
	readTimeout       = 30 * time.Second
	writeTimeout      = 60 * time.Second
	idleTimeout       = 2 * time.Minute
	// shutdownTimeout bounds the wait for in-flight requests once Serve's
	// context is done; after it, connections are closed.
	shutdownTimeout = 5 * time.Second
)

// Server is the agent's HTTP API.
type Server struct {
	b       Backend
	history health.HistoryStore
	results health.ResultStore
	events  *events.Bus
	ready   func() (bool, int)
	// streams counts the event streams served now; stopping is closed
	// when Serve begins to stop, so that streams end before it waits for
	// the requests in flight.
	streams    atomic.Int64
	maxStreams int
	frames     frameCache
	nameOnce   sync.Once
	name       string
	stopping   chan struct{}
	stopOnce   sync.Once
	log        hclog.Logger
	listen     string
	auth       auth
	tls        *tls.Config
	handler    http.Handler

	// secrets are the tokens, redacted from what the Backend says.
	secrets []string
	// table holds the API's own endpoints by path; set by New, never changed.
	table map[string]route
	// mounts are what Mount added, by prefix.
	mountMu sync.RWMutex
	mounts  []mount
	// reloading holds a token while a reload runs, so that two never overlap.
	reloading chan struct{}

	mu sync.Mutex
	ln net.Listener
}

// New checks the options, loads the TLS files and builds the server; it does
// not listen yet. It refuses a non-loopback Listen without a Token.
func New(b Backend, opts Options) (*Server, error) {
	if b == nil {
		return nil, errors.New("api: no backend")
	}
	s := &Server{b: b, history: opts.History, results: opts.Results, events: opts.Events, ready: opts.Ready, log: opts.Logger, listen: opts.Listen,
		reloading: make(chan struct{}, 1), stopping: make(chan struct{}), maxStreams: MaxEventStreams}
	if s.log == nil {
		s.log = hclog.NewNullLogger()
	}
	if s.listen == "" {
		s.listen = dsl.DefaultListen
	}
	if _, _, err := net.SplitHostPort(s.listen); err != nil {
		return nil, fmt.Errorf("api: listen %q: %w", s.listen, err)
	}
	token, readToken := strings.TrimSpace(opts.Token), strings.TrimSpace(opts.ReadToken)
	switch {
	case token == "" && readToken != "":
		return nil, errors.New("api: a read token needs a token too (token_file)")
	case token != "" && token == readToken:
		return nil, errors.New("api: the read token must differ from the token")
	case token == "" && !IsLoopback(s.listen):
		return nil, fmt.Errorf("api: listen %s is not a loopback address, so the API needs a token (token_file)", s.listen)
	}
	s.auth = newAuth(token, readToken)
	s.secrets = []string{token, readToken}
	if opts.TLS != nil {
		cfg, err := loadTLS(*opts.TLS)
		if err != nil {
			return nil, err
		}
		s.tls = cfg
	}
	s.handler = s.routes(opts.Registry)
	return s, nil
}

// IsLoopback reports whether host:port names a loopback address:
// "localhost", 127.0.0.0/8 or ::1. An empty host means every interface.
func IsLoopback(hostport string) bool {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// checkBound refuses an API without a token that is bound to an address
// other than loopback: New judged the listen address by its name, and a
// name such as "localhost" can resolve to every interface (an /etc/hosts
// entry), so the address the socket really has is judged again.
func checkBound(listen string, bound net.Addr, withToken bool) error {
	if withToken {
		return nil
	}
	tcp, ok := bound.(*net.TCPAddr)
	if ok && tcp.IP.IsLoopback() {
		return nil
	}
	return fmt.Errorf("api: listen %s bound to %s, which is not a loopback address, so the API needs a token (token_file)", listen, bound)
}

// Handler is the API as an http.Handler, auth included, without TLS.
func (s *Server) Handler() http.Handler { return s.handler }

// Listen opens the listening socket (TLS when configured). Serve calls it
// when it was not called before.
func (s *Server) Listen() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln != nil {
		return errors.New("api: already listening")
	}
	ln, err := net.Listen("tcp", s.listen)
	if err != nil {
		return fmt.Errorf("api: %w", err)
	}
	if err := checkBound(s.listen, ln.Addr(), s.auth.enabled()); err != nil {
		_ = ln.Close()
		return err
	}
	if s.tls != nil {
		ln = tls.NewListener(ln, s.tls)
	}
	s.ln = ln
	return nil
}

// Addr is the address listened on; nil before Listen.
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return nil
	}
	return s.ln.Addr()
}

// Close releases the socket Listen opened, for an agent that fails to start
// after it listened; a server that serves stops with Serve's context.
func (s *Server) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return nil
	}
	err := s.ln.Close()
	s.ln = nil
	return err
}

// Serve answers requests until ctx is done, then stops taking new ones and
// waits a few seconds for those in flight. It returns nil after a clean
// shutdown.
func (s *Server) Serve(ctx context.Context) error {
	if s.Addr() == nil {
		if err := s.Listen(); err != nil {
			return err
		}
	}
	s.mu.Lock()
	ln := s.ln
	s.mu.Unlock()

	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    64 << 10,
		// "OPTIONS *" goes through the API's auth like any request, rather
		// than Go's built-in 200.
		DisableGeneralOptionsHandler: true,
		ErrorLog:                     s.log.StandardLogger(&hclog.StandardLoggerOptions{ForceLevel: hclog.Debug}),
	}
	scheme := "http"
	if s.tls != nil {
		scheme = "https"
	}
	s.log.Info("API listening", "addr", ln.Addr().String(), "scheme", scheme, "auth", s.auth.enabled())

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("api: %w", err)
	case <-ctx.Done():
	}
	s.stopOnce.Do(func() { close(s.stopping) })
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	err := srv.Shutdown(sctx)
	if err != nil {
		s.log.Warn("API shutdown timed out; closing connections", "error", err)
		_ = srv.Close()
	}
	if serr := <-errc; serr != nil && !errors.Is(serr, http.ErrServerClosed) {
		return fmt.Errorf("api: %w", serr)
	}
	return nil
}
