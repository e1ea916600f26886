package agent_test

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"
)

// A sink that cannot open when the agent starts is not skipped: its results
// wait in its spool under data_dir/spool/TYPE.NAME and all reach it once it
// opens, and /metrics shows the spool meanwhile.
func TestSinkDownAtStartKeepsResults(t *testing.T) {
	t.Parallel()
	dir, data := t.TempDir(), t.TempDir()
	// The archive's folder is a file: opening the SQLite sink fails until
	// the test replaces it with a folder.
	blocker := filepath.Join(t.TempDir(), "archive")
	writeFile(t, blocker, "not a folder")
	archive := filepath.Join(blocker, "archive.db")
	writeConfig(t, dir, nodeHCL(data, fmt.Sprintf(`
sink "sqlite" "archive" {
  path           = %q
  batch_size     = 10
  flush_interval = "1s"
}
`, archive)), `
defaults { interval = "1s" }
check "file" "here" {
  path = "/"
}
`)
	ta := startAgent(t, dir, data)
	spoolDir := filepath.Join(data, "spool", "sqlite.archive")
	eventually(t, "results spooled for the sink that is down", func() string {
		_, body := get(t, "GET", ta.base+"/metrics", "")
		m := regexp.MustCompile(`satellite_sink_queue_depth\{sink="sqlite.archive"\} (\d+)`).FindSubmatch(body)
		if m == nil {
			return "no queue depth for sqlite.archive on /metrics"
		}
		if n, _ := strconv.Atoi(string(m[1])); n < 3 {
			return fmt.Sprintf("queue depth %d, want at least 3", n)
		}
		if _, err := os.Stat(spoolDir); err != nil {
			return err.Error()
		}
		return ""
	})
	if err := os.Remove(blocker); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(blocker, 0o750); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the spool drained into the archive", func() string {
		_, body := get(t, "GET", ta.base+"/metrics", "")
		m := regexp.MustCompile(`satellite_sink_queue_depth\{sink="sqlite.archive"\} (\d+)`).FindSubmatch(body)
		if m == nil || string(m[1]) != "0" {
			return fmt.Sprintf("queue depth %q", m)
		}
		return ""
	})
	// Every run the history holds reached the archive (the history is the
	// witness: both get every result).
	time.Sleep(100 * time.Millisecond)
	hist := countRows(t, filepath.Join(data, "history.db"), "results")
	arch := countRows(t, archive, "results")
	if arch < 3 || arch+2 < hist {
		t.Errorf("archive has %d results, history %d: results were lost while the sink was down", arch, hist)
	}
}
