package health

import (
	"testing"
	"time"
)

func TestAutoStep(t *testing.T) {
	for _, tc := range []struct {
		span, want time.Duration
	}{
		{-time.Hour, time.Second},
		{0, time.Second},
		{time.Minute, time.Second},
		{300 * time.Second, time.Second},
		{300*time.Second + 1, 5 * time.Second},
		{15 * time.Minute, 5 * time.Second},
		{time.Hour, 30 * time.Second},
		{5 * time.Hour, time.Minute},
		{6 * time.Hour, 2 * time.Minute},
		{24 * time.Hour, 5 * time.Minute},
		{50 * time.Hour, 10 * time.Minute},
		{75 * time.Hour, 15 * time.Minute},
		{7 * 24 * time.Hour, time.Hour},
		{30 * 24 * time.Hour, 3 * time.Hour},
		{300 * 24 * time.Hour, 24 * time.Hour},
		{10 * 365 * 24 * time.Hour, 24 * time.Hour},
	} {
		got := AutoStep(tc.span)
		if got != tc.want {
			t.Errorf("AutoStep(%v) = %v, want %v", tc.span, got, tc.want)
		}
		if tc.span <= 300*24*time.Hour && tc.span > 0 && tc.span > 300*got {
			t.Errorf("AutoStep(%v) = %v makes %d buckets", tc.span, got, tc.span/got)
		}
	}
}
