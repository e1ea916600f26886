package tlscheck

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"github.com/zclconf/go-cty/cty"

	"github.com/satellite-hq/satellite/checks"
)

// Checker reads one certificate per run and judges it. Build makes it; it
// is safe for concurrent use.
type Checker struct {
	address    string // host:port of a live server; or
	file       string // a PEM file, already resolved against the config folder
	serverName string // the name to verify (and send as SNI); empty: the host of address
	caFile     string // empty: the system's roots
	verify     bool
}

// Check reads the certificate once and judges it.
func (c *Checker) Check(ctx context.Context) checks.Result {
	return c.check(ctx, time.Now())
}

func (c *Checker) check(ctx context.Context, start time.Time) checks.Result {
	var (
		chain []*x509.Certificate
		note  string
		err   error
	)
	if c.file != "" {
		if err := ctx.Err(); err != nil {
			return critical(describe(ctx, err, "reading "+c.file, start))
		}
		chain, err = readCertificates(c.file)
	} else {
		chain, note, err = c.fetch(ctx, start)
	}
	if err != nil {
		return critical(err.Error())
	}

	leaf := chain[0]
	now := time.Now()
	res := checks.Result{
		Metrics: map[string]float64{MetricExpiresInDays: leaf.NotAfter.Sub(now).Hours() / 24},
		Attrs: map[string]cty.Value{
			"subject":   cty.StringVal(validUTF8(leaf.Subject.String())),
			"issuer":    cty.StringVal(validUTF8(leaf.Issuer.String())),
			"not_after": cty.StringVal(leaf.NotAfter.UTC().Format(time.RFC3339)),
			"dns_names": stringList(leaf.DNSNames),
		},
		Detail: note,
	}
	source := c.source()
	switch {
	case now.After(leaf.NotAfter):
		res.Error = fmt.Sprintf("%s: the certificate expired %s ago, at %s", source, age(now.Sub(leaf.NotAfter)), leaf.NotAfter.UTC().Format(time.RFC3339))
	case now.Before(leaf.NotBefore):
		res.Error = fmt.Sprintf("%s: the certificate is not valid before %s", source, leaf.NotBefore.UTC().Format(time.RFC3339))
	case c.verify:
		if err := c.verifyChain(chain, now); err != nil {
			res.Error = fmt.Sprintf("%s: %v", source, err)
		}
	}
	if res.Error != "" {
		res.Status = checks.StatusCritical
	}
	return res
}

// source names what was checked, for errors.
func (c *Checker) source() string {
	if c.file != "" {
		return c.file
	}
	return c.address
}

// nameToVerify is the host name the leaf must carry, or "" for none (a file
// without server_name).
func (c *Checker) nameToVerify() string {
	if c.serverName != "" || c.file != "" {
		return c.serverName
	}
	host, _, err := net.SplitHostPort(c.address)
	if err != nil {
		return c.address
	}
	return host
}

// fetch connects and returns the certificates the server presented, leaf
// first. A handshake that fails after the server's certificate arrived
// (typically a server that requires a client certificate) still returns
// it, with a note.
func (c *Checker) fetch(ctx context.Context, start time.Time) ([]*x509.Certificate, string, error) {
	var peer []*x509.Certificate
	cfg := &tls.Config{
		ServerName: c.nameToVerify(),
		// verifyChain verifies the chain after the handshake, so that an
		// untrusted, expired or misnamed certificate is still read, measured
		// and reported with the reason it fails. Nothing but the handshake is
		// sent on this connection.
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			peer = cs.PeerCertificates
			return nil
		},
		// Classical key exchanges only: no secret crosses this connection,
		// so the post-quantum hybrid (Go's default) would protect nothing,
		// yet it costs about a third of the client's handshake and makes
		// the ClientHello larger than some old servers accept.
		CurvePreferences: []tls.CurveID{tls.X25519, tls.CurveP256, tls.CurveP384, tls.CurveP521},
	}
	d := &tls.Dialer{NetDialer: &net.Dialer{KeepAlive: -1}, Config: cfg}
	conn, err := d.DialContext(ctx, "tcp", c.address)
	if conn != nil {
		_ = conn.Close()
	}
	switch {
	case err == nil && len(peer) == 0:
		return nil, "", fmt.Errorf("TLS handshake with %s: the server presented no certificate", c.address)
	case err == nil:
		return peer, "", nil
	case len(peer) > 0 && ctx.Err() == nil:
		return peer, fmt.Sprintf("The server presented its certificate, then the handshake failed: %v.", err), nil
	default:
		return nil, "", errors.New(describe(ctx, err, "TLS handshake with "+c.address, start))
	}
}

// verifyChain verifies the leaf against ca_file (or the system's roots),
// with the rest of the chain as intermediates, and its host name.
func (c *Checker) verifyChain(chain []*x509.Certificate, now time.Time) error {
	opts := x509.VerifyOptions{
		DNSName:       c.nameToVerify(),
		CurrentTime:   now,
		Intermediates: x509.NewCertPool(),
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	if c.file != "" {
		// A file may hold a client or peer certificate: any usage will do.
		opts.KeyUsages = []x509.ExtKeyUsage{x509.ExtKeyUsageAny}
	}
	for _, cert := range chain[1:] {
		opts.Intermediates.AddCert(cert)
	}
	if c.caFile != "" {
		roots, err := readCertificates(c.caFile)
		if err != nil {
			return fmt.Errorf("ca_file: %w", err)
		}
		opts.Roots = x509.NewCertPool()
		for _, r := range roots {
			opts.Roots.AddCert(r)
		}
	}
	if _, err := chain[0].Verify(opts); err != nil {
		return fmt.Errorf("the certificate does not verify: %s", strings.TrimPrefix(err.Error(), "x509: "))
	}
	return nil
}

// readCertificates reads every CERTIFICATE block of a PEM file, in order;
// other blocks (a private key) are skipped.
func readCertificates(path string) ([]*x509.Certificate, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }()
	if fi, err := f.Stat(); err != nil {
		return nil, err
	} else if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	data, err := checks.ReadLimited(f, MaxFileSize, path, "a certificate file")
	if err != nil {
		return nil, err
	}
	var out []*x509.Certificate
	for rest := data; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%s: certificate %d: %w", path, len(out)+1, err)
		}
		out = append(out, cert)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s holds no PEM certificate", path)
	}
	return out, nil
}

// describe says what went wrong; a run cut short by its deadline says that
// it timed out, and after how long.
func describe(ctx context.Context, err error, doing string, start time.Time) string {
	var op *net.OpError
	switch {
	case checks.IsTimeout(ctx, err):
		if _, ok := ctx.Deadline(); ok {
			return fmt.Sprintf("%s: %s", doing, checks.Interrupted(ctx, start))
		}
		return fmt.Sprintf("%s: timed out: %v", doing, err)
	case errors.Is(ctx.Err(), context.Canceled):
		return fmt.Sprintf("%s: canceled", doing)
	case errors.As(err, &op) && op.Op == "dial":
		return err.Error() // "dial tcp 127.0.0.1:443: connect: connection refused"
	default:
		return fmt.Sprintf("%s: %v", doing, err)
	}
}

// age writes a duration for people: minutes, hours or days.
func age(d time.Duration) string {
	switch {
	case d < 2*time.Hour:
		return fmt.Sprintf("%d minutes", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%.1f hours", d.Hours())
	default:
		return fmt.Sprintf("%.1f days", d.Hours()/24)
	}
}

func stringList(ss []string) cty.Value {
	if len(ss) == 0 {
		return cty.ListValEmpty(cty.String)
	}
	vals := make([]cty.Value, len(ss))
	for i, s := range ss {
		vals[i] = cty.StringVal(validUTF8(s))
	}
	return cty.ListVal(vals)
}

// validUTF8 keeps cty strings valid: certificate fields are not always UTF-8.
func validUTF8(s string) string { return strings.ToValidUTF8(s, "\uFFFD") }

func critical(msg string) checks.Result {
	return checks.Result{Status: checks.StatusCritical, Error: msg}
}
