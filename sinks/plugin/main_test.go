package plugin

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/satellite-hq/satellite/internal/testenv"

	"github.com/hashicorp/go-hclog"

	"github.com/satellite-hq/satellite/sinks"
)

// The plugins the tests run, built once by TestMain into a temporary folder.
var (
	jsonlBin string // examples/plugins/jsonl-sink
	testBin  string // testdata/testsink
)

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "satellite-sink-plugins-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() { _ = os.RemoveAll(dir) }()
	jsonlBin = filepath.Join(dir, "jsonl-sink")
	testBin = filepath.Join(dir, "testsink")
	for bin, pkg := range map[string]string{
		jsonlBin: "github.com/satellite-hq/satellite/examples/plugins/jsonl-sink",
		testBin:  "./testdata/testsink",
	} {
		cmd := exec.Command("go", "build", "-o", bin, pkg)
		if out, err := cmd.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "building %s: %v\n%s", pkg, err, out)
			return 1
		}
	}
	return m.Run()
}

// syncBuffer collects output from many goroutines.
type syncBuffer = testenv.Buffer

// logContext returns a context carrying a logger at trace level that writes
// to the returned buffer and, when the test fails, to the test log.
func logContext(t *testing.T) (context.Context, *syncBuffer) {
	t.Helper()
	buf := &syncBuffer{}
	log := hclog.New(&hclog.LoggerOptions{Name: "test", Level: hclog.Trace, Output: buf})
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("logs:\n%s", buf.String())
		}
	})
	return hclog.WithContext(context.Background(), log), buf
}

// open opens a plugin sink with short timeouts and closes it at the end of
// the test, checking that its process is gone then.
func open(t *testing.T, ctx context.Context, c *Config) *Sink {
	t.Helper()
	if c.StartTimeout == 0 {
		c.StartTimeout = 10 * time.Second
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = 10 * time.Second
	}
	s, err := c.Open(ctx)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	ps := s.(*Sink)
	t.Cleanup(func() {
		if err := ps.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		if left := processesOf(t, c.Command); len(left) > 0 {
			t.Errorf("processes of %s still running after Close: %v", c.Command, left)
		}
	})
	return ps
}

// processesOf returns the IDs of the running processes whose program is bin.
// A test's binaries live in a folder of their own, so these are the test's.
func processesOf(t *testing.T, bin string) []int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, e := range entries {
		var pid int
		if _, err := fmt.Sscanf(e.Name(), "%d", &pid); err != nil {
			continue
		}
		exe, err := os.Readlink(filepath.Join("/proc", e.Name(), "exe"))
		if err != nil {
			continue // gone, a kernel thread, or not ours to read
		}
		if exe == bin {
			pids = append(pids, pid)
		}
	}
	return pids
}

// record returns the i-th record of a test run.
func record(i int) sinks.Record {
	return sinks.Record{
		Time:      time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Millisecond),
		Node:      "node-1",
		Check:     fmt.Sprintf(`http.api["%d"]`, i%7),
		Type:      "http",
		Status:    "passing",
		RunStatus: "passing",
		Duration:  time.Duration(i) * time.Microsecond,
		Metrics:   map[string]float64{"latency_ms": float64(i) / 4, "status_code": 200},
		Labels:    map[string]string{"team": "core"},
	}
}

// jsonLine is what the jsonl plugin writes for a record.
type jsonLine struct {
	ID              string             `json:"id"`
	Time            time.Time          `json:"time"`
	Node            string             `json:"node"`
	Check           string             `json:"check"`
	Type            string             `json:"type"`
	Status          string             `json:"status"`
	RunStatus       string             `json:"run_status"`
	Changed         bool               `json:"changed"`
	Previous        string             `json:"previous"`
	DurationSeconds float64            `json:"duration_seconds"`
	Metrics         map[string]float64 `json:"metrics"`
	Error           string             `json:"error"`
	Labels          map[string]string  `json:"labels"`
}

// readLines reads the jsonl plugin's file; every line must be a whole record.
func readLines(t *testing.T, path string) []jsonLine {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	var out []jsonLine
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		var l jsonLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("%s:%d: %v: %q", path, n, err, sc.Text())
		}
		out = append(out, l)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s", within, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func countLines(s, substr string) int {
	n := 0
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, substr) {
			n++
		}
	}
	return n
}

// logTime returns the time of the first log line that holds substr.
func logTime(t *testing.T, logs, substr string) time.Time {
	t.Helper()
	for _, l := range strings.Split(logs, "\n") {
		if strings.Contains(l, substr) {
			ts, err := time.Parse("2006-01-02T15:04:05.000Z0700", strings.Fields(l)[0])
			if err != nil {
				t.Fatal(err)
			}
			return ts
		}
	}
	t.Fatalf("no log line holds %q", substr)
	return time.Time{}
}
