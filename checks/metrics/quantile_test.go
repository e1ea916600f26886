package metrics

import (
	"math"
	"testing"
)

// Edge cases of histogram_quantile, each worked out by hand from PromQL's
// rules.
func TestBucketQuantile(t *testing.T) {
	inf := math.Inf(1)
	tests := []struct {
		name    string
		q       float64
		buckets []bucket
		want    float64
		why     string // when there is no answer
	}{
		{"linear in a bucket", 0.5, []bucket{{1, 10}, {2, 30}, {inf, 40}}, 1 + (2-1)*(20.0-10)/(30-10), ""},
		{"lowest bucket from 0", 0.5, []bucket{{0.5, 10}, {inf, 10}}, 0.5 * 5 / 10, ""},
		{"lowest bucket at or below 0", 0.2, []bucket{{-1, 5}, {0, 5}, {inf, 10}}, -1, ""},
		{"rank in +Inf: the highest finite bound", 0.5, []bucket{{1, 0}, {2, 0}, {inf, 10}}, 2, ""},
		{"quantile 0", 0, []bucket{{1, 0}, {2, 4}, {inf, 4}}, 0, ""},
		{"quantile 1", 1, []bucket{{1, 2}, {2, 4}, {inf, 4}}, 2, ""},
		{"unsorted, one bound twice", 0.9, []bucket{{2, 5}, {inf, 10}, {1, 3}, {1, 2}}, 2, ""},
		// 8 after 10 is raised to 10; rank 15 is then in (2, 3].
		{"made monotonic", 0.75, []bucket{{1, 10}, {2, 8}, {3, 20}, {inf, 20}}, 2 + (3-2)*(15.0-10)/(20-10), ""},
		// A float error below the previous count is no decrease.
		{"float error", 0.5, []bucket{{1, 1e15}, {2, 1e15 - 0.0625}, {inf, 1e15}}, 0.5, ""},
		{"no +Inf", 0.5, []bucket{{1, 1}, {2, 2}}, 0, `no le="+Inf" bucket`},
		{"+Inf alone", 0.5, []bucket{{inf, 3}}, 0, `only the le="+Inf" bucket`},
		{"no observations", 0.5, []bucket{{1, 0}, {inf, 0}}, 0, "no observations"},
		{"no buckets", 0.5, nil, 0, "no buckets"},
	}
	for _, tt := range tests {
		got, ok, why := bucketQuantile(tt.q, tt.buckets)
		switch {
		case tt.why != "" && (ok || why != tt.why):
			t.Errorf("%s: %v, %v, %q; want no answer: %s", tt.name, got, ok, why, tt.why)
		case tt.why == "" && (!ok || math.Abs(got-tt.want) > 1e-12):
			t.Errorf("%s: %v (%v, %q), want %v", tt.name, got, ok, why, tt.want)
		}
	}
}

func TestAlmostEqual(t *testing.T) {
	for _, tc := range []struct {
		a, b float64
		want bool
	}{
		{1, 1, true},
		{1, 1 + 1e-13, true},
		{1, 1 + 1e-11, false},
		{0, 1e-320, true},
		{0, 1e-300, false},
		{math.NaN(), math.NaN(), true},
		{math.NaN(), 1, false},
	} {
		if got := almostEqual(tc.a, tc.b, smallDeltaTolerance); got != tc.want {
			t.Errorf("almostEqual(%g, %g) = %v", tc.a, tc.b, got)
		}
	}
}
