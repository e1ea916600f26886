// Package influxtest starts private InfluxDB 1.8 servers for tests, from
// the influxd that make test built, and talks to them over the 1.x query
// API (creating databases, InfluxQL selects), which the v2 client lacks.
package influxtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/satellite-hq/satellite/internal/testenv"
)

var nonWord = regexp.MustCompile(`[^A-Za-z0-9]+`)

// NewDatabase creates a database of the test's own on the server at base,
// dropped when the test ends, and returns its name: tests never see each
// other's points.
func NewDatabase(t testing.TB, base string) string {
	t.Helper()
	var b [4]byte
	_, _ = rand.Read(b[:])
	name := strings.ToLower(nonWord.ReplaceAllString(t.Name(), "_"))
	if len(name) > 40 {
		name = name[:40]
	}
	db := "t_" + name + "_" + hex.EncodeToString(b[:])
	Exec(t, base, "CREATE DATABASE "+db)
	t.Cleanup(func() {
		// The server may be a private one the test stopped already.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = PostQuery(ctx, base, "DROP DATABASE "+db)
	})
	return db
}

// Exec runs an InfluxQL statement through the 1.x /query endpoint: the
// v2 API has no way to create a database on 1.8.
func Exec(t testing.TB, base, q string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := PostQuery(ctx, base, q); err != nil {
		t.Fatal(err)
	}
}

func PostQuery(ctx context.Context, base, q string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/query", strings.NewReader(url.Values{"q": {q}}.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("%s: %w", q, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || bytes.Contains(body, []byte(`"error"`)) {
		return fmt.Errorf("%s: HTTP %d: %s", q, resp.StatusCode, body)
	}
	return nil
}

// Select runs an InfluxQL query on db through the 1.x /query endpoint and
// returns the rows of every series, each as column (or tag) name to value.
func Select(t testing.TB, base, db, q string) []map[string]any {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	u := base + "/query?" + url.Values{"db": {db}, "q": {q}, "epoch": {"ns"}}.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Results []struct {
			Error  string
			Series []struct {
				Tags    map[string]string
				Columns []string
				Values  [][]any
			}
		}
	}
	dec := json.NewDecoder(resp.Body)
	dec.UseNumber() // times in ns do not fit a float64
	if err := dec.Decode(&out); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	if len(out.Results) != 1 || out.Results[0].Error != "" {
		t.Fatalf("%s: %+v", q, out)
	}
	var rows []map[string]any
	for _, s := range out.Results[0].Series {
		for _, v := range s.Values {
			row := map[string]any{}
			for k, v := range s.Tags {
				row[k] = v
			}
			for i, c := range s.Columns {
				row[c] = v[i]
			}
			rows = append(rows, row)
		}
	}
	return rows
}

// Server is a private InfluxDB server a test stops and starts, on a port
// and data folder of its own. Flux is off: it makes every start take 7 to 15
// s of CPU; tests read a private server with InfluxQL (Select), the
// shared one with Flux.
type Server struct {
	t    testing.TB
	bin  string
	dir  string
	port int
	URL  string

	mu  sync.Mutex
	cmd *exec.Cmd
	out *os.File
}

// Start starts a private server from the influxd make test built.
func Start(t testing.TB) *Server {
	t.Helper()
	bin := testenv.Need(t, testenv.InfluxBin, "the influxd binary")
	dir := t.TempDir()
	s := &Server{t: t, bin: bin, dir: dir, port: FreePort(t)}
	s.URL = "http://127.0.0.1:" + strconv.Itoa(s.port)
	conf := fmt.Sprintf(`reporting-disabled = true
bind-address = "127.0.0.1:%d"
[meta]
  dir = %q
[data]
  dir = %q
  wal-dir = %q
  query-log-enabled = false
[monitor]
  store-enabled = false
[http]
  bind-address = "127.0.0.1:%d"
  auth-enabled = false
  flux-enabled = false
  log-enabled = false
  pprof-enabled = false
[logging]
  level = "warn"
  suppress-logo = true
`, FreePort(t), filepath.Join(dir, "meta"), filepath.Join(dir, "data"), filepath.Join(dir, "wal"), s.port)
	if err := os.WriteFile(filepath.Join(dir, "influxdb.conf"), []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	s.Start()
	return s
}

// FreePort returns a loopback port that nobody listened on a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Start starts the server, on the same port and data as before, and waits
// until it answers /ping.
func (s *Server) Start() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		s.t.Fatal("influxd is running already")
	}
	out, err := os.OpenFile(filepath.Join(s.dir, "influxd.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		s.t.Fatal(err)
	}
	cmd := exec.Command(s.bin, "run", "-config", filepath.Join(s.dir, "influxdb.conf"))
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		_ = out.Close()
		s.t.Fatal(err)
	}
	s.cmd, s.out = cmd, out
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(s.URL + "/ping")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusNoContent {
				return
			}
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(s.dir, "influxd.log"))
			s.t.Fatalf("influxd did not answer on %s within 30 s: %v\n%s", s.URL, err, log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Stop stops the server with SIGTERM, as an operator would, and waits for it.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- s.cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		_ = s.cmd.Process.Kill()
		<-done
	}
	_ = s.out.Close()
	s.cmd, s.out = nil, nil
}
