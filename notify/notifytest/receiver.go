// Package notifytest is a real webhook receiver on loopback for tests: it
// records every message posted to it, checks signatures, and can be told
// to answer with an error status.
package notifytest

import (
	"crypto/hmac"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/satellite-hq/satellite/notify"
	"github.com/satellite-hq/satellite/notify/webhook"
)

// Receiver is a loopback webhook receiver.
type Receiver struct {
	*httptest.Server
	// Secret, when set, is the signing secret requests must be signed with.
	Secret []byte

	mu       sync.Mutex
	messages []notify.Message
	headers  []http.Header
	status   int
	requests int
	bad      []string
}

// NewReceiver starts a receiver; it is closed when the test ends.
func NewReceiver(t testing.TB) *Receiver {
	r := NewHandler()
	r.Server = httptest.NewServer(r)
	t.Cleanup(r.Close)
	return r
}

// NewHandler is a receiver without a server of its own, for a listener
// the caller serves it on (a network namespace's address).
func NewHandler() *Receiver { return &Receiver{status: http.StatusOK} }

// ServeHTTP takes one request as the receiver does.
func (r *Receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) { r.serve(w, req) }

func (r *Receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(req.Body, 8<<20))
	r.mu.Lock()
	defer r.mu.Unlock()
	r.requests++
	if r.status/100 != 2 {
		http.Error(w, "receiver told to fail", r.status)
		return
	}
	if len(r.Secret) > 0 && !hmac.Equal([]byte(req.Header.Get(webhook.SignatureHeader)), []byte(webhook.Sign(r.Secret, body))) {
		r.bad = append(r.bad, "bad signature")
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	var m notify.Message
	if err := json.Unmarshal(body, &m); err != nil {
		r.bad = append(r.bad, "not JSON: "+err.Error())
		http.Error(w, "bad JSON", http.StatusBadRequest)
		return
	}
	if m.Version != notify.PayloadVersion || m.ID == "" || req.Header.Get(webhook.MessageIDHeader) != m.ID {
		r.bad = append(r.bad, "bad envelope")
	}
	r.messages = append(r.messages, m)
	r.headers = append(r.headers, req.Header.Clone())
	w.WriteHeader(http.StatusNoContent)
}

// SetStatus makes the receiver answer every request with status (200: take
// them again).
func (r *Receiver) SetStatus(status int) {
	r.mu.Lock()
	r.status = status
	r.mu.Unlock()
}

// Messages returns the messages taken so far.
func (r *Receiver) Messages() []notify.Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]notify.Message(nil), r.messages...)
}

// Headers returns the headers of the messages taken, in order.
func (r *Receiver) Headers() []http.Header {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]http.Header(nil), r.headers...)
}

// Requests counts every request, refused ones included.
func (r *Receiver) Requests() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.requests
}

// Problems lists the requests that broke the payload's contract.
func (r *Receiver) Problems() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.bad...)
}

// Alerts returns every alert taken, in order.
func (r *Receiver) Alerts() []notify.Alert {
	var out []notify.Alert
	for _, m := range r.Messages() {
		out = append(out, m.Alerts...)
	}
	return out
}

// WaitMessages waits until n messages are taken (or fails the test after
// timeout) and returns them.
func (r *Receiver) WaitMessages(t testing.TB, n int, timeout time.Duration) []notify.Message {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ms := r.Messages()
		if len(ms) >= n {
			return ms
		}
		if time.Now().After(deadline) {
			t.Fatalf("the receiver took %d messages in %v, want %d: %+v", len(ms), timeout, n, ms)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
