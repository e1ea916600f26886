package metrics

import (
	"math"
	"slices"
	"sort"
)

// bucket is one classic-histogram bucket: its upper bound and the
// (cumulative) number of observations up to it, here over the window.
type bucket struct {
	upper, count float64
}

// smallDeltaTolerance is the relative difference between neighbouring
// buckets' counts that is taken for a floating-point error, as Prometheus
// takes it.
const smallDeltaTolerance = 1e-12

// bucketQuantile estimates the q-quantile (0 ≤ q ≤ 1) of cumulative
// buckets as PromQL's histogram_quantile does for classic histograms
// (promql/quantile.go, bucketQuantile):
//
//   - buckets are sorted by bound, and buckets with one bound merged;
//   - the highest bucket must be +Inf, and there must be two at least;
//   - counts that differ from the previous one by a floating-point error
//     are made equal to it, and counts below the previous one raised to it
//     (the histogram made monotonic);
//   - the quantile's rank is q times the observations (the +Inf count); in
//     the bucket it falls in the value is interpolated linearly, from 0 for
//     the lowest bucket when its bound is above 0 (else that bound is the
//     answer), and a rank in the +Inf bucket gives the highest finite bound.
//
// ok is false when there is no answer: no +Inf bucket, fewer than two
// buckets, or no observation. why says which, for the run's message.
// buckets is sorted and changed in place.
func bucketQuantile(q float64, buckets []bucket) (v float64, ok bool, why string) {
	if len(buckets) == 0 {
		return 0, false, "no buckets"
	}
	slices.SortFunc(buckets, func(a, b bucket) int {
		switch {
		case a.upper < b.upper:
			return -1
		case a.upper > b.upper:
			return 1
		}
		return 0
	})
	if !math.IsInf(buckets[len(buckets)-1].upper, 1) {
		return 0, false, `no le="+Inf" bucket`
	}
	buckets = coalesce(buckets)
	monotonic(buckets)
	if len(buckets) < 2 {
		return 0, false, `only the le="+Inf" bucket`
	}
	observations := buckets[len(buckets)-1].count
	if observations == 0 || math.IsNaN(observations) {
		return 0, false, "no observations"
	}
	rank := q * observations
	b := sort.Search(len(buckets)-1, func(i int) bool { return buckets[i].count >= rank })
	switch {
	case b == len(buckets)-1:
		return buckets[len(buckets)-2].upper, true, ""
	case b == 0 && buckets[0].upper <= 0:
		return buckets[0].upper, true, ""
	}
	start, end, count := 0.0, buckets[b].upper, buckets[b].count
	if b > 0 {
		start = buckets[b-1].upper
		count -= buckets[b-1].count
		rank -= buckets[b-1].count
	}
	return start + (end-start)*(rank/count), true, ""
}

// coalesce merges neighbouring buckets with the same bound (sorted input).
func coalesce(buckets []bucket) []bucket {
	out := buckets[:1]
	for _, b := range buckets[1:] {
		if last := &out[len(out)-1]; b.upper == last.upper {
			last.count += b.count
		} else {
			out = append(out, b)
		}
	}
	return out
}

// monotonic ignores differences of a floating-point error between a count
// and the last accepted one, in either direction, and raises any count
// below it to it (ensureMonotonicAndIgnoreSmallDeltas in Prometheus).
func monotonic(buckets []bucket) {
	prev := buckets[0].count
	for i := 1; i < len(buckets); i++ {
		cur := buckets[i].count
		switch {
		case cur == prev:
		case almostEqual(prev, cur, smallDeltaTolerance), cur < prev:
			buckets[i].count = prev
		default:
			prev = cur
		}
	}
}

// minNormal is the smallest positive normal float64.
var minNormal = math.Float64frombits(0x0010000000000000)

// almostEqual reports whether a and b differ by at most a relative epsilon
// (Prometheus' util/almost.Equal).
func almostEqual(a, b, epsilon float64) bool {
	if math.IsNaN(a) && math.IsNaN(b) {
		return true
	}
	if a == b {
		return true
	}
	absSum := math.Abs(a) + math.Abs(b)
	diff := math.Abs(a - b)
	if a == 0 || b == 0 || absSum < minNormal {
		return diff < epsilon*minNormal
	}
	return diff/math.Min(absSum, math.MaxFloat64) < epsilon
}
