package tlsblock

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"

	"github.com/satellite-hq/satellite/dsl"
)

// maxPEM bounds a certificate, key or CA bundle file.
const maxPEM = 1 << 20

// CertPool reads a PEM bundle of CA certificates (what names it in errors,
// such as "tls.ca_file") as config files are read: a regular file only,
// never opened when it is a FIFO or a device, bounded in size and time.
func CertPool(path, what string) (*x509.CertPool, error) {
	pem, err := dsl.ReadRegularFile(path, maxPEM, what)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", what, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s %s holds no PEM certificate", what, path)
	}
	return pool, nil
}

// KeyPair reads a certificate and its private key as CertPool reads a
// bundle, and parses them (tls.X509KeyPair).
func KeyPair(certFile, keyFile, what string) (tls.Certificate, error) {
	cert, err := dsl.ReadRegularFile(certFile, maxPEM, what+".cert_file")
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("reading %s.cert_file: %w", what, err)
	}
	key, err := dsl.ReadRegularFile(keyFile, maxPEM, what+".key_file")
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("reading %s.key_file: %w", what, err)
	}
	pair, err := tls.X509KeyPair(cert, key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("%s.cert_file %s and %s.key_file %s: %w", what, certFile, what, keyFile, err)
	}
	return pair, nil
}
