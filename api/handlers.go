package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/satellite-hq/satellite/dsl"
	"github.com/satellite-hq/satellite/health"
)

// History query limits.
const (
	DefaultHistoryLimit = 100
	MaxHistoryLimit     = 10000
)

// route is one endpoint of the API's own: a handler per method it answers.
type route struct {
	// get answers GET and HEAD; post answers POST. A nil one is not allowed.
	get, post http.HandlerFunc
	access    Access
}

// handler returns the route's handler for method, or nil.
func (rt route) handler(method string) http.HandlerFunc {
	switch method {
	case http.MethodGet, http.MethodHead:
		return rt.get
	case http.MethodPost:
		return rt.post
	}
	return nil
}

func (rt route) allow() string {
	var methods []string
	if rt.get != nil {
		methods = append(methods, "GET", "HEAD")
	}
	if rt.post != nil {
		methods = append(methods, "POST")
	}
	return strings.Join(methods, ", ")
}

// routes builds the API's handler. The API's own endpoints are routed by
// exact path, so that every answer, 404 and 405 included, is JSON; what
// Mount adds is routed by prefix. Auth is judged before anything else, in
// one place (allowed): without a valid token even an unknown path gets 401.
func (s *Server) routes(reg *prometheus.Registry) http.Handler {
	s.table = map[string]route{
		"/v1/status":          {get: s.handleStatus, access: Read},
		"/v1/status/local":    {get: s.handleLocal, access: Read},
		"/v1/members":         {get: s.handleMembers, access: Read},
		"/v1/history":         {get: s.handleHistory, access: Read},
		"/v1/history/results": {get: s.handleResults, access: Read},
		"/v1/events":          {get: s.handleEvents, access: Read},
		"/v1/session":         {get: s.handleSession, access: Read},
		"/v1/checks":          {get: s.handleChecks, access: Read},
		"/v1/reload":          {post: s.handleReload, access: Read},
		"/v1/silences":        {get: s.handleSilenceList, post: s.handleSilenceAdd, access: Read},
		// Full: it makes the agent send a message to a receiver.
		"/v1/notify/test": {post: s.handleNotifyTest, access: Full},
		// Full for GET too: the answers hold secrets (the gossip keys).
		"/v1/keyring": {get: s.handleKeyringList, post: s.handleKeyringOp, access: Full},
		"/healthz":    {get: s.handleHealthz, access: Public},
		"/readyz":     {get: s.handleReadyz, access: Public},
	}
	if reg != nil {
		metrics := promhttp.HandlerFor(reg, promhttp.HandlerOpts{
			ErrorLog:      s.log.Named("metrics").StandardLogger(nil),
			ErrorHandling: promhttp.ContinueOnError,
		})
		s.table["/metrics"] = route{get: metrics.ServeHTTP, access: Read}
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		s.dispatch(rec, r)
		// Only the path: the query holds no secret but may be long, and
		// headers (the token) are never logged.
		s.log.Debug("request", "method", r.Method, "path", r.URL.Path, "status", rec.status,
			"remote", r.RemoteAddr, "duration", time.Since(start))
	})
}

// Access is what a token must grant to reach an endpoint.
type Access int

// The access levels of endpoints, the API's own and mounted ones alike.
const (
	// Public needs no token (/healthz, the dashboard's static files).
	Public Access = iota
	// Read lets the read token (or the full one) GET and HEAD; any other
	// method needs the full token.
	Read
	// Full needs the full token for every method, GET included.
	Full
)

// mount is a handler mounted under a prefix.
type mount struct {
	prefix  string
	handler http.Handler
	access  Access
}

// Mount serves h under prefix (which starts and ends with "/", such as
// "/ui/"), with the API's auth: access is judged before h sees a request,
// as for the API's own endpoints; the path without its final slash
// redirects to the prefix. h gets every method and answers its own 404s and
// 405s. A prefix may not cover the API's own endpoints (/v1/, /healthz,
// /metrics) nor another mount. Mount before Serve, or while serving.
func (s *Server) Mount(prefix string, h http.Handler, access Access) error {
	if !strings.HasPrefix(prefix, "/") || !strings.HasSuffix(prefix, "/") || len(prefix) < 3 {
		return fmt.Errorf("api: mount prefix %q must start and end with / and name something", prefix)
	}
	if strings.HasPrefix(prefix, "/v1/") {
		return fmt.Errorf("api: mount prefix %q is under /v1/, which the API keeps for itself", prefix)
	}
	for path := range s.table {
		if strings.HasPrefix(path, prefix) || path == strings.TrimSuffix(prefix, "/") {
			return fmt.Errorf("api: mount prefix %q covers the API's %s", prefix, path)
		}
	}
	s.mountMu.Lock()
	defer s.mountMu.Unlock()
	for _, m := range s.mounts {
		if strings.HasPrefix(prefix, m.prefix) || strings.HasPrefix(m.prefix, prefix) {
			return fmt.Errorf("api: mount prefix %q overlaps %q", prefix, m.prefix)
		}
	}
	s.mounts = append(s.mounts, mount{prefix: prefix, handler: h, access: access})
	return nil
}

// mountFor returns the mount that serves path, if any; redirect is true
// for the prefix without its final slash.
func (s *Server) mountFor(path string) (m mount, redirect, ok bool) {
	s.mountMu.RLock()
	defer s.mountMu.RUnlock()
	for _, m := range s.mounts {
		if strings.HasPrefix(path, m.prefix) {
			return m, false, true
		}
		if path+"/" == m.prefix {
			return m, true, true
		}
	}
	return mount{}, false, false
}

// allowed judges a request's token against an endpoint's access, and
// writes the refusal (401 or 403) when it falls short. An unknown endpoint
// needs a valid token before it gets its 404, so that a caller without one
// learns nothing of what exists.
func (s *Server) allowed(w http.ResponseWriter, r *http.Request, access Access, known bool) bool {
	if known && access == Public {
		return true
	}
	g := s.auth.grantOf(r)
	if g == grantNone {
		w.Header().Set("WWW-Authenticate", `Bearer realm="satellite"`)
		writeError(w, http.StatusUnauthorized, "unauthorized")
		return false
	}
	read := r.Method == http.MethodGet || r.Method == http.MethodHead
	if known && (access == Full || !read) && g != grantFull {
		writeError(w, http.StatusForbidden, "forbidden")
		return false
	}
	return true
}

func (s *Server) dispatch(w http.ResponseWriter, r *http.Request) {
	if rt, found := s.table[r.URL.Path]; found {
		h := rt.handler(r.Method)
		if h == nil {
			// A valid token (any, for an endpoint that needs one) learns
			// the Allow header before its rights are judged.
			if rt.access != Public && !s.allowed(w, r, Read, false) {
				return
			}
			w.Header().Set("Allow", rt.allow())
			writeError(w, http.StatusMethodNotAllowed, "method not allowed")
			return
		}
		if s.allowed(w, r, rt.access, true) {
			h(w, r)
		}
		return
	}
	if s.dispatchSilence(w, r) { // DELETE /v1/silences/ID: api/silences.go
		return
	}
	if s.dispatchHeartbeat(w, r) { // POST /v1/heartbeat/NAME: api/heartbeat.go
		return
	}
	if m, redirect, found := s.mountFor(r.URL.Path); found {
		if !s.allowed(w, r, m.access, true) {
			return
		}
		if redirect {
			http.Redirect(w, r, m.prefix, http.StatusMovedPermanently)
			return
		}
		m.handler.ServeHTTP(w, r)
		return
	}
	if r.URL.Path == "/" && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
		// A browser pointed at the agent finds the dashboard, when one is
		// mounted; the redirect says nothing a caller without a token
		// could not learn from /ui/ itself.
		if m, _, found := s.mountFor("/ui/"); found && m.access == Public {
			http.Redirect(w, r, "/ui/", http.StatusFound)
			return
		}
	}
	if s.allowed(w, r, Read, false) {
		writeError(w, http.StatusNotFound, "not found")
	}
}

// statusRecorder remembers the answer's status code for the request log.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the real writer.
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

func (s *Server) handleStatus(w http.ResponseWriter, r *http.Request) {
	node, err := parseStatusQuery(r.URL.RawQuery)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	var cs health.Cluster
	if node != "" {
		var ok bool
		if cs, ok = s.b.NodeStatus(r.Context(), node); !ok {
			writeError(w, http.StatusNotFound, fmt.Sprintf("no member is named %q", node))
			return
		}
	} else {
		cs = s.b.ClusterStatus(r.Context())
	}
	cs.Nodes = nonNilNodes(cs.Nodes)
	writeStatusJSON(w, http.StatusOK, cs, func() any {
		nodes := make([]health.Node, len(cs.Nodes))
		for i, n := range cs.Nodes {
			nodes[i] = finiteNode(n)
		}
		cs.Nodes = nodes
		return cs
	})
}

func (s *Server) handleLocal(w http.ResponseWriter, _ *http.Request) {
	n := s.b.LocalStatus()
	if n.Probes == nil {
		n.Probes = []health.Probe{}
	}
	writeStatusJSON(w, http.StatusOK, n, func() any { return finiteNode(n) })
}

func (s *Server) handleMembers(w http.ResponseWriter, _ *http.Request) {
	ms := s.b.Members()
	if ms == nil {
		ms = []health.Member{}
	}
	writeJSON(w, http.StatusOK, ms)
}

func (s *Server) handleHistory(w http.ResponseWriter, r *http.Request) {
	q, err := parseHistoryQuery(r.URL.RawQuery, time.Now())
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if s.history == nil {
		writeError(w, http.StatusNotFound, "this node keeps no history (agent.history = false)")
		return
	}
	changes, err := s.history.StateChanges(r.Context(), q)
	if err != nil {
		s.log.Error("reading history", "error", err)
		writeError(w, http.StatusInternalServerError, "reading history failed")
		return
	}
	if changes == nil {
		changes = []health.Change{}
	}
	writeJSON(w, http.StatusOK, changes)
}

// reloadAnswer is the body of POST /v1/reload.
type reloadAnswer struct {
	ConfigHash  string               `json:"config_hash,omitempty"`
	Error       string               `json:"error,omitempty"`
	Diagnostics []dsl.JSONDiagnostic `json:"diagnostics,omitempty"`
}

func (s *Server) handleReload(w http.ResponseWriter, r *http.Request) {
	// One reload at a time; a request that gives up waiting leaves.
	select {
	case s.reloading <- struct{}{}:
		defer func() { <-s.reloading }()
	case <-r.Context().Done():
		return
	}
	// A reload once started runs to its end even when the client goes away:
	// half a reload helps nobody.
	hash, diags, err := s.b.Reload(context.WithoutCancel(r.Context()))
	diags = s.redactDiags(diags)
	errs := 0
	for _, d := range diags {
		if d.Severity != "warning" {
			errs++
		}
	}
	switch {
	case errs > 0:
		s.log.Warn("reload refused: the config has errors; the old config keeps running", "errors", errs)
		writeJSON(w, http.StatusBadRequest, reloadAnswer{
			Error:       "the config has errors; the old config keeps running",
			Diagnostics: diags,
		})
	case err != nil:
		msg := s.redact(err.Error())
		s.log.Error("reload failed", "error", msg)
		writeJSON(w, http.StatusInternalServerError, reloadAnswer{Error: "reload failed: " + msg, Diagnostics: diags})
	default:
		s.log.Info("config reloaded", "config_hash", hash, "warnings", len(diags))
		writeJSON(w, http.StatusOK, reloadAnswer{ConfigHash: hash, Diagnostics: diags})
	}
}

// redact removes the API's own tokens from text the Backend produced, in
// case a diagnostic quotes a token file; the Backend redacts the config's
// sensitive values itself.
func (s *Server) redact(text string) string { return dsl.Redact(text, s.secrets) }

func (s *Server) redactDiags(diags []dsl.JSONDiagnostic) []dsl.JSONDiagnostic {
	out := make([]dsl.JSONDiagnostic, len(diags))
	for i, d := range diags {
		d.Summary, d.Detail = s.redact(d.Summary), s.redact(d.Detail)
		out[i] = d
	}
	return out
}

// healthAnswer is the whole body of /healthz: it needs no token, so it says
// nothing more.
type healthAnswer struct {
	Status health.NodeState `json:"status"`
}

// handleHealthz answers 503 only when the node is degraded: "unknown" (no
// result yet, just after start or a reload) answers 200, so that a liveness
// probe does not restart an agent that is still starting.
func (s *Server) handleHealthz(w http.ResponseWriter, _ *http.Request) {
	n := s.b.LocalStatus()
	st := n.Status
	if st == "" {
		st = health.NodeStateOf(n.Probes)
	}
	code := http.StatusOK
	if st == health.Degraded {
		code = http.StatusServiceUnavailable
	}
	writeJSON(w, code, healthAnswer{Status: st})
}

// readyAnswer is the whole body of /readyz; public, like /healthz, so it
// names no check.
type readyAnswer struct {
	Status string `json:"status"` // "ready" or "starting"
	// Pending counts the checks that have not settled once yet; left out
	// when ready or not known.
	Pending int `json:"pending,omitempty"`
}

// handleReadyz answers 503 until the first round of checks has finished
// (every check ran, or was blocked, once), 200 after, whatever the checks
// said: it tells a rollout or a load balancer that the node's status means
// something, not that the node is healthy (that is /healthz).
func (s *Server) handleReadyz(w http.ResponseWriter, _ *http.Request) {
	if s.ready == nil {
		writeError(w, http.StatusNotFound, "this server has no readiness")
		return
	}
	ready, pending := s.ready()
	if ready {
		writeJSON(w, http.StatusOK, readyAnswer{Status: "ready"})
		return
	}
	writeJSON(w, http.StatusServiceUnavailable, readyAnswer{Status: "starting", Pending: max(pending, 0)})
}

// parseHistoryQuery reads node, check, since and limit from a raw query.
// A malformed pair (a bad %-escape, a ";" separator), an unknown parameter
// or a repeated one is refused, so that a typo or a mangled URL does not
// silently widen the answer: url.Values, as r.URL.Query() gives it, would
// have dropped the pair without a word.
func parseHistoryQuery(raw string, now time.Time) (health.Query, error) {
	q := health.Query{Limit: DefaultHistoryLimit}
	v, err := url.ParseQuery(raw)
	if err != nil {
		return q, fmt.Errorf("the query is malformed: %v", err)
	}
	for k, vals := range v {
		switch k {
		case "node", "check", "status", "since", "limit":
		default:
			return q, fmt.Errorf("unknown parameter %q; the parameters are node, check, status, since and limit", k)
		}
		if len(vals) > 1 {
			return q, fmt.Errorf("parameter %q given %d times", k, len(vals))
		}
	}
	q.Node, q.Check, q.Status = v.Get("node"), v.Get("check"), v.Get("status")
	if s := v.Get("since"); s != "" {
		t, err := health.ParseSince(s, now, time.UTC)
		if err != nil {
			return q, err
		}
		q.Since = t
	}
	if s := v.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > MaxHistoryLimit {
			return q, fmt.Errorf("limit must be a whole number from 1 to %d, not %q", MaxHistoryLimit, s)
		}
		q.Limit = n
	}
	return q, nil
}

// nonNilNodes turns nil slices into empty ones, so that the document has []
// rather than null; it copies the nodes only when it has to, since the
// Backend may share them.
func nonNilNodes(nodes []health.Node) []health.Node {
	if nodes == nil {
		return []health.Node{}
	}
	for i := range nodes {
		if nodes[i].Probes != nil {
			continue
		}
		out := append([]health.Node(nil), nodes...)
		for j := range out {
			if out[j].Probes == nil {
				out[j].Probes = []health.Probe{}
			}
		}
		return out
	}
	return nodes
}

// finiteNode drops NaN and infinite metrics, which JSON cannot carry,
// copying only the probes that have them.
func finiteNode(n health.Node) health.Node {
	probes := make([]health.Probe, len(n.Probes))
	for i, p := range n.Probes {
		for _, v := range p.Metrics {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				m := make(map[string]float64, len(p.Metrics))
				for k, v := range p.Metrics {
					if !math.IsNaN(v) && !math.IsInf(v, 0) {
						m[k] = v
					}
				}
				p.Metrics = m
				break
			}
		}
		probes[i] = p
	}
	n.Probes = probes
	return n
}

var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// writeStatusJSON writes v, or, when v holds a metric JSON cannot encode,
// what finite returns.
func writeStatusJSON(w http.ResponseWriter, code int, v any, finite func() any) {
	buf := bufPool.Get().(*bytes.Buffer)
	defer putBuf(buf)
	err := encode(buf, v)
	var uve *json.UnsupportedValueError
	if errors.As(err, &uve) {
		buf.Reset()
		err = encode(buf, finite())
	}
	writeBuf(w, code, buf, err)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	buf := bufPool.Get().(*bytes.Buffer)
	defer putBuf(buf)
	writeBuf(w, code, buf, encode(buf, v))
}

// encode writes v as one line of JSON. HTML is not escaped: the answers are
// served as application/json with nosniff, and errors quoting URLs stay
// readable.
func encode(buf *bytes.Buffer, v any) error {
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, struct {
		Error string `json:"error"`
	}{msg})
}

func writeBuf(w http.ResponseWriter, code int, buf *bytes.Buffer, err error) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	if err != nil {
		code = http.StatusInternalServerError
		buf.Reset()
		buf.WriteString(`{"error":"encoding the answer failed"}` + "\n")
	}
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(code)
	_, _ = w.Write(buf.Bytes())
}

// putBuf returns a buffer to the pool unless it grew huge (a one-off big
// cluster document should not be pinned forever).
func putBuf(buf *bytes.Buffer) {
	if buf.Cap() > 4<<20 {
		return
	}
	buf.Reset()
	bufPool.Put(buf)
}

// parseStatusQuery reads GET /v1/status's one parameter, node; anything
// else, or a malformed query, is refused rather than ignored.
func parseStatusQuery(raw string) (node string, err error) {
	v, err := url.ParseQuery(raw)
	if err != nil {
		return "", fmt.Errorf("malformed query: %v", err)
	}
	for k, vals := range v {
		if k != "node" {
			return "", fmt.Errorf("unknown parameter %q (only node)", k)
		}
		if len(vals) != 1 || vals[0] == "" {
			return "", errors.New("node must be given once, with a member's name")
		}
	}
	return v.Get("node"), nil
}
