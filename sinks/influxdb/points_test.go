package influxdb

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/satellite-hq/satellite/sinks"
)

// The points' line protocol, without a server: names, prefixes, what is
// left out.
func TestPoints(t *testing.T) {
	at := time.Unix(1700000000, 123456789)
	r := &sinks.Record{
		Time: at, Node: `n1\`, Check: `http.api["a b"]`, Type: "http", Status: "warning", RunStatus: "critical",
		Changed: true, Previous: "passing", Duration: 2500 * time.Microsecond, Error: "boom",
		Metrics: map[string]float64{"latency_ms": 3, "nan": math.NaN(), "inf": math.Inf(-1), "status": 1, "_x": 2, `bad\`: 1, "": 1},
		Labels:  map[string]string{"zone": "eu", "check": "c", "time": "t", `k\`: "v", "a": `v\\`},
	}
	got := encode(t, func(e *encoder) error { return e.result("satellite_check", r) })
	// Trailing backslashes are trimmed from tag values (a, node); keys
	// ending in one, NaN and infinities are left out; reserved names get
	// a prefix.
	want := `satellite_check,a=v,check=http.api["a\ b"],label_check=c,label_time=t,node=n1,status=warning,type=http,zone=eu ` +
		`duration_ms=2.5,error="boom",latency_ms=3,metric__x=2,metric_status=1,run_status="critical",severity=1 1700000000123456789`
	if strings.TrimSpace(got) != want {
		t.Errorf("result point\n got %s\nwant %s", got, want)
	}

	got = encode(t, func(e *encoder) error { return e.change("satellite_state_change", r) })
	want = `satellite_state_change,a=v,check=http.api["a\ b"],label_check=c,label_time=t,node=n1,type=http,zone=eu ` +
		`error="boom",from_status="passing",severity=1,to_status="warning" 1700000000123456789`
	if strings.TrimSpace(got) != want {
		t.Errorf("change point\n got %s\nwant %s", got, want)
	}
}

// A label or metric that already has the prefixed name wins over the one
// that would be renamed to it, whatever order the map gives them in.
func TestPrefixCollisions(t *testing.T) {
	r := &sinks.Record{
		Time: time.Unix(1, 0), Node: "n", Check: "c", Type: "t", Status: "passing",
		Labels:  map[string]string{"node": "renamed", "label_node": "real"},
		Metrics: map[string]float64{"error": 1, "metric_error": 2},
	}
	want := `m,check=c,label_node=real,node=n,status=passing,type=t duration_ms=0,metric_error=2,run_status="",severity=0 1000000000`
	for range 20 {
		if got := encode(t, func(e *encoder) error { return e.result("m", r) }); strings.TrimSpace(got) != want {
			t.Fatalf("got %s\nwant %s", got, want)
		}
	}
}

// encode returns the line protocol f appends.
func encode(t *testing.T, f func(*encoder) error) string {
	t.Helper()
	e := getEncoder()
	defer putEncoder(e)
	if err := f(e); err != nil {
		t.Fatal(err)
	}
	return e.buf.String()
}

func TestRejectedStatuses(t *testing.T) {
	for code, want := range map[int]bool{400: true, 413: true, 422: true, 401: false, 403: false, 404: false, 408: false, 429: false, 500: false, 503: false, 204: false} {
		if got := rejected(code); got != want {
			t.Errorf("rejected(%d) = %v, want %v", code, got, want)
		}
	}
}
