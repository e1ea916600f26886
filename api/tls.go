package api

import (
	"crypto/tls"
	"errors"
	"fmt"

	"github.com/satellite-hq/satellite/internal/tlsblock"
)

// loadTLS reads the certificate, key and client CAs once, at start: a
// renewed certificate takes a restart.
func loadTLS(f TLSFiles) (*tls.Config, error) {
	if f.CertFile == "" || f.KeyFile == "" {
		return nil, errors.New("api: tls needs both cert_file and key_file")
	}
	cert, err := tlsblock.KeyPair(f.CertFile, f.KeyFile, "api.tls")
	if err != nil {
		return nil, fmt.Errorf("api: %w", err)
	}
	cfg := &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{cert},
		NextProtos:   []string{"h2", "http/1.1"},
	}
	if f.ClientCAFile != "" {
		pool, err := tlsblock.CertPool(f.ClientCAFile, "the client CA (api.tls client_ca_file)")
		if err != nil {
			return nil, fmt.Errorf("api: %w", err)
		}
		cfg.ClientCAs = pool
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return cfg, nil
}
