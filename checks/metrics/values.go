package metrics

import (
	"fmt"
	"math"
	"time"
)

// A rate, increase or quantile compares two scrapes. Every counter series
// (for a histogram: every bucket of every series) is a column; each scrape
// adds a snapshot of the columns' values, corrected for counter resets.
//
// Window: the newest scrape is compared with the youngest kept scrape that
// is at least `over` older than it; older snapshots are dropped, so a value
// keeps what its window needs and one scrape before it. Until a scrape that
// old exists the value is unknown.
//
// Resets: a series lower than at its previous scrape was reset, and its
// value before the reset is added to everything after it (offset), as
// Prometheus' rate() does for the samples in its range; with every scrape
// seen, a reset between the two compared scrapes is no lost increase.

// maxSnapshots bounds the scrapes kept per value: with more in a window
// (a short interval and a long over), every other older one is dropped, and
// the scrape compared may be a little older than over.
const maxSnapshots = 512

// column is one counter series' history.
type column struct {
	last   float64 // the raw value at the last scrape that had it
	offset float64 // the sum of the values before each reset
	first  float64 // the corrected value when first seen
	seen   uint64  // the scrape that last had it
	group  string  // the histogram series of a bucket
	le     float64 // a bucket's bound
}

// snapshot is one scrape's corrected values, by column; NaN where a column
// was absent (columns made later are beyond its end).
type snapshot struct {
	at  time.Time
	adj []float64
}

// history is what a rate, increase or quantile value keeps between runs.
type history struct {
	index map[string]int
	cols  []column
	snaps []snapshot
	seq   uint64 // the number of scrapes observed
	// nextCompact is the table size at which compact looks again.
	nextCompact int
}

// minCompact is the fewest dead columns worth a compaction.
const minCompact = 1024

func newHistory() *history { return &history{index: map[string]int{}} }

// observe adds a scrape taken at `at` and returns the columns it had.
func (h *history) observe(at time.Time, pts []point) []int {
	if n := len(h.snaps); n > 0 && !at.After(h.snaps[n-1].at) {
		// Dated no later than the last scrape stored (runs that overlapped,
		// a clock that did not move): it takes that scrape's place.
		at = h.snaps[n-1].at
	}
	h.seq++
	present := make([]int, 0, len(pts))
	for _, p := range pts {
		if math.IsNaN(p.v) {
			continue
		}
		i, ok := h.index[p.key]
		if !ok {
			i = len(h.cols)
			h.index[p.key] = i
			h.cols = append(h.cols, column{last: p.v, first: p.v, group: p.group, le: p.le, seen: h.seq})
		} else {
			c := &h.cols[i]
			if c.seen == h.seq {
				continue // a duplicate series in one scrape: the first counts
			}
			if p.v < c.last {
				c.offset += c.last // reset
			}
			c.last, c.seen = p.v, h.seq
		}
		present = append(present, i)
	}
	adj := make([]float64, len(h.cols))
	for i := range adj {
		adj[i] = math.NaN()
	}
	for _, i := range present {
		adj[i] = h.cols[i].last + h.cols[i].offset
	}
	if n := len(h.snaps); n > 0 && at.Equal(h.snaps[n-1].at) {
		h.snaps[n-1] = snapshot{at: at, adj: adj} // same instant: the newer values win
	} else {
		h.snaps = append(h.snaps, snapshot{at: at, adj: adj})
	}
	if len(h.snaps) > maxSnapshots {
		h.thin()
	}
	return present
}

// reference returns the snapshot the newest is compared with: the youngest
// at least over older than the newest. Older ones are dropped. ok is false
// when none is that old yet.
func (h *history) reference(over time.Duration) (ref *snapshot, ok bool) {
	n := len(h.snaps)
	newest := h.snaps[n-1].at
	r := -1
	for i := n - 2; i >= 0; i-- {
		if newest.Sub(h.snaps[i].at) >= over {
			r = i
			break
		}
	}
	if r < 0 {
		return nil, false
	}
	if r > 0 {
		n := copy(h.snaps, h.snaps[r:])
		clear(h.snaps[n:])
		h.snaps = h.snaps[:n]
	}
	return &h.snaps[0], true
}

// thin drops every other snapshot between the oldest and the newest.
func (h *history) thin() {
	n := len(h.snaps)
	out := h.snaps[:1]
	for i := 1; i < n-1; i++ {
		if i%2 == 0 {
			out = append(out, h.snaps[i])
		}
	}
	out = append(out, h.snaps[n-1])
	clear(h.snaps[len(out):])
	h.snaps = out
}

// increases returns, for each column of the newest scrape, how much it grew
// since ref; a column ref lacks (a series new since) counts from when it was
// first seen.
func (h *history) increases(present []int, ref *snapshot) []float64 {
	newest := h.snaps[len(h.snaps)-1].adj
	out := make([]float64, len(present))
	for k, i := range present {
		base := h.cols[i].first
		if i < len(ref.adj) && !math.IsNaN(ref.adj[i]) {
			base = ref.adj[i]
		}
		out[k] = newest[i] - base
	}
	return out
}

// compact forgets the columns that no kept snapshot has (series that came
// and went), when they are most of the table. It looks again only once the
// table has grown by half, so that its scan of the snapshots stays a
// fraction of the work of the scrapes that grew it.
func (h *history) compact() {
	if len(h.cols) < max(h.nextCompact, minCompact) {
		return
	}
	live := make([]bool, len(h.cols))
	nLive := 0
	for _, s := range h.snaps {
		for i, v := range s.adj {
			if !live[i] && !math.IsNaN(v) {
				live[i] = true
				nLive++
			}
		}
	}
	defer func() { h.nextCompact = len(h.cols) + len(h.cols)/2 }()
	if dead := len(h.cols) - nLive; dead < minCompact || dead < nLive {
		return
	}
	remap := make([]int, len(h.cols))
	cols := make([]column, 0, nLive)
	for i, c := range h.cols {
		remap[i] = -1
		if live[i] {
			remap[i] = len(cols)
			cols = append(cols, c)
		}
	}
	for key, i := range h.index {
		if remap[i] < 0 {
			delete(h.index, key)
		} else {
			h.index[key] = remap[i]
		}
	}
	for k := range h.snaps {
		adj := make([]float64, len(cols))
		for i := range adj {
			adj[i] = math.NaN()
		}
		for i, v := range h.snaps[k].adj {
			if remap[i] >= 0 {
				adj[remap[i]] = v
			}
		}
		h.snaps[k].adj = adj
	}
	h.cols = cols
}

// outcome is one value of one run: a number, or why there is none yet.
type outcome struct {
	v       float64
	ok      bool
	unknown string // why the value is not measured yet
}

// compute turns a value's points of the newest scrape, taken at `at`,
// into its number, updating its history.
func compute(v *valueConfig, h *history, at time.Time, pts []point) (outcome, error) {
	if v.kind == kindGauge {
		vals := make([]float64, len(pts))
		for i, p := range pts {
			vals[i] = p.v
		}
		return finish(v, aggregate(v.agg, vals))
	}
	present := h.observe(at, pts)
	ref, ok := h.reference(v.over)
	// Once this run is computed, forget the columns of series gone from
	// every snapshot the window still needs.
	defer h.compact()
	if !ok {
		oldest := h.snaps[0].at
		newest := h.snaps[len(h.snaps)-1].at
		if len(h.snaps) == 1 {
			return outcome{unknown: fmt.Sprintf("the first scrape; needs another one %s later", v.over)}, nil
		}
		return outcome{unknown: fmt.Sprintf("needs a scrape %s old, the oldest is %s old", v.over, newest.Sub(oldest).Round(time.Millisecond))}, nil
	}
	span := h.snaps[len(h.snaps)-1].at.Sub(ref.at)
	inc := h.increases(present, ref)
	switch v.kind {
	case kindRate:
		for i := range inc {
			inc[i] /= span.Seconds()
		}
		return finish(v, aggregate(v.agg, inc))
	case kindIncrease:
		return finish(v, aggregate(v.agg, inc))
	}
	return quantileOf(v, h, present, inc, span)
}

// quantileOf computes a histogram_quantile over the buckets' increases:
// summed by bound across the matching series (aggregate "sum", as
// `sum by (le)` does), or per series and then the highest or lowest.
func quantileOf(v *valueConfig, h *history, present []int, inc []float64, span time.Duration) (outcome, error) {
	groups := map[string][]bucket{}
	var order []string
	for k, i := range present {
		g := ""
		if v.agg != aggSum {
			g = h.cols[i].group
		}
		if _, ok := groups[g]; !ok {
			order = append(order, g)
		}
		groups[g] = append(groups[g], bucket{upper: h.cols[i].le, count: inc[k]})
	}
	var qs []float64
	empty := false
	for _, g := range order {
		q, ok, why := bucketQuantile(v.quantile, groups[g])
		switch {
		case ok:
			qs = append(qs, q)
		case why == "no observations":
			empty = true
		default:
			return outcome{}, fmt.Errorf("%s: histogram %q has %s", v.name, v.metric, why)
		}
	}
	if len(qs) == 0 {
		if empty {
			return outcome{unknown: fmt.Sprintf("no observations in the last %s", span.Round(time.Millisecond))}, nil
		}
		return outcome{}, fmt.Errorf("%s: histogram %q has no buckets", v.name, v.metric)
	}
	return finish(v, aggregate(v.agg, qs))
}

// aggregate combines the series' numbers.
func aggregate(a aggregation, vals []float64) float64 {
	if len(vals) == 0 {
		return math.NaN()
	}
	out := vals[0]
	for _, x := range vals[1:] {
		switch a {
		case aggSum:
			out += x
		case aggMax:
			if x > out || math.IsNaN(out) {
				out = x
			}
		case aggMin:
			if x < out || math.IsNaN(out) {
				out = x
			}
		}
	}
	return out
}

// finish scales a value; one that is not a finite number (a NaN gauge) is
// not measured.
func finish(v *valueConfig, x float64) (outcome, error) {
	x *= v.scale
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return outcome{unknown: fmt.Sprintf("the value is %g", x)}, nil
	}
	return outcome{v: x, ok: true}, nil
}
