package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/satellite-hq/satellite/health"
)

// `satellite status --watch` against a real agent: a document at once,
// another when a check changes (from the event stream, not a poll), and
// the last document's exit code after Ctrl-C.
func TestStatusWatch(t *testing.T) {
	dir, data := t.TempDir(), t.TempDir()
	flag := filepath.Join(t.TempDir(), "flag")
	writeFile(t, filepath.Dir(flag), "flag", "up")
	writeFile(t, dir, "node.hcl", `agent {
  name     = "watch-a"
  data_dir = "`+data+`"
}

check "file" "flag" {
  path     = "`+flag+`"
  interval = "1s"
}
`)
	p := startProc(t, dir)
	within(t, 20*time.Second, "file.flag passing", func() string {
		n, err := (&meshAgent{agentProc: p}).local()
		if err != nil || n.Status != health.Healthy {
			return "not yet"
		}
		return ""
	})

	cmd := exec.Command(agentBinary(t), "status", "--watch", "--format", "json", "--addr", strings.TrimPrefix(p.base, "http://"))
	cmd.Env = testEnv()
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	docs := make(chan health.Cluster, 16)
	go func() { // ends when the command's stdout closes
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var cs health.Cluster
			if json.Unmarshal(sc.Bytes(), &cs) == nil {
				docs <- cs
			}
		}
		close(docs)
	}()
	next := func(want health.NodeState) {
		t.Helper()
		deadline := time.After(20 * time.Second)
		for {
			select {
			case cs, ok := <-docs:
				if !ok {
					t.Fatalf("the watch ended before a %s document", want)
				}
				if cs.Status == want {
					return
				}
			case <-deadline:
				t.Fatalf("no %s document within 20s", want)
			}
		}
	}
	next(health.Healthy)
	if err := os.Remove(flag); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	next(health.Degraded)
	t.Logf("the watch printed the degraded document %v after the file went", time.Since(start).Round(time.Millisecond))

	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	err = cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != exitFailed {
		t.Errorf("after Ctrl-C on a degraded node: %v, want exit code %d", err, exitFailed)
	}
}
