package api

import (
	"bytes"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode"
)

// FuzzHistoryQuery feeds raw query strings to the history endpoint's
// parser: it never panics, and what it accepts is a query the store can
// take (a limit in range, a time in UTC).
func FuzzHistoryQuery(f *testing.F) {
	for _, seed := range []string{
		"", "node=a&check=http.api&since=24h&limit=5", "check=http.a%5B%22x%22%5D", "since=2026-11-25T13:00:00%2B01:00",
		"since=2026-11-25T13:00:00+01:00", "check=tcp.clo%zzsed", "check=a;x", "limit=1;limit=2", "limit=10001",
		"since=0", "since=2026-11-25", "node=\x1b]0;x\x07", "a=b=c&&&", "%", "limit=" + string(make([]byte, 100)),
	} {
		f.Add(seed)
	}
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := parseHistoryQuery(raw, now)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("an error without a message")
			}
			return
		}
		if q.Limit < 1 || q.Limit > MaxHistoryLimit {
			t.Fatalf("accepted limit %d from %q", q.Limit, raw)
		}
		if !q.Since.IsZero() && q.Since.Location() != time.UTC {
			t.Fatalf("since %v not in UTC from %q", q.Since, raw)
		}
	})
}

func FuzzResultsQuery(f *testing.F) {
	for _, seed := range []string{
		"", "check=http.api", "check=http.api&since=168h", "check=a&node=b&since=2026-11-25T12:00:00Z&until=2026-11-25T13:00:00Z&step=1m",
		"check=a&step=500ms", "check=a&step=-1s", "check=a&since=0", "check=a&until=0", "check=a&since=1h&until=2h",
		"check=a&step=9223372036854775807ns", "check=a&since=87600h&step=1s", "check=%zz", "check=a;b",
	} {
		f.Add(seed)
	}
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := parseResultsQuery(raw, now, "self")
		if err != nil {
			if err.Error() == "" {
				t.Fatal("an error without a message")
			}
			return
		}
		if q.Check == "" || q.Step < time.Second || !q.Until.After(q.Since) {
			t.Fatalf("accepted %+v from %q", q, raw)
		}
		if n := q.Until.Sub(q.Since) / q.Step; n > MaxResultBuckets {
			t.Fatalf("accepted %d buckets from %q", n, raw)
		}
	})
}

// The event stream's parser (the CLI's --watch reads agents with it): any
// bytes end in frames or an error, never a panic or a hang.
func FuzzEventStream(f *testing.F) {
	for _, seed := range []string{
		"id: 1\nevent: hello\ndata: {}\n\n", ": ping\n\n", "data: a\ndata: b\n\n", "event: x\n", "\n\n\n", "id\nevent\ndata\n\n",
		"data:" + strings.Repeat("x", 5000) + "\n\n", "\r\n\r\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		n := 0
		err := readStream(bytes.NewReader(b), func(ev StreamEvent) error {
			n++
			if ev.Event == "" {
				t.Fatal("a frame without an event name")
			}
			return nil
		})
		if n > len(b) {
			t.Fatalf("%d frames from %d bytes", n, len(b))
		}
		_ = err
	})
}

// FuzzHeartbeatName feeds escaped path segments to the heartbeat endpoint's
// name parser: it never panics, and what it accepts is a check's name
// (an identifier, perhaps with a key quoted as the engine quotes it) that
// escaping gives back as is, and that holds no path of its own.
func FuzzHeartbeatName(f *testing.F) {
	for _, seed := range []string{
		"backup", "heartbeat.backup", "backup%5B%22x%22%5D", `backup["x"]`, "dump%5B%22a%2Fb%22%5D", "..", "%2E%2E",
		"..%2F..%2Fetc%2Fpasswd", "a/b", "backup%00", "%ff", "%", "backup%5B%27x%27%5D", "b%5B%22%C3%A9%5Cn%22%5D",
		"heartbeat.heartbeat.x", "ключ", strings.Repeat("a", 1100),
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		name, err := ParseHeartbeatName(raw)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("an error without a message")
			}
			return
		}
		block, key, hasKey := strings.Cut(name, "[")
		if block == "" || strings.ContainsAny(block, "./\\%\"") || strings.ContainsFunc(name, unicode.IsControl) {
			t.Fatalf("accepted %q from %q", name, raw)
		}
		if hasKey {
			k, err := strconv.Unquote(strings.TrimSuffix(key, "]"))
			if err != nil || block+"["+strconv.Quote(k)+"]" != name {
				t.Fatalf("accepted key %q from %q", key, raw)
			}
		}
		if len(name) > MaxHeartbeatName {
			t.Fatalf("accepted %d bytes", len(name))
		}
		// What the client sends for the name parses back to it.
		if again, err := ParseHeartbeatName(url.PathEscape(name)); err != nil || again != name {
			t.Fatalf("%q escaped parses as %q, %v", name, again, err)
		}
	})
}
