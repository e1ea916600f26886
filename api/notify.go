package api

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"

	"github.com/satellite-hq/satellite/dsl"
)

// NotifyBackend is what a Backend with notifiers may also implement to
// serve POST /v1/notify/test; without it the API answers 501.
type NotifyBackend interface {
	// TestNotifier sends a test message through the notifier at addr
	// (TYPE.NAME) now, bypassing group_wait and the rate limit, and
	// returns the receiver's answer. ErrNoNotifier when there is none.
	TestNotifier(ctx context.Context, addr string) (NotifyTestAnswer, error)
}

// ErrNoNotifier is TestNotifier's error for an address no notifier has;
// the API answers 404 with it.
var ErrNoNotifier = errors.New("no such notifier")

// NotifyTestRequest is the body of POST /v1/notify/test.
type NotifyTestRequest struct {
	// Notifier is TYPE.NAME, or notifier.TYPE.NAME as the config writes it.
	Notifier string `json:"notifier"`
}

// NotifyTestAnswer is the body of its answer: what the receiver said.
type NotifyTestAnswer struct {
	Notifier string `json:"notifier"`
	// Delivered is true when the receiver took the message.
	Delivered bool `json:"delivered"`
	// Status is the receiver's status (HTTP, or an SMTP reply code); 0
	// when it gave none (unreachable).
	Status int `json:"status,omitempty"`
	// Answer is the start of the receiver's answer.
	Answer string `json:"answer,omitempty"`
	// Error says why it was not delivered.
	Error string `json:"error,omitempty"`
	// Notifiers lists the declared notifiers, with ErrNoNotifier.
	Notifiers []string `json:"notifiers,omitempty"`
}

func (s *Server) handleNotifyTest(w http.ResponseWriter, r *http.Request) {
	nb, ok := s.b.(NotifyBackend)
	if !ok {
		writeError(w, http.StatusNotImplemented, "this agent does not send notifications")
		return
	}
	var req NotifyTestRequest
	dec := json.NewDecoder(io.LimitReader(r.Body, 4<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil || req.Notifier == "" {
		writeError(w, http.StatusBadRequest, `the body must be {"notifier":"TYPE.NAME"}`)
		return
	}
	ans, err := nb.TestNotifier(r.Context(), req.Notifier)
	clean := func(m string) string { return dsl.Redact(m, s.secrets) }
	ans.Answer, ans.Error = clean(ans.Answer), clean(ans.Error)
	switch {
	case errors.Is(err, ErrNoNotifier):
		ans.Error = clean(err.Error())
		writeJSON(w, http.StatusNotFound, ans)
	case err != nil:
		writeError(w, http.StatusInternalServerError, clean(err.Error()))
	default:
		// The agent did its part: the receiver's verdict is in the body.
		writeJSON(w, http.StatusOK, ans)
	}
}

// NotifyTest sends POST /v1/notify/test; it needs the full token.
func (c *Client) NotifyTest(ctx context.Context, notifier string) (NotifyTestAnswer, error) {
	var a NotifyTestAnswer
	data, err := c.do(ctx, http.MethodPost, "/v1/notify/test", NotifyTestRequest{Notifier: notifier})
	var se *StatusError
	if errors.As(err, &se) && se.Code == http.StatusNotFound {
		// Not found, with the notifiers there are.
		_ = json.Unmarshal(data, &a)
		return a, err
	}
	if err != nil {
		return a, err
	}
	if err := json.Unmarshal(data, &a); err != nil {
		return a, errors.New("the agent answered the notification test with what is not the expected JSON")
	}
	return a, nil
}
