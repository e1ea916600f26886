package influxdb

import (
	"context"
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/satellite-hq/satellite/sinks"
)

// dashboardFile is the Grafana dashboard shipped for this sink.
const dashboardFile = "../../examples/grafana/satellite-influxdb.json"

// leftVar is a Grafana variable ($node, $__interval) not filled in.
var leftVar = regexp.MustCompile(`\$[A-Za-z_]`)

// dashboard is the part of Grafana's dashboard JSON the test looks at.
type dashboard struct {
	Title  string
	UID    string
	Inputs []struct {
		Name, Type, PluginID string
	} `json:"__inputs"`
	Templating struct {
		List []struct {
			Name, Type string
			Query      any
		}
	}
	Annotations struct {
		List []struct {
			Name, Query string
		}
	}
	Panels []struct {
		ID      int
		Type    string
		Title   string
		Targets []struct {
			Query      string
			RawQuery   bool
			Datasource struct{ Type, UID string }
		}
	}
}

func loadDashboard(t *testing.T) *dashboard {
	t.Helper()
	raw, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	if err := dec.Decode(&d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	return &d
}

// The dashboard parses, has what the README promises, and every query in
// it names our measurements and the node variable.
func TestDashboardShape(t *testing.T) {
	d := loadDashboard(t)
	if d.UID == "" || d.Title == "" || len(d.Inputs) != 1 || d.Inputs[0].PluginID != "influxdb" {
		t.Fatalf("title %q, uid %q, inputs %+v", d.Title, d.UID, d.Inputs)
	}
	vars := map[string]string{}
	for _, v := range d.Templating.List {
		vars[v.Name] = v.Type
	}
	if vars["node"] != "query" || vars["check"] != "query" || vars["DS_INFLUXDB"] != "datasource" {
		t.Errorf("template variables %v; want node, check and the data source", vars)
	}
	types := map[string]bool{}
	for _, p := range d.Panels {
		types[p.Type] = true
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			if !tg.RawQuery || tg.Datasource.Type != "influxdb" || tg.Datasource.UID != "${DS_INFLUXDB}" {
				t.Errorf("panel %q: target %+v", p.Title, tg)
			}
			if !strings.Contains(tg.Query, `"satellite_`) || !strings.Contains(tg.Query, "$node") || !strings.Contains(tg.Query, "$timeFilter") {
				t.Errorf("panel %q: query %s", p.Title, tg.Query)
			}
		}
	}
	for _, want := range []string{"state-timeline", "table", "timeseries", "stat"} {
		if !types[want] {
			t.Errorf("no %s panel", want)
		}
	}
	if len(d.Annotations.List) < 2 || !strings.Contains(d.Annotations.List[1].Query, "satellite_state_change") {
		t.Errorf("annotations %+v; want the state changes", d.Annotations.List)
	}
}

// Every query of the dashboard runs on InfluxDB 1.8, on points the sink
// wrote, with Grafana's variables filled in as Grafana would, and finds
// what it is meant to.
func TestDashboardQueries(t *testing.T) {
	d := loadDashboard(t)
	base := influxURL(t)
	db := newDatabase(t, base)
	s := openSink(t, testConfig(base, db))
	now := time.Now()
	batch := []sinks.Record{
		{Time: now.Add(-3 * time.Minute), Node: "n1", Check: `tcp.db["a"]`, Type: "tcp", Status: "passing", RunStatus: "passing", Duration: time.Millisecond},
		{Time: now.Add(-2 * time.Minute), Node: "n1", Check: `tcp.db["a"]`, Type: "tcp", Status: "critical", RunStatus: "critical", Changed: true, Previous: "passing", Error: "connection refused", Duration: 2 * time.Millisecond},
		{Time: now.Add(-2 * time.Minute), Node: "n2", Check: "http.api", Type: "http", Status: "passing", RunStatus: "passing", Duration: 5 * time.Millisecond, Metrics: map[string]float64{"latency_ms": 4}},
	}
	if err := s.Write(context.Background(), batch); err != nil {
		t.Fatal(err)
	}
	fill := strings.NewReplacer(
		"$timeFilter", "time > now() - 1h",
		"$__interval", "1m",
		// Grafana's "All" is allValue, .*; one node is its escaped name.
		"/^$node$/", "/^(n1|n2)$/",
		"/^$check$/", "/^.*$/",
	)
	run := func(what, q string) []map[string]any {
		q = fill.Replace(q)
		if leftVar.MatchString(q) {
			t.Fatalf("%s: a variable is left in %s", what, q)
		}
		return selectQL(t, base, db, q)
	}
	for _, v := range d.Templating.List {
		if q, ok := v.Query.(string); ok && v.Type == "query" {
			if rows := run("variable "+v.Name, q); len(rows) < 2 {
				t.Errorf("variable %s: %d values, want 2: %v", v.Name, len(rows), rows)
			}
		}
	}
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			rows := run(p.Title, tg.Query)
			switch p.ID {
			case 1: // failing checks now
				if len(rows) != 1 || rows[0]["count"] != json.Number("1") {
					t.Errorf("%s: %v, want a count of 1", p.Title, rows)
				}
			case 2: // failing checks
				if len(rows) != 1 || rows[0]["check"] != `tcp.db["a"]` || rows[0]["error"] != "connection refused" {
					t.Errorf("%s: %v, want tcp.db[\"a\"] with its error", p.Title, rows)
				}
			case 5: // state changes
				if len(rows) != 1 || rows[0]["to_status"] != "critical" {
					t.Errorf("%s: %v, want one change to critical", p.Title, rows)
				}
			default:
				if len(rows) == 0 {
					t.Errorf("%s: no rows", p.Title)
				}
			}
		}
	}
	for _, a := range d.Annotations.List {
		if a.Query != "" {
			if rows := run("annotation "+a.Name, a.Query); len(rows) != 1 {
				t.Errorf("annotation %s: %v", a.Name, rows)
			}
		}
	}
}
