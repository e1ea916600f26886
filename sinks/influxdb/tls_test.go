package influxdb

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/satellite-hq/satellite/internal/testpki"
	"github.com/satellite-hq/satellite/sinks"
)

// pki is a CA with a server certificate for 127.0.0.1 and a client
// certificate, written as PEM files.
type pki struct {
	caFile, certFile, keyFile string
	caPool                    *x509.CertPool
	serverCert                tls.Certificate
}

func newPKI(t *testing.T) *pki {
	t.Helper()
	only := func(u x509.ExtKeyUsage) func(*x509.Certificate) {
		return func(c *x509.Certificate) { c.ExtKeyUsage = []x509.ExtKeyUsage{u} }
	}
	ca := testpki.NewCA(t, "test CA")
	client := ca.Issue(t, "satellite-agent", only(x509.ExtKeyUsageClientAuth))
	return &pki{caFile: ca.File, certFile: client.CertFile, keyFile: client.KeyFile, caPool: ca.Pool(),
		serverCert: ca.Issue(t, "influx", only(x509.ExtKeyUsageServerAuth)).Pair}
}

// The sink reaches a real InfluxDB through a TLS proxy that requires a
// client certificate, trusting only tls.ca_file; the token goes in the
// Authorization header as InfluxDB expects.
func TestTLSClientCertificate(t *testing.T) {
	base := influxURL(t)
	db := newDatabase(t, base)
	p := newPKI(t)
	target, _ := url.Parse(base)

	var mu sync.Mutex
	var auth, clientCN string
	proxy := httputil.NewSingleHostReverseProxy(target)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		auth = r.Header.Get("Authorization")
		clientCN = r.TLS.PeerCertificates[0].Subject.CommonName
		mu.Unlock()
		// InfluxDB 1.8 has auth off here; the proxy checked the token.
		r.Header.Del("Authorization")
		proxy.ServeHTTP(w, r)
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{p.serverCert}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: p.caPool}
	srv.Config.ErrorLog = quietLog()
	srv.StartTLS()
	defer srv.Close()

	cfg := testConfig(srv.URL, db)
	cfg.Token = "agent:s3cret"
	cfg.TLS = TLSOptions{CAFile: p.caFile, CertFile: p.certFile, KeyFile: p.keyFile}
	s := openSink(t, cfg)
	if err := s.Write(context.Background(), records("n1", 10, time.Now())); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	if auth != "Token agent:s3cret" || clientCN != "satellite-agent" {
		t.Errorf("proxy saw Authorization %q and client %q", auth, clientCN)
	}
	mu.Unlock()
	if got := awaitPoints(t, base, db, "satellite_check", "duration_ms", 10); got != 10 {
		t.Errorf("%d points through TLS, want 10", got)
	}

	t.Run("server certificate not trusted", func(t *testing.T) {
		cfg := *cfg
		cfg.TLS.CAFile = ""
		s := openSink(t, &cfg)
		err := s.Write(context.Background(), records("n1", 1, time.Now()))
		if err == nil || sinks.IsRejected(err) || !strings.Contains(err.Error(), "certificate") {
			t.Errorf("error %v; want a plain certificate error", err)
		}
	})
	t.Run("no client certificate", func(t *testing.T) {
		cfg := *cfg
		cfg.TLS.CertFile, cfg.TLS.KeyFile = "", ""
		s := openSink(t, &cfg)
		if err := s.Write(context.Background(), records("n1", 1, time.Now())); err == nil || sinks.IsRejected(err) {
			t.Errorf("error %v; want a plain error", err)
		}
	})
	t.Run("ca_file missing now, there later", func(t *testing.T) {
		cfg := *cfg
		cfg.TLS.CAFile = filepath.Join(t.TempDir(), "ca.pem")
		s := openSink(t, &cfg) // Open does not read the files
		err := s.Write(context.Background(), records("n1", 1, time.Now()))
		if err == nil || sinks.IsRejected(err) || !strings.Contains(err.Error(), "tls.ca_file") {
			t.Fatalf("error %v; want a plain error naming tls.ca_file", err)
		}
		pem, _ := os.ReadFile(p.caFile)
		if err := os.WriteFile(cfg.TLS.CAFile, pem, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := s.Write(context.Background(), records("n1", 1, time.Now())); err != nil {
			t.Errorf("write once the file is there: %v", err)
		}
	})
}

// No error or log line carries the token, even from a server (or proxy)
// that echoes it back.
func TestTokenNeverInErrors(t *testing.T) {
	const token = "user:t0psecret-Pa55"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("X-Influxdb-Error", "bad auth "+r.Header.Get("Authorization"))
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = io.WriteString(w, "you sent "+r.Header.Get("Authorization"))
	}))
	defer srv.Close()
	cfg := testConfig(srv.URL, "db")
	cfg.Token = token
	logs, log := newTestLogger()
	s, err := cfg.OpenLogged(context.Background(), log)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	err = s.Write(context.Background(), records("n1", 1, time.Now()))
	if err == nil || !sinks.IsRejected(err) {
		t.Fatalf("error %v; want a rejection", err)
	}
	for what, text := range map[string]string{"error": err.Error(), "log": logs.String(), "String": cfg.String(), "GoString": cfg.GoString()} {
		if strings.Contains(text, "t0psecret") {
			t.Errorf("the %s shows the token: %s", what, text)
		}
	}
	if !strings.Contains(err.Error(), "(sensitive)") {
		t.Errorf("error %q: the server's message should be there, redacted", err)
	}
}
