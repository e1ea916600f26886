package main

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// BenchmarkRunOnceCommand is `satellite run --once --no-sinks --format
// json` of 200 http checks against one loopback server, in this process:
// everything the command does but the process's start, which
// bench/peers.sh measures beside goss (BENCHMARKS.md, "Beside the peers").
//
//	go test -run '^$' -bench BenchmarkRunOnceCommand -benchtime 50x ./cmd/satellite
func BenchmarkRunOnceCommand(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "ok")
	}))
	defer srv.Close()
	dir := b.TempDir()
	var sb strings.Builder
	fmt.Fprintf(&sb, "agent {\n  data_dir = %q\n}\n", filepath.Join(dir, "data"))
	for i := range 200 {
		fmt.Fprintf(&sb, "check \"http\" \"t%d\" {\n  url = \"%s/t%d\"\n  timeout = \"5s\"\n}\n", i, srv.URL, i)
	}
	path := filepath.Join(dir, "once.hcl")
	if err := os.WriteFile(path, []byte(sb.String()), 0o600); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		var out, errs strings.Builder
		if code := run([]string{"run", "--once", "--no-sinks", "--format", "json", path}, &out, &errs); code != 0 {
			b.Fatalf("exit %d: %s", code, errs.String())
		}
		if n := strings.Count(out.String(), `"status": "passing"`); n != 200 {
			b.Fatalf("%d passing probes, want 200", n)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1e3/float64(b.N), "ms/op")
}
