package httpcheck

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/satellite-hq/satellite/checks/checktest"

	"github.com/hashicorp/hcl/v2"
	"github.com/satellite-hq/satellite/checks"
	"github.com/zclconf/go-cty/cty"
)

// decoded is one check block of a source, decoded with the type's spec.
type decoded struct {
	val   cty.Value
	env   checks.Env
	diags hcl.Diagnostics
}

// decodeChecks parses src and decodes every `check "TYPE" ...` block with the
// registered spec, variables from vars.
func decodeChecks(t testing.TB, src, baseDir string, vars map[string]cty.Value) []decoded {
	t.Helper()
	var out []decoded
	for _, d := range checktest.DecodeChecks(t, Type, src, checks.Env{BaseDir: baseDir, Asserts: true}, checktest.VarContext(vars)) {
		out = append(out, decoded{val: d.Val, env: d.Env, diags: d.Diags})
	}
	return out
}

// build decodes the one check block of src and builds it.
func build(t testing.TB, src, baseDir string) (checks.Checker, hcl.Diagnostics) {
	t.Helper()
	ds := decodeChecks(t, src, baseDir, nil)
	if len(ds) != 1 {
		t.Fatalf("got %d check blocks, want 1", len(ds))
	}
	if ds[0].diags.HasErrors() {
		return nil, ds[0].diags
	}
	return registration(t).Build(ds[0].val, ds[0].env)
}

// mustBuild builds a check block that must be valid.
func mustBuild(t testing.TB, body, baseDir string) checks.Checker {
	t.Helper()
	c, diags := build(t, "check \"http\" \"t\" {\n"+body+"\n}\n", baseDir)
	if diags.HasErrors() {
		t.Fatalf("build: %s", diags)
	}
	if c == nil {
		t.Fatal("build returned a nil checker without an error")
	}
	if cc, ok := c.(*Checker); ok {
		t.Cleanup(func() {
			if cc.client != nil {
				cc.client.CloseIdleConnections()
			}
		})
	}
	return c
}

func registration(t testing.TB) *checks.Registration {
	t.Helper()
	reg, ok := checks.Lookup(Type)
	if !ok {
		t.Fatal("http is not registered")
	}
	return reg
}

// run runs a checker with a deadline, as the engine does.
func run(t testing.TB, c checks.Checker, timeout time.Duration) checks.Result {
	t.Helper()
	ctx, cancel := checks.WithTimeout(context.Background(), timeout) // as the engine runs checks
	defer cancel()
	return c.Check(ctx)
}

// quietServer keeps httptest servers from logging expected TLS failures.
func quietServer(s *httptest.Server) *httptest.Server {
	s.Config.ErrorLog = log.New(io.Discard, "", 0)
	return s
}

// refusedAddr returns a loopback address that was listened on, then closed.
func refusedAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}

// pki is a CA with a server and a client certificate, written as PEM files.
type pki struct {
	dir        string
	caPool     *x509.CertPool
	serverCert tls.Certificate
	notAfter   time.Time
}

func newPKI(t testing.TB) *pki {
	t.Helper()
	dir := t.TempDir()
	caKey := newKey(t)
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "satellite test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(365 * 24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	p := &pki{dir: dir, caPool: x509.NewCertPool(), notAfter: time.Now().Add(30 * 24 * time.Hour)}
	p.caPool.AddCert(ca)
	writePEM(t, filepath.Join(dir, "ca.pem"), "CERTIFICATE", caDER)

	issue := func(serial int64, cn string, usage x509.ExtKeyUsage, name string) tls.Certificate {
		key := newKey(t)
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial),
			Subject:      pkix.Name{CommonName: cn},
			NotBefore:    time.Now().Add(-time.Hour),
			NotAfter:     p.notAfter,
			KeyUsage:     x509.KeyUsageDigitalSignature,
			ExtKeyUsage:  []x509.ExtKeyUsage{usage},
			DNSNames:     []string{"localhost", "health.test"},
			IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		keyDER, err := x509.MarshalECPrivateKey(key)
		if err != nil {
			t.Fatal(err)
		}
		writePEM(t, filepath.Join(dir, name+".pem"), "CERTIFICATE", der)
		writePEM(t, filepath.Join(dir, name+"-key.pem"), "EC PRIVATE KEY", keyDER)
		return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	}
	p.serverCert = issue(2, "server", x509.ExtKeyUsageServerAuth, "server")
	issue(3, "client", x509.ExtKeyUsageClientAuth, "client")
	return p
}

// server starts a TLS server with the PKI's server certificate.
func (p *pki) server(t testing.TB, h http.Handler, clientAuth tls.ClientAuthType) *httptest.Server {
	t.Helper()
	s := quietServer(httptest.NewUnstartedServer(h))
	s.TLS = &tls.Config{Certificates: []tls.Certificate{p.serverCert}, ClientAuth: clientAuth, ClientCAs: p.caPool}
	s.StartTLS()
	t.Cleanup(s.Close)
	return s
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func writePEM(t testing.TB, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// Shared with every check type's tests (checks/checktest).
var (
	wantCritical = checktest.WantCritical
	wantPassing  = checktest.WantPassing
)
