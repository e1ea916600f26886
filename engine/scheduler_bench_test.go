package engine

import (
	"context"
	"flag"
	"fmt"
	"runtime"
	"slices"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// The window BenchmarkScheduler10k measures over, after its warm-up. Set it
// with -args, for example:
//
//	go test -run '^$' -bench BenchmarkScheduler10k -benchtime 1x -count 3 ./engine -args -sched10k.window=30s
var sched10kWindow = flag.Duration("sched10k.window", 30*time.Second, "measurement window of BenchmarkScheduler10k")

const (
	sched10kChecks   = 10_000
	sched10kInterval = 10 * time.Second
	// sched10kWarmup covers the first round (spread over the default 2 s
	// FirstRound) before the window starts.
	sched10kWarmup = 3 * time.Second
)

// schedRun is one event as BenchmarkScheduler10k records it: no more than
// the scheduler hands over, so that recording costs next to nothing.
type schedRun struct {
	check              *Check
	scheduled, started int64 // unix nanoseconds
}

// schedRecorder is the cheap OnEvent of BenchmarkScheduler10k: an atomic
// counter and a slot in a preallocated slice.
type schedRecorder struct {
	n    atomic.Int64
	runs []schedRun
}

func (r *schedRecorder) on(e Event) {
	i := r.n.Add(1) - 1
	if i < int64(len(r.runs)) {
		r.runs[i] = schedRun{check: e.Check, scheduled: e.Scheduled.UnixNano(), started: e.Started.UnixNano()}
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		panic(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func heapAlloc() uint64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// BenchmarkScheduler10k runs 10,000 trivial checks at a 10 s interval on one
// scheduler (MaxConcurrent 16) and, over a window of wall time after the
// first round, reports:
//
//   - cpu-us/run and cpu-%core: the process's CPU time (getrusage, user +
//     system) per run and as a share of one core;
//   - heap-B/check: live heap after GC with the scheduler loaded and
//     running, minus the heap before NewScheduler (the plan's Checks are in
//     both), per check;
//   - drift-p50-ms, drift-p99-ms, drift-max-ms: Started minus Scheduled of
//     the runs that started in the window. Every one is at its slot: the
//     first round, which has none, is over before the window.
//
// One op is one whole harness run (warm-up plus window); use -benchtime 1x.
func BenchmarkScheduler10k(b *testing.B) {
	window := *sched10kWindow
	var cpuSum time.Duration
	var wallSum time.Duration
	var runsSum int64
	var heapSum float64
	var drifts []int64
	for range b.N {
		cpu, wall, runs, heapPerCheck, d := sched10kOnce(b, window)
		cpuSum += cpu
		wallSum += wall
		runsSum += runs
		heapSum += heapPerCheck
		drifts = append(drifts, d...)
	}
	if runsSum == 0 || len(drifts) == 0 {
		b.Fatal("no runs in the window")
	}
	slices.Sort(drifts)
	pct := func(p float64) float64 {
		i := min(int(p*float64(len(drifts))), len(drifts)-1)
		return float64(drifts[i]) / 1e6
	}
	b.ReportMetric(float64(cpuSum.Microseconds())/float64(runsSum), "cpu-us/run")
	b.ReportMetric(100*cpuSum.Seconds()/wallSum.Seconds(), "cpu-%core")
	b.ReportMetric(float64(runsSum)/wallSum.Seconds(), "runs/s")
	b.ReportMetric(heapSum/float64(b.N), "heap-B/check")
	b.ReportMetric(pct(0.50), "drift-p50-ms")
	b.ReportMetric(pct(0.99), "drift-p99-ms")
	b.ReportMetric(float64(drifts[len(drifts)-1])/1e6, "drift-max-ms")
}

// sched10kOnce is one harness run. It returns the CPU time and wall time of
// the window, the runs that ended in it, the heap per check, and the drift of
// each run that started in it, in nanoseconds.
func sched10kOnce(b *testing.B, window time.Duration) (cpu, wall time.Duration, runs int64, heapPerCheck float64, drifts []int64) {
	cs := make([]*Check, sched10kChecks)
	for i := range cs {
		cs[i] = testCheck(fmt.Sprintf("tcp.c%05d", i), sched10kInterval, ok)
	}
	plan := &Plan{Checks: cs}
	// Room for every run of warm-up and window, and then some.
	rounds := int((sched10kWarmup+window)/sched10kInterval) + 3
	rec := &schedRecorder{runs: make([]schedRun, rounds*sched10kChecks)}

	heap0 := heapAlloc()
	s := NewScheduler(plan, SchedulerOptions{MaxConcurrent: 16, OnEvent: rec.on})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()

	time.Sleep(sched10kWarmup)
	t0, cpu0, n0 := time.Now(), cpuTime(), rec.n.Load()
	time.Sleep(window)
	t1, cpu1, n1 := time.Now(), cpuTime(), rec.n.Load()
	heap1 := heapAlloc()
	cancel()
	<-done
	runtime.KeepAlive(plan)

	if n := rec.n.Load(); n > int64(len(rec.runs)) {
		b.Fatalf("%d events, room for %d", n, len(rec.runs))
	}
	for _, r := range rec.runs[:min(int(rec.n.Load()), len(rec.runs))] {
		if r.started < t0.UnixNano() || r.started > t1.UnixNano() {
			continue
		}
		// Every run after the first round is at a slot; check it.
		if (r.scheduled-int64(phaseOf(r.check.Address, r.check.Interval)))%int64(r.check.Interval) != 0 {
			b.Fatalf("%s: a run in the window is not at a slot: %d", r.check.Address, r.scheduled)
		}
		drifts = append(drifts, r.started-r.scheduled)
	}
	return cpu1 - cpu0, t1.Sub(t0), n1 - n0, float64(int64(heap1)-int64(heap0)) / sched10kChecks, drifts
}
