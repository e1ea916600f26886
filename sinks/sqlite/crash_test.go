package sqlite

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/satellite-hq/satellite/sinks"
)

// crashEnv names the database TestCrashChild writes to; without it the
// child test is skipped.
const crashEnv = "SATELLITE_CRASH_TEST_DB"

const (
	crashBatch = 50 // records per Write
	// Every crashChangeEvery-th record of a batch is a state change, so a
	// whole batch holds crashBatch/crashChangeEvery of them.
	crashChangeEvery = 5
	crashReady       = "first batch committed"
)

// TestCrashSafety kills a process that is writing batches as fast as it can,
// and checks that the file it leaves is sound and holds whole batches only:
// each Write is one transaction, and WAL recovery must undo a half-written one.
func TestCrashSafety(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	for round := range 3 {
		t.Run(fmt.Sprint(round), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), HistoryFile)
			crashOnce(t, path)
			checkAfterCrash(t, path)
		})
	}
}

func crashOnce(t *testing.T, path string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), crashEnv+"="+path)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	killed := false
	defer func() {
		if !killed {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	}()

	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if strings.Contains(sc.Text(), crashReady) {
				ready <- true
				break
			}
		}
		close(ready)
		// Keep reading so the child never blocks on a full pipe.
		for sc.Scan() {
		}
	}()
	select {
	case ok := <-ready:
		if !ok {
			t.Fatal("the child ended before it committed a batch")
		}
	case <-time.After(60 * time.Second):
		t.Fatal("the child committed no batch within a minute")
	}
	// Let it write on, and kill it at a point we do not choose: most likely
	// in the middle of a transaction.
	time.Sleep(time.Duration(20+rand.IntN(80)) * time.Millisecond)
	if err := cmd.Process.Kill(); err != nil { // SIGKILL: no cleanup runs
		t.Fatal(err)
	}
	killed = true
	err = cmd.Wait()
	if st, ok := cmd.ProcessState.Sys().(interface{ Signaled() bool }); ok && !st.Signaled() {
		t.Fatalf("the child was not killed by the signal: %v", err)
	}
}

func checkAfterCrash(t *testing.T, path string) {
	t.Helper()
	d, err := Open(context.Background(), path, 0)
	if err != nil {
		t.Fatalf("reopening after the crash: %v", err)
	}
	defer d.Close()

	rows, err := d.db.Query(`PRAGMA integrity_check`)
	if err != nil {
		t.Fatal(err)
	}
	var problems []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		problems = append(problems, s)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	rows.Close()
	if len(problems) != 1 || problems[0] != "ok" {
		t.Fatalf("integrity_check: %v", problems)
	}

	results, changes := count(t, d, "results"), count(t, d, "state_changes")
	t.Logf("%d results, %d state changes survived", results, changes)
	if results == 0 {
		t.Fatal("no results survived, although the child had committed a batch")
	}
	if results%crashBatch != 0 {
		t.Errorf("%d results is not a multiple of the batch size %d: a batch was half stored", results, crashBatch)
	}
	if want := results / crashChangeEvery; changes != want {
		t.Errorf("%d state changes for %d results, want %d: the two tables disagree", changes, results, want)
	}
	// Each batch is whole: every batch number that appears has all its rows.
	partial, err := d.db.Query(`SELECT node, count(*) FROM results GROUP BY node HAVING count(*) != ?`, crashBatch)
	if err != nil {
		t.Fatal(err)
	}
	defer partial.Close()
	for partial.Next() {
		var node string
		var n int
		if err := partial.Scan(&node, &n); err != nil {
			t.Fatal(err)
		}
		t.Errorf("%s has %d results, want %d", node, n, crashBatch)
	}
	if err := partial.Err(); err != nil {
		t.Fatal(err)
	}

	// The file still takes writes.
	if err := d.Write(context.Background(), crashBatchOf(-1)); err != nil {
		t.Errorf("writing after the crash: %v", err)
	}
}

// crashBatchOf is batch number n: its records carry the number as node, so
// that a half-stored batch shows in a GROUP BY.
func crashBatchOf(n int) []sinks.Record {
	batch := make([]sinks.Record, crashBatch)
	now := time.Now()
	for i := range batch {
		batch[i] = sinks.Record{
			Time: now, Node: fmt.Sprintf("batch-%d", n), Check: fmt.Sprintf("tcp.c%d", i), Type: "tcp",
			Status: "passing", RunStatus: "passing", Duration: time.Millisecond,
			Metrics: map[string]float64{"latency_ms": float64(i)},
			Labels:  map[string]string{"team": "core"},
			Error:   strings.Repeat("x", i), // rows of varied size, over several pages
			Changed: i%crashChangeEvery == 0, Previous: "critical",
		}
	}
	return batch
}

// TestCrashChild is the process TestCrashSafety kills: it writes batches
// until it is killed (or, should the parent be gone, for a minute).
func TestCrashChild(t *testing.T) {
	path := os.Getenv(crashEnv)
	if path == "" {
		t.Skip("run by TestCrashSafety")
	}
	d, err := Open(context.Background(), path, 0)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute)
	for n := 0; time.Now().Before(deadline); n++ {
		if err := d.Write(context.Background(), crashBatchOf(n)); err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			fmt.Println(crashReady)
		}
	}
	t.Error("not killed within a minute")
}
