package health

import (
	"strings"
	"testing"
	"time"
)

func TestParseSince(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	berlin := time.FixedZone("CET", 3600)
	for _, tc := range []struct {
		in   string
		loc  *time.Location
		want time.Time
	}{
		{"2h", nil, now.Add(-2 * time.Hour)},
		{" 90m ", nil, now.Add(-90 * time.Minute)},
		{"1h30m", nil, now.Add(-90 * time.Minute)},
		{"0", nil, time.Time{}},
		{"0s", nil, time.Time{}},
		{"2026-11-25T10:00:00Z", nil, time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)},
		{"2026-11-25T13:00:00+01:00", nil, now},
		{"2026-11-25T13:00:00 01:00", nil, now}, // + unescaped in a URL
		{"2026-11-25T12:00:00.5Z", nil, now.Add(500 * time.Millisecond)},
		{"2026-11-25", nil, time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)},
		{"2026-11-25", berlin, time.Date(2026, 11, 24, 23, 0, 0, 0, time.UTC)},
	} {
		got, err := ParseSince(tc.in, now, tc.loc)
		if err != nil || !got.Equal(tc.want) {
			t.Errorf("ParseSince(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
		if err == nil && !got.IsZero() && got.Location() != time.UTC {
			t.Errorf("ParseSince(%q) is in %v, want UTC", tc.in, got.Location())
		}
	}
	for _, in := range []string{"", "yesterday", "-1h", "7d", "2026-13-01", "25.11.2026"} {
		_, err := ParseSince(in, now, nil)
		if err == nil {
			t.Errorf("ParseSince(%q) accepted", in)
			continue
		}
		if !strings.Contains(err.Error(), "since") {
			t.Errorf("ParseSince(%q): %v does not name since", in, err)
		}
	}
}
