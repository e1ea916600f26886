package tlscheck

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/satellite-hq/satellite/checks/checktest"

	"github.com/hashicorp/hcl/v2"
	"github.com/satellite-hq/satellite/checks"
	"github.com/zclconf/go-cty/cty"
)

func registration(t testing.TB) *checks.Registration {
	t.Helper()
	reg, ok := checks.Lookup(Type)
	if !ok {
		t.Fatal("tls is not registered")
	}
	return reg
}

// decoded is one check block of a source, decoded with the type's spec.
type decoded struct {
	val   cty.Value
	env   checks.Env
	diags hcl.Diagnostics
}

// decodeChecks parses src and decodes every check block with the registered
// spec, variables from vars.
func decodeChecks(t testing.TB, src, baseDir string, vars map[string]cty.Value) []decoded {
	t.Helper()
	var out []decoded
	for _, d := range checktest.DecodeChecks(t, Type, src, checks.Env{BaseDir: baseDir}, checktest.VarContext(vars)) {
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

// mustBuild builds a check body that must be valid (warnings allowed).
func mustBuild(t testing.TB, body, baseDir string) *Checker {
	t.Helper()
	c, diags := build(t, "check \"tls\" \"t\" {\n"+body+"\n}\n", baseDir)
	if diags.HasErrors() {
		t.Fatalf("build: %s", diags)
	}
	if c == nil {
		t.Fatal("build returned a nil checker without an error")
	}
	return c.(*Checker)
}

// wantDays fails unless expires_in_days is about want.
func wantDays(t testing.TB, res checks.Result, want float64) {
	t.Helper()
	got, ok := res.Metrics[MetricExpiresInDays]
	if !ok || got < want-0.01 || got > want+0.01 {
		t.Errorf("expires_in_days %v (%v), want about %.2f", got, ok, want)
	}
}

// pki is a root CA, an intermediate and certificates it issued, written as
// PEM files into dir.
type pki struct {
	dir string
	// Server certificates, each with its chain (leaf, intermediate).
	leaf, expired, future, clientOnly tls.Certificate
}

// Files written by newPKI.
const (
	fileCA         = "ca.pem"          // the root
	fileOtherCA    = "other-ca.pem"    // an unrelated root
	fileLeaf       = "leaf.pem"        // the leaf alone
	fileChain      = "chain.pem"       // leaf and intermediate
	fileCombined   = "combined.pem"    // key, leaf and intermediate
	fileExpired    = "expired.pem"     // expired leaf and intermediate
	fileFuture     = "future.pem"      // not yet valid leaf and intermediate
	fileClientOnly = "client-only.pem" // a client certificate and intermediate
)

// Validity of the test certificates.
const (
	leafDays    = 30
	expiredDays = -3
)

var (
	pkiOnce   sync.Once
	sharedPKI *pki
	pkiDir    string
)

// TestMain removes the shared PKI's folder.
func TestMain(m *testing.M) {
	code := m.Run()
	if pkiDir != "" {
		_ = os.RemoveAll(pkiDir)
	}
	os.Exit(code)
}

// newPKI returns the test PKI, made once per test binary (key generation
// is the slow part) in a folder that tests only read.
func newPKI(t testing.TB) *pki {
	t.Helper()
	pkiOnce.Do(func() {
		dir, err := os.MkdirTemp("", "tlscheck-pki-")
		if err != nil {
			t.Fatal(err)
		}
		pkiDir = dir
		sharedPKI = makePKI(t, dir)
	})
	if sharedPKI == nil {
		t.Fatal("the test PKI could not be made")
	}
	return sharedPKI
}

func makePKI(t testing.TB, dir string) *pki {
	now := time.Now()
	p := &pki{dir: dir}

	rootKey, root := newCA(t, "satellite test root", nil, nil)
	writePEM(t, filepath.Join(dir, fileCA), pemCert(root.Raw))
	_, other := newCA(t, "some other root", nil, nil)
	writePEM(t, filepath.Join(dir, fileOtherCA), pemCert(other.Raw))
	interKey, inter := newCA(t, "satellite test intermediate", root, rootKey)

	issue := func(cn string, notBefore, notAfter time.Time, usage x509.ExtKeyUsage, file string) tls.Certificate {
		key := newKey(t)
		tmpl := &x509.Certificate{
			SerialNumber: serial(t),
			Subject:      pkix.Name{CommonName: cn, Organization: []string{"satellite"}},
			NotBefore:    notBefore,
			NotAfter:     notAfter,
			KeyUsage:     x509.KeyUsageDigitalSignature,
			ExtKeyUsage:  []x509.ExtKeyUsage{usage},
			DNSNames:     []string{"localhost", "health.test"},
			IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, inter, &key.PublicKey, interKey)
		if err != nil {
			t.Fatal(err)
		}
		writePEM(t, filepath.Join(dir, file), pemCert(der), pemCert(inter.Raw))
		if file == fileChain {
			keyDER, err := x509.MarshalECPrivateKey(key)
			if err != nil {
				t.Fatal(err)
			}
			writePEM(t, filepath.Join(dir, fileLeaf), pemCert(der))
			writePEM(t, filepath.Join(dir, fileCombined), &pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}, pemCert(der), pemCert(inter.Raw))
		}
		leaf, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		return tls.Certificate{Certificate: [][]byte{der, inter.Raw}, PrivateKey: key, Leaf: leaf}
	}
	p.leaf = issue("leaf", now.Add(-time.Hour), now.Add(leafDays*24*time.Hour), x509.ExtKeyUsageServerAuth, fileChain)
	p.expired = issue("expired", now.Add(-60*24*time.Hour), now.Add(expiredDays*24*time.Hour), x509.ExtKeyUsageServerAuth, fileExpired)
	p.future = issue("future", now.Add(24*time.Hour), now.Add(90*24*time.Hour), x509.ExtKeyUsageServerAuth, fileFuture)
	p.clientOnly = issue("client", now.Add(-time.Hour), now.Add(leafDays*24*time.Hour), x509.ExtKeyUsageClientAuth, fileClientOnly)
	return p
}

func newCA(t testing.TB, cn string, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) (*ecdsa.PrivateKey, *x509.Certificate) {
	t.Helper()
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber:          serial(t),
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             time.Now().Add(-24 * time.Hour),
		NotAfter:              time.Now().Add(365 * 24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return key, cert
}

func serial(t testing.TB) *big.Int {
	t.Helper()
	n, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func pemCert(der []byte) *pem.Block { return &pem.Block{Type: "CERTIFICATE", Bytes: der} }

func writePEM(t testing.TB, path string, blocks ...*pem.Block) {
	t.Helper()
	var data []byte
	for _, b := range blocks {
		data = append(data, pem.EncodeToMemory(b)...)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// serveTLS runs a TLS server on 127.0.0.1 that completes handshakes with
// cert and closes each connection; mod adjusts its config.
func serveTLS(t testing.TB, cert tls.Certificate, mod func(*tls.Config)) string {
	t.Helper()
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}}
	if mod != nil {
		mod(cfg)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer func() { _ = c.Close() }()
				_ = c.SetDeadline(time.Now().Add(5 * time.Second))
				if c.(*tls.Conn).Handshake() == nil {
					// Wait for the client to close, so that a TLS 1.3
					// server's check of the client certificate has run.
					_, _ = c.Read(make([]byte, 1))
				}
			})
		}
	})
	t.Cleanup(func() { _ = ln.Close(); wg.Wait() })
	return ln.Addr().String()
}

// silentListener accepts connections and never says a word.
func silentListener(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var held []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		<-done
		for _, c := range held {
			_ = c.Close()
		}
	})
	return ln.Addr().String()
}

// closedAddr returns a loopback address on which nothing listens.
func closedAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

// Shared with every check type's tests (checks/checktest).
var (
	run          = checktest.Run
	wantCritical = checktest.WantCritical
	wantPassing  = checktest.WantPassing
)
