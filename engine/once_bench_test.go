package engine_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/satellite-hq/satellite/checks"
	_ "github.com/satellite-hq/satellite/checks/all"
	"github.com/satellite-hq/satellite/dsl"
	"github.com/satellite-hq/satellite/engine"
)

const onceBenchChecks = 200

// BenchmarkRunOnceHTTP200 times what `satellite run --once` does after
// compiling: engine.RunOnce of 200 `check "http"` blocks against a local
// server, 16 at a time.
//
//	go test -run '^$' -bench BenchmarkRunOnceHTTP200 -benchtime 20x -count 6 ./engine
//
// fresh-plan compiles the config again before each op (untimed), so that
// every op starts with new checkers and HTTP clients, as run --once does;
// reused-plan runs the same plan every op.
func BenchmarkRunOnceHTTP200(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "ok")
	}))
	defer srv.Close()
	src := onceBenchConfig(srv.URL, onceBenchChecks)

	b.Run("fresh-plan", func(b *testing.B) {
		for range b.N {
			b.StopTimer()
			cs := onceBenchPlan(b, src).Running()
			b.StartTimer()
			onceBenchRun(b, cs)
		}
		b.ReportMetric(float64(b.Elapsed().Microseconds())/1e3/float64(b.N), "ms/op")
	})
	b.Run("reused-plan", func(b *testing.B) {
		cs := onceBenchPlan(b, src).Running()
		for b.Loop() {
			onceBenchRun(b, cs)
		}
		b.ReportMetric(float64(b.Elapsed().Microseconds())/1e3/float64(b.N), "ms/op")
	})
}

func onceBenchRun(b *testing.B, cs []*engine.Check) {
	evs := engine.RunOnce(context.Background(), cs, engine.OnceOptions{MaxConcurrent: 16})
	if len(evs) != onceBenchChecks {
		b.Fatalf("%d events, want %d", len(evs), onceBenchChecks)
	}
	for _, e := range evs {
		if e.State.Status != checks.StatusPassing {
			b.Fatalf("%s: %s %s", e.Check.Address, e.State.Status, e.State.Error)
		}
	}
}

func onceBenchConfig(url string, n int) string {
	var sb strings.Builder
	for i := range n {
		fmt.Fprintf(&sb, "check \"http\" \"c%03d\" {\n  url = %q\n}\n\n", i, fmt.Sprintf("%s/health/%d", url, i))
	}
	return sb.String()
}

func onceBenchPlan(b *testing.B, src string) *engine.Plan {
	b.Helper()
	cfg, diags := dsl.LoadSource("once.hcl", []byte(src), dsl.Options{LookupEnv: func(string) (string, bool) { return "", false }})
	if diags.HasErrors() {
		b.Fatal(diags.Error())
	}
	plan, diags := engine.Compile(cfg)
	if diags.HasErrors() {
		b.Fatal(diags.Error())
	}
	if n := len(plan.Running()); n != onceBenchChecks {
		b.Fatalf("%d checks, want %d", n, onceBenchChecks)
	}
	return plan
}
