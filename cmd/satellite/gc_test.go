package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/satellite-hq/satellite/internal/testenv"
)

// TestAgentMemoryLimitFromCgroup: an agent started in a memory cgroup
// limited to 256 MiB sets its Go memory limit to 90% of it, and GOMEMLIMIT
// set by the operator wins.
func TestAgentMemoryLimitFromCgroup(t *testing.T) {
	testenv.NeedRoot(t, "making a memory cgroup")
	const limit = 256 << 20
	procs := memoryCgroup(t, limit)
	bin := agentBinary(t)
	dir := t.TempDir()
	conf := filepath.Join(dir, "c.hcl")
	src := fmt.Sprintf("agent {\n  data_dir = %q\n}\ncheck \"file\" \"here\" {\n  path = %q\n}\n", filepath.Join(dir, "data"), dir)
	if err := os.WriteFile(conf, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, env, want string
	}{
		{"from the cgroup", "", fmt.Sprintf("limit=\"%d MiB\" from=\"the cgroup's memory limit\"", limit*9/10>>20)},
		{"GOMEMLIMIT wins", "GOMEMLIMIT=100MiB", `limit="100 MiB" from=GOMEMLIMIT`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// The shell puts itself in the cgroup, then becomes the agent,
			// so that the agent starts inside it.
			cmd := exec.Command("/bin/sh", "-c", `echo $$ > "$0" && exec "$@"`, procs,
				bin, "run", "--api-listen", fmt.Sprintf("127.0.0.1:%d", freePort(t)), conf)
			cmd.Env = testEnv()
			if tc.env != "" {
				cmd.Env = append(cmd.Env, tc.env)
			}
			out := &syncBuffer{}
			cmd.Stdout, cmd.Stderr = out, out
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			defer func() {
				_ = cmd.Process.Signal(syscall.SIGTERM)
				select {
				case <-done:
				case <-time.After(waitLimit):
					_ = cmd.Process.Kill()
					<-done
				}
			}()
			deadline := time.Now().Add(waitLimit)
			for !strings.Contains(out.String(), "Go memory limit set") {
				if time.Now().After(deadline) {
					t.Fatalf("no memory limit in the agent's log:\n%s", out.String())
				}
				time.Sleep(20 * time.Millisecond)
			}
			time.Sleep(50 * time.Millisecond) // the rest of the line
			if !strings.Contains(out.String(), tc.want) {
				t.Errorf("the agent logged %q, want %s", line(out.String(), "Go memory limit set"), tc.want)
			}
		})
	}
}

// memoryCgroup makes a memory cgroup limited to limit bytes (v1 or v2,
// whichever the host has), removed at the end, and returns its
// cgroup.procs file.
func memoryCgroup(t *testing.T, limit int64) (procs string) {
	t.Helper()
	name := fmt.Sprintf("satellite-test-%d", os.Getpid())
	var dir, file string
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil {
		dir, file = filepath.Join("/sys/fs/cgroup", name), "memory.max"
	} else {
		dir, file = filepath.Join("/sys/fs/cgroup/memory", name), "memory.limit_in_bytes"
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		testenv.Unavailable(t, fmt.Sprintf("a memory cgroup (%v)", err))
	}
	t.Cleanup(func() {
		// Processes left (none, normally) go back to the root first.
		if b, err := os.ReadFile(filepath.Join(dir, "cgroup.procs")); err == nil {
			for _, pid := range strings.Fields(string(b)) {
				_ = os.WriteFile(filepath.Join(filepath.Dir(dir), "cgroup.procs"), []byte(pid), 0o644)
			}
		}
		for i := 0; i < 50; i++ {
			if err := os.Remove(dir); err == nil || os.IsNotExist(err) {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Errorf("could not remove the cgroup %s", dir)
	})
	if err := os.WriteFile(filepath.Join(dir, file), []byte(fmt.Sprint(limit)), 0o644); err != nil {
		t.Fatalf("setting the cgroup's limit: %v", err)
	}
	return filepath.Join(dir, "cgroup.procs")
}

// line is the first line of s that holds sub.
func line(s, sub string) string {
	for l := range strings.Lines(s) {
		if strings.Contains(l, sub) {
			return strings.TrimSpace(l)
		}
	}
	return ""
}

// TestShortRunGC: run --once and validate collect at 4x the live heap,
// unless GOGC is set.
func TestShortRunGC(t *testing.T) {
	old := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(old) })
	t.Setenv("GOGC", "") // restored at the end, and no parallel test sees the next line
	os.Unsetenv("GOGC")
	tuneShortRunGC()
	if got := debug.SetGCPercent(100); got != shortRunGCPercent {
		t.Errorf("GC percent %d without GOGC, want %d", got, shortRunGCPercent)
	}
	t.Setenv("GOGC", "100")
	tuneShortRunGC()
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("GC percent %d with GOGC=100, want 100 (GOGC wins)", got)
	}
}
