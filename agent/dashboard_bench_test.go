package agent_test

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// cpuTime is this process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkEventStreams measures what 100 clients of GET /v1/events cost
// an agent running 1,000 checks a second, of which 100 change state every
// second (their files come and go): the agent's CPU with the clients, less
// its CPU without them (half measured before the clients, half after), in
// percent of one core. The clients run in another
// process (this test binary again), so their own work is not counted.
//
//	go test -run '^$' -bench EventStreams -benchtime 1x ./agent
func BenchmarkEventStreams(b *testing.B) {
	const checks, flipping, clients = 1000, 100, 100
	window := 20 * time.Second
	if testing.Short() {
		window = 3 * time.Second
	}
	dir, data, files := b.TempDir(), b.TempDir(), b.TempDir()
	var hcl strings.Builder
	for i := range checks {
		path := filepath.Join(files, fmt.Sprintf("f%04d", i))
		if err := os.WriteFile(path, []byte("x"), 0o600); err != nil {
			b.Fatal(err)
		}
		fmt.Fprintf(&hcl, "check \"file\" \"f%04d\" {\n  path     = %q\n  interval = \"1s\"\n}\n", i, path)
	}
	if err := os.WriteFile(filepath.Join(dir, "node.hcl"), []byte(nodeHCL(data, "")), 0o600); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "checks.hcl"), []byte(hcl.String()), 0o600); err != nil {
		b.Fatal(err)
	}
	a := startAgent(b, dir, data)
	defer a.stop()

	// flipping files come and go every second.
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		up := false
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			for i := range flipping {
				path := filepath.Join(files, fmt.Sprintf("f%04d", i))
				if up {
					_ = os.WriteFile(path, []byte("x"), 0o600)
				} else {
					_ = os.Remove(path)
				}
			}
			up = !up
		}
	}()
	defer func() { cancel(); wg.Wait() }()
	time.Sleep(5 * time.Second) // the first runs, and the history's start

	measure := func(window time.Duration) float64 {
		c0, t0 := cpuTime(), time.Now()
		time.Sleep(window)
		return float64(cpuTime()-c0) / float64(time.Since(t0))
	}
	b.ResetTimer()
	for range b.N {
		// The agent's own load drifts by a point or two over a minute: the
		// baseline is half a window before the clients and half after.
		before := measure(window / 2)
		child := exec.Command(os.Args[0], "-test.run", "^TestEventStreamClients$", "-test.v")
		child.Env = append(os.Environ(), "SATELLITE_BENCH_STREAMS="+a.base+"/v1/events", "SATELLITE_BENCH_CLIENTS="+strconv.Itoa(clients))
		out, err := child.StdoutPipe()
		if err != nil {
			b.Fatal(err)
		}
		if err := child.Start(); err != nil {
			b.Fatal(err)
		}
		// The child says "connected" once every stream had its hello.
		lines := bufio.NewScanner(out)
		connected := false
		for !connected && lines.Scan() {
			connected = lines.Text() == "connected"
		}
		if !connected {
			_ = child.Process.Kill()
			_ = child.Wait()
			b.Fatal("the clients did not connect")
		}
		with := measure(window)
		_ = child.Process.Signal(os.Interrupt)
		var frames strings.Builder
		for lines.Scan() {
			if strings.Contains(lines.Text(), "frames on") {
				frames.WriteString(lines.Text())
			}
		}
		_ = child.Wait()
		without := (before + measure(window/2)) / 2
		extra := (with - without) * 100
		b.ReportMetric(without*100, "%core-0-streams")
		b.ReportMetric(with*100, "%core-100-streams")
		b.ReportMetric(extra, "%core-added")
		b.Logf("agent CPU %.1f%% of a core without streams, %.1f%% with %d; the clients: %s", without*100, with*100, clients, strings.TrimSpace(frames.String()))
	}
}

// TestEventStreamClients is BenchmarkEventStreams's other process: it
// reads $SATELLITE_BENCH_CLIENTS streams of $SATELLITE_BENCH_STREAMS until
// interrupted, and says how many frames they got. Without the variables it
// does nothing: it is not a test of its own.
func TestEventStreamClients(t *testing.T) {
	url, n := os.Getenv("SATELLITE_BENCH_STREAMS"), os.Getenv("SATELLITE_BENCH_CLIENTS")
	if url == "" {
		return // run only by BenchmarkEventStreams
	}
	clients, _ := strconv.Atoi(n)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var (
		mu     sync.Mutex
		frames int
		ready  sync.WaitGroup
		wg     sync.WaitGroup
	)
	ready.Add(clients)
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				ready.Done()
				return
			}
			defer resp.Body.Close()
			buf := make([]byte, 32<<10)
			first := true
			for {
				k, err := resp.Body.Read(buf)
				c := strings.Count(string(buf[:k]), "\n\n")
				mu.Lock()
				frames += c
				mu.Unlock()
				if first && c > 0 {
					first = false
					ready.Done()
				}
				if err != nil {
					if first {
						ready.Done()
					}
					return
				}
			}
		}()
	}
	ready.Wait()
	fmt.Println("connected")
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt)
	<-sig
	cancel()
	wg.Wait()
	fmt.Printf("%d frames on %d streams\n", frames, clients)
}
