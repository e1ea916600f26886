package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The agent built with -tags satellite_testhook, whose run loop a test can
// block (agent/testhook_on.go); built once, next to the plain one.
var (
	hookOnce sync.Once
	hookPath string
	hookErr  error
)

func hookedAgentBinary(t *testing.T) string {
	t.Helper()
	agentBinary(t) // the skips, and binDir, which TestMain removes
	hookOnce.Do(func() {
		hookPath = filepath.Join(binDir, "satellite-testhook")
		out, err := exec.Command("go", "build", "-tags", "satellite_testhook", "-o", hookPath, ".").CombinedOutput()
		if err != nil {
			hookErr = fmt.Errorf("go build -tags satellite_testhook: %v\n%s", err, out)
		}
	})
	if hookErr != nil {
		t.Fatal(hookErr)
	}
	return hookPath
}

// TestSdNotifyWatchdog: with WATCHDOG_USEC set the agent pings at half the
// interval while its run loop turns; once the loop is blocked the pings
// stop, though the process lives on (systemd would now restart it); and
// SIGTERM still stops it cleanly.
func TestSdNotifyWatchdog(t *testing.T) {
	t.Parallel()
	bin := hookedAgentBinary(t)
	sock := newSdSocket(t)
	block := filepath.Join(t.TempDir(), "block")
	const interval = time.Second
	// WATCHDOG_PID naming another process (here the test) means the pings
	// are not the agent's to send: none is.
	p := startNotifyProc(t, bin, []string{
		"NOTIFY_SOCKET=" + sock.path,
		fmt.Sprintf("WATCHDOG_USEC=%d", interval.Microseconds()),
		fmt.Sprintf("WATCHDOG_PID=%d", os.Getpid()),
	}, notifyConfig(t, "wd0"))
	_, before := sock.next(t, "READY=1", waitLimit)
	after := sock.drain(2 * interval)
	if n := count(append(before, after...), "WATCHDOG=1"); n > 0 {
		t.Errorf("%d WATCHDOG=1 with the WATCHDOG_PID of another process", n)
	}
	p.signal(t, syscall.SIGTERM)
	if code := p.wait(t); code != 0 {
		t.Fatalf("exit code %d, want 0", code)
	}
	sock.drain(100 * time.Millisecond)

	p = startNotifyProc(t, bin, []string{
		"NOTIFY_SOCKET=" + sock.path,
		fmt.Sprintf("WATCHDOG_USEC=%d", interval.Microseconds()),
		"SATELLITE_TEST_BLOCK_LOOP=" + block,
	}, notifyConfig(t, "wd"))
	sock.next(t, "READY=1", waitLimit)
	// Pings arrive, about every interval/2.
	start := time.Now()
	for range 4 {
		sock.next(t, "WATCHDOG=1", waitLimit)
	}
	if took := time.Since(start); took < interval {
		t.Errorf("4 pings in %s: more often than every %s", took, interval/2)
	}

	// Block the loop: the pings stop, the process lives on.
	if err := os.WriteFile(block, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the loop blocked", func() string {
		if !strings.Contains(p.out.String(), "test hook: the run loop is blocked") {
			return "not yet"
		}
		return ""
	})
	sock.drain(interval) // a ping already under way
	if got := sock.drain(3 * interval); count(got, "WATCHDOG=1") > 0 {
		t.Fatalf("WATCHDOG=1 with the run loop blocked: %q", texts(got))
	}
	select {
	case <-p.done:
		t.Fatalf("the agent exited (%d) with its loop blocked; it should live until systemd kills it", p.code)
	default:
	}
	if !strings.Contains(p.out.String(), "the run loop has made no progress") {
		t.Errorf("no log of the stopped pings:\n%s", p.out.String())
	}

	p.signal(t, syscall.SIGTERM)
	sock.next(t, "STOPPING=1", waitLimit)
	if code := p.wait(t); code != 0 {
		t.Fatalf("exit code %d, want 0", code)
	}
}
