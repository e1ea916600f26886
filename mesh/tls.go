package mesh

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/satellite-hq/satellite/internal/tlsblock"
)

// TLSFiles are the PEM files of the peer endpoint's mutual TLS: this
// node's certificate (with its chain) and key, and the CA that every
// member's certificate must chain to.
//
// A certificate must name its node: a DNS SAN equal to the node name (or,
// without any DNS SAN, the subject CN), compared case-insensitively; it is
// used both to serve and to ask, so its extended key usages must allow
// server and client authentication (or be absent). Peers are checked by
// name, not by address: addresses are only what a member advertises, and
// change with DHCP or a cloud instance's replacement, whereas the node name
// is the identity the cluster view shows.
type TLSFiles struct {
	CAFile, CertFile, KeyFile string
}

// peerTLS is the loaded TLS of the peer endpoint.
type peerTLS struct {
	server *tls.Config
	client *tls.Config // chain and name checked by verifyServer, not crypto/tls
	roots  *x509.CertPool
}

// loadPeerTLS reads the files and checks that this node's own certificate
// is one its peers will accept, so a mistake shows at start, not as peers
// going stale.
func loadPeerTLS(f TLSFiles, node string) (*peerTLS, error) {
	if f.CAFile == "" || f.CertFile == "" || f.KeyFile == "" {
		return nil, errors.New("mesh tls: ca_file, cert_file and key_file are all required")
	}
	roots, err := tlsblock.CertPool(f.CAFile, "mesh.tls ca_file")
	if err != nil {
		return nil, fmt.Errorf("mesh tls: %w", err)
	}
	cert, err := tlsblock.KeyPair(f.CertFile, f.KeyFile, "mesh.tls")
	if err != nil {
		return nil, fmt.Errorf("mesh tls: %w", err)
	}
	leaf := cert.Leaf
	if leaf == nil {
		if leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return nil, fmt.Errorf("mesh tls: %s: %w", f.CertFile, err)
		}
	}
	inter := x509.NewCertPool()
	for _, der := range cert.Certificate[1:] {
		if c, err := x509.ParseCertificate(der); err == nil {
			inter.AddCert(c)
		}
	}
	for _, u := range []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth} {
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{u}}); err != nil {
			return nil, fmt.Errorf("mesh tls: peers would refuse %s (it must chain to %s and allow server and client authentication): %w",
				f.CertFile, f.CAFile, err)
		}
	}
	if !certNames(leaf, node) {
		return nil, fmt.Errorf("mesh tls: %s names %s, not this node (%q); peers check the node name",
			f.CertFile, describeNames(leaf), node)
	}
	t := &peerTLS{roots: roots}
	t.server = &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{cert},
		ClientCAs:    roots,
		ClientAuth:   tls.RequireAndVerifyClientCert,
	}
	t.client = &tls.Config{
		MinVersion: tls.VersionTLS13,
		// Always sent: with Certificates, crypto/tls sends none when the
		// server's CA list does not name its issuer, and the server's
		// refusal would then say less.
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &cert, nil },
		// The chain is verified against roots and the name against the
		// member's node name in verifyServer; crypto/tls would check the
		// address instead.
		InsecureSkipVerify: true, //nolint:gosec // verified in verifyServer
	}
	return t, nil
}

// certNames reports whether a certificate names node.
func certNames(c *x509.Certificate, node string) bool {
	if len(c.DNSNames) == 0 {
		return strings.EqualFold(c.Subject.CommonName, node)
	}
	for _, n := range c.DNSNames {
		if strings.EqualFold(n, node) {
			return true
		}
	}
	return false
}

func describeNames(c *x509.Certificate) string {
	if len(c.DNSNames) == 0 {
		return fmt.Sprintf("CN %q", c.Subject.CommonName)
	}
	return fmt.Sprintf("DNS SANs %q", c.DNSNames)
}

// verifyServer checks a peer endpoint's certificate: it chains to the CA,
// allows server authentication, and names the member asked.
func (t *peerTLS) verifyServer(cs tls.ConnectionState, node string) error {
	if len(cs.PeerCertificates) == 0 {
		return errors.New("the peer sent no certificate")
	}
	leaf := cs.PeerCertificates[0]
	inter := x509.NewCertPool()
	for _, c := range cs.PeerCertificates[1:] {
		inter.AddCert(c)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: t.roots, Intermediates: inter,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
		return fmt.Errorf("peer certificate: %w", err)
	}
	if !certNames(leaf, node) {
		return fmt.Errorf("peer certificate names %s, not member %q", describeNames(leaf), node)
	}
	return nil
}

// peerNameKey carries the name of the member asked, from fetchPeer to the
// TLS dial.
type peerNameKey struct{}

// dialTLS is the peer client's DialTLSContext: the handshake verifies the
// server as the member named in ctx, before any byte of the request.
func (t *peerTLS) dialTLS(d *net.Dialer) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		node, _ := ctx.Value(peerNameKey{}).(string)
		if node == "" {
			return nil, errors.New("mesh: peer TLS dial without a member name")
		}
		raw, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		cfg := t.client.Clone()
		cfg.VerifyConnection = func(cs tls.ConnectionState) error { return t.verifyServer(cs, node) }
		c := tls.Client(raw, cfg)
		if err := c.HandshakeContext(ctx); err != nil {
			_ = raw.Close()
			return nil, err
		}
		return c, nil
	}
}
