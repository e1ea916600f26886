package pagerduty_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"
)

// fakePD is a fake: PagerDuty cannot be reached from here. It is a loopback
// Events API v2 endpoint (POST /v2/enqueue) that checks every event against
// the API's documented schema
// (https://developer.pagerduty.com/docs/events-api-v2/trigger-events/,
// .../resolve-events/, and the API reference of /v2/enqueue) and answers
// as PagerDuty does: 202 {"status":"success","dedup_key":...}, or 400
// {"status":"invalid event","errors":[...]} for an event it would refuse.
// The checks are the documentation's, not satellite's code: Content-Type
// application/json; a 32-character routing_key; event_action trigger,
// acknowledge or resolve; dedup_key at most 255 characters, required to
// acknowledge or resolve; for a trigger a payload with a summary (at most
// 1024 characters), a source and a severity of critical, error, warning or
// info, an ISO 8601 timestamp when there is one, and custom_details an
// object. It keeps the incidents the events open and resolve.
type fakePD struct {
	*httptest.Server

	mu        sync.Mutex
	events    []map[string]any
	problems  []string
	requests  int
	script    []int // statuses to answer the next requests with (0: as PagerDuty would)
	echoKey   bool  // put the routing key in refusals, as a careless proxy would
	incidents map[string]string
}

func newFakePD(t *testing.T) *fakePD {
	f := &fakePD{incidents: map[string]string{}}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Close)
	return f
}

// URL is the events endpoint.
func (f *fakePD) URL() string { return f.Server.URL + "/v2/enqueue" }

// answer makes the next requests answer these statuses, in order.
func (f *fakePD) answer(statuses ...int) {
	f.mu.Lock()
	f.script = append(f.script, statuses...)
	f.mu.Unlock()
}

func (f *fakePD) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests++
	var ev map[string]any
	_ = json.Unmarshal(body, &ev)
	if len(f.script) > 0 {
		status := f.script[0]
		f.script = f.script[1:]
		if status != 0 {
			msg := "told to fail"
			if f.echoKey {
				msg += fmt.Sprintf(" for routing_key %v", ev["routing_key"])
			}
			if status == http.StatusTooManyRequests {
				w.Header().Set("Retry-After", "7")
			}
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			_ = json.NewEncoder(w).Encode(map[string]any{"status": "failure", "message": msg, "errors": []string{msg}})
			return
		}
	}
	if r.Method != http.MethodPost || r.URL.Path != "/v2/enqueue" {
		http.Error(w, `{"status":"not found"}`, http.StatusNotFound)
		return
	}
	bad := checkEvent(r.Header.Get("Content-Type"), body)
	if len(bad) > 0 {
		f.problems = append(f.problems, bad...)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		_ = json.NewEncoder(w).Encode(map[string]any{"status": "invalid event", "message": "Event object is invalid", "errors": bad})
		return
	}
	key, _ := ev["dedup_key"].(string)
	if key == "" {
		key = fmt.Sprintf("generated-%d", f.requests)
	}
	switch ev["event_action"] {
	case "trigger":
		f.incidents[key] = "triggered"
	case "resolve":
		if _, open := f.incidents[key]; open {
			f.incidents[key] = "resolved"
		}
	}
	f.events = append(f.events, ev)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusAccepted)
	_ = json.NewEncoder(w).Encode(map[string]any{"status": "success", "message": "Event processed", "dedup_key": key})
}

// Events are the events taken, in order.
func (f *fakePD) Events() []map[string]any {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]map[string]any(nil), f.events...)
}

// Incidents are the incidents by dedup_key: "triggered" or "resolved".
func (f *fakePD) Incidents() map[string]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make(map[string]string, len(f.incidents))
	for k, v := range f.incidents {
		out[k] = v
	}
	return out
}

// Problems lists what broke the schema.
func (f *fakePD) Problems() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.problems...)
}

// Requests counts every request, refused ones included.
func (f *fakePD) Requests() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.requests
}

var severities = map[string]bool{"critical": true, "error": true, "warning": true, "info": true}

func checkEvent(contentType string, body []byte) (bad []string) {
	badf := func(format string, args ...any) { bad = append(bad, fmt.Sprintf(format, args...)) }
	if !strings.HasPrefix(contentType, "application/json") {
		badf("Content-Type %q, want application/json", contentType)
	}
	var ev map[string]any
	if err := json.Unmarshal(body, &ev); err != nil {
		return append(bad, "not a JSON object: "+err.Error())
	}
	for k := range ev {
		switch k {
		case "routing_key", "event_action", "dedup_key", "payload", "images", "links", "client", "client_url":
		default:
			badf("unknown field %q", k)
		}
	}
	if rk, ok := ev["routing_key"].(string); !ok {
		badf("'routing_key' is missing")
	} else if len(rk) != 32 {
		badf("Length of 'routing_key' is incorrect (should be 32 characters)")
	}
	action, _ := ev["event_action"].(string)
	switch action {
	case "trigger", "acknowledge", "resolve":
	default:
		badf("'event_action' %q is invalid (must be one of trigger, acknowledge, resolve)", ev["event_action"])
	}
	if v, set := ev["dedup_key"]; set {
		if s, ok := v.(string); !ok || s == "" || utf8.RuneCountInString(s) > 255 {
			badf("'dedup_key' must be a string of 1 to 255 characters")
		}
	} else if action == "acknowledge" || action == "resolve" {
		badf("'dedup_key' is required to %s", action)
	}
	for _, k := range []string{"client", "client_url"} {
		if v, set := ev[k]; set {
			if _, ok := v.(string); !ok {
				badf("'%s' must be a string", k)
			}
		}
	}
	if action != "trigger" {
		return bad
	}
	p, ok := ev["payload"].(map[string]any)
	if !ok {
		return append(bad, "'payload' is required to trigger")
	}
	for k := range p {
		switch k {
		case "summary", "source", "severity", "timestamp", "component", "group", "class", "custom_details":
		default:
			badf("unknown payload field %q", k)
		}
	}
	if s, ok := p["summary"].(string); !ok || s == "" {
		badf("'payload.summary' is required")
	} else if n := utf8.RuneCountInString(s); n > 1024 {
		badf("'payload.summary' is %d characters, at most 1024", n)
	}
	if s, ok := p["source"].(string); !ok || s == "" {
		badf("'payload.source' is required")
	}
	if s, _ := p["severity"].(string); !severities[s] {
		badf("'payload.severity' %q is not critical, error, warning or info", p["severity"])
	}
	if v, set := p["timestamp"]; set {
		if s, ok := v.(string); !ok {
			badf("'payload.timestamp' must be a string")
		} else if _, err := time.Parse(time.RFC3339, s); err != nil {
			badf("'payload.timestamp' %q is not ISO 8601", s)
		}
	}
	for _, k := range []string{"component", "group", "class"} {
		if v, set := p[k]; set {
			if _, ok := v.(string); !ok {
				badf("'payload.%s' must be a string", k)
			}
		}
	}
	if v, set := p["custom_details"]; set {
		if _, ok := v.(map[string]any); !ok {
			badf("'payload.custom_details' must be an object")
		}
	}
	return bad
}
