// Package tlsblock is the `tls` block that the http check and the influxdb
// sink share: its schema, how it is read (paths relative to the config
// file's folder, empty values refused, a certificate needs its key), and the
// client TLS config it makes. The files are read for each new connection,
// so rotated certificates are picked up without a reload.
package tlsblock

import (
	"context"
	"crypto/tls"
	"net"

	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/zclconf/go-cty/cty"

	"github.com/satellite-hq/satellite/dsl"
)

// Options are the block's settings, with file paths resolved.
type Options struct {
	// CAFile is a PEM file of the CAs to trust instead of the system's.
	CAFile string
	// CertFile and KeyFile are a client certificate and its key, PEM.
	CertFile, KeyFile string
	// ServerName is the name to verify instead of the dialed host.
	ServerName string
	// InsecureSkipVerify turns the check of the server certificate off.
	InsecureSkipVerify bool
}

// attrs are the block's attributes, in the order diagnostics look for one to
// point at.
var attrs = []string{"ca_file", "cert_file", "key_file", "server_name", "insecure_skip_verify"}

// Spec is the schema of an optional `tls` block.
func Spec() hcldec.Spec {
	return &hcldec.BlockSpec{
		TypeName: "tls",
		Nested: hcldec.ObjectSpec{
			"ca_file":              &hcldec.AttrSpec{Name: "ca_file", Type: cty.String},
			"cert_file":            &hcldec.AttrSpec{Name: "cert_file", Type: cty.String},
			"key_file":             &hcldec.AttrSpec{Name: "key_file", Type: cty.String},
			"server_name":          &hcldec.AttrSpec{Name: "server_name", Type: cty.String},
			"insecure_skip_verify": &hcldec.AttrSpec{Name: "insecure_skip_verify", Type: cty.Bool},
		},
	}
}

// Build reads the block into out and reports problems as diagnostics on t.
// It returns false when a value is unknown (validate --unknown-env) or wrong.
func Build(t *dsl.Attrs, baseDir string, out *Options) bool {
	complete := true
	str := func(name string) string {
		s, ok := t.String(name)
		if !ok && t.IsUnknown(name) {
			complete = false
		}
		if ok && s == "" {
			t.Errorf(name, "Empty value", "tls.%s must not be empty; leave it out instead.", name)
			complete = false
		}
		return s
	}
	out.CAFile = dsl.ResolvePath(baseDir, str("ca_file"))
	out.CertFile = dsl.ResolvePath(baseDir, str("cert_file"))
	out.KeyFile = dsl.ResolvePath(baseDir, str("key_file"))
	out.ServerName = str("server_name")
	if b, ok := t.Bool("insecure_skip_verify"); ok {
		out.InsecureSkipVerify = b
	} else if t.IsUnknown("insecure_skip_verify") {
		complete = false
	}

	switch cert, key := t.IsSet("cert_file"), t.IsSet("key_file"); {
	case cert && !key:
		t.Errorf("cert_file", "Client certificate without key", "tls.cert_file is set but tls.key_file is not: a client certificate needs its private key. Set both, or neither.")
		complete = false
	case key && !cert:
		t.Errorf("key_file", "Client key without certificate", "tls.key_file is set but tls.cert_file is not: a client key needs its certificate. Set both, or neither.")
		complete = false
	}
	if out.InsecureSkipVerify && out.CAFile != "" {
		t.Warnf("insecure_skip_verify", "Certificate check turned off", "insecure_skip_verify = true skips the check of the server certificate, so tls.ca_file is not used.")
	}
	return complete
}

// FirstSet is the first attribute set in the block, for a diagnostic about
// the whole block (which has no attribute range of its own); "ca_file" when
// none is.
func FirstSet(t *dsl.Attrs) string {
	for _, name := range attrs {
		if t.IsSet(name) {
			return name
		}
	}
	return attrs[0]
}

// Config reads the files and returns the client config for addr, the
// host:port being dialed.
func (o *Options) Config(addr string) (*tls.Config, error) {
	cfg := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		ServerName:         o.ServerName,
		InsecureSkipVerify: o.InsecureSkipVerify, // only when the operator asks for it
	}
	if cfg.ServerName == "" {
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			host = addr
		}
		cfg.ServerName = host
	}
	if o.CAFile != "" {
		pool, err := CertPool(o.CAFile, "tls.ca_file")
		if err != nil {
			return nil, err
		}
		cfg.RootCAs = pool
	}
	if o.CertFile != "" {
		cert, err := KeyPair(o.CertFile, o.KeyFile, "tls")
		if err != nil {
			return nil, err
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

// Dial connects with dial and makes the TLS handshake with the block's files.
func (o *Options) Dial(ctx context.Context, dial func(context.Context, string, string) (net.Conn, error), network, addr string) (net.Conn, error) {
	cfg, err := o.Config(addr)
	if err != nil {
		return nil, err
	}
	raw, err := dial(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	conn := tls.Client(raw, cfg)
	if err := conn.HandshakeContext(ctx); err != nil {
		_ = raw.Close()
		return nil, err
	}
	return conn, nil
}

// FromBlock reads the optional `tls` block nested in a into out, merging
// its diagnostics into a. It returns false when the block has a wrong or
// unknown value, or is itself unknown (validate --unknown-env); true when
// it is fine or absent.
func FromBlock(a *dsl.Attrs, baseDir string, out *Options) bool {
	t, ok := a.Nested("tls")
	if !ok {
		return !a.IsUnknown("tls")
	}
	complete := Build(t, baseDir, out)
	a.Merge(t)
	return complete
}
