package main

import (
	"log/slog"
	"math"
	"os"
	"runtime/debug"

	"github.com/KimMachineGun/automemlimit/memlimit"
	"github.com/dustin/go-humanize"
	"github.com/hashicorp/go-hclog"
)

// shortRunGCPercent is the garbage collector's target for the commands that
// load a config, do one thing and exit (run --once, validate): their
// heap is mostly the config being compiled, garbage from the first
// collection to the exit, so collecting at four times the live heap
// instead of twice saves the collections that would free nothing the
// process needs, about a tenth of a 200-check run --once's CPU
// (BENCHMARKS.md, "Beside the peers"). The agent keeps Go's default.
const shortRunGCPercent = 400

// tuneShortRunGC raises the GC target for a short-lived command, unless
// the operator set GOGC, which always wins. The price is memory: validate
// of 10,000 checks peaks at 450-600 MB instead of 285 MB. So the memory
// limit of a cgroup (a CI job's container) still bounds the heap, as the
// agent's does (setMemoryLimit), and GOMEMLIMIT does when set.
func tuneShortRunGC() {
	if _, set := os.LookupEnv("GOGC"); set {
		return
	}
	debug.SetGCPercent(shortRunGCPercent)
	setMemoryLimit()
}

// agentMemoryRatio is the share of the cgroup's memory limit that becomes
// the Go memory limit, so that the collector works harder before
// the kernel's OOM killer would end the agent, and stays out of the way
// below it (the GC target stays Go's default, GOGC=100).
const agentMemoryRatio = 0.9

// tuneAgentMemory sets the agent's Go memory limit (GOMEMLIMIT) to 90% of
// the memory limit of its cgroup (systemd's MemoryMax, a container's or a
// pod's limit), with automemlimit, the library Prometheus uses for the
// same. GOMEMLIMIT set by the operator wins, AUTOMEMLIMIT=off turns it off
// and AUTOMEMLIMIT=0.8 changes the share; without a cgroup limit nothing is
// set. It returns the limit set, 0 for none.
func tuneAgentMemory(log hclog.Logger) int64 {
	limit, err := setMemoryLimit()
	switch {
	case err != nil:
		log.Warn("could not read the cgroup's memory limit; the Go runtime has none", "error", err)
		return 0
	case limit <= 0 || limit == math.MaxInt64:
		return 0
	}
	log.Info("Go memory limit set", "limit", humanize.IBytes(uint64(limit)), "from", memoryLimitSource())
	return limit
}

// memoryLimitSource says where the limit came from, for the log line.
func memoryLimitSource() string {
	if os.Getenv("GOMEMLIMIT") != "" {
		return "GOMEMLIMIT"
	}
	return "the cgroup's memory limit"
}

// setMemoryLimit sets the Go memory limit to agentMemoryRatio of the
// cgroup's memory limit, unless GOMEMLIMIT is set or AUTOMEMLIMIT=off; it
// returns the limit in force.
func setMemoryLimit() (int64, error) {
	return memlimit.Set(
		memlimit.WithRatio(agentMemoryRatio),
		memlimit.WithProvider(memlimit.FromCgroup),
		memlimit.WithLogger(slog.New(slog.DiscardHandler)),
	)
}
