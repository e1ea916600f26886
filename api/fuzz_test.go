package api

import (
	"testing"
	"time"
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
