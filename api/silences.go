package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/satellite-hq/satellite/notify/silence"
)

// SilenceBackend is what a Backend that sends notifications may also
// implement to serve /v1/silences; without it the API answers 501. The
// agent's implementation is a silence.Store that it gossips to its peers.
type SilenceBackend interface {
	// Silences are the silences active now; with includeExpired, also
	// those that ended and are still kept (silence.Store.List).
	Silences(includeExpired bool) []silence.Silence
	// AddSilence makes a new silence (silence.Store.Add) of a request the
	// API has checked with silence.Prepare: Created and Expires are set,
	// ID and Version are not. Errors wrapping silence.ErrInvalid answer
	// 400, silence.ErrFull 409, others 500. ctx is not cancelled when the
	// client goes away.
	AddSilence(ctx context.Context, s silence.Silence) (silence.Silence, error)
	// ExpireSilence ends silence id now (silence.Store.Expire); an error
	// wrapping silence.ErrNotFound answers 404. ctx is not cancelled when
	// the client goes away.
	ExpireSilence(ctx context.Context, id string) (silence.Silence, error)
}

// The paths of the silences: the list, and one silence by ID under the
// prefix (the route table is exact, so dispatch asks dispatchSilence).
const (
	silencesPath  = "/v1/silences"
	silencePrefix = silencesPath + "/"
	// maxSilenceBody bounds the body of POST /v1/silences: a silence is
	// a few hundred bytes.
	maxSilenceBody = 8 << 10
)

// SilenceRequest is the body of POST /v1/silences.
type SilenceRequest struct {
	// Node and Check are globs (path.Match); empty is "*".
	Node  string `json:"node,omitempty"`
	Check string `json:"check,omitempty"`
	// Duration is a Go duration ("90m", "2h", "48h"); Expires an RFC 3339
	// time instead. One of the two.
	Duration string `json:"duration,omitempty"`
	Expires  string `json:"expires,omitempty"`
	Author   string `json:"author"`
	Reason   string `json:"reason"`
	// All must be true for a silence of every check on every node (both
	// globs "*"), so that an empty variable in a script does not silence
	// the whole cluster; it goes with nothing else.
	All bool `json:"all,omitempty"`
}

// silenceBackend returns the backend's silences, or answers 501.
func (s *Server) silenceBackend(w http.ResponseWriter) (SilenceBackend, bool) {
	sb, ok := s.b.(SilenceBackend)
	if !ok {
		writeError(w, http.StatusNotImplemented, "this agent does not support silences")
	}
	return sb, ok
}

// dispatchSilence serves /v1/silences/ID (DELETE, the full token), with the
// auth of dispatch; it reports whether the path was under the prefix.
func (s *Server) dispatchSilence(w http.ResponseWriter, r *http.Request) bool {
	id, ok := strings.CutPrefix(r.URL.Path, silencePrefix)
	if !ok {
		return false
	}
	switch {
	case id == "" || strings.Contains(id, "/"):
		if s.allowed(w, r, Read, false) {
			writeError(w, http.StatusNotFound, "not found")
		}
	case r.Method != http.MethodDelete:
		if s.allowed(w, r, Read, false) {
			w.Header().Set("Allow", http.MethodDelete)
			writeError(w, http.StatusMethodNotAllowed, "method not allowed")
		}
	case s.allowed(w, r, Full, true):
		s.handleSilenceExpire(w, r, id)
	}
	return true
}

func (s *Server) handleSilenceList(w http.ResponseWriter, r *http.Request) {
	expired, err := parseSilencesQuery(r.URL.RawQuery)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	sb, ok := s.silenceBackend(w)
	if !ok {
		return
	}
	list := sb.Silences(expired)
	if list == nil {
		list = []silence.Silence{}
	}
	writeJSON(w, http.StatusOK, list)
}

// parseSilencesQuery reads GET /v1/silences's one parameter, expired (1 or
// true, 0 or false); anything else is refused.
func parseSilencesQuery(raw string) (expired bool, err error) {
	v, err := url.ParseQuery(raw)
	if err != nil {
		return false, fmt.Errorf("the query is malformed: %v", err)
	}
	for k, vals := range v {
		if k != "expired" {
			return false, fmt.Errorf("unknown parameter %q (only expired)", k)
		}
		if len(vals) != 1 {
			return false, errors.New("expired must be given once")
		}
	}
	switch e := v.Get("expired"); e {
	case "", "0", "false":
		return false, nil
	case "1", "true":
		return true, nil
	default:
		return false, fmt.Errorf("expired must be 1 or 0, not %q", e)
	}
}

func (s *Server) handleSilenceAdd(w http.ResponseWriter, r *http.Request) {
	sb, ok := s.silenceBackend(w)
	if !ok {
		return
	}
	req, err := decodeSilenceRequest(r.Body)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	sl, err := req.silence(time.Now())
	if err != nil {
		writeError(w, http.StatusBadRequest, s.redact(err.Error()))
		return
	}
	// Once saved, the silence is gossiped: the client leaving does not
	// undo it, so it does not cut it either.
	added, err := sb.AddSilence(context.WithoutCancel(r.Context()), sl)
	switch {
	case errors.Is(err, silence.ErrInvalid):
		writeError(w, http.StatusBadRequest, s.redact(err.Error()))
		return
	case errors.Is(err, silence.ErrFull):
		writeError(w, http.StatusConflict, s.redact(err.Error()))
		return
	case err != nil:
		msg := s.redact(err.Error())
		s.log.Error("adding a silence failed", "error", msg)
		writeError(w, http.StatusInternalServerError, "adding the silence failed: "+msg)
		return
	}
	s.log.Info("silence added", "id", added.ID, "node", added.Node, "check", added.Check,
		"author", added.Author, "expires", added.Expires)
	w.Header().Set("Location", silencePrefix+added.ID)
	writeJSON(w, http.StatusCreated, added)
}

// decodeSilenceRequest reads the body: one JSON object of SilenceRequest's
// fields, no other.
func decodeSilenceRequest(body io.Reader) (SilenceRequest, error) {
	var req SilenceRequest
	const shape = `the body must be {"node":GLOB,"check":GLOB,"duration":"2h" or "expires":RFC3339,"author":TEXT,"reason":TEXT}`
	dec := json.NewDecoder(io.LimitReader(body, maxSilenceBody+1))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		switch {
		case errors.Is(err, io.EOF):
			return req, errors.New(shape + "; it is empty")
		case errors.Is(err, io.ErrUnexpectedEOF):
			return req, fmt.Errorf("%s; it is cut short, or longer than %d KiB", shape, maxSilenceBody>>10)
		}
		return req, fmt.Errorf("%s: %v", shape, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return req, errors.New(shape + ": one object, nothing after it")
	}
	return req, nil
}

// silence checks the request and makes the silence it asks for, from now.
func (req SilenceRequest) silence(now time.Time) (silence.Silence, error) {
	created := now.UTC().Truncate(time.Second)
	sl := silence.Silence{Node: req.Node, Check: req.Check, Author: req.Author, Reason: req.Reason, Created: created}
	switch {
	case req.Duration != "" && req.Expires != "":
		return sl, errors.New("give duration or expires, not both")
	case req.Duration != "":
		d, err := time.ParseDuration(req.Duration)
		if err != nil {
			return sl, fmt.Errorf("duration %q is not a Go duration such as 90m, 2h or 48h (there is no d unit)", req.Duration)
		}
		if d < silence.MinDuration || d > silence.MaxDuration {
			return sl, fmt.Errorf("duration must be from %s to %s (90 days), not %s", silence.MinDuration, silence.MaxDuration, d)
		}
		sl.Expires = created.Add(d)
	case req.Expires != "":
		t, err := time.Parse(time.RFC3339, req.Expires)
		if err != nil {
			return sl, fmt.Errorf("expires %q is not an RFC 3339 time such as 2026-11-25T18:00:00Z", req.Expires)
		}
		if !t.After(now) {
			return sl, fmt.Errorf("expires %s is past", t.Format(time.RFC3339))
		}
		sl.Expires = t
	default:
		return sl, errors.New(`give how long the silence lasts: "duration":"2h", or "expires":"2026-11-25T18:00:00Z"`)
	}
	sl, err := silence.Prepare(sl)
	if err != nil {
		return sl, err
	}
	switch {
	case sl.Everything() && !req.All:
		return sl, errors.New(`node and check are both "*": this silences every check on every node; send "all":true if that is what you mean`)
	case req.All && !sl.Everything():
		return sl, errors.New(`"all":true is for a silence of every check on every node: it goes without node and check`)
	}
	return sl, nil
}

func (s *Server) handleSilenceExpire(w http.ResponseWriter, r *http.Request, id string) {
	sb, ok := s.silenceBackend(w)
	if !ok {
		return
	}
	if !silence.IsID(id) {
		if len(id) > 40 {
			id = id[:40] + "..."
		}
		writeError(w, http.StatusBadRequest, fmt.Sprintf("a silence ID is 16 hex digits, not %q", id))
		return
	}
	sl, err := sb.ExpireSilence(context.WithoutCancel(r.Context()), id)
	switch {
	case errors.Is(err, silence.ErrNotFound):
		writeError(w, http.StatusNotFound, fmt.Sprintf("no silence has ID %s (it may have ended more than %s ago)", id, silence.TombstoneTTL))
		return
	case err != nil:
		msg := s.redact(err.Error())
		s.log.Error("expiring a silence failed", "id", id, "error", msg)
		writeError(w, http.StatusInternalServerError, "expiring the silence failed: "+msg)
		return
	}
	s.log.Info("silence expired", "id", sl.ID, "node", sl.Node, "check", sl.Check, "expired_at", sl.ExpiredAt)
	writeJSON(w, http.StatusOK, sl)
}

// Silences fetches GET /v1/silences (with expired, also those that ended
// and are still kept), and the answer as sent. The read token is enough.
func (c *Client) Silences(ctx context.Context, expired bool) ([]silence.Silence, []byte, error) {
	path := silencesPath
	if expired {
		path += "?expired=1"
	}
	var list []silence.Silence
	raw, err := c.get(ctx, path, &list)
	return list, raw, err
}

// AddSilence sends POST /v1/silences and returns the silence made; it needs
// the full token.
func (c *Client) AddSilence(ctx context.Context, req SilenceRequest) (silence.Silence, error) {
	return c.silenceDo(ctx, http.MethodPost, silencesPath, req)
}

// ExpireSilence sends DELETE /v1/silences/ID and returns the silence as it
// now is; it needs the full token. An unknown ID is a *StatusError of 404.
func (c *Client) ExpireSilence(ctx context.Context, id string) (silence.Silence, error) {
	return c.silenceDo(ctx, http.MethodDelete, silencePrefix+url.PathEscape(id), nil)
}

func (c *Client) silenceDo(ctx context.Context, method, path string, body any) (silence.Silence, error) {
	var sl silence.Silence
	data, err := c.do(ctx, method, path, body)
	if err != nil {
		return sl, err
	}
	if err := json.Unmarshal(data, &sl); err != nil {
		return sl, fmt.Errorf("the agent at %s answered %s %s with what is not the expected JSON: %w", c.base, method, path, err)
	}
	return sl, nil
}
