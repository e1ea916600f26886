package slack_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"
)

// fakeSlack is a fake: Slack cannot be reached from here. It is a loopback
// incoming webhook that checks every request against Slack's documented
// incoming-webhook and Block Kit schema (https://api.slack.com/messaging/webhooks,
// https://api.slack.com/reference/block-kit/blocks,
// https://api.slack.com/reference/block-kit/composition-objects#text,
// https://api.slack.com/reference/surfaces/formatting#escaping) and answers
// the way Slack does: 200 "ok", 400 "invalid_payload" (or the block error)
// for a body it would refuse, 404 "no_service" for another path. The checks
// are those of the documentation, not of satellite's code: JSON with a
// non-empty `text`, attachments with a hex `color`, blocks of the types
// satellite may send (header, section, context, divider) with their
// documented fields and lengths, at most 50 blocks, and mrkdwn whose &, <
// and > are escaped (but in links).
type fakeSlack struct {
	*httptest.Server
	// Path is the webhook's path, the token.
	Path string

	mu         sync.Mutex
	bodies     [][]byte
	problems   []string
	requests   int
	status     int
	retryAfter string
	echoPath   bool
}

func newFakeSlack(t *testing.T) *fakeSlack {
	f := &fakeSlack{Path: "/services/T0AAAA1/B0BBBB2/XoXtOkEnS3cr3t99", status: http.StatusOK}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Close)
	return f
}

// URL is the webhook URL, token and all.
func (f *fakeSlack) URL() string { return f.Server.URL + f.Path }

// failWith makes every request answer status (200: take them again), with
// a Retry-After header when retryAfter is set; echo puts the request's
// path in the answer, as a careless proxy would.
func (f *fakeSlack) failWith(status int, retryAfter string, echo bool) {
	f.mu.Lock()
	f.status, f.retryAfter, f.echoPath = status, retryAfter, echo
	f.mu.Unlock()
}

func (f *fakeSlack) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 8<<20))
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests++
	if f.status != http.StatusOK {
		if f.retryAfter != "" {
			w.Header().Set("Retry-After", f.retryAfter)
		}
		msg := "told_to_fail"
		if f.echoPath {
			msg += " for " + r.URL.Path
		}
		http.Error(w, msg, f.status)
		return
	}
	if r.Method != http.MethodPost || r.URL.Path != f.Path {
		http.Error(w, "no_service", http.StatusNotFound)
		return
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		f.problems = append(f.problems, "Content-Type "+ct)
		http.Error(w, "invalid_payload", http.StatusBadRequest)
		return
	}
	if bad := checkPayload(body); len(bad) > 0 {
		f.problems = append(f.problems, bad...)
		http.Error(w, "invalid_blocks", http.StatusBadRequest)
		return
	}
	f.bodies = append(f.bodies, body)
	_, _ = io.WriteString(w, "ok")
}

// Problems lists what broke the schema.
func (f *fakeSlack) Problems() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.problems...)
}

// Requests counts every request, refused ones included.
func (f *fakeSlack) Requests() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.requests
}

// Last decodes the last body taken.
func (f *fakeSlack) Last(t *testing.T) posted {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.bodies) == 0 {
		t.Fatal("the fake took no message")
	}
	var p posted
	if err := json.Unmarshal(f.bodies[len(f.bodies)-1], &p); err != nil {
		t.Fatal(err)
	}
	return p
}

// posted is the part of a message the tests read.
type posted struct {
	Text        string `json:"text"`
	Channel     string `json:"channel"`
	Username    string `json:"username"`
	IconEmoji   string `json:"icon_emoji"`
	Attachments []struct {
		Color  string        `json:"color"`
		Blocks []postedBlock `json:"blocks"`
	} `json:"attachments"`
}

type postedBlock struct {
	Type     string       `json:"type"`
	Text     *postedText  `json:"text"`
	Fields   []postedText `json:"fields"`
	Elements []postedText `json:"elements"`
}

type postedText struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

// blocks are the blocks of the (one) attachment.
func (p posted) blocks(t *testing.T) []postedBlock {
	t.Helper()
	if len(p.Attachments) != 1 {
		t.Fatalf("%d attachments, want 1", len(p.Attachments))
	}
	return p.Attachments[0].Blocks
}

// The schema, from Slack's documentation.
var (
	hexColor = regexp.MustCompile(`^#[0-9A-Fa-f]{6}$`)
	// A link, a mention or a date: the only <...> mrkdwn may hold; satellite
	// sends links only.
	mrkdwnLink = regexp.MustCompile(`<https?://[^<>|\s]+\|[^<>]*>`)
	entity     = regexp.MustCompile(`&(amp|lt|gt);`)
)

const (
	maxBlocks      = 50
	maxHeaderText  = 150
	maxSectionText = 3000
	maxFieldText   = 2000
	maxFields      = 10
	maxContextEls  = 10
	maxBlockID     = 255
)

func checkPayload(body []byte) (bad []string) {
	var top map[string]any
	if err := json.Unmarshal(body, &top); err != nil {
		return []string{"not a JSON object: " + err.Error()}
	}
	badf := func(format string, args ...any) { bad = append(bad, fmt.Sprintf(format, args...)) }
	for k := range top {
		switch k {
		case "text", "channel", "username", "icon_emoji", "icon_url", "attachments", "blocks", "mrkdwn", "unfurl_links", "unfurl_media", "thread_ts":
		default:
			badf("unknown top-level field %q", k)
		}
	}
	if s, ok := top["text"].(string); !ok || strings.TrimSpace(s) == "" {
		badf("text must be a non-empty string (the notification's fallback), got %#v", top["text"])
	} else {
		bad = append(bad, checkMrkdwn("text", s)...)
	}
	for _, k := range []string{"channel", "username", "icon_emoji"} {
		if v, set := top[k]; set {
			if s, ok := v.(string); !ok || s == "" {
				badf("%s must be a non-empty string", k)
			}
		}
	}
	total := 0
	if v, set := top["blocks"]; set {
		bs, ok := v.([]any)
		if !ok {
			badf("blocks must be an array")
		}
		total += len(bs)
		bad = append(bad, checkBlocks("blocks", bs)...)
	}
	atts, ok := top["attachments"].([]any)
	if _, set := top["attachments"]; set && !ok {
		badf("attachments must be an array")
	}
	for i, a := range atts {
		at, ok := a.(map[string]any)
		if !ok {
			badf("attachments[%d] is not an object", i)
			continue
		}
		if c, _ := at["color"].(string); !hexColor.MatchString(c) {
			badf("attachments[%d].color %q is not a hex colour", i, c)
		}
		bs, ok := at["blocks"].([]any)
		if !ok {
			badf("attachments[%d].blocks must be an array", i)
			continue
		}
		total += len(bs)
		bad = append(bad, checkBlocks(fmt.Sprintf("attachments[%d].blocks", i), bs)...)
	}
	if total > maxBlocks {
		badf("%d blocks, at most %d", total, maxBlocks)
	}
	return bad
}

func checkBlocks(where string, bs []any) (bad []string) {
	badf := func(format string, args ...any) { bad = append(bad, fmt.Sprintf(format, args...)) }
	for i, b := range bs {
		at := fmt.Sprintf("%s[%d]", where, i)
		o, ok := b.(map[string]any)
		if !ok {
			badf("%s is not an object", at)
			continue
		}
		if id, set := o["block_id"]; set {
			if s, ok := id.(string); !ok || len(s) > maxBlockID {
				badf("%s.block_id must be a string of at most %d characters", at, maxBlockID)
			}
		}
		allowed := map[string]bool{"type": true, "block_id": true}
		switch typ, _ := o["type"].(string); typ {
		case "header":
			allowed["text"] = true
			bad = append(bad, checkText(at+".text", o["text"], "plain_text", maxHeaderText)...)
		case "section":
			allowed["text"], allowed["fields"], allowed["accessory"] = true, true, true
			_, hasText := o["text"]
			fs, hasFields := o["fields"]
			if !hasText && !hasFields {
				badf("%s: a section needs text or fields", at)
			}
			if hasText {
				bad = append(bad, checkText(at+".text", o["text"], "", maxSectionText)...)
			}
			if hasFields {
				list, ok := fs.([]any)
				if !ok || len(list) == 0 || len(list) > maxFields {
					badf("%s.fields must be an array of 1 to %d text objects", at, maxFields)
				}
				for j, f := range list {
					bad = append(bad, checkText(fmt.Sprintf("%s.fields[%d]", at, j), f, "", maxFieldText)...)
				}
			}
		case "context":
			allowed["elements"] = true
			list, ok := o["elements"].([]any)
			if !ok || len(list) == 0 || len(list) > maxContextEls {
				badf("%s.elements must be an array of 1 to %d elements", at, maxContextEls)
			}
			for j, e := range list {
				bad = append(bad, checkText(fmt.Sprintf("%s.elements[%d]", at, j), e, "", maxSectionText)...)
			}
		case "divider":
		default:
			badf("%s: block type %q (satellite sends header, section, context and divider)", at, typ)
		}
		for k := range o {
			if !allowed[k] {
				badf("%s: field %q is not one of a %v block", at, k, o["type"])
			}
		}
	}
	return bad
}

// checkText checks a text object: its type (want, or either), its text
// non-empty and at most max characters.
func checkText(at string, v any, want string, max int) (bad []string) {
	badf := func(format string, args ...any) { bad = append(bad, fmt.Sprintf(format, args...)) }
	o, ok := v.(map[string]any)
	if !ok {
		return []string{at + " is not a text object"}
	}
	typ, _ := o["type"].(string)
	switch {
	case want != "" && typ != want:
		badf("%s.type %q, want %q", at, typ, want)
	case typ != "plain_text" && typ != "mrkdwn":
		badf("%s.type %q is not plain_text or mrkdwn", at, typ)
	}
	for k, val := range o {
		switch {
		case k == "type" || k == "text":
		case k == "emoji" && typ == "plain_text", k == "verbatim" && typ == "mrkdwn":
			if _, ok := val.(bool); !ok {
				badf("%s.%s must be a bool", at, k)
			}
		default:
			badf("%s: field %q is not one of a %s text object", at, k, typ)
		}
	}
	s, ok := o["text"].(string)
	if !ok || s == "" {
		badf("%s.text must be a non-empty string", at)
	}
	if n := utf8.RuneCountInString(s); n > max {
		badf("%s.text is %d characters, at most %d", at, n, max)
	}
	if typ == "mrkdwn" {
		bad = append(bad, checkMrkdwn(at, s)...)
	}
	return bad
}

// checkMrkdwn: &, < and > are Slack's control characters and must be
// escaped, except in <URL|text> links.
func checkMrkdwn(at, s string) []string {
	rest := entity.ReplaceAllString(mrkdwnLink.ReplaceAllString(s, ""), "")
	if strings.ContainsAny(rest, "<>&") {
		return []string{fmt.Sprintf("%s: unescaped &, < or > in mrkdwn %q", at, s)}
	}
	return nil
}
