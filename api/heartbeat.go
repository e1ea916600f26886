package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// HeartbeatBackend is what a Backend may also implement to serve POST
// /v1/heartbeat/NAME, the pings of the heartbeat checks; without it the
// API answers 501.
type HeartbeatBackend interface {
	// HeartbeatCheck returns the heartbeat check at address
	// (heartbeat.NAME or heartbeat.NAME["key"]) that this node runs. An
	// error wrapping ErrNoHeartbeat answers 404 (to a caller allowed to
	// learn it), others 500; their text is shown to the client.
	HeartbeatCheck(address string) (HeartbeatCheck, error)
}

// HeartbeatCheck is one heartbeat check, as HeartbeatBackend found it.
type HeartbeatCheck interface {
	// Address is the check's address.
	Address() string
	// Token is the check's own token (its token_file, read now, trimmed);
	// has is false when the check has none. err, when the check has a
	// token file that cannot be read, never holds the token: then only the
	// API's full token is accepted for the check.
	Token() (token string, has bool, err error)
	// Beat records a heartbeat now, a failure when failed, with the
	// message the request carried (the API has bounded it; the check
	// cleans it). ctx is not cancelled when the client goes away.
	Beat(ctx context.Context, failed bool, message string) (Heartbeat, error)
}

// Heartbeat is the answer of POST /v1/heartbeat/NAME: the heartbeat as the
// check recorded it.
type Heartbeat struct {
	Check string    `json:"check"`
	At    time.Time `json:"at"`
	// Status is "ok", or "fail" for a heartbeat that reported a failure.
	Status  string `json:"status"`
	Message string `json:"message,omitempty"`
}

// ErrNoHeartbeat marks a name that is no heartbeat check of this node.
var ErrNoHeartbeat = errors.New("no heartbeat check")

// The path of the heartbeats, and its bounds.
const (
	heartbeatPrefix = "/v1/heartbeat/"
	// heartbeatAddressPrefix is what a check's address starts with; the
	// path may name it in full.
	heartbeatAddressPrefix = "heartbeat."
	// MaxHeartbeatName bounds NAME, unescaped.
	MaxHeartbeatName = 1024
	// MaxHeartbeatBody is what is read of a heartbeat's body, its message;
	// the rest of a longer one is ignored, not refused.
	MaxHeartbeatBody = 4 << 10
)

// dispatchHeartbeat serves /v1/heartbeat/NAME; it reports whether the path
// was under the prefix. Its auth is its own: the API's full token, or the
// check's own token (token_file), or, on an API without a token, nothing for
// a check without one. The read token is not enough. As elsewhere, a
// caller with no valid token learns nothing of what exists: an unknown name
// is 401 to it, 404 to the others.
func (s *Server) dispatchHeartbeat(w http.ResponseWriter, r *http.Request) bool {
	if !strings.HasPrefix(r.URL.Path, heartbeatPrefix) {
		return false
	}
	if r.Method != http.MethodPost {
		// The same for every name: it tells nothing of what exists.
		w.Header().Set("Allow", http.MethodPost)
		writeError(w, http.StatusMethodNotAllowed, "method not allowed")
		return true
	}
	given, _ := bearer(r.Header.Get("Authorization"))
	g := s.auth.tokenGrant(given)
	// known is what a caller with a valid token, or any caller of an API
	// without one, may learn: that a name is malformed or unknown.
	known := !s.auth.enabled() || g != grantNone
	refuse := func() {
		w.Header().Set("WWW-Authenticate", `Bearer realm="satellite"`)
		writeError(w, http.StatusUnauthorized, "unauthorized")
	}

	raw, ok := strings.CutPrefix(r.URL.EscapedPath(), heartbeatPrefix)
	if !ok {
		raw = url.PathEscape(strings.TrimPrefix(r.URL.Path, heartbeatPrefix))
	}
	name, err := ParseHeartbeatName(raw)
	if err != nil {
		if !known {
			refuse()
			return true
		}
		writeError(w, http.StatusBadRequest, err.Error())
		return true
	}
	address := heartbeatAddressPrefix + name
	hb, ok := s.b.(HeartbeatBackend)
	if !ok {
		if !known {
			refuse()
			return true
		}
		writeError(w, http.StatusNotImplemented, "this agent does not support heartbeats")
		return true
	}
	check, err := hb.HeartbeatCheck(address)
	switch {
	case err != nil && !known:
		refuse()
		return true
	case errors.Is(err, ErrNoHeartbeat):
		writeError(w, http.StatusNotFound, s.redact(err.Error()))
		return true
	case err != nil:
		msg := s.redact(err.Error())
		s.log.Error("finding a heartbeat check failed", "check", address, "error", msg)
		writeError(w, http.StatusInternalServerError, "finding the check failed: "+msg)
		return true
	}

	// Every case is judged, so that the time taken says little of which
	// token matched; the digests are compared in constant time.
	token, has, terr := check.Token()
	if terr != nil {
		s.log.Warn("a heartbeat check's token_file cannot be read: only the API's full token is accepted for it",
			"check", check.Address(), "error", s.redact(terr.Error()))
	}
	own := has && terr == nil && token != "" && given != "" && tokenEqual(given, token)
	switch {
	case g == grantFull, own:
	case !s.auth.enabled() && !has:
		// A loopback API without a token, a check without one.
	case g == grantRead:
		writeError(w, http.StatusForbidden, "forbidden")
		return true
	default:
		refuse()
		return true
	}
	s.handleHeartbeat(w, r, check)
	return true
}

func (s *Server) handleHeartbeat(w http.ResponseWriter, r *http.Request, check HeartbeatCheck) {
	failed, err := parseHeartbeatQuery(r.URL.RawQuery)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxHeartbeatBody))
	if err != nil {
		writeError(w, http.StatusBadRequest, "reading the body failed: "+err.Error())
		return
	}
	hb, err := check.Beat(context.WithoutCancel(r.Context()), failed, string(body))
	if err != nil {
		msg := s.redact(err.Error())
		s.log.Error("recording a heartbeat failed", "check", check.Address(), "error", msg)
		writeError(w, http.StatusInternalServerError, "recording the heartbeat failed: "+msg)
		return
	}
	s.log.Debug("heartbeat", "check", hb.Check, "status", hb.Status)
	writeJSON(w, http.StatusOK, hb)
}

// ParseHeartbeatName reads NAME of /v1/heartbeat/NAME from the escaped
// path segment raw, and returns it without "heartbeat.": a check's name
// (an HCL identifier: letters, digits, "_" and "-"), perhaps with a
// for_each key quoted as in the check's address, `backup["db"]`. A "/"
// must be escaped (%2F, in a key); a name such as "..", anything with a
// control character, or a key not quoted as Go quotes it is refused.
func ParseHeartbeatName(raw string) (string, error) {
	const shape = `a heartbeat is posted to /v1/heartbeat/NAME, NAME being a heartbeat check's name, such as backup, or its name and for_each key, such as backup["db"] (escaped: backup%5B%22db%22%5D)`
	if raw == "" {
		return "", errors.New(shape)
	}
	if strings.Contains(raw, "/") {
		return "", errors.New(shape + "; a / in a key is escaped as %2F")
	}
	if len(raw) > 3*MaxHeartbeatName {
		return "", fmt.Errorf("the name is longer than %d bytes", MaxHeartbeatName)
	}
	name, err := url.PathUnescape(raw)
	if err != nil {
		return "", fmt.Errorf("the name is malformed: %v", err)
	}
	name = strings.TrimPrefix(name, heartbeatAddressPrefix)
	switch {
	case len(name) > MaxHeartbeatName:
		return "", fmt.Errorf("the name is longer than %d bytes", MaxHeartbeatName)
	case !utf8.ValidString(name):
		return "", errors.New("the name is not UTF-8")
	case strings.ContainsFunc(name, unicode.IsControl):
		return "", errors.New("the name holds a control character")
	}
	block, key, hasKey := strings.Cut(name, "[")
	if !hclsyntax.ValidIdentifier(block) {
		return "", fmt.Errorf("%q is not a check's name: %s", truncate(block, 40), shape)
	}
	if hasKey {
		quoted, ok := strings.CutSuffix(key, "]")
		k, err := strconv.Unquote(quoted)
		if !ok || err != nil || strconv.Quote(k) != quoted {
			return "", fmt.Errorf(`the key of %q is not quoted as in the check's address, such as backup["db"]`, truncate(name, 60))
		}
	}
	return name, nil
}

// truncate cuts s to n bytes at most, on a character boundary, with "...".
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "..."
}

// parseHeartbeatQuery reads the one parameter, status: ok (the default) or
// fail.
func parseHeartbeatQuery(raw string) (failed bool, err error) {
	v, err := url.ParseQuery(raw)
	if err != nil {
		return false, fmt.Errorf("the query is malformed: %v", err)
	}
	for k, vals := range v {
		if k != "status" {
			return false, fmt.Errorf("unknown parameter %q (only status)", truncate(k, 40))
		}
		if len(vals) != 1 {
			return false, errors.New("status must be given once")
		}
	}
	switch st := v.Get("status"); st {
	case "", "ok":
		return false, nil
	case "fail":
		return true, nil
	default:
		return false, fmt.Errorf("status must be ok or fail, not %q", truncate(st, 40))
	}
}

// Heartbeat sends POST /v1/heartbeat/NAME (name escaped here) with message
// as its body, ?status=fail when failed, and returns the heartbeat
// recorded. It needs the full token or the check's own.
func (c *Client) Heartbeat(ctx context.Context, name string, failed bool, message string) (Heartbeat, error) {
	var hb Heartbeat
	path := heartbeatPrefix + url.PathEscape(name)
	if failed {
		path += "?status=fail"
	}
	data, err := c.doRaw(ctx, http.MethodPost, path, "text/plain; charset=utf-8", strings.NewReader(message))
	if err != nil {
		return hb, err
	}
	if err := json.Unmarshal(data, &hb); err != nil {
		return hb, fmt.Errorf("the agent at %s answered POST %s with what is not the expected JSON: %w", c.base, path, err)
	}
	return hb, nil
}
