package influxdb

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/satellite-hq/satellite/sinks"
)

// An agent-like producer feeds a Writer at a steady rate while InfluxDB is
// stopped (SIGTERM) and started again on the same port: afterwards every
// record is in InfluxDB once, and the outage did make writes fail.
func TestOutageLosesNothing(t *testing.T) {
	srv := startInfluxd(t)
	db := newDatabase(t, srv.URL)
	cfg := testConfig(srv.URL, db)
	cfg.Timeout = time.Second
	_, log := newTestLogger()
	s, err := cfg.OpenLogged(context.Background(), log)
	if err != nil {
		t.Fatal(err)
	}
	w := sinks.NewWriter(s, sinks.WriterOptions{
		Name: "influxdb.test", BatchSize: 20, FlushInterval: 20 * time.Millisecond,
		QueueSize: 10000, MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond,
		Logger: log,
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	runDone := make(chan error, 1)
	go func() { runDone <- w.Run(ctx) }()

	const n, every = 400, 5 * time.Millisecond // 2 s of results
	t0 := time.Now().Add(-time.Hour)
	produced := make(chan int, 1) // records the queue refused
	go func() {
		tick := time.NewTicker(every)
		defer tick.Stop()
		refused := 0
		for i := 0; i < n; i++ {
			<-tick.C
			r := record("n1", i, t0)
			if i%50 == 0 {
				r.Changed, r.Previous, r.Status = true, "passing", "critical"
			}
			if !w.Enqueue(r) {
				refused++
			}
		}
		produced <- refused
	}()

	time.Sleep(400 * time.Millisecond)
	srv.Stop()
	time.Sleep(time.Second)
	down := w.Stats()
	srv.Start()
	refused := <-produced

	closeCtx, closeCancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer closeCancel()
	if err := w.Close(closeCtx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := <-runDone; err != nil {
		t.Fatalf("Run: %v", err)
	}
	st := w.Stats()
	t.Logf("during the outage: %+v; at the end: %+v", down, st)
	if refused != 0 || st.Dropped != 0 || st.Delivered != n {
		t.Errorf("refused %d, stats %+v; want all %d delivered, none dropped", refused, st, n)
	}
	if down.Failures == 0 || down.Queued == 0 {
		t.Errorf("during the outage: %+v; want failed writes and a queue", down)
	}

	// Each record once: the (check, time) pairs are exactly the ones produced.
	rows := selectQL(t, srv.URL, db, `SELECT duration_ms FROM satellite_check GROUP BY *`)
	seen := map[string]int{}
	for _, r := range rows {
		seen[fmt.Sprintf("%v@%v", r["check"], r["time"])]++
	}
	for i := 0; i < n; i++ {
		r := record("n1", i, t0)
		k := fmt.Sprintf("%v@%d", r.Check, r.Time.UnixNano())
		if seen[k] != 1 {
			t.Errorf("record %d (%s) stored %d times", i, k, seen[k])
		}
	}
	if len(rows) != n {
		t.Errorf("%d points, want %d", len(rows), n)
	}
	changes := selectQL(t, srv.URL, db, `SELECT count(to_status) FROM satellite_state_change`)
	if len(changes) != 1 || changes[0]["count"] != json.Number(fmt.Sprint(n/50)) {
		t.Errorf("state changes %v, want %d", changes, n/50)
	}
}

// A record InfluxDB refuses (its field has another type in the shard) goes
// to the Writer's dead-letter file; the rest of its batch is delivered and
// the queue moves on.
func TestRejectedRecordDeadLettered(t *testing.T) {
	base := influxURL(t)
	db := newDatabase(t, base)
	now := time.Now()
	// An older schema wrote "code" as an integer, in this shard.
	influxQLWrite(t, base, db, fmt.Sprintf("satellite_check,node=old,check=x code=1i %d", now.UnixNano()))

	s := openSink(t, testConfig(base, db))
	dead := filepath.Join(t.TempDir(), "dead.jsonl")
	w := sinks.NewWriter(s, sinks.WriterOptions{
		Name: "influxdb.test", BatchSize: 50, FlushInterval: 20 * time.Millisecond,
		MinBackoff: 20 * time.Millisecond, MaxBackoff: 100 * time.Millisecond, DeadLetter: dead,
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	runDone := make(chan error, 1)
	go func() { runDone <- w.Run(ctx) }()

	const n = 40
	batch := records("n1", n, now.Add(-time.Minute))
	batch[17].Metrics = map[string]float64{"code": 2.5}
	for _, r := range batch {
		if !w.Enqueue(r) {
			t.Fatal("queue refused a record")
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	for w.Stats().Queued > 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	closeCtx, closeCancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer closeCancel()
	if err := w.Close(closeCtx); err != nil {
		t.Fatal(err)
	}
	if err := <-runDone; err != nil {
		t.Fatal(err)
	}
	st := w.Stats()
	if st.DeadLettered != 1 || st.Delivered != n-1 || st.Dropped != 0 {
		t.Errorf("stats %+v; want 1 dead-lettered, %d delivered", st, n-1)
	}
	letters, err := os.ReadFile(dead)
	if err != nil || !strings.Contains(string(letters), batch[17].ID()) || !strings.Contains(string(letters), "field type conflict") {
		t.Errorf("dead-letter file %q (%v); want record %s with the server's reason", letters, err, batch[17].ID())
	}
	got := fluxRows(t, base, fmt.Sprintf(`from(bucket: %q)
  |> range(start: -1h)
  |> filter(fn: (r) => r._measurement == "satellite_check" and r._field == "duration_ms" and r.node == "n1")
  |> group()
  |> count()`, db+"/autogen"))
	if len(got) != 1 || got[0].Value() != int64(n-1) {
		t.Errorf("points %v; want %d", got, n-1)
	}
}

// influxQLWrite writes line protocol through the 1.x /write endpoint, as an
// older writer would have.
func influxQLWrite(t *testing.T, base, db, lines string) {
	t.Helper()
	resp, err := http.Post(base+"/write?db="+db, "text/plain", strings.NewReader(lines))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("write: %d %s", resp.StatusCode, body)
	}
}
