package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/satellite-hq/satellite/health"
)

// hostileCases are the files of testdata/hostile (configs that once
// crashed, hung or blinded an agent; engine's TestHostileCorpus judges
// their diagnostics), by file name, but the one that is valid; plus
// file() of a FIFO, a device and a procfs file that blocks. Their
// `# mkfifo: NAME` FIFOs are made in dir, the agent's config folder.
func hostileCases(t *testing.T, dir string) map[string]string {
	t.Helper()
	cases := map[string]string{}
	var files []string
	for _, pattern := range []string{"*.hcl", "*.hcl.json"} {
		m, err := filepath.Glob(filepath.Join("..", "..", "testdata", "hostile", pattern))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	if len(files) == 0 {
		t.Fatal("no hostile corpus in testdata/hostile")
	}
	for _, f := range files {
		if filepath.Base(f) == "deep_raised.hcl" { // valid: a raised limit
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		cases[filepath.Base(f)] = string(b)
		for _, line := range strings.Split(string(b), "\n") {
			if name, ok := strings.CutPrefix(strings.TrimSpace(line), "# mkfifo:"); ok {
				if err := syscall.Mkfifo(filepath.Join(dir, strings.TrimSpace(name)), 0o600); err != nil && !os.IsExist(err) {
					t.Fatal(err)
				}
			}
		}
	}
	fifo := filepath.Join(dir, "hostile-fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	cases["file_fifo.hcl"] = fmt.Sprintf("locals {\n  x = file(%q)\n}\n", fifo)
	cases["file_dev_zero.hcl"] = "locals {\n  x = file(\"/dev/zero\")\n}\n"
	cases["file_proc_kmsg.hcl"] = "locals {\n  x = file(\"/proc/kmsg\")\n}\n"
	return cases
}

// Each hostile config, copied over a running agent's config and reloaded,
// is refused with a diagnostic within a bound; the agent keeps answering
// /healthz, keeps running its old checks, and logs why it refused.
func TestHostileReloadsKeepTheAgent(t *testing.T) {
	up := acceptAll(t)
	dir, data := t.TempDir(), t.TempDir()
	writeFile(t, dir, "node.hcl", fmt.Sprintf("agent {\n  name     = \"h1\"\n  data_dir = %q\n}\n", data))
	writeFile(t, dir, "checks.hcl", fmt.Sprintf("check \"tcp\" \"up\" {\n  address  = %q\n  interval = \"1s\"\n}\n", up))
	p := startProc(t, dir)
	lastRun := func() time.Time {
		var n health.Node
		p.getJSON(t, "/v1/status/local", &n)
		if pr, ok := probeOf(n, "tcp.up"); ok && pr.LastRun != nil {
			return *pr.LastRun
		}
		return time.Time{}
	}
	eventually(t, "a first run", func() string {
		if lastRun().IsZero() {
			return "no run yet"
		}
		return ""
	})
	var hash string
	{
		var n health.Node
		p.getJSON(t, "/v1/status/local", &n)
		hash = n.ConfigHash
	}
	client := &http.Client{Timeout: 90 * time.Second}
	for name, src := range hostileCases(t, dir) {
		t.Run(name, func(t *testing.T) {
			path := writeFile(t, dir, name, src)
			defer os.Remove(path)
			before := lastRun()
			start := time.Now()
			resp, err := client.Post(p.base+"/v1/reload", "application/json", nil)
			if err != nil {
				t.Fatalf("reload: %v (the agent: %v)", err, p.cmd.ProcessState)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			took := time.Since(start)
			var ans struct {
				Error       string `json:"error"`
				Diagnostics []struct {
					Summary  string `json:"summary"`
					Detail   string `json:"detail"`
					Filename string `json:"filename"`
				} `json:"diagnostics"`
			}
			if err := json.Unmarshal(body, &ans); err != nil || resp.StatusCode != http.StatusBadRequest || len(ans.Diagnostics) == 0 {
				t.Fatalf("reload answered %d %s, want 400 with diagnostics", resp.StatusCode, body)
			}
			placed := false
			for _, d := range ans.Diagnostics {
				if strings.HasSuffix(d.Filename, name) {
					placed = true
				}
			}
			if !placed {
				t.Errorf("no diagnostic points into %s: %s", name, body)
			}
			if took > 30*time.Second {
				t.Errorf("the reload took %s", took)
			}
			if err := p.waitHealthz(t); err != nil {
				t.Fatalf("/healthz after the reload: %v", err)
			}
			eventually(t, "the old check running on", func() string {
				if !lastRun().After(before) {
					return "tcp.up has not run since the reload"
				}
				return ""
			})
			var n health.Node
			p.getJSON(t, "/v1/status/local", &n)
			if n.ConfigHash != hash {
				t.Fatalf("config hash %s, want the old %s", n.ConfigHash, hash)
			}
			if !strings.Contains(p.out.String(), "reload refused") {
				t.Fatalf("the log does not say the reload was refused")
			}
			// The corpus's sensitive variables hold this value: neither the
			// answer nor the log may show it.
			if strings.Contains(string(body), "hunter2") || strings.Contains(p.out.String(), "hunter2") {
				t.Fatalf("a sensitive value was printed: %s", body)
			}
		})
	}
}
