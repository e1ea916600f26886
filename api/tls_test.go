package api

import (
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/satellite-hq/satellite/internal/testpki"
)

// testPKI is a CA, a server certificate for 127.0.0.1 and a client
// certificate, all made for the test and written under dir.
type testPKI struct {
	caFile, certFile, keyFile string
	roots                     *x509.CertPool
	client                    tls.Certificate
	// otherClient is signed by a CA the server does not trust.
	otherClient tls.Certificate
}

func newTestPKI(t *testing.T) testPKI {
	t.Helper()
	only := func(u x509.ExtKeyUsage) func(*x509.Certificate) {
		return func(c *x509.Certificate) { c.ExtKeyUsage = []x509.ExtKeyUsage{u} }
	}
	ca, other := testpki.NewCA(t, "test CA"), testpki.NewCA(t, "other CA")
	srv := ca.Issue(t, "satellite", only(x509.ExtKeyUsageServerAuth))
	return testPKI{
		caFile: ca.File, certFile: srv.CertFile, keyFile: srv.KeyFile, roots: ca.Pool(),
		client:      ca.Issue(t, "dashboard", only(x509.ExtKeyUsageClientAuth)).Pair,
		otherClient: other.Issue(t, "intruder", only(x509.ExtKeyUsageClientAuth)).Pair,
	}
}

func TestTLS(t *testing.T) {
	p := newTestPKI(t)
	b := &stubBackend{local: sampleNode()}
	_, base := newServer(t, b, Options{TLS: &TLSFiles{CertFile: p.certFile, KeyFile: p.keyFile}})
	if !strings.HasPrefix(base, "https://") {
		t.Fatal(base)
	}

	if a := do(t, tlsClient(&tls.Config{RootCAs: p.roots}), "GET", base+"/v1/status/local", ""); a.code != 200 {
		t.Errorf("HTTPS: %d %s", a.code, a.body)
	}
	// Plain HTTP on the TLS port gets nowhere.
	plain := "http://" + strings.TrimPrefix(base, "https://") + "/v1/status/local"
	if resp, err := http.Get(plain); err == nil {
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Error("plain HTTP was answered on the TLS port")
		}
	}
	// TLS 1.1 is refused.
	old := tlsClient(&tls.Config{RootCAs: p.roots, MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11})
	if resp, err := old.Get(base + "/healthz"); err == nil {
		resp.Body.Close()
		t.Error("a TLS 1.1 client was served")
	}
	// TLS 1.2 is enough.
	v12 := tlsClient(&tls.Config{RootCAs: p.roots, MaxVersion: tls.VersionTLS12})
	if a := do(t, v12, "GET", base+"/v1/status/local", ""); a.code != 200 {
		t.Errorf("TLS 1.2: %d", a.code)
	}
}

func TestTLSClientCA(t *testing.T) {
	p := newTestPKI(t)
	b := &stubBackend{local: sampleNode()}
	_, base := newServer(t, b, Options{
		Token: "tok",
		TLS:   &TLSFiles{CertFile: p.certFile, KeyFile: p.keyFile, ClientCAFile: p.caFile},
	})
	for _, tc := range []struct {
		name  string
		certs []tls.Certificate
		max   uint16
	}{
		{"no certificate", nil, 0},
		{"no certificate, TLS 1.2", nil, tls.VersionTLS12},
		{"untrusted certificate", []tls.Certificate{p.otherClient}, 0},
	} {
		c := tlsClient(&tls.Config{RootCAs: p.roots, Certificates: tc.certs, MaxVersion: tc.max})
		resp, err := c.Get(base + "/healthz")
		if err == nil {
			resp.Body.Close()
			t.Errorf("%s: served (%d)", tc.name, resp.StatusCode)
		}
	}
	c := tlsClient(&tls.Config{RootCAs: p.roots, Certificates: []tls.Certificate{p.client}})
	if a := do(t, c, "GET", base+"/v1/status/local", "tok"); a.code != 200 {
		t.Errorf("with a client certificate: %d %s", a.code, a.body)
	}
	// The certificate does not replace the token.
	if a := do(t, c, "GET", base+"/v1/status/local", ""); a.code != 401 {
		t.Errorf("client certificate without token: %d", a.code)
	}
}

func TestTLSFileErrors(t *testing.T) {
	p := newTestPKI(t)
	notPEM := filepath.Join(t.TempDir(), "ca.txt")
	if err := os.WriteFile(notPEM, []byte("not a certificate\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		files TLSFiles
		err   string
	}{
		{TLSFiles{CertFile: p.certFile}, "both cert_file and key_file"},
		{TLSFiles{CertFile: p.certFile, KeyFile: p.caFile}, "tls"},
		{TLSFiles{CertFile: p.certFile, KeyFile: p.keyFile, ClientCAFile: "/nonexistent/ca.crt"}, "client CA"},
		{TLSFiles{CertFile: p.certFile, KeyFile: p.keyFile, ClientCAFile: notPEM}, "no PEM certificate"},
	} {
		_, err := New(&stubBackend{}, Options{TLS: &tc.files})
		if err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%+v: %v, want an error with %q", tc.files, err, tc.err)
		}
	}
}
