package api

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
)

// Mounted handlers get the API's auth, judged before they see a request,
// at their access level; a mount cannot take the API's own paths.
func TestMount(t *testing.T) {
	s, base := newServer(t, &stubBackend{local: sampleNode()}, Options{Token: "full", ReadToken: "read", Registry: newTestRegistry(nil)})
	echo := func(name string) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "%s %s %s", name, r.Method, r.URL.Path)
		})
	}
	for prefix, access := range map[string]Access{"/ui/": Public, "/read/": Read, "/admin/": Full} {
		if err := s.Mount(prefix, echo(strings.Trim(prefix, "/")), access); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		method, path, token string
		code                int
		body                string
	}{
		{"GET", "/ui/", "", 200, "ui GET /ui/"},
		{"GET", "/ui/app.js", "", 200, "ui GET /ui/app.js"},
		{"POST", "/ui/x", "", 200, "ui POST /ui/x"}, // public: the handler judges its methods
		{"GET", "/ui", "", 301, ""},
		{"GET", "/read/page", "", 401, ""},
		{"GET", "/read/page", "wrong", 401, ""},
		{"GET", "/read/page", "read", 200, "read GET /read/page"},
		{"HEAD", "/read/page", "read", 200, ""},
		{"POST", "/read/page", "read", 403, ""},
		{"POST", "/read/page", "full", 200, "read POST /read/page"},
		{"GET", "/admin/keys", "read", 403, ""},
		{"GET", "/admin/keys", "full", 200, "admin GET /admin/keys"},
		{"DELETE", "/admin/keys", "full", 200, "admin DELETE /admin/keys"},
		// Outside every mount: 401 before 404, as before.
		{"GET", "/uix/", "", 401, ""},
		{"GET", "/uix/", "read", 404, ""},
		// The API's own endpoints keep their rules.
		{"GET", "/healthz", "", 503, ""}, // public; the sample node is degraded
		{"POST", "/v1/reload", "read", 403, ""},
		{"POST", "/healthz", "", 405, ""},
	} {
		client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		a := do(t, client, tc.method, base+tc.path, tc.token)
		if a.code != tc.code || (tc.body != "" && a.body != tc.body) {
			t.Errorf("%s %s (token %q): %d %q, want %d %q", tc.method, tc.path, tc.token, a.code, a.body, tc.code, tc.body)
		}
		if tc.code == 301 && a.header.Get("Location") != "/ui/" {
			t.Errorf("%s %s redirects to %q", tc.method, tc.path, a.header.Get("Location"))
		}
	}
	for _, bad := range []string{"ui/", "/ui", "/", "/v1/ui/", "/healthz/", "/metrics/", "/ui/sub/", "/read/"} {
		if err := s.Mount(bad, echo("x"), Public); err == nil {
			t.Errorf("Mount(%q) accepted", bad)
		}
	}
}

// A node without a history answers 404 on /v1/history, saying why.
func TestHistoryOff(t *testing.T) {
	_, base := newServer(t, noHistory{&stubBackend{local: sampleNode()}}, Options{})
	a := do(t, nil, "GET", base+"/v1/history", "")
	if a.code != 404 || !strings.Contains(a.body, "agent.history = false") {
		t.Fatalf("%d %s", a.code, a.body)
	}
}

// noHistory hides the stub's StateChanges, as an agent without a history.
type noHistory struct{ Backend }

// "OPTIONS *" is judged like any request: 401 without a token, not Go's
// built-in 200.
func TestOptionsStar(t *testing.T) {
	_, base := newServer(t, &stubBackend{local: sampleNode()}, Options{Token: "full"})
	addr := strings.TrimPrefix(base, "http://")
	for _, tc := range []struct {
		auth string
		want string
	}{
		{"", "HTTP/1.1 401"},
		{"Authorization: Bearer full\r\n", "HTTP/1.1 404"},
	} {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(conn, "OPTIONS * HTTP/1.1\r\nHost: x\r\n%sConnection: close\r\n\r\n", tc.auth)
		line, err := bufio.NewReader(conn).ReadString('\n')
		conn.Close()
		if err != nil || !strings.HasPrefix(line, tc.want) {
			t.Errorf("OPTIONS * with %q: %q %v, want %s", tc.auth, line, err, tc.want)
		}
	}
}

// An API without a token refuses to serve on an address that is not
// loopback, whatever name it was given: "localhost" can resolve to every
// interface.
func TestListenChecksTheBoundAddress(t *testing.T) {
	s, err := New(&stubBackend{}, Options{Listen: "localhost:0"})
	if err != nil {
		t.Fatal(err)
	}
	s.listen = "0.0.0.0:0" // what a hostile /etc/hosts makes of localhost
	if err := s.Listen(); err == nil || !strings.Contains(err.Error(), "not a loopback address") {
		_ = s.Close()
		t.Fatalf("Listen on all interfaces without a token: %v", err)
	}
	if s.Addr() != nil {
		t.Fatal("the refused socket is still open")
	}
	for _, tc := range []struct {
		addr  net.Addr
		token bool
		ok    bool
	}{
		{&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}, false, true},
		{&net.TCPAddr{IP: net.IPv6loopback}, false, true},
		{&net.TCPAddr{IP: net.IPv4zero}, false, false},
		{&net.TCPAddr{IP: net.IPv6unspecified}, false, false},
		{&net.TCPAddr{IP: net.IPv4(10, 1, 2, 3)}, false, false},
		{&net.TCPAddr{IP: net.IPv4(10, 1, 2, 3)}, true, true},
	} {
		if err := checkBound("x", tc.addr, tc.token); (err == nil) != tc.ok {
			t.Errorf("checkBound(%v, token %v) = %v", tc.addr, tc.token, err)
		}
	}
}
