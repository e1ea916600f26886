package sqlite

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/satellite-hq/satellite/health"
	"github.com/satellite-hq/satellite/sinks"
)

// queryPlan is the EXPLAIN QUERY PLAN of query, one step a line, indented
// by depth.
func queryPlan(t *testing.T, d *DB, query string, args ...any) string {
	t.Helper()
	rows, err := d.db.Query("EXPLAIN QUERY PLAN "+query, args...)
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	defer rows.Close()
	depth := map[int]int{}
	var sb strings.Builder
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		depth[id] = depth[parent] + 1
		fmt.Fprintf(&sb, "%s%s\n", strings.Repeat("  ", depth[id]-1), detail)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return sb.String()
}

// planQuery is one query the package runs, with arguments of the kinds it
// passes, and what its plan must and must not show.
type planQuery struct {
	name  string
	sql   string
	args  []any
	want  []string // each a step of the plan
	avoid []string // none of these
}

// planQueries are every query the package makes: what the API, the
// dashboard and `satellite history` read, and what Write and Prune look up
// or delete.
func planQueries() []planQuery {
	now := time.Now()
	sc := func(name string, q health.Query, want ...string) planQuery {
		q.Limit = 100
		s, args := stateChangesSQL(q)
		return planQuery{name: "history " + name, sql: s, args: args, want: want,
			avoid: []string{"USE TEMP B-TREE FOR ORDER BY", "SCAN state_changes\n"}}
	}
	var qs []planQuery
	qs = append(qs,
		sc("all", health.Query{}, "SCAN state_changes USING INDEX state_changes_time"),
		sc("since", health.Query{Since: now}, "SEARCH state_changes USING INDEX state_changes_time (time>?)"),
		sc("status", health.Query{Status: "critical"}, "SCAN state_changes USING INDEX state_changes_time"),
		sc("status since", health.Query{Status: "critical", Since: now}, "SEARCH state_changes USING INDEX state_changes_time (time>?)"),
		sc("node", health.Query{Node: "n1"}, "SEARCH state_changes USING INDEX state_changes_node_time (node=?)"),
		sc("node since", health.Query{Node: "n1", Since: now}, "SEARCH state_changes USING INDEX state_changes_node_time (node=? AND time>?)"),
		sc("check", health.Query{Check: "c"}, "SEARCH state_changes USING INDEX state_changes_check_time (check_addr=?)"),
		sc("check since", health.Query{Check: "c", Since: now}, "SEARCH state_changes USING INDEX state_changes_check_time (check_addr=? AND time>?)"),
		sc("node check", health.Query{Node: "n1", Check: "c"}, "SEARCH state_changes USING INDEX state_changes_check_node_time (check_addr=? AND node=?)"),
		sc("node check since (dashboard)", health.Query{Node: "n1", Check: "c", Since: now}, "SEARCH state_changes USING INDEX state_changes_check_node_time (check_addr=? AND node=? AND time>?)"),
		sc("node check status since", health.Query{Node: "n1", Check: "c", Status: "critical", Since: now}, "SEARCH state_changes USING INDEX state_changes_check_node_time (check_addr=? AND node=? AND time>?)"),
		planQuery{name: "chart series and slots", sql: seriesSlotsSQL, args: []any{"c", "n1"},
			want:  []string{"SEARCH s USING COVERING INDEX sqlite_autoindex_result_series_1 (check_addr=? AND node=?)", "SEARCH m USING INDEX sqlite_autoindex_metric_slots_2 (series=?)"},
			avoid: []string{"USE TEMP B-TREE"}},
		planQuery{name: "chart buckets", sql: bucketsSQL([]int{0, 1, 2}), args: []any{int64(time.Hour), 1, int64(0), now.UnixNano()},
			want:  []string{"SEARCH runs USING PRIMARY KEY (series=? AND time>? AND time<?)"},
			avoid: []string{"SCAN runs"}},
		planQuery{name: "chart buckets, metrics past 8 slots", sql: bucketsSQL([]int{0, 9}), args: []any{int64(time.Hour), 1, int64(0), now.UnixNano(), 0, 1},
			want:  []string{"SEARCH runs USING PRIMARY KEY (series=? AND time>? AND time<?)"},
			avoid: []string{"SCAN runs"}},
		planQuery{name: "write: series", sql: selSeriesSQL, args: []any{"c", "n1"},
			want: []string{"SEARCH result_series USING COVERING INDEX sqlite_autoindex_result_series_1 (check_addr=? AND node=?)"}},
		planQuery{name: "write: slot", sql: selSlotSQL, args: []any{1, "m"},
			want: []string{"SEARCH metric_slots USING PRIMARY KEY (series=? AND name=?)"}},
		planQuery{name: "write: next slot", sql: nextSlotSQL, args: []any{1},
			want: []string{"SEARCH metric_slots USING COVERING INDEX sqlite_autoindex_metric_slots_2 (series=?)"}},
	)
	for _, p := range pruneSQL {
		qs = append(qs, planQuery{name: "prune " + p.table, sql: p.sql, args: []any{now.UnixNano(), 5000}, want: prunePlans[p.table],
			avoid: []string{"SCAN " + p.table + "\n"}})
	}
	return qs
}

// prunePlans are steps the plans of pruneSQL must have, by table.
var prunePlans = map[string][]string{
	"results":       {"SEARCH results USING COVERING INDEX results_time (time<?)"},
	"state_changes": {"SEARCH state_changes USING COVERING INDEX state_changes_time (time<?)"},
	"runs":          {"SEARCH runs USING PRIMARY KEY (series=? AND time<?)"},
}

// TestQueryPlans: every query of the package reads through an index, in
// the order it returns rows, without sorting; with the statistics PRAGMA
// optimize leaves too.
//
//	go test -run TestQueryPlans -v ./sinks/sqlite
func TestQueryPlans(t *testing.T) {
	d := openTest(t, DefaultRetention)
	ctx := context.Background()
	// A history of a few nodes and checks, for the statistics.
	var batch []sinks.Record
	for i := range 2000 {
		batch = append(batch, sinks.Record{
			Time: base.Add(time.Duration(i) * time.Second), Node: fmt.Sprintf("n%d", i%3), Check: fmt.Sprintf("c%d", i%40),
			Type: "http", Status: health.Passing, Changed: i%7 == 0, Metrics: map[string]float64{"a": 1, "b": float64(i)},
		})
	}
	if err := d.Write(ctx, batch); err != nil {
		t.Fatal(err)
	}
	var plans strings.Builder
	for _, stats := range []bool{false, true} {
		if stats {
			if _, err := d.db.Exec(`ANALYZE`); err != nil {
				t.Fatal(err)
			}
		}
		for _, q := range planQueries() {
			plan := queryPlan(t, d, q.sql, q.args...)
			plans.WriteString(plan)
			if !stats {
				t.Logf("%s:\n%s", q.name, plan)
			}
			for _, w := range q.want {
				if !strings.Contains(plan, w) {
					t.Errorf("stats %v: %s: plan lacks %q:\n%s", stats, q.name, w, plan)
				}
			}
			for _, a := range q.avoid {
				if strings.Contains(plan, a) {
					t.Errorf("stats %v: %s: plan has %q:\n%s", stats, q.name, strings.TrimSpace(a), plan)
				}
			}
		}
	}

	// Every index serves one of them.
	rows, err := d.db.Query(`SELECT name FROM sqlite_schema WHERE type = 'index' ORDER BY name`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			t.Fatal(err)
		}
		names = append(names, name)
		if !strings.Contains(plans.String(), " "+name+" ") {
			t.Errorf("no query reads index %s", name)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	t.Logf("indexes: %s", strings.Join(names, ", "))
}
