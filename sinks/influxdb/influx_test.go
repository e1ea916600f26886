package influxdb

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"strings"
	"testing"
	"time"

	influxdb2 "github.com/influxdata/influxdb-client-go/v2"

	"github.com/satellite-hq/satellite/internal/testenv"
	"github.com/satellite-hq/satellite/sinks"
)

// Results written through the sink read back with Flux: tags, float fields,
// strings, state changes, times to the nanosecond.
func TestWriteReadBack(t *testing.T) {
	base := influxURL(t)
	db := newDatabase(t, base)
	s := openSink(t, testConfig(base, db))

	t0 := time.Now().Add(-time.Minute).Truncate(time.Second).Add(123456789) // sub-ms digits survive
	batch := []sinks.Record{
		{
			Time: t0, Node: "n1", Check: `http.api["a"]`, Type: "http",
			Status: "passing", RunStatus: "passing", Duration: 1500 * time.Microsecond,
			// 200 is whole, yet it must be stored as a float like 12.5.
			Metrics: map[string]float64{"latency_ms": 12.5, "status_code": 200, "gone": math.NaN(), "huge": math.Inf(1), "error": 7},
			Labels:  map[string]string{"team": "core", "node": "evil", "_field": "x", "empty": ""},
		},
		{
			Time: t0.Add(time.Second), Node: "n1", Check: `http.api["a"]`, Type: "http",
			Status: "critical", RunStatus: "critical", Changed: true, Previous: "passing",
			Duration: 3 * time.Second, Error: `GET "http://x": connection refused`,
			Metrics: map[string]float64{"status_code": 0},
			Labels:  map[string]string{"team": "core"},
		},
	}
	if err := s.Write(context.Background(), batch); err != nil {
		t.Fatal(err)
	}

	rows := fluxRows(t, base, fmt.Sprintf(`from(bucket: %q)
  |> range(start: -1h)
  |> filter(fn: (r) => r._measurement == "satellite_check")
  |> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")
  |> group()
  |> sort(columns: ["_time"])`, db+"/autogen"))
	if len(rows) != 2 {
		t.Fatalf("got %d check points, want 2: %v", len(rows), rows)
	}
	first, second := rows[0].Values(), rows[1].Values()
	want := map[string]any{
		"node": "n1", "check": `http.api["a"]`, "type": "http", "status": "passing",
		"team": "core", "label_node": "evil", "label__field": "x",
		"duration_ms": 1.5, "severity": 0.0, "run_status": "passing",
		"latency_ms": 12.5, "status_code": 200.0, "metric_error": 7.0,
	}
	for k, v := range want {
		if got := first[k]; got != v {
			t.Errorf("first point: %s = %#v (%T), want %#v (%T)", k, got, got, v, v)
		}
	}
	for _, k := range []string{"gone", "huge", "empty", "error"} {
		if v, ok := first[k]; ok && v != nil {
			t.Errorf("first point has %s = %#v", k, v)
		}
	}
	if !rows[0].Time().Equal(t0) {
		t.Errorf("time %v, want %v (to the nanosecond)", rows[0].Time().UTC(), t0.UTC())
	}
	for k, v := range map[string]any{"status": "critical", "severity": 2.0, "duration_ms": 3000.0, "status_code": 0.0, "error": `GET "http://x": connection refused`} {
		if got := second[k]; got != v {
			t.Errorf("second point: %s = %#v, want %#v", k, got, v)
		}
	}

	// Every numeric field is a float: Flux reports the stored type.
	types := fluxRows(t, base, fmt.Sprintf(`from(bucket: %q)
  |> range(start: -1h)
  |> filter(fn: (r) => r._measurement == "satellite_check")`, db+"/autogen"))
	for _, r := range types {
		switch v := r.Value().(type) {
		case float64:
		case string:
			if r.Field() != "run_status" && r.Field() != "error" {
				t.Errorf("field %s is a string", r.Field())
			}
		default:
			t.Errorf("field %s is %T, want float64", r.Field(), v)
		}
	}

	changes := fluxRows(t, base, fmt.Sprintf(`from(bucket: %q)
  |> range(start: -1h)
  |> filter(fn: (r) => r._measurement == "satellite_state_change")
  |> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")`, db+"/autogen"))
	if len(changes) != 1 {
		t.Fatalf("got %d state changes, want 1", len(changes))
	}
	c := changes[0]
	for k, v := range map[string]any{
		"node": "n1", "check": `http.api["a"]`, "type": "http", "team": "core",
		"from_status": "passing", "to_status": "critical", "severity": 2.0,
		"error": `GET "http://x": connection refused`,
	} {
		if got := c.ValueByKey(k); got != v {
			t.Errorf("state change: %s = %#v, want %#v", k, got, v)
		}
	}
	if !c.Time().Equal(t0.Add(time.Second)) {
		t.Errorf("state change at %v, want %v", c.Time(), t0.Add(time.Second))
	}
}

// A batch written again, whole or in part, in other batches or split across
// requests, stores each point once: the same series and time is the same
// point in InfluxDB.
func TestReplayStoresOnce(t *testing.T) {
	base := influxURL(t)
	db := newDatabase(t, base)
	s := openSink(t, testConfig(base, db))
	ctx := context.Background()

	const n = 2*MaxRecordsPerRequest + 700 // several requests
	batch := records("n1", n, time.Now().Add(-10*time.Minute))
	batch[3].Changed, batch[3].Previous = true, "critical"
	for _, b := range [][]sinks.Record{batch, batch, batch[100:2000], batch[:1]} {
		if err := s.Write(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	if got := awaitPoints(t, base, db, "satellite_check", "duration_ms", n); got != n {
		t.Errorf("%d check points after writing %d records three times over, want %d", got, n, n)
	}
	if got := awaitPoints(t, base, db, "satellite_state_change", "to_status", 1); got != 1 {
		t.Errorf("%d state changes, want 1", got)
	}
}

// A point whose field has another type in the database is refused with a
// 4xx, which must be a rejection (dead-lettered), not retried forever.
func TestFieldTypeConflictRejected(t *testing.T) {
	base := influxURL(t)
	db := newDatabase(t, base)

	// An older schema: duration_ms as an integer. InfluxDB 1.x keeps field
	// types per shard, so the point must fall in the shard of ours: now.
	c := influxdb2.NewClient(base, "")
	defer c.Close()
	if err := c.WriteAPIBlocking("", db+"/autogen").WriteRecord(context.Background(),
		fmt.Sprintf("satellite_check,node=old,check=x duration_ms=5i %d", time.Now().UnixNano())); err != nil {
		t.Fatal(err)
	}

	s := openSink(t, testConfig(base, db))
	err := s.Write(context.Background(), records("n1", 3, time.Now()))
	if err == nil {
		t.Fatal("no error for a field-type conflict")
	}
	if !sinks.IsRejected(err) || StatusCode(err) != 400 {
		t.Errorf("error %q: rejected %v, status %d; want a rejection with 400", err, sinks.IsRejected(err), StatusCode(err))
	}
	if !strings.Contains(err.Error(), "field type conflict") {
		t.Errorf("error %q does not give the server's reason", err)
	}
}

// A database that does not exist (yet) is the sink's settings, not the
// points: retried, so that creating it delivers what waited.
func TestMissingDatabaseRetried(t *testing.T) {
	base := influxURL(t)
	db := newDatabase(t, base)
	cfg := testConfig(base, db)
	cfg.Bucket = db + "_later/autogen"
	s := openSink(t, cfg)
	batch := records("n1", 5, time.Now())

	err := s.Write(context.Background(), batch)
	if err == nil || sinks.IsRejected(err) || StatusCode(err) != 404 {
		t.Fatalf("error %v (rejected %v, status %d); want a plain error with 404", err, sinks.IsRejected(err), StatusCode(err))
	}
	later := newDatabaseNamed(t, base, db+"_later")
	if err := s.Write(context.Background(), batch); err != nil {
		t.Fatal(err)
	}
	if got := awaitPoints(t, base, later, "satellite_check", "duration_ms", 5); got != 5 {
		t.Errorf("%d points, want 5", got)
	}
}

func newDatabaseNamed(t *testing.T, base, name string) string {
	t.Helper()
	influxQL(t, base, "CREATE DATABASE "+name)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = postQuery(ctx, base, "DROP DATABASE "+name)
	})
	return name
}

// Open does not fail when the server is down, so the agent keeps the sink
// and queues its results; writes fail with plain, retryable errors; once
// the server is back on the same port, writes succeed and the data written
// before the outage is still there.
func TestServerDownAndBack(t *testing.T) {
	srv := startInfluxd(t)
	db := newDatabase(t, srv.URL)
	srv.Stop()

	logs, log := newTestLogger()
	s, err := testConfig(srv.URL, db).OpenLogged(context.Background(), log)
	if err != nil {
		t.Fatalf("Open with the server down: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	if !strings.Contains(logs.String(), "does not answer") {
		t.Errorf("Open did not log that the server is down: %q", logs.String())
	}

	batch := records("n1", 20, time.Now())
	err = s.Write(context.Background(), batch[:10])
	var ne *net.OpError
	if err == nil || sinks.IsRejected(err) || StatusCode(err) != 0 || !errors.As(err, &ne) {
		t.Fatalf("write to a stopped server: %v (rejected %v); want a plain connection error", err, sinks.IsRejected(err))
	}

	srv.Start()
	if err := s.Write(context.Background(), batch[:10]); err != nil {
		t.Fatalf("write after the restart: %v", err)
	}
	srv.Stop()
	if err := s.Write(context.Background(), batch[10:]); err == nil || sinks.IsRejected(err) {
		t.Fatalf("write to a stopped server: %v; want a plain error", err)
	}
	srv.Start()
	if err := s.Write(context.Background(), batch[10:]); err != nil {
		t.Fatal(err)
	}
	rows := selectQL(t, srv.URL, db, `SELECT count(duration_ms) FROM satellite_check`)
	if len(rows) != 1 || rows[0]["count"] != json.Number("20") {
		t.Errorf("count after two restarts %v, want 20", rows)
	}
}

// A server that accepts the connection but never answers: the write times
// out after timeout, as a plain error.
func TestWriteTimeout(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	done := make(chan struct{})
	defer close(done)
	go func() {
		// Accept and hold connections until the test ends.
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() { <-done; c.Close() }()
		}
	}()

	cfg := testConfig("http://"+l.Addr().String(), "db")
	cfg.Timeout = 300 * time.Millisecond
	s := openSink(t, cfg)
	err = s.Write(context.Background(), records("n1", 1, time.Now()))
	if err == nil || sinks.IsRejected(err) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("error %v; want a plain deadline error", err)
	}
}

func TestWriteAfterClose(t *testing.T) {
	s := openSink(t, testConfig("http://127.0.0.1:1", "db"))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal("second Close:", err)
	}
	if err := s.Write(context.Background(), records("n", 1, time.Now())); err == nil {
		t.Fatal("Write after Close succeeded")
	}
}

// The database make test created answers to the sink as the agent opens it.
func TestOpenMakeTestDatabase(t *testing.T) {
	base := influxURL(t)
	db := testenv.Need(t, testenv.InfluxDatabase, "the InfluxDB database")
	logs, log := newTestLogger()
	s, err := testConfig(base, db).OpenLogged(context.Background(), log)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if !strings.Contains(logs.String(), "InfluxDB answers") {
		t.Errorf("Open logged %q", logs.String())
	}
	if err := s.Write(context.Background(), records(t.Name(), 3, time.Now())); err != nil {
		t.Fatal(err)
	}
}
