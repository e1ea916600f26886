package agent_test

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/satellite-hq/satellite/api"
	"github.com/satellite-hq/satellite/health"
)

// The dashboard's data from a real agent: the compiled checks, a check's
// results downsampled from the real SQLite history, the event stream of
// its state changes, and the page itself at /ui/ (issue 15).
func TestDashboardData(t *testing.T) {
	t.Parallel()
	dir, data := t.TempDir(), t.TempDir()
	flag := filepath.Join(t.TempDir(), "flag")
	writeFile(t, flag, "up")
	writeConfig(t, dir, nodeHCL(data, ""), `
check "file" "flag" {
  path     = "`+flag+`"
  interval = "1s"
  labels   = { team = "core" }
  threshold "size_bytes" {
    warn = 1000
    crit = 2000
  }
}

check "file" "root" {
  path       = "/"
  interval   = "1s"
  depends_on = [check.file.flag]
}
`)
	a := startAgent(t, dir, data)
	a.waitProbe(t, "file.root", status("passing"))

	// GET /v1/checks: what the config compiled to.
	var checks []health.CheckConfig
	if code, body := get(t, "GET", a.base+"/v1/checks", ""); code != 200 || json.Unmarshal(body, &checks) != nil || len(checks) != 2 {
		t.Fatalf("GET /v1/checks: %d %s", code, body)
	}
	flagCheck, root := checks[0], checks[1]
	if flagCheck.Address != "file.flag" || flagCheck.Type != "file" || flagCheck.IntervalSeconds != 1 || !flagCheck.Runs || flagCheck.Labels["team"] != "core" ||
		len(flagCheck.Thresholds) != 1 || *flagCheck.Thresholds[0].Warn != 1000 || *flagCheck.Thresholds[0].Crit != 2000 || flagCheck.Thresholds[0].Direction != "above" ||
		flagCheck.File != "checks.hcl" || flagCheck.Line != 2 {
		t.Errorf("file.flag compiled as %+v", flagCheck)
	}
	if root.Address != "file.root" || len(root.DependsOn) != 1 || root.DependsOn[0] != "file.flag" || len(root.Thresholds) != 0 {
		t.Errorf("file.root compiled as %+v", root)
	}

	// GET /v1/events: hello, then the change of file.flag when the file
	// goes, and back.
	client, err := api.NewClient(strings.TrimPrefix(a.base, "http://"), api.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	frames := make(chan api.StreamEvent, 256)
	go func() { // ends with ctx
		_ = client.Events(ctx, func(ev api.StreamEvent) error { frames <- ev; return nil })
		close(frames)
	}()
	next := func(want string) api.StreamEvent {
		t.Helper()
		deadline := time.After(wait)
		for {
			select {
			case ev, ok := <-frames:
				if !ok {
					t.Fatalf("the stream ended before a %s frame", want)
				}
				if ev.Event == want {
					return ev
				}
			case <-deadline:
				t.Fatalf("no %s frame within %s", want, wait)
			}
		}
	}
	if ev := next("hello"); !strings.Contains(string(ev.Data), `"node":"n1"`) {
		t.Errorf("hello: %s", ev.Data)
	}
	if err := os.Remove(flag); err != nil {
		t.Fatal(err)
	}
	if ev := next("check"); !strings.Contains(string(ev.Data), `"check":"file.flag","type":"file","status":"critical","previous":"passing"`) {
		t.Errorf("the change: %s", ev.Data)
	}
	writeFile(t, flag, "up")
	a.waitProbe(t, "file.flag", status("passing"))

	// GET /v1/history/results: the runs of file.flag from the history,
	// in buckets of a second, with the metric's min, mean and max.
	var series health.ResultSeries
	eventually(t, "file.flag's results in the history", func() string {
		code, body := get(t, "GET", a.base+"/v1/history/results?check=file.flag&since=5m&step=1s", "")
		if code != 200 || json.Unmarshal(body, &series) != nil {
			return string(body)
		}
		runs := 0
		for _, r := range series.Runs {
			runs += r
		}
		if runs < 3 || len(series.Metrics["size_bytes"].Avg) != len(series.Times) {
			return string(body)
		}
		return ""
	})
	if series.Node != "n1" || series.StepSeconds != 1 {
		t.Errorf("series of %q step %v", series.Node, series.StepSeconds)
	}
	// The file held 2 bytes whenever it was there; the run without it
	// had no metric and counts as failing.
	sz := series.Metrics["size_bytes"]
	for i := range series.Times {
		if sz.Avg[i] != nil && (*sz.Min[i] != 2 || *sz.Avg[i] != 2 || *sz.Max[i] != 2) {
			t.Errorf("bucket %d: min %v avg %v max %v, want 2", i, *sz.Min[i], *sz.Avg[i], *sz.Max[i])
		}
	}
	failing := 0
	for _, f := range series.Failing {
		failing += f
	}
	if failing == 0 {
		t.Errorf("no bucket counts the critical run: %+v", series.Failing)
	}

	// The page: /ui/ without a token on loopback, and / leads there.
	resp, err := http.Get(a.base + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Request.URL.Path != "/ui/" || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Errorf("GET / ended at %s: %d %s", resp.Request.URL, resp.StatusCode, resp.Header.Get("Content-Type"))
	}
}
