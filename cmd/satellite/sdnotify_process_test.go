package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// sdSocket is a NOTIFY_SOCKET the test reads, as systemd would: one
// datagram per sd_notify call.
type sdSocket struct {
	path string
	msgs chan sdMsg
}

// sdMsg is one datagram and when it arrived (CLOCK_MONOTONIC, µs).
type sdMsg struct {
	text string
	at   int64
}

func monoUsec(t *testing.T) int64 {
	t.Helper()
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		t.Fatal(err)
	}
	return ts.Nano() / 1e3
}

func newSdSocket(t *testing.T) *sdSocket {
	t.Helper()
	// Short: a socket path is at most 108 bytes.
	dir, err := os.MkdirTemp("", "sdn")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	s := &sdSocket{path: filepath.Join(dir, "notify"), msgs: make(chan sdMsg, 1024)}
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: s.path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(s.msgs)
		buf := make([]byte, 4096)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				return // closed by the cleanup
			}
			var ts unix.Timespec
			_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
			select {
			case s.msgs <- sdMsg{text: string(buf[:n]), at: ts.Nano() / 1e3}:
			default:
				t.Errorf("more than %d sd_notify messages unread", cap(s.msgs))
			}
		}
	}()
	t.Cleanup(func() { conn.Close(); wg.Wait() })
	return s
}

// next returns the next message that has line want (such as "READY=1"),
// failing after limit; the messages skipped are returned too.
func (s *sdSocket) next(t *testing.T, want string, limit time.Duration) (sdMsg, []sdMsg) {
	t.Helper()
	var skipped []sdMsg
	deadline := time.After(limit)
	for {
		select {
		case m, ok := <-s.msgs:
			if !ok {
				t.Fatalf("the notify socket closed while waiting for %s", want)
			}
			if hasLine(m.text, want) {
				return m, skipped
			}
			skipped = append(skipped, m)
		case <-deadline:
			t.Fatalf("no sd_notify %s within %s; got %q", want, limit, texts(skipped))
		}
	}
}

// drain returns what arrives within d.
func (s *sdSocket) drain(d time.Duration) []sdMsg {
	var got []sdMsg
	deadline := time.After(d)
	for {
		select {
		case m, ok := <-s.msgs:
			if !ok {
				return got
			}
			got = append(got, m)
		case <-deadline:
			return got
		}
	}
}

func hasLine(text, line string) bool {
	for _, l := range strings.Split(text, "\n") {
		if l == line {
			return true
		}
	}
	return false
}

// field returns the value of KEY= in a message, "" without one.
func field(text, key string) string {
	for _, l := range strings.Split(text, "\n") {
		if v, ok := strings.CutPrefix(l, key+"="); ok {
			return v
		}
	}
	return ""
}

func texts(ms []sdMsg) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.text
	}
	return out
}

func count(ms []sdMsg, line string) int {
	n := 0
	for _, m := range ms {
		if hasLine(m.text, line) {
			n++
		}
	}
	return n
}

// startNotifyProc starts `satellite run` with the environment systemd would
// give it (extra), on a free port, without waiting for anything.
func startNotifyProc(t *testing.T, bin string, extra []string, args ...string) *agentProc {
	t.Helper()
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	p := &agentProc{out: &syncBuffer{}, done: make(chan struct{}), base: "http://" + addr}
	var env []string
	for _, kv := range testEnv() {
		if k, _, _ := strings.Cut(kv, "="); k != "NOTIFY_SOCKET" && !strings.HasPrefix(k, "WATCHDOG_") {
			env = append(env, kv)
		}
	}
	p.launch(t, bin, append(env, extra...), args...)
	return p
}

// get returns the status code and body of GET path, with no token.
func (p *agentProc) get(t *testing.T, path string) (int, string, error) {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(p.base + path)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

func notifyConfig(t *testing.T, name string) string {
	t.Helper()
	dir, data := t.TempDir(), t.TempDir()
	writeFile(t, dir, "node.hcl", fmt.Sprintf("agent {\n  name     = %q\n  data_dir = %q\n}\n", name, data))
	writeFile(t, dir, "checks.hcl", fmt.Sprintf(`
defaults { interval = "1s" }

check "tcp" "up" {
  address = %q
}
`, acceptAll(t)))
	return dir
}

// TestSdNotifyLifecycle runs the agent as systemd's Type=notify would:
// READY=1 once the API answers, RELOADING=1 (with MONOTONIC_USEC) then
// READY=1 around a SIGHUP, STOPPING=1 at SIGTERM, with STATUS= lines.
func TestSdNotifyLifecycle(t *testing.T) {
	t.Parallel()
	bin := agentBinary(t)
	sock := newSdSocket(t)
	dir := notifyConfig(t, "sd1")
	p := startNotifyProc(t, bin, []string{"NOTIFY_SOCKET=" + sock.path}, dir)

	ready, before := sock.next(t, "READY=1", waitLimit)
	// The API must answer at once: it listens before READY=1 is sent.
	code, body, err := p.get(t, "/healthz")
	if err != nil || (code != http.StatusOK && code != http.StatusServiceUnavailable) {
		t.Fatalf("/healthz right after READY=1: %d %q %v", code, body, err)
	}
	if len(before) > 0 {
		t.Errorf("messages before READY=1: %q", texts(before))
	}
	if st := field(ready.text, "STATUS"); !strings.HasPrefix(st, "1 check: ") || !strings.Contains(st, "API on "+strings.TrimPrefix(p.base, "http://")) {
		t.Errorf("STATUS at READY = %q, want the checks and the API address", st)
	}
	// Once the first round is done, STATUS says how the checks are.
	m, _ := sock.next(t, "STATUS=1 check: 1 passing; API on "+strings.TrimPrefix(p.base, "http://"), waitLimit)
	if hasLine(m.text, "READY=1") {
		t.Errorf("a STATUS update sent READY=1 again: %q", m.text)
	}

	// SIGHUP: RELOADING=1 with the monotonic time of the reload, then READY=1.
	writeFile(t, dir, "more.hcl", fmt.Sprintf("check \"tcp\" \"more\" {\n  address = %q\n}\n", acceptAll(t)))
	sent := monoUsec(t)
	p.signal(t, syscall.SIGHUP)
	rel, _ := sock.next(t, "RELOADING=1", waitLimit)
	usec, err := strconv.ParseInt(field(rel.text, "MONOTONIC_USEC"), 10, 64)
	if err != nil || usec < sent || usec > rel.at {
		t.Errorf("RELOADING=1 message %q: MONOTONIC_USEC must lie between the signal (%d) and the message's arrival (%d)", rel.text, sent, rel.at)
	}
	again, between := sock.next(t, "READY=1", waitLimit)
	if n := count(between, "RELOADING=1"); n != 0 {
		t.Errorf("RELOADING=1 twice for one SIGHUP: %q", texts(between))
	}
	if st := field(again.text, "STATUS"); !strings.HasPrefix(st, "reloaded, config ") || !strings.Contains(st, "2 checks") {
		t.Errorf("STATUS after the reload = %q, want reloaded with 2 checks", st)
	}

	// An invalid config: refused, still READY=1 with a STATUS that says so.
	writeFile(t, dir, "bad.hcl", "check \"tcp\" {\n")
	p.signal(t, syscall.SIGHUP)
	sock.next(t, "RELOADING=1", waitLimit)
	refused, _ := sock.next(t, "READY=1", waitLimit)
	if st := field(refused.text, "STATUS"); !strings.HasPrefix(st, "reload refused") {
		t.Errorf("STATUS after an invalid reload = %q, want reload refused", st)
	}

	p.signal(t, syscall.SIGTERM)
	stop, _ := sock.next(t, "STOPPING=1", waitLimit)
	if !strings.HasPrefix(field(stop.text, "STATUS"), "stopping") {
		t.Errorf("STOPPING=1 message %q, want a STATUS=stopping line", stop.text)
	}
	if code := p.wait(t); code != 0 {
		t.Fatalf("exit code %d, want 0", code)
	}
	if rest := sock.drain(200 * time.Millisecond); count(rest, "READY=1") > 0 {
		t.Errorf("READY=1 after STOPPING=1: %q", texts(rest))
	}
}

// TestSdNotifyUnset checks that without NOTIFY_SOCKET the agent neither
// sends anything nor minds: a socket the agent is not told about gets no
// message, and the agent runs and stops as usual.
func TestSdNotifyUnset(t *testing.T) {
	t.Parallel()
	bin := agentBinary(t)
	sock := newSdSocket(t)
	p := startNotifyProc(t, bin, []string{"WATCHDOG_USEC=200000"}, notifyConfig(t, "sd0"))
	if err := p.waitHealthz(t); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the first round", func() string {
		code, body, err := p.get(t, "/readyz")
		if err != nil || code != http.StatusOK {
			return fmt.Sprintf("/readyz %d %q %v", code, body, err)
		}
		return ""
	})
	p.signal(t, syscall.SIGTERM)
	if code := p.wait(t); code != 0 {
		t.Fatalf("exit code %d, want 0", code)
	}
	if got := sock.drain(100 * time.Millisecond); len(got) > 0 {
		t.Errorf("messages without NOTIFY_SOCKET: %q", texts(got))
	}
	if strings.Contains(p.out.String(), "sd_notify") {
		t.Errorf("the log mentions sd_notify without NOTIFY_SOCKET:\n%s", p.out.String())
	}
}

// TestReadyzFirstRound: /readyz answers 503 while a check's first run is in
// flight (an HTTP server that holds its first answer until the test lets
// it go), 200 once every check has run once; it needs no token, while the
// rest of the API does.
func TestReadyzFirstRound(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	var once sync.Once
	first := make(chan struct{})
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		held := false
		once.Do(func() { held = true; close(first) })
		if held {
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}
		_, _ = io.WriteString(w, "ok")
	})}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); _ = srv.Serve(l) }()
	releaseOnce := sync.OnceFunc(func() { close(release) })
	t.Cleanup(func() { releaseOnce(); srv.Close(); wg.Wait() })

	dir, data := t.TempDir(), t.TempDir()
	token := writeFile(t, data, "token", "s3cret-token\n")
	if err := os.Chmod(token, 0o600); err != nil {
		t.Fatal(err)
	}
	writeFile(t, dir, "node.hcl", fmt.Sprintf("agent {\n  name     = \"rz\"\n  data_dir = %q\n}\napi {\n  token_file = %q\n}\n", data, token))
	writeFile(t, dir, "checks.hcl", fmt.Sprintf(`
defaults { interval = "1s" }

check "tcp" "fast" {
  address = %q
}

check "http" "slow" {
  url      = "http://%s/"
  interval = "1m"
  timeout  = "30s"
}
`, acceptAll(t), l.Addr()))

	p := startProc(t, dir)
	select {
	case <-first:
	case <-time.After(waitLimit):
		t.Fatalf("the slow check's first run did not reach the server within %s", waitLimit)
	}
	// The fast check settles; the slow one holds the first round open.
	eventually(t, "/readyz 503 with one check pending", func() string {
		code, body, err := p.get(t, "/readyz")
		if err != nil {
			return err.Error()
		}
		var a struct {
			Status  string `json:"status"`
			Pending int    `json:"pending"`
		}
		if code != http.StatusServiceUnavailable || json.Unmarshal([]byte(body), &a) != nil || a.Status != "starting" || a.Pending != 1 {
			return fmt.Sprintf("%d %q", code, body)
		}
		return ""
	})
	if code, body, err := p.get(t, "/v1/status"); err != nil || code != http.StatusUnauthorized {
		t.Errorf("/v1/status without a token: %d %q %v, want 401 (the API needs its token)", code, body, err)
	}
	if code, body, err := p.get(t, "/readyz"); err != nil || code != http.StatusServiceUnavailable {
		t.Errorf("/readyz still before the release: %d %q %v, want 503", code, body, err)
	}

	releaseOnce()
	eventually(t, "/readyz 200", func() string {
		code, body, err := p.get(t, "/readyz")
		if err != nil || code != http.StatusOK || strings.TrimSpace(body) != `{"status":"ready"}` {
			return fmt.Sprintf("%d %q %v", code, body, err)
		}
		return ""
	})
	p.signal(t, syscall.SIGTERM)
	if code := p.wait(t); code != 0 {
		t.Fatalf("exit code %d, want 0", code)
	}
}
