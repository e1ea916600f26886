package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"strconv"
	"syscall"
	"testing"

	"github.com/satellite-hq/satellite/internal/influxtest"
	"github.com/satellite-hq/satellite/sinks/sqlite"
)

// Issue 7's outage: InfluxDB is stopped while the agent produces results at
// a steady rate, the agent is killed with kill -9 during the outage and
// started again, then InfluxDB comes back. Every result the agent produced
// (its history is the witness: every result goes to the history and to
// every sink, each through its own write-ahead spool) is in InfluxDB once.
func TestInfluxOutageKill9(t *testing.T) {
	t.Parallel()
	srv := influxtest.Start(t)
	db := influxtest.NewDatabase(t, srv.URL)
	dir, data := t.TempDir(), t.TempDir()
	writeFile(t, dir, "node.hcl", fmt.Sprintf("agent {\n  name     = \"outage\"\n  data_dir = %q\n}\n", data))
	writeFile(t, dir, "checks.hcl", fmt.Sprintf(`
sink "influxdb" "tsdb" {
  url            = %q
  bucket         = "%s/autogen"
  batch_size     = 50
  flush_interval = "1s"
}

check "file" "root" {
  for_each = toset([for i in range(10) : tostring(i)])
  path     = "/"
  interval = "1s"
}
`, srv.URL, db))
	history := filepath.Join(data, sqlite.HistoryFile)

	p := startProc(t, dir)
	waitPoints(t, srv.URL, db, 20)

	srv.Stop()
	before, _ := countResults(history)
	eventually(t, "results spooled during the outage", func() string {
		if q := p.metric(t, "satellite_sink_queue_depth", "influxdb.tsdb"); q < 20 {
			return fmt.Sprintf("queue depth %v", q)
		}
		return ""
	})
	p.signal(t, syscall.SIGKILL)
	p.wait(t)

	p = startProc(t, dir) // InfluxDB still down
	eventually(t, "results produced after the restart", func() string {
		if n, _ := countResults(history); n < before+40 {
			return fmt.Sprintf("%d results, %d before the outage", n, before)
		}
		return ""
	})
	srv.Start()
	eventually(t, "the spool drained", func() string {
		if q := p.metric(t, "satellite_sink_queue_depth", "influxdb.tsdb"); q != 0 {
			return fmt.Sprintf("queue depth %v", q)
		}
		return ""
	})
	p.signal(t, syscall.SIGTERM)
	if code := p.wait(t); code != 0 {
		t.Fatalf("exit code %d after SIGTERM", code)
	}

	produced, err := countResults(history)
	if err != nil {
		t.Fatal(err)
	}
	stored := countPoints(t, srv.URL, db)
	// kill -9 may land between the history's spool and the sink's: at most
	// the one result in flight can be in the history alone.
	if stored > produced || produced-stored > 1 {
		t.Fatalf("InfluxDB has %d points, the agent produced %d results", stored, produced)
	}
	t.Logf("%d results produced across the outage and the kill -9, %d points stored", produced, stored)
}

// waitPoints waits until db holds at least n check points.
func waitPoints(t *testing.T, base, db string, n int) {
	t.Helper()
	eventually(t, fmt.Sprintf("%d points in InfluxDB", n), func() string {
		if got := countPoints(t, base, db); got < n {
			return fmt.Sprintf("%d points", got)
		}
		return ""
	})
}

// countPoints counts the check points in db (each run is one point: the
// same run written again replaces its point).
func countPoints(t *testing.T, base, db string) int {
	t.Helper()
	rows := influxtest.Select(t, base, db, `SELECT count(duration_ms) FROM satellite_check`)
	if len(rows) == 0 {
		return 0
	}
	n, err := rows[0]["count"].(json.Number).Int64()
	if err != nil {
		t.Fatalf("count: %v", err)
	}
	return int(n)
}

// metric reads one sample of a metric with a sink label from /metrics; -1
// when it is not there.
func (p *agentProc) metric(t *testing.T, name, sink string) float64 {
	t.Helper()
	resp, err := http.Get(p.base + "/metrics")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	m := regexp.MustCompile(regexp.QuoteMeta(name+`{sink="`+sink+`"}`) + ` (\S+)`).FindSubmatch(body)
	if m == nil {
		return -1
	}
	v, _ := strconv.ParseFloat(string(m[1]), 64)
	return v
}
