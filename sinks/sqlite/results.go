package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/satellite-hq/satellite/health"
)

var _ health.ResultStore = (*DB)(nil)

// The downsampling reads runs, one series in time order, in a single
// statement, so that all its figures come from one snapshot of the file. A
// GROUP BY of time / step over the results would sort every run and every
// metric value of the range, and parse each run's JSON: 0.65 s for a
// 10-second check over 7 days in a history of a million results. Instead:
//   - bk lists the buckets that have runs, each from the first run at or
//     after the end of the previous: one search of the primary key per bucket,
//     whatever the step;
//   - a scalar subquery per bucket reads its range of the primary key once,
//     for every aggregate: the runs, the failing ones, and the min, avg and
//     max of each metric's slot column.
//
// A scalar subquery gives one value, so a bucket's aggregates come packed in
// a JSON array; SQLite writes a REAL in JSON with the digits that read back
// to the same float64. Times are never before 1970, so integer division
// (which truncates) gives buckets aligned to multiples of the step.
//
// Parameters: ?1 the step in nanoseconds, ?2 the series, ?3 and ?4 the time
// range [since, until); in bucketsSQLMultipart, ?5 + p stands for part p.
const (
	bucketsSQLHead = `WITH RECURSIVE
	bk(b) AS (
		SELECT (SELECT min(time) FROM runs WHERE series = ?2 AND time >= ?3 AND time < ?4) / ?1
		UNION ALL
		SELECT (SELECT min(time) FROM runs WHERE series = ?2 AND time >= max((b + 1) * ?1, ?3) AND time < ?4) / ?1
		FROM bk WHERE b IS NOT NULL
	),
	buckets AS MATERIALIZED (
		SELECT b, max(b * ?1, ?3) AS lo, min((b + 1) * ?1, ?4) AS hi FROM bk WHERE b IS NOT NULL
	)
SELECT b, (SELECT json_array(`
	bucketsSQLTail = `)
	FROM runs WHERE series = ?2 AND time >= lo AND time < hi)
FROM buckets ORDER BY b`
)

// seriesSlotsSQL reads a series (?1 the check, ?2 the node) and its metrics'
// slots, in the order of the slots.
const seriesSlotsSQL = `SELECT s.id, m.name, m.slot FROM result_series AS s
		LEFT JOIN metric_slots AS m ON m.series = s.id
		WHERE s.check_addr = ? AND s.node = ? ORDER BY m.slot`

// slotColumns are the metric columns of runs, by slot % slotsPerPart.
var slotColumns = [slotsPerPart]string{"v0", "v1", "v2", "v3", "v4", "v5", "v6", "v7"}

// bucketsSQL is the downsampling of a series whose metrics have the given
// slots (ascending). Only fixed fragments of ours make it up: the column
// names of the slots, and for a series with metrics past the first part,
// the parameter of each part.
func bucketsSQL(slots []int) string {
	multipart := len(slots) > 0 && slots[len(slots)-1] >= slotsPerPart
	var sb strings.Builder
	sb.WriteString(bucketsSQLHead)
	filter := func(part int) {
		if multipart {
			fmt.Fprintf(&sb, " FILTER (WHERE part = ?%d)", 5+part)
		}
	}
	sb.WriteString("count(*)")
	filter(0)
	sb.WriteString(", total(failing)") // NULL past part 0
	for _, slot := range slots {
		for _, agg := range []string{"min", "avg", "max"} {
			sb.WriteString(", ")
			sb.WriteString(agg)
			sb.WriteString("(")
			sb.WriteString(slotColumns[slot%slotsPerPart])
			sb.WriteString(")")
			filter(slot / slotsPerPart)
		}
	}
	sb.WriteString(bucketsSQLTail)
	return sb.String()
}

// Results returns the results of q.Check on q.Node in [q.Since, q.Until),
// downsampled in SQL to one bucket per q.Step: the runs and failing runs of
// each bucket, and each metric's min, avg and max. A zero Since or Until
// leaves that end open. A metric is there if it has a value in the range.
func (d *DB) Results(ctx context.Context, q health.ResultQuery) (health.ResultSeries, error) {
	out := health.ResultSeries{
		Check: q.Check, Node: q.Node, Since: q.Since, Until: q.Until, StepSeconds: q.Step.Seconds(),
		Times: []float64{}, Runs: []int{}, Failing: []int{}, Metrics: map[string]health.MetricSeries{},
	}
	if q.Step <= 0 {
		return out, fmt.Errorf("sqlite %s: reading results: step %v is not above zero", d.path, q.Step)
	}
	fail := func(err error) (health.ResultSeries, error) {
		return out, fmt.Errorf("sqlite %s: reading results: %w", d.path, err)
	}

	// The series and its metrics' slots. Slots are only ever added: one
	// added before the downsampling reads runs has no value in this answer.
	rows, err := d.db.QueryContext(ctx, seriesSlotsSQL, q.Check, q.Node)
	if err != nil {
		return fail(err)
	}
	var (
		series = int64(-1)
		names  []string
		slots  []int
	)
	for rows.Next() {
		var (
			name sql.NullString
			slot sql.NullInt64
		)
		if err := rows.Scan(&series, &name, &slot); err != nil {
			rows.Close()
			return fail(err)
		}
		if name.Valid {
			names = append(names, name.String)
			slots = append(slots, int(slot.Int64))
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fail(err)
	}
	if series < 0 {
		return out, nil // the check never ran on the node
	}

	step := int64(q.Step)
	args := []any{step, series, unixNano(q.Since, math.MinInt64), unixNano(q.Until, math.MaxInt64)}
	if len(slots) > 0 && slots[len(slots)-1] >= slotsPerPart {
		for p := range slots[len(slots)-1]/slotsPerPart + 1 {
			args = append(args, p)
		}
	}
	if rows, err = d.db.QueryContext(ctx, bucketsSQL(slots), args...); err != nil {
		return fail(err)
	}
	defer rows.Close()
	cols := make([]health.MetricSeries, len(names))
	vals := make([]*float64, 2+3*len(names))
	for rows.Next() {
		var (
			b   int64
			agg string
		)
		if err := rows.Scan(&b, &agg); err != nil {
			return fail(err)
		}
		n, err := parseAggregates(agg, vals)
		if err != nil {
			return fail(err)
		}
		if n != len(vals) {
			return fail(fmt.Errorf("%d aggregates, want %d", n, len(vals)))
		}
		if vals[0] == nil || *vals[0] == 0 {
			continue // no run (a time before 1970)
		}
		out.Times = append(out.Times, float64(b*step)/1e9)
		out.Runs = append(out.Runs, int(*vals[0]))
		failing := 0
		if vals[1] != nil {
			failing = int(*vals[1])
		}
		out.Failing = append(out.Failing, failing)
		for i := range cols {
			c := &cols[i]
			c.Min = append(c.Min, vals[2+3*i])
			c.Avg = append(c.Avg, vals[3+3*i])
			c.Max = append(c.Max, vals[4+3*i])
		}
	}
	if err := rows.Err(); err != nil {
		return fail(err)
	}
	for i, c := range cols {
		if slices.ContainsFunc(c.Min, func(v *float64) bool { return v != nil }) {
			out.Metrics[names[i]] = c
		}
	}
	return out, nil
}

// parseAggregates reads the JSON array of numbers resultsSQL packs the
// aggregates of a range in ("[360,5]", "[0.5,12.25,99.0]") into vals, and
// returns how many it held. A null, or a number beyond float64 (SQLite
// writes an overflowed average as 9.0e+999), is nil.
func parseAggregates(s string, vals []*float64) (int, error) {
	body, ok1 := strings.CutPrefix(s, "[")
	body, ok2 := strings.CutSuffix(body, "]")
	if !ok1 || !ok2 {
		return 0, fmt.Errorf("aggregates %q are not a JSON array", s)
	}
	n := 0
	for tok := range strings.SplitSeq(body, ",") {
		if n == len(vals) {
			return 0, fmt.Errorf("aggregates %q: more than %d", s, len(vals))
		}
		vals[n] = nil
		if tok = strings.TrimSpace(tok); tok != "null" {
			v, err := strconv.ParseFloat(tok, 64)
			if err != nil && !errors.Is(err, strconv.ErrRange) {
				return 0, fmt.Errorf("aggregates %q: %w", s, err)
			}
			if !math.IsInf(v, 0) {
				vals[n] = &v
			}
		}
		n++
	}
	return n, nil
}

// unixNano is t in Unix nanoseconds, or open for a zero t; a time out of
// int64's range (the years 1678 to 2262) is clamped to it.
func unixNano(t time.Time, open int64) int64 {
	switch {
	case t.IsZero():
		return open
	case t.Before(time.Unix(0, math.MinInt64)):
		return math.MinInt64
	case t.After(time.Unix(0, math.MaxInt64)):
		return math.MaxInt64
	}
	return t.UnixNano()
}
