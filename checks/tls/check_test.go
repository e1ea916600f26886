package tlscheck

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zclconf/go-cty/cty"

	"github.com/satellite-hq/satellite/checks"
)

func TestLiveValidChain(t *testing.T) {
	p := newPKI(t)
	addr := serveTLS(t, p.leaf, nil)
	for _, body := range []string{
		// By IP address: the certificate's IP SAN is verified.
		fmt.Sprintf("address = %q\nca_file = %q", addr, fileCA),
		// By name, as SNI and for verification.
		fmt.Sprintf("address = %q\nca_file = %q\nserver_name = \"health.test\"", addr, fileCA),
		fmt.Sprintf("address = %q\nca_file = %q", strings.Replace(addr, "127.0.0.1", "localhost", 1), filepath.Join(p.dir, fileCA)),
	} {
		t.Run(body, func(t *testing.T) {
			res := run(mustBuild(t, body, p.dir), 5*time.Second)
			wantPassing(t, res)
			wantDays(t, res, leafDays)
			if res.Detail != "" {
				t.Errorf("detail %q", res.Detail)
			}
			want := map[string]cty.Value{
				"subject":   cty.StringVal("CN=leaf,O=satellite"),
				"issuer":    cty.StringVal("CN=satellite test intermediate"),
				"not_after": cty.StringVal(p.leaf.Leaf.NotAfter.UTC().Format(time.RFC3339)),
				"dns_names": cty.ListVal([]cty.Value{cty.StringVal("localhost"), cty.StringVal("health.test")}),
			}
			for k, v := range want {
				if got := res.Attrs[k]; !got.RawEquals(v) {
					t.Errorf("%s = %#v, want %#v", k, got, v)
				}
			}
		})
	}
}

func TestWrongHostName(t *testing.T) {
	p := newPKI(t)
	addr := serveTLS(t, p.leaf, nil)
	res := run(mustBuild(t, fmt.Sprintf("address = %q\nca_file = %q\nserver_name = \"wrong.test\"", addr, fileCA), p.dir), 5*time.Second)
	wantCritical(t, res, addr+": the certificate does not verify: certificate is valid for localhost, health.test, not wrong.test")
	// What failed is still measured and described.
	wantDays(t, res, leafDays)
	if s := res.Attrs["subject"]; !s.RawEquals(cty.StringVal("CN=leaf,O=satellite")) {
		t.Errorf("subject %#v", s)
	}
}

func TestUntrusted(t *testing.T) {
	p := newPKI(t)
	addr := serveTLS(t, p.leaf, nil)
	t.Run("another CA", func(t *testing.T) {
		res := run(mustBuild(t, fmt.Sprintf("address = %q\nca_file = %q", addr, fileOtherCA), p.dir), 5*time.Second)
		wantCritical(t, res, "the certificate does not verify: certificate signed by unknown authority")
		wantDays(t, res, leafDays)
	})
	t.Run("system roots", func(t *testing.T) {
		res := run(mustBuild(t, fmt.Sprintf("address = %q", addr), ""), 5*time.Second)
		wantCritical(t, res, "certificate signed by unknown authority")
	})
	t.Run("no intermediate sent", func(t *testing.T) {
		leafOnly := p.leaf
		leafOnly.Certificate = leafOnly.Certificate[:1]
		addr := serveTLS(t, leafOnly, nil)
		res := run(mustBuild(t, fmt.Sprintf("address = %q\nca_file = %q", addr, fileCA), p.dir), 5*time.Second)
		wantCritical(t, res, "certificate signed by unknown authority")
	})
	t.Run("client certificate served", func(t *testing.T) {
		addr := serveTLS(t, p.clientOnly, nil)
		res := run(mustBuild(t, fmt.Sprintf("address = %q\nca_file = %q", addr, fileCA), p.dir), 5*time.Second)
		wantCritical(t, res, "incompatible key usage")
	})
}

func TestExpired(t *testing.T) {
	p := newPKI(t)
	addr := serveTLS(t, p.expired, nil)
	for _, verify := range []string{"true", "false"} {
		t.Run("verify = "+verify, func(t *testing.T) {
			res := run(mustBuild(t, fmt.Sprintf("address = %q\nca_file = %q\nverify = %s", addr, fileCA, verify), p.dir), 5*time.Second)
			wantCritical(t, res, addr+": the certificate expired 3.0 days ago, at ")
			wantDays(t, res, expiredDays)
		})
	}
	res := run(mustBuild(t, fmt.Sprintf("file = %q", fileExpired), p.dir), 5*time.Second)
	wantCritical(t, res, filepath.Join(p.dir, fileExpired)+": the certificate expired 3.0 days ago")
}

func TestNotYetValid(t *testing.T) {
	p := newPKI(t)
	addr := serveTLS(t, p.future, nil)
	res := run(mustBuild(t, fmt.Sprintf("address = %q\nverify = false", addr), ""), 5*time.Second)
	wantCritical(t, res, addr+": the certificate is not valid before ")
}

func TestVerifyFalse(t *testing.T) {
	p := newPKI(t)
	addr := serveTLS(t, p.leaf, nil)
	// Untrusted and misnamed, but verification is off: only expiry counts.
	res := run(mustBuild(t, fmt.Sprintf("address = %q\nserver_name = \"wrong.test\"\nverify = false", addr), ""), 5*time.Second)
	wantPassing(t, res)
	wantDays(t, res, leafDays)
}

func TestServerName(t *testing.T) {
	p := newPKI(t)
	var mu sync.Mutex
	var sni []string
	addr := serveTLS(t, p.leaf, func(cfg *tls.Config) {
		cfg.GetConfigForClient = func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
			mu.Lock()
			sni = append(sni, hello.ServerName)
			mu.Unlock()
			return nil, nil
		}
	})
	wantPassing(t, run(mustBuild(t, fmt.Sprintf("address = %q\nca_file = %q\nserver_name = \"health.test\"", addr, fileCA), p.dir), 5*time.Second))
	wantPassing(t, run(mustBuild(t, fmt.Sprintf("address = %q\nca_file = %q", strings.Replace(addr, "127.0.0.1", "localhost", 1), fileCA), p.dir), 5*time.Second))
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(sni, []string{"health.test", "localhost"}) {
		t.Errorf("the server saw SNI %q", sni)
	}
}

func TestServerRequiresClientCertificate(t *testing.T) {
	// Such servers (etcd, kubelet) refuse the handshake without a client
	// certificate, but only after sending their own: it is still judged.
	p := newPKI(t)
	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		t.Run(tls.VersionName(v), func(t *testing.T) {
			addr := serveTLS(t, p.leaf, func(cfg *tls.Config) {
				cfg.ClientAuth = tls.RequireAnyClientCert
				cfg.MinVersion, cfg.MaxVersion = v, v
			})
			res := run(mustBuild(t, fmt.Sprintf("address = %q\nca_file = %q", addr, fileCA), p.dir), 5*time.Second)
			wantPassing(t, res)
			wantDays(t, res, leafDays)
			t.Logf("detail: %s", res.Detail)
			if v == tls.VersionTLS12 && !strings.Contains(res.Detail, "then the handshake failed") {
				t.Errorf("detail %q does not say the handshake failed", res.Detail)
			}
		})
	}
}

func TestFile(t *testing.T) {
	p := newPKI(t)
	tests := []struct {
		name, body string
		err        string // "" for passing
	}{
		{"chain", fmt.Sprintf("file = %q\nca_file = %q", fileChain, fileCA), ""},
		{"key in the file", fmt.Sprintf("file = %q\nca_file = %q", fileCombined, fileCA), ""},
		{"absolute path", fmt.Sprintf("file = %q\nca_file = %q", filepath.Join(p.dir, fileChain), fileCA), ""},
		{"host name", fmt.Sprintf("file = %q\nca_file = %q\nserver_name = \"health.test\"", fileChain, fileCA), ""},
		{"a client certificate", fmt.Sprintf("file = %q\nca_file = %q", fileClientOnly, fileCA), ""},
		{"wrong host name", fmt.Sprintf("file = %q\nca_file = %q\nserver_name = \"wrong.test\"", fileChain, fileCA), "not wrong.test"},
		{"no intermediate", fmt.Sprintf("file = %q\nca_file = %q", fileLeaf, fileCA), "unknown authority"},
		{"another CA", fmt.Sprintf("file = %q\nca_file = %q", fileChain, fileOtherCA), "unknown authority"},
		{"verify off", fmt.Sprintf("file = %q\nverify = false", fileLeaf), ""},
		{"missing ca_file", fmt.Sprintf("file = %q\nca_file = \"nope.pem\"", fileChain), "ca_file: open " + filepath.Join(p.dir, "nope.pem") + ": no such file or directory"},
		{"ca_file without certificates", fmt.Sprintf("file = %q\nca_file = %q", fileChain, "junk.txt"), "ca_file: " + filepath.Join(p.dir, "junk.txt") + " holds no PEM certificate"},
	}
	if err := os.WriteFile(filepath.Join(p.dir, "junk.txt"), []byte("not a certificate\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := run(mustBuild(t, tt.body, p.dir), 5*time.Second)
			if tt.err == "" {
				wantPassing(t, res)
			} else {
				wantCritical(t, res, tt.err)
			}
			wantDays(t, res, leafDays)
			if _, ok := res.Attrs["dns_names"]; !ok {
				t.Error("no dns_names")
			}
		})
	}
}

func TestFileUnreadable(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "key.pem"), []byte("-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "bad.pem"), []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o700); err != nil {
		t.Fatal(err)
	}
	tests := []struct{ file, err string }{
		{"missing.pem", filepath.Join(dir, "missing.pem") + ": no such file or directory"},
		{"key.pem", filepath.Join(dir, "key.pem") + " holds no PEM certificate"},
		{"bad.pem", filepath.Join(dir, "bad.pem") + ": certificate 1: "},
		{"sub", filepath.Join(dir, "sub") + " is not a regular file"},
		{"/dev/zero", "/dev/zero is not a regular file"},
	}
	for _, tt := range tests {
		res := run(mustBuild(t, fmt.Sprintf("file = %q", tt.file), dir), 5*time.Second)
		wantCritical(t, res, tt.err)
		if len(res.Metrics) != 0 || res.Attrs != nil {
			t.Errorf("%s: metrics %v attrs %v without a certificate", tt.file, res.Metrics, res.Attrs)
		}
	}
}

func TestFilesReadAtEveryRun(t *testing.T) {
	p := newPKI(t)
	dir := t.TempDir()
	c := mustBuild(t, fmt.Sprintf("file = \"cert.pem\"\nca_file = %q", filepath.Join(p.dir, fileCA)), dir)
	wantCritical(t, run(c, 5*time.Second), "no such file")

	copyFile(t, filepath.Join(p.dir, fileChain), filepath.Join(dir, "cert.pem"))
	wantPassing(t, run(c, 5*time.Second))

	// Replaced by an expired one: the next run sees it.
	copyFile(t, filepath.Join(p.dir, fileExpired), filepath.Join(dir, "cert.pem"))
	wantCritical(t, run(c, 5*time.Second), "expired")
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestNotTLS(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_, _ = c.Write([]byte("HTTP/1.1 400 Bad Request\r\n\r\n"))
			_ = c.Close()
		}
	}()
	t.Cleanup(func() { _ = ln.Close(); <-done })
	res := run(mustBuild(t, fmt.Sprintf("address = %q", ln.Addr()), ""), 5*time.Second)
	wantCritical(t, res, "TLS handshake with "+ln.Addr().String()+": ")
	if len(res.Metrics) != 0 {
		t.Errorf("metrics %v without a certificate", res.Metrics)
	}
}

func TestRefused(t *testing.T) {
	addr := closedAddr(t)
	res := run(mustBuild(t, fmt.Sprintf("address = %q", addr), ""), 5*time.Second)
	wantCritical(t, res, "dial tcp "+addr+": connect: connection refused")
}

func TestTimeout(t *testing.T) {
	addr := silentListener(t)
	c := mustBuild(t, fmt.Sprintf("address = %q", addr), "")
	start := time.Now()
	res := run(c, 200*time.Millisecond)
	wantCritical(t, res, "TLS handshake with "+addr+": timed out after 200ms")
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("check returned %s after a 200ms deadline", took)
	}
}

func TestCanceled(t *testing.T) {
	addr := silentListener(t)
	c := mustBuild(t, fmt.Sprintf("address = %q", addr), "")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	wantCritical(t, c.Check(ctx), "TLS handshake with "+addr+": canceled")
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("a canceled run took %s", took)
	}
}

func TestDeadlinePassed(t *testing.T) {
	p := newPKI(t)
	ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	wantCritical(t, mustBuild(t, fmt.Sprintf("address = %q", serveTLS(t, p.leaf, nil)), "").Check(ctx), "timed out after 0s")
	wantCritical(t, mustBuild(t, fmt.Sprintf("file = %q", fileChain), p.dir).Check(ctx), "reading "+filepath.Join(p.dir, fileChain)+": timed out after 0s")
}

func TestResultConformsToDeclaredType(t *testing.T) {
	p := newPKI(t)
	reg := registration(t)
	for _, body := range []string{fmt.Sprintf("file = %q", fileChain), "file = \"missing.pem\""} {
		res := run(mustBuild(t, body, p.dir), 5*time.Second)
		if err := reg.ResultValue(res, 0).Type().TestConformance(reg.ResultType()); err != nil {
			t.Errorf("%s: result does not conform: %v", body, err)
		}
	}
}

func TestConcurrentRuns(t *testing.T) {
	p := newPKI(t)
	c := mustBuild(t, fmt.Sprintf("address = %q\nca_file = %q", serveTLS(t, p.leaf, nil), fileCA), p.dir)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if res := run(c, 5*time.Second); res.Verdict() != checks.StatusPassing {
				t.Errorf("run: %s", res.Error)
			}
		})
	}
	wg.Wait()
}

func BenchmarkCheck(b *testing.B) {
	p := newPKI(b)
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	for _, bc := range []struct{ name, body string }{
		{"address", fmt.Sprintf("address = %q\nca_file = %q", serveTLS(b, p.leaf, nil), fileCA)},
		{"file", fmt.Sprintf("file = %q\nca_file = %q", fileChain, fileCA)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			c := mustBuild(b, bc.body, p.dir)
			b.ReportAllocs()
			for b.Loop() {
				if res := c.Check(ctx); res.Error != "" {
					b.Fatal(res.Error)
				}
			}
		})
	}
}
