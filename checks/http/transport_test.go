package httpcheck

import (
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/satellite-hq/satellite/checks"
	"github.com/satellite-hq/satellite/checks/checktest"
)

// TestSharedTransportsKeepTLSApart: checks share a transport only when
// their tls blocks are the same, so a CA or a client certificate never
// serves a check that did not name it, however the runs interleave; with
// keep_alive too, where connections are reused.
func TestSharedTransportsKeepTLSApart(t *testing.T) {
	for _, keepAlive := range []bool{false, true} {
		t.Run(fmt.Sprintf("keep_alive=%v", keepAlive), func(t *testing.T) { testTLSApart(t, keepAlive) })
	}
}

func testTLSApart(t *testing.T, keepAlive bool) {
	pa, pb := newPKI(t), newPKI(t)
	// Each server trusts only its own CA for client certificates and says
	// which certificate it was shown.
	echo := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sum := sha256.Sum256(r.TLS.PeerCertificates[0].Raw)
		_, _ = io.WriteString(w, hex.EncodeToString(sum[:]))
	})
	sa := pa.server(t, echo, tls.RequireAndVerifyClientCert)
	sb := pb.server(t, echo, tls.RequireAndVerifyClientCert)

	withCert := func(url string, p *pki) string {
		return fmt.Sprintf(`
  url        = %q
  keep_alive = %v
  tls {
    ca_file   = "ca.pem"
    cert_file = "client.pem"
    key_file  = %q
  }`, url, keepAlive, filepath.Join(p.dir, "client-key.pem"))
	}
	a := mustBuild(t, withCert(sa.URL, pa), pa.dir)
	a2 := mustBuild(t, withCert(sa.URL+"/other", pa), pa.dir)
	b := mustBuild(t, withCert(sb.URL, pb), pb.dir)
	aOnB := mustBuild(t, withCert(sb.URL, pa), pa.dir) // A's CA and certificate against B
	noCert := mustBuild(t, fmt.Sprintf(`
  url        = %q
  keep_alive = %v
  tls {
    ca_file = "ca.pem"
  }`, sa.URL, keepAlive), pa.dir) // A's CA, no certificate, against A

	tr := func(c any) http.RoundTripper { return c.(*Checker).httpClient().Transport }
	if tr(a) != tr(a2) || tr(a) != tr(aOnB) {
		t.Error("checks with the same tls block got different transports")
	}
	if tr(a) == tr(b) || tr(a) == tr(noCert) {
		t.Error("checks with different tls blocks share a transport")
	}

	// Interleaved runs, 20 rounds of all five at once.
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []string
	fail := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		errs = append(errs, fmt.Sprintf(format, args...))
	}
	for range 20 {
		for name, c := range map[string]*Checker{"a": a.(*Checker), "a2": a2.(*Checker), "b": b.(*Checker)} {
			want := certSum(t, map[string]*pki{"a": pa, "a2": pa, "b": pb}[name])
			wg.Go(func() {
				res := run(t, c, 5*time.Second)
				if res.Error != "" {
					fail("%s: %s", name, res.Error)
					return
				}
				if got := res.Attrs["body"].AsString(); got != want {
					fail("%s: the server was shown certificate %s, want %s", name, got, want)
				}
			})
		}
		wg.Go(func() {
			if res := run(t, aOnB, 5*time.Second); res.Error == "" {
				fail("A's CA accepted B's server")
			}
		})
		wg.Go(func() {
			if res := run(t, noCert, 5*time.Second); res.Error == "" {
				fail("a check without a client certificate passed against a server that requires one")
			}
		})
	}
	wg.Wait()
	for _, e := range errs {
		t.Error(e)
	}
	wantCritical(t, run(t, aOnB, 5*time.Second), "certificate", "unknown authority")
}

// certSum is the SHA-256 of the PKI's client certificate, in hex.
func certSum(t *testing.T, p *pki) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(p.dir, "client.pem"))
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	sum := sha256.Sum256(blk.Bytes)
	return hex.EncodeToString(sum[:])
}

// TestKeepAlive: keep_alive = true reuses one connection between runs, and
// between the checks of one tls block (TestKeepAlivesOff: by default every
// run connects).
func TestKeepAlive(t *testing.T) {
	var mu sync.Mutex
	conns := 0
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			mu.Lock()
			conns++
			mu.Unlock()
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	count := func() int {
		mu.Lock()
		defer mu.Unlock()
		n := conns
		conns = 0
		return n
	}

	kept := mustBuild(t, fmt.Sprintf("url = %q\nkeep_alive = true", srv.URL+"/b"), "")
	kept2 := mustBuild(t, fmt.Sprintf("url = %q\nkeep_alive = true", srv.URL+"/c"), "")
	for range 5 {
		wantPassing(t, run(t, kept, 5*time.Second))
		wantPassing(t, run(t, kept2, 5*time.Second))
	}
	if n := count(); n != 1 {
		t.Errorf("10 runs of two checks with keep_alive made %d connections, want 1", n)
	}
}

// TestNoAttrsWithoutAsserts: a check without asserts builds no result
// attributes (only asserts read them: body, json, headers), and still
// shows the body's start in detail when it fails.
func TestNoAttrsWithoutAsserts(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/bad" {
			w.WriteHeader(http.StatusInternalServerError)
		}
		_, _ = io.WriteString(w, `{"status":"down"}`)
	}))
	t.Cleanup(srv.Close)
	reg := registration(t)
	for _, asserts := range []bool{false, true} {
		ds := checktest.DecodeChecks(t, Type, fmt.Sprintf("check \"http\" \"t\" {\n  url = %q\n}\n", srv.URL+"/bad"),
			checks.Env{Asserts: asserts}, checktest.VarContext(nil))
		c, diags := reg.Build(ds[0].Val, ds[0].Env)
		if diags.HasErrors() {
			t.Fatal(diags)
		}
		res := run(t, c, 5*time.Second)
		if got := res.Attrs != nil; got != asserts {
			t.Errorf("asserts %v: attributes built %v", asserts, got)
		}
		if !strings.Contains(res.Detail, `"status":"down"`) {
			t.Errorf("asserts %v: detail %q lacks the body", asserts, res.Detail)
		}
	}
}
