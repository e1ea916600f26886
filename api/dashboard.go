package api

import (
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/satellite-hq/satellite/health"
)

// The results query's limits.
const (
	// DefaultResultsSince is how far back GET /v1/history/results reads
	// without since.
	DefaultResultsSince = time.Hour
	// MaxResultBuckets caps the buckets one results query may ask for.
	MaxResultBuckets = 2000
)

// CheckBackend is what a Backend may also implement to serve /v1/checks:
// the checks as this node compiled them, sorted by address. Without it the
// API answers 501 there.
type CheckBackend interface {
	Checks() []health.CheckConfig
}

// sessionAnswer is the body of GET /v1/session.
type sessionAnswer struct {
	Node    string `json:"node"`
	Access  string `json:"access"`
	Auth    bool   `json:"auth"`
	Version string `json:"version"`
}

// handleSession answers what the caller's token grants, for a page that
// hides what it could not do.
func (s *Server) handleSession(w http.ResponseWriter, r *http.Request) {
	if r.URL.RawQuery != "" {
		writeError(w, http.StatusBadRequest, "GET /v1/session takes no parameters")
		return
	}
	n := s.b.LocalStatus()
	access := "read"
	if s.auth.grantOf(r) == grantFull {
		access = "full"
	}
	writeJSON(w, http.StatusOK, sessionAnswer{Node: n.Name, Access: access, Auth: s.auth.enabled(), Version: n.Version})
}

func (s *Server) handleChecks(w http.ResponseWriter, r *http.Request) {
	v, err := strictQuery(r.URL.RawQuery, "check")
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	cb, ok := s.b.(CheckBackend)
	if !ok {
		writeError(w, http.StatusNotImplemented, "this agent does not list its checks")
		return
	}
	all := cb.Checks()
	if _, one := v["check"]; one {
		addr := v.Get("check")
		for _, c := range all {
			if c.Address == addr {
				writeJSON(w, http.StatusOK, []health.CheckConfig{c})
				return
			}
		}
		writeError(w, http.StatusNotFound, fmt.Sprintf("this node has no check %q", addr))
		return
	}
	if all == nil {
		all = []health.CheckConfig{}
	}
	writeJSON(w, http.StatusOK, all)
}

func (s *Server) handleResults(w http.ResponseWriter, r *http.Request) {
	q, err := parseResultsQuery(r.URL.RawQuery, time.Now(), s.b.LocalStatus().Name)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if s.results == nil {
		writeError(w, http.StatusNotFound, "this node keeps no history (agent.history = false)")
		return
	}
	series, err := s.results.Results(r.Context(), q)
	if err != nil {
		if r.Context().Err() == nil {
			s.log.Error("reading results", "error", err)
		}
		writeError(w, http.StatusInternalServerError, "reading results failed")
		return
	}
	writeJSON(w, http.StatusOK, series)
}

// strictQuery parses a raw query that may hold only the parameters named,
// each once.
func strictQuery(raw string, names ...string) (url.Values, error) {
	v, err := url.ParseQuery(raw)
	if err != nil {
		return nil, fmt.Errorf("the query is malformed: %v", err)
	}
	for k, vals := range v {
		known := false
		for _, n := range names {
			known = known || k == n
		}
		if !known {
			return nil, fmt.Errorf("unknown parameter %q; the parameters are %s", k, joinNames(names))
		}
		if len(vals) > 1 {
			return nil, fmt.Errorf("parameter %q given %d times", k, len(vals))
		}
	}
	return v, nil
}

func joinNames(names []string) string {
	switch len(names) {
	case 0:
		return "none"
	case 1:
		return names[0]
	}
	out := ""
	for i, n := range names[:len(names)-1] {
		if i > 0 {
			out += ", "
		}
		out += n
	}
	return out + " and " + names[len(names)-1]
}

// parseResultsQuery reads check, node, since, until and step; node
// defaults to self, since to an hour back, until to now, step to
// health.AutoStep of the span.
func parseResultsQuery(raw string, now time.Time, self string) (health.ResultQuery, error) {
	q := health.ResultQuery{Node: self, Until: now.UTC(), Since: now.Add(-DefaultResultsSince).UTC()}
	v, err := strictQuery(raw, "check", "node", "since", "until", "step")
	if err != nil {
		return q, err
	}
	if q.Check = v.Get("check"); q.Check == "" {
		return q, fmt.Errorf("check is required: the check's address, such as http.api")
	}
	if n := v.Get("node"); n != "" {
		q.Node = n
	}
	if s := v.Get("since"); s != "" {
		if q.Since, err = health.ParseSince(s, now, time.UTC); err != nil {
			return q, err
		}
	}
	if s := v.Get("until"); s != "" {
		if q.Until, err = health.ParseSince(s, now, time.UTC); err != nil {
			return q, fmt.Errorf("until: %w", err)
		}
		if q.Until.IsZero() {
			return q, fmt.Errorf("until %q: want a time, or a duration back from now above zero", s)
		}
	}
	if !q.Until.After(q.Since) {
		return q, fmt.Errorf("until (%s) must come after since (%s)", q.Until.Format(time.RFC3339), q.Since.Format(time.RFC3339))
	}
	span := q.Until.Sub(q.Since)
	if s := v.Get("step"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d < time.Second {
			return q, fmt.Errorf("step %q: want a Go duration of at least 1s, such as 30s, 5m or 1h", s)
		}
		q.Step = d
	} else {
		q.Step = health.AutoStep(span)
	}
	if n := span / q.Step; n > MaxResultBuckets {
		return q, fmt.Errorf("step %s over %s makes %d buckets, more than %d: take a longer step", q.Step, span.Round(time.Second), n, MaxResultBuckets)
	}
	return q, nil
}
