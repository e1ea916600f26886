package mesh

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/satellite-hq/satellite/health"
	"github.com/satellite-hq/satellite/internal/testpki"
)

// issue makes ca's certificate for name (a DNS name only: the mesh checks
// names, not addresses) and returns the mesh's files for it.
func issue(t *testing.T, ca *testpki.CA, name string, opts ...func(*x509.Certificate)) *TLSFiles {
	t.Helper()
	opts = append([]func(*x509.Certificate){func(c *x509.Certificate) { c.IPAddresses = nil }}, opts...)
	l := ca.Issue(t, name, opts...)
	return &TLSFiles{CAFile: ca.File, CertFile: l.CertFile, KeyFile: l.KeyFile}
}

// httpsClient is a client of node a's endpoint trusting roots, presenting
// cert (nil: none).
func httpsClient(roots *x509.CertPool, cert *TLSFiles) *http.Client {
	tc := &tls.Config{RootCAs: roots, ServerName: "a", MinVersion: tls.VersionTLS12}
	if cert != nil {
		c, err := tls.LoadX509KeyPair(cert.CertFile, cert.KeyFile)
		if err != nil {
			panic(err)
		}
		// Sent whatever CAs the server names (with Certificates, crypto/tls
		// would send none from another CA).
		tc.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &c, nil }
	}
	return &http.Client{Timeout: 3 * time.Second, Transport: &http.Transport{TLSClientConfig: tc, Proxy: nil}}
}

// peerStatus GETs a peer endpoint; the error is any failure to get a 200.
func peerStatus(c *http.Client, url, auth string) (int, string, error) {
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), nil
}

func TestPeerTLS(t *testing.T) {
	ctx := context.Background()
	_, key := mustKey(t)
	ca, other := testpki.NewCA(t, "mesh CA"), testpki.NewCA(t, "another CA")
	fa, fb := issue(t, ca, "a"), issue(t, ca, "b")
	a := startNode(t, "a", addr(10, 1), func(c *Config) { c.TLS = fa; c.EncryptKey = key })
	b := startNode(t, "b", addr(10, 2), func(c *Config) { c.TLS = fb; c.EncryptKey = key; c.Join = []string{gossip(addr(10, 1))} })
	// c's certificate is from another CA: it is in the mesh (it has the
	// gossip key) but neither side accepts the other's endpoint.
	c := startNode(t, "c", addr(10, 3), func(c *Config) {
		c.TLS = issue(t, other, "c")
		c.EncryptKey = key
		c.Join = []string{gossip(addr(10, 1))}
	})
	for _, n := range []*testNode{a, b, c} {
		waitFor(t, 10*time.Second, n.name+" sees 3 alive", func() bool { return n.aliveCount() == 3 })
	}

	// a and b read each other's full status over mutual TLS.
	waitFor(t, 5*time.Second, "c's digest on a and b", func() bool {
		return hasDigest(a.m, "c") && hasDigest(b.m, "c")
	})
	waitFresh(t, a, 3, "b")
	waitFresh(t, b, 3, "a")
	for _, v := range []struct {
		from *testNode
		peer string
	}{{a, "b"}, {b, "a"}} {
		cs := v.from.m.ClusterView(ctx)
		n, _ := viewNode(cs, v.peer)
		if n.Stale || len(n.Probes) != 3 {
			t.Fatalf("%s's view of %s over TLS: stale %v, %d probes (%s)", v.from.name, v.peer, n.Stale, len(n.Probes), cs.Summary)
		}
	}
	// Wrong CA, both ways: a refuses c's server certificate and c refuses
	// a's, so each sees the other stale (from its digest).
	for _, v := range []struct {
		from *testNode
		peer *testNode
	}{{a, c}, {c, a}} {
		waitFor(t, 10*time.Second, v.from.name+" shows "+v.peer.name+" unreachable across CAs", func() bool {
			n, _ := viewNode(v.from.m.ClusterView(ctx), v.peer.name)
			return n.Stale && n.StaleReason == StaleUnreachable && n.PeerAnswered != nil && !*n.PeerAnswered
		})
		if _, err := v.from.m.fetchPeer(ctx, v.peer.name, v.peer.ip, 7947); err == nil || !strings.Contains(err.Error(), "certificate") {
			t.Errorf("%s fetching %s across CAs: %v", v.from.name, v.peer.name, err)
		} else {
			t.Logf("%s fetching %s across CAs: %v", v.from.name, v.peer.name, err)
		}
	}

	urlA := "https://" + addr(10, 1) + ":7947" + PeerPath
	tok := func() string { return tokenFor(t, key, "a") }
	// The server side, alone: a client with a good certificate and token
	// reads a; without the token it is refused (both are required when the
	// mesh is encrypted).
	if code, body, err := peerStatus(httpsClient(ca.Pool(), fb), urlA, tok()); err != nil || code != http.StatusOK || !strings.Contains(body, `"name":"a"`) {
		t.Fatalf("good certificate and token: %d %v %.80s", code, err, body)
	}
	if code, _, err := peerStatus(httpsClient(ca.Pool(), fb), urlA, ""); err != nil || code != http.StatusUnauthorized {
		t.Fatalf("good certificate, no token: %d %v", code, err)
	}
	// No client certificate, or one from another CA: the handshake fails.
	for name, cert := range map[string]*TLSFiles{"no client certificate": nil, "another CA's certificate": issue(t, other, "b")} {
		if code, _, err := peerStatus(httpsClient(ca.Pool(), cert), urlA, tok()); err == nil {
			t.Errorf("%s: answered %d", name, code)
		} else {
			t.Logf("%s: %v", name, err)
		}
	}
	// A client that does not trust the mesh CA refuses a.
	if _, _, err := peerStatus(httpsClient(other.Pool(), fb), urlA, tok()); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("client trusting another CA: %v", err)
	}
	// Plain HTTP gets no status (Go's TLS server answers 400).
	if code, body, err := peerStatus(http.DefaultClient, "http://"+addr(10, 1)+":7947"+PeerPath, tok()); err == nil && (code == http.StatusOK || strings.Contains(body, `"name"`)) {
		t.Fatalf("plain HTTP: %d %q", code, body)
	} else {
		t.Logf("plain HTTP: %d %v %q", code, err, strings.TrimSpace(body))
	}
}

// A server whose certificate is good but names another node is refused:
// an address is only what a member advertises.
func TestPeerTLSChecksTheMemberName(t *testing.T) {
	ca := testpki.NewCA(t, "mesh CA")
	a := startNode(t, "a", addr(11, 1), func(c *Config) { c.TLS = issue(t, ca, "a") })
	impostor := issue(t, ca, "x")
	pt, err := loadPeerTLS(*impostor, "x")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", addr(11, 2)+":0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{TLSConfig: pt.server, Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, `{"name":"x","status":"healthy"}`)
	})}
	go func() { _ = srv.ServeTLS(ln, "", "") }()
	t.Cleanup(func() { _ = srv.Close() })
	port := ln.Addr().(*net.TCPAddr).Port

	ctx := context.Background()
	if ns, err := a.m.fetchPeer(ctx, "x", addr(11, 2), port); err != nil || ns.Status != health.Healthy {
		t.Fatalf("fetching x from x: %v", err)
	}
	// The same server asked as member "b": refused at the handshake, and a
	// kept-alive connection verified for x is not used for b either.
	if _, err := a.m.fetchPeer(ctx, "b", addr(11, 2), port); err == nil || !strings.Contains(err.Error(), `not member "b"`) {
		t.Fatalf("x's certificate accepted for b: %v", err)
	}
}

func TestPeerTLSConfigErrors(t *testing.T) {
	ca, other := testpki.NewCA(t, "mesh CA"), testpki.NewCA(t, "another CA")
	good := issue(t, ca, "a")
	serverOnly := issue(t, ca, "a-server", func(c *x509.Certificate) { c.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth} })
	ipOnly := issue(t, ca, "ip", func(c *x509.Certificate) {
		c.DNSNames, c.Subject.CommonName, c.IPAddresses = nil, "", []net.IP{net.ParseIP("127.0.0.1")}
	})
	cnOnly := issue(t, ca, "cn", func(c *x509.Certificate) { c.DNSNames = nil })
	for name, tc := range map[string]struct {
		files TLSFiles
		node  string
		want  string // "" for no error
	}{
		"good":             {*good, "a", ""},
		"name, any case":   {*good, "A", ""},
		"CN without SANs":  {*cnOnly, "cn", ""},
		"another node":     {*good, "b", `not this node ("b")`},
		"IP SAN only":      {*ipOnly, "ip", "not this node"},
		"another CA":       {TLSFiles{CAFile: other.File, CertFile: good.CertFile, KeyFile: good.KeyFile}, "a", "peers would refuse"},
		"server auth only": {*serverOnly, "a-server", "peers would refuse"},
		"key mismatch":     {TLSFiles{CAFile: ca.File, CertFile: good.CertFile, KeyFile: serverOnly.KeyFile}, "a", "private key does not match"},
		"no CA file":       {TLSFiles{CertFile: good.CertFile, KeyFile: good.KeyFile}, "a", "all required"},
		"CA not PEM":       {TLSFiles{CAFile: good.KeyFile, CertFile: good.CertFile, KeyFile: good.KeyFile}, "a", "no PEM certificate"},
		"missing file":     {TLSFiles{CAFile: ca.File + ".nope", CertFile: good.CertFile, KeyFile: good.KeyFile}, "a", "no such file"},
	} {
		_, err := New(Config{NodeName: tc.node, Bind: "127.0.0.1:0", TLS: &tc.files})
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", name, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: got %v, want %q", name, err, tc.want)
		}
	}
}
