package sqlite

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/satellite-hq/satellite/health"
	"github.com/satellite-hq/satellite/sinks"
)

// t0 is a recent time on a whole minute, so on a multiple of every step
// below 1m since the epoch (the zero Time is a whole number of days before
// it); recent, so that the prune Write runs keeps it.
var t0 = time.Now().Add(-time.Hour).Truncate(time.Minute)

func f(v float64) *float64 { return &v }

func at(d time.Duration) float64 { return float64(t0.Add(d).UnixNano()) / 1e9 }

// writeResultsSet writes, through Write, the runs TestResults reads.
func writeResultsSet(t *testing.T, d *DB) {
	t.Helper()
	rec := func(off time.Duration, node, check string, status health.Status, m map[string]float64) sinks.Record {
		return sinks.Record{
			Time: t0.Add(off), Node: node, Check: check, Type: "http",
			Status: status, RunStatus: status, Duration: time.Millisecond, Metrics: m,
			Labels: map[string]string{"team": "core"},
		}
	}
	const c = `http.api["a"]`
	batch := []sinks.Record{
		// Bucket [0s, 10s).
		rec(0, "n1", c, health.Passing, map[string]float64{"latency_ms": 1, "code": 200}),
		rec(3*time.Second, "n1", c, health.Warning, map[string]float64{"latency_ms": 3, "code": 200}),
		rec(10*time.Second-1, "n1", c, health.Critical, map[string]float64{"latency_ms": 8, "code": 500, "only_here": 7}),
		// [10s, 20s) has no run of n1; [20s, 30s) no finite latency.
		rec(20*time.Second, "n1", c, health.Blocked, map[string]float64{"latency_ms": math.NaN(), "code": 200}),
		rec(25*time.Second, "n1", c, health.Passing, map[string]float64{"latency_ms": math.Inf(1), "code": 204, "neg": math.Inf(-1)}),
		// [30s, 40s): a run without metrics.
		rec(30*time.Second, "n1", c, health.Unknown, nil),
		// [40s, 50s).
		rec(40*time.Second, "n1", c, health.Passing, map[string]float64{"latency_ms": 2.5}),

		// Outside the query: another node, another check, before since, at until.
		rec(time.Second, "n2", c, health.Critical, map[string]float64{"latency_ms": 1000, "n2_only": 1}),
		rec(12*time.Second, "n2", c, health.Passing, map[string]float64{"latency_ms": 1000}),
		rec(2*time.Second, "n1", `http.api["b"]`, health.Critical, map[string]float64{"latency_ms": 1000}),
		rec(2*time.Second, "n1", `http.api`, health.Critical, map[string]float64{"latency_ms": 1000}),
		rec(-1, "n1", c, health.Critical, map[string]float64{"latency_ms": 1000}),
		rec(50*time.Second, "n1", c, health.Critical, map[string]float64{"latency_ms": 1000}),
	}
	if err := d.Write(context.Background(), batch); err != nil {
		t.Fatal(err)
	}
}

func TestResults(t *testing.T) {
	d := openTest(t, DefaultRetention)
	writeResultsSet(t, d)
	ctx := context.Background()
	q := health.ResultQuery{Node: "n1", Check: `http.api["a"]`, Since: t0, Until: t0.Add(50 * time.Second), Step: 10 * time.Second}
	got, err := d.Results(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	want := health.ResultSeries{
		Check: q.Check, Node: "n1", Since: q.Since, Until: q.Until, StepSeconds: 10,
		Times:   []float64{at(0), at(20 * time.Second), at(30 * time.Second), at(40 * time.Second)},
		Runs:    []int{3, 2, 1, 1},
		Failing: []int{2, 1, 0, 0},
		Metrics: map[string]health.MetricSeries{
			"latency_ms": {Min: []*float64{f(1), nil, nil, f(2.5)}, Avg: []*float64{f(4), nil, nil, f(2.5)}, Max: []*float64{f(8), nil, nil, f(2.5)}},
			"code":       {Min: []*float64{f(200), f(200), nil, nil}, Avg: []*float64{f(300), f(202), nil, nil}, Max: []*float64{f(500), f(204), nil, nil}},
			"only_here":  {Min: []*float64{f(7), nil, nil, nil}, Avg: []*float64{f(7), nil, nil, nil}, Max: []*float64{f(7), nil, nil, nil}},
			// "neg" had no finite value, so it is not there at all.
		},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %s\nwant %s", dump(t, got), dump(t, want))
	}

	// The buckets start on multiples of the step since the epoch, not at since.
	q.Step = 7 * time.Second
	got, err = d.Results(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	var wantTimes []float64
	for _, off := range []time.Duration{0, 3 * time.Second, 10*time.Second - 1, 20 * time.Second, 25 * time.Second, 30 * time.Second, 40 * time.Second} {
		ns := t0.Add(off).UnixNano()
		start := float64(ns-ns%int64(q.Step)) / 1e9
		if n := len(wantTimes); n == 0 || wantTimes[n-1] != start {
			wantTimes = append(wantTimes, start)
		}
	}
	if !reflect.DeepEqual(got.Times, wantTimes) || got.StepSeconds != 7 {
		t.Errorf("step 7s: times %v (step %v), want %v", got.Times, got.StepSeconds, wantTimes)
	}
	if math.Mod(got.Times[0], 7) != 0 {
		t.Errorf("step 7s: first bucket at %v, not a multiple of 7", got.Times[0])
	}

	// One bucket over everything.
	q.Step = time.Hour
	got, err = d.Results(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Runs) != 1 || got.Runs[0] != 7 || got.Failing[0] != 3 {
		t.Errorf("step 1h: runs %v, failing %v; want [7], [3]", got.Runs, got.Failing)
	}
	if l := got.Metrics["latency_ms"]; *l.Min[0] != 1 || *l.Avg[0] != 14.5/4 || *l.Max[0] != 8 {
		t.Errorf("step 1h: latency %v %v %v", *l.Min[0], *l.Avg[0], *l.Max[0])
	}
}

func TestResultsRange(t *testing.T) {
	d := openTest(t, DefaultRetention)
	writeResultsSet(t, d)
	ctx := context.Background()
	for _, tc := range []struct {
		name         string
		q            health.ResultQuery
		times        []float64
		runs, failed []int
	}{
		{
			"since inclusive, until exclusive",
			health.ResultQuery{Node: "n1", Check: `http.api["a"]`, Since: t0.Add(3 * time.Second), Until: t0.Add(25 * time.Second), Step: 10 * time.Second},
			[]float64{at(0), at(20 * time.Second)}, []int{2, 1}, []int{2, 1},
		},
		{
			"open ends",
			health.ResultQuery{Node: "n1", Check: `http.api["a"]`, Step: time.Minute},
			[]float64{at(-time.Minute), at(0)}, []int{1, 8}, []int{1, 4},
		},
		{
			"no node is a node",
			health.ResultQuery{Check: `http.api["a"]`, Since: t0, Until: t0.Add(20 * time.Second), Step: 10 * time.Second},
			[]float64{}, []int{}, []int{},
		},
		{
			"another node",
			health.ResultQuery{Node: "n2", Check: `http.api["a"]`, Since: t0, Until: t0.Add(time.Hour), Step: 10 * time.Second},
			[]float64{at(0), at(10 * time.Second)}, []int{1, 1}, []int{1, 0},
		},
		{
			"empty range",
			health.ResultQuery{Node: "n1", Check: `http.api["a"]`, Since: t0.Add(time.Second), Until: t0.Add(time.Second), Step: time.Second},
			[]float64{}, []int{}, []int{},
		},
		{
			"a check nobody ran",
			health.ResultQuery{Node: "n1", Check: `http.api["a"]' OR '1'='1`, Step: time.Second},
			[]float64{}, []int{}, []int{},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := d.Results(ctx, tc.q)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got.Times, tc.times) || !reflect.DeepEqual(got.Runs, tc.runs) || !reflect.DeepEqual(got.Failing, tc.failed) {
				t.Errorf("times %v runs %v failing %v; want %v %v %v", got.Times, got.Runs, got.Failing, tc.times, tc.runs, tc.failed)
			}
			for k, s := range got.Metrics {
				if len(s.Min) != len(got.Times) || len(s.Avg) != len(got.Times) || len(s.Max) != len(got.Times) {
					t.Errorf("metric %s has %d, %d, %d values for %d buckets", k, len(s.Min), len(s.Avg), len(s.Max), len(got.Times))
				}
			}
			if _, ok := got.Metrics["n2_only"]; ok != (tc.q.Node == "n2") {
				t.Errorf("n2_only in metrics: %v", ok)
			}
		})
	}
}

func TestResultsEmpty(t *testing.T) {
	d := openTest(t, DefaultRetention)
	got, err := d.Results(context.Background(), health.ResultQuery{Node: "n1", Check: "http.api", Since: t0, Until: t0.Add(time.Hour), Step: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if got.Times == nil || got.Runs == nil || got.Failing == nil || got.Metrics == nil {
		t.Fatalf("empty result has nil fields: %#v", got)
	}
	b, err := json.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"times":[]`, `"runs":[]`, `"failing":[]`, `"metrics":{}`, `"step_seconds":60`, `"check":"http.api"`, `"node":"n1"`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("%s lacks %s", b, want)
		}
	}
}

// TestResultsExtremeValues: numbers near float64's and int64's limits are
// read without an SQL error (SQLite's sum of integers can overflow).
func TestResultsExtremeValues(t *testing.T) {
	d := openTest(t, DefaultRetention)
	ctx := context.Background()
	var batch []sinks.Record
	for i, m := range []map[string]float64{
		{"big": math.MaxFloat64, "int": math.MaxInt64, "nint": math.MinInt64, "tiny": math.SmallestNonzeroFloat64},
		{"big": math.MaxFloat64, "int": math.MaxInt64, "nint": math.MinInt64, "tiny": -math.SmallestNonzeroFloat64},
	} {
		batch = append(batch, sinks.Record{Time: t0.Add(time.Duration(i) * time.Second), Node: "n1", Check: "x", Status: health.Passing, Metrics: m})
	}
	if err := d.Write(ctx, batch); err != nil {
		t.Fatal(err)
	}
	got, err := d.Results(ctx, health.ResultQuery{Node: "n1", Check: "x", Step: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Runs) != 1 || got.Runs[0] != 2 {
		t.Fatalf("runs %v, want [2]", got.Runs)
	}
	for k, want := range map[string][2]float64{
		"big":  {math.MaxFloat64, math.MaxFloat64},
		"int":  {math.MaxInt64, math.MaxInt64},
		"nint": {math.MinInt64, math.MinInt64},
		"tiny": {-math.SmallestNonzeroFloat64, math.SmallestNonzeroFloat64},
	} {
		s, ok := got.Metrics[k]
		if !ok {
			t.Errorf("metric %s missing", k)
			continue
		}
		if s.Min[0] == nil || s.Max[0] == nil || *s.Min[0] != want[0] || *s.Max[0] != want[1] {
			t.Errorf("%s: min %v max %v, want %v", k, s.Min[0], s.Max[0], want)
		}
		// The average may overflow (then it is left out) but is never Inf.
		if a := s.Avg[0]; a != nil && (math.IsInf(*a, 0) || math.IsNaN(*a)) {
			t.Errorf("%s: avg %v", k, *a)
		}
	}
}

// downgrade turns the database at path back into schema version 1, as the
// satellite before DB.Results wrote it.
func downgrade(t *testing.T, d *DB) {
	t.Helper()
	for _, stmt := range []string{
		`DROP TABLE runs`,
		`DROP TABLE metric_slots`,
		`DROP TABLE result_series`,
		// Migration 3's indexes as they were before it.
		`CREATE INDEX results_check_time ON results (check_addr, time)`,
		`DROP INDEX state_changes_check_node_time`,
		`PRAGMA user_version = 1`,
	} {
		if _, err := d.db.Exec(stmt); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestMigrationBackfill: migration 2 fills runs from the results
// already stored, so that their charts have metrics. It also reads what
// another writer could have stored (a number beyond float64, strings,
// booleans, null, nested values): those are left out, and the numbers
// beside them kept.
func TestMigrationBackfill(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "h.db")
	d, err := Open(ctx, path, DefaultRetention)
	if err != nil {
		t.Fatal(err)
	}
	writeResultsSet(t, d)
	if _, err := d.db.ExecContext(ctx, `INSERT INTO results (time, node, check_addr, type, status, run_status, duration_ns, metrics)
		VALUES (?, 'n1', 'x', 'http', 'passing', 'passing', 0, ?)`, t0.UnixNano(),
		`{"huge":1e999,"nhuge":-1e999,"s":"12","t":true,"n":null,"o":{"a":1},"a":[1],"nan":"NaN","ok":1.5,"i":-3}`); err != nil {
		t.Fatal(err)
	}
	q := health.ResultQuery{Node: "n1", Check: `http.api["a"]`, Since: t0.Add(-time.Hour), Until: t0.Add(time.Hour), Step: 10 * time.Second}
	want, err := d.Results(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	many := manyMetrics(t, d)
	values := count(t, d, "runs")
	downgrade(t, d)

	d, err = Open(ctx, path, DefaultRetention)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	got, err := d.Results(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("after the migration: %s\nbefore: %s", dump(t, got), dump(t, want))
	}
	if n := count(t, d, "runs"); n != values+1 {
		t.Errorf("%d runs after the migration, want %d and the foreign row", n, values)
	}
	if got := manyMetrics(t, d); !reflect.DeepEqual(got, many) {
		t.Errorf("many metrics after the migration: %s\nbefore: %s", dump(t, got), dump(t, many))
	}

	got, err = d.Results(ctx, health.ResultQuery{Node: "n1", Check: "x", Step: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	wantMetrics := map[string]health.MetricSeries{
		"ok": {Min: []*float64{f(1.5)}, Avg: []*float64{f(1.5)}, Max: []*float64{f(1.5)}},
		"i":  {Min: []*float64{f(-3)}, Avg: []*float64{f(-3)}, Max: []*float64{f(-3)}},
	}
	if !reflect.DeepEqual(got.Metrics, wantMetrics) || !reflect.DeepEqual(got.Runs, []int{1}) {
		t.Errorf("foreign row: %s", dump(t, got))
	}

	// Written after the migration, a run's values go in with it.
	if err := d.Write(ctx, []sinks.Record{{Time: t0.Add(time.Second), Node: "n1", Check: "x", Metrics: map[string]float64{"ok": 2.5, "new": 1}}}); err != nil {
		t.Fatal(err)
	}
	got, err = d.Results(ctx, health.ResultQuery{Node: "n1", Check: "x", Step: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if ok := got.Metrics["ok"]; len(got.Runs) != 1 || got.Runs[0] != 2 || *ok.Avg[0] != 2 || got.Metrics["new"].Max[0] == nil {
		t.Errorf("after a write: %s", dump(t, got))
	}
}

func TestResultsErrors(t *testing.T) {
	d := openTest(t, DefaultRetention)
	writeResultsSet(t, d)
	q := health.ResultQuery{Node: "n1", Check: `http.api["a"]`, Since: t0, Until: t0.Add(time.Hour)}
	for _, step := range []time.Duration{0, -time.Second} {
		q.Step = step
		if _, err := d.Results(context.Background(), q); err == nil || !strings.Contains(err.Error(), "step") || !strings.Contains(err.Error(), d.Path()) {
			t.Errorf("step %v: err = %v", step, err)
		}
	}
	q.Step = time.Second
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := d.Results(ctx, q); err == nil || !strings.Contains(err.Error(), "reading results") {
		t.Errorf("canceled context: err = %v", err)
	}
}

func dump(t *testing.T, s health.ResultSeries) string {
	t.Helper()
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestResultsReplayedBatch: a batch written twice (its commit was not
// acknowledged) is not an error, and its runs count once.
func TestResultsReplayedBatch(t *testing.T) {
	d := openTest(t, DefaultRetention)
	ctx := context.Background()
	batch := []sinks.Record{
		{Time: t0, Node: "n1", Check: "x", Status: health.Critical, Metrics: map[string]float64{"v": 1}},
		{Time: t0.Add(time.Second), Node: "n1", Check: "x", Status: health.Passing, Metrics: map[string]float64{"v": 3}},
	}
	for range 2 {
		if err := d.Write(ctx, batch); err != nil {
			t.Fatal(err)
		}
	}
	got, err := d.Results(ctx, health.ResultQuery{Node: "n1", Check: "x", Step: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	want := health.ResultSeries{
		Check: "x", Node: "n1", StepSeconds: 60, Times: []float64{at(0)}, Runs: []int{2}, Failing: []int{1},
		Metrics: map[string]health.MetricSeries{"v": {Min: []*float64{f(1)}, Avg: []*float64{f(2)}, Max: []*float64{f(3)}}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %s\nwant %s", dump(t, got), dump(t, want))
	}
}

// TestPruneMetricValues: Prune deletes the runs of the results it deletes,
// in chunks, and does not count them.
func TestPruneMetricValues(t *testing.T) {
	d := openTest(t, 24*time.Hour)
	d.pruneChunk = 3
	ctx := context.Background()
	now := t0.Add(48 * time.Hour)
	var batch []sinks.Record
	for i := range 5 {
		batch = append(batch, sinks.Record{Time: now.Add(-25*time.Hour + time.Duration(i)), Node: "n", Check: "c", Metrics: map[string]float64{"a": 1, "b": 2}})
	}
	batch = append(batch, sinks.Record{Time: now.Add(-time.Hour), Node: "n", Check: "c", Metrics: map[string]float64{"a": 5, "b": 6}})
	if err := d.Write(ctx, batch); err != nil {
		t.Fatal(err)
	}
	if n := count(t, d, "runs"); n != 6 {
		t.Fatalf("%d runs, want 6", n)
	}
	n, err := d.Prune(ctx, now)
	if err != nil || n != 5 {
		t.Fatalf("Prune = %d, %v; want 5 results", n, err)
	}
	if n := count(t, d, "runs"); n != 1 {
		t.Errorf("%d runs after the prune, want 1", n)
	}
	got, err := d.Results(ctx, health.ResultQuery{Node: "n", Check: "c", Step: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Runs) != 1 || got.Runs[0] != 1 || *got.Metrics["b"].Max[0] != 6 {
		t.Errorf("after the prune: %s", dump(t, got))
	}
}

// manyMetrics writes (the first time) and reads the runs of a check with
// more metrics than a row of runs has slots, and checks the answer.
func manyMetrics(t *testing.T, d *DB) health.ResultSeries {
	t.Helper()
	ctx := context.Background()
	const c = "exec.many"
	if count(t, d, "results WHERE check_addr = 'exec.many'") == 0 {
		var batch []sinks.Record
		for i := range 4 {
			m := map[string]float64{}
			for k := range 20 {
				// Runs 0 and 1 have every metric; runs 2 and 3 only m10..m19,
				// whose slots are past the first part.
				if i < 2 || k >= 10 {
					m[fmt.Sprintf("m%02d", k)] = float64(100*k + i)
				}
			}
			m["nan"] = math.NaN()
			batch = append(batch, sinks.Record{Time: t0.Add(time.Duration(i) * 10 * time.Second), Node: "n1", Check: c,
				Status: []health.Status{health.Passing, health.Blocked, health.Warning, health.Passing}[i], Metrics: m})
		}
		if err := d.Write(ctx, batch); err != nil {
			t.Fatal(err)
		}
	}
	got, err := d.Results(ctx, health.ResultQuery{Node: "n1", Check: c, Since: t0, Until: t0.Add(time.Minute), Step: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.Runs, []int{2, 2}) || !reflect.DeepEqual(got.Failing, []int{1, 1}) || len(got.Metrics) != 20 {
		t.Fatalf("many metrics: %s", dump(t, got))
	}
	for k := range 20 {
		s := got.Metrics[fmt.Sprintf("m%02d", k)]
		v := float64(100 * k)
		want := health.MetricSeries{Min: []*float64{f(v), f(v + 2)}, Avg: []*float64{f(v + 0.5), f(v + 2.5)}, Max: []*float64{f(v + 1), f(v + 3)}}
		if k < 10 {
			want = health.MetricSeries{Min: []*float64{f(v), nil}, Avg: []*float64{f(v + 0.5), nil}, Max: []*float64{f(v + 1), nil}}
		}
		if !reflect.DeepEqual(s, want) {
			t.Errorf("m%02d: %s", k, dump(t, health.ResultSeries{Metrics: map[string]health.MetricSeries{"got": s, "want": want}}))
		}
	}
	return got
}

func TestResultsManyMetrics(t *testing.T) {
	d := openTest(t, DefaultRetention)
	manyMetrics(t, d)
	if n := count(t, d, "runs WHERE part > 0"); n != 8 {
		t.Errorf("%d rows of runs past part 0, want 8 (4 runs, 2 parts each)", n)
	}
}
