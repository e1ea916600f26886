// Package tlscheck is the `tls` check type: a certificate, served by a live
// TLS server or kept in a PEM file, is valid, trusted and not about to expire.
package tlscheck

import (
	_ "embed"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/satellite-hq/satellite/checks"
	"github.com/satellite-hq/satellite/dsl"
	"github.com/zclconf/go-cty/cty"
)

//go:embed sample.hcl
var sample string

// Type is the first label of `check "tls" "NAME"`.
const Type = "tls"

// MetricExpiresInDays is the time until the leaf certificate expires, in
// days (fractional; negative once expired).
const MetricExpiresInDays = "expires_in_days"

// MaxFileSize is the most of a PEM file (file, ca_file) that is read.
const MaxFileSize = 4 << 20

// Spec is the schema of the type's own attributes.
var Spec = hcldec.ObjectSpec{
	"address":     &hcldec.AttrSpec{Name: "address", Type: cty.String},
	"file":        &hcldec.AttrSpec{Name: "file", Type: cty.String},
	"server_name": &hcldec.AttrSpec{Name: "server_name", Type: cty.String},
	"ca_file":     &hcldec.AttrSpec{Name: "ca_file", Type: cty.String},
	"verify":      &hcldec.AttrSpec{Name: "verify", Type: cty.Bool},
}

// ResultAttrs are the extra attributes of `result` for assert, all about the
// leaf certificate.
var ResultAttrs = map[string]cty.Type{
	"subject":   cty.String,
	"issuer":    cty.String,
	"not_after": cty.String,
	"dns_names": cty.List(cty.String),
}

func init() {
	checks.Register(&checks.Registration{
		Type:    Type,
		Spec:    Spec,
		Metrics: []string{MetricExpiresInDays},
		Result:  ResultAttrs,
		Build:   Build,
		Sample:  sample,
		Doc:     "A TLS certificate, live or in a file, is valid and trusted.",
	})
}

// Build validates a decoded `tls` body and returns its checker. It does no
// I/O: the files are read and the server reached at every run. A nil
// Checker comes back when a value it needs is unknown or invalid.
func Build(cfg cty.Value, env checks.Env) (checks.Checker, hcl.Diagnostics) {
	if !cfg.IsKnown() {
		return nil, nil // nothing to check yet (validate --unknown-env)
	}
	a := dsl.NewAttrs(cfg, env.Body, env.Block)
	c := &Checker{verify: true}
	complete := true

	if !a.ExactlyOne("address", "file",
		"Set either address (a TLS server to connect to) or file (a PEM certificate on disk), not both; make two checks to check both.",
		"Missing certificate source",
		"Set address, the host:port of a TLS server such as \"127.0.0.1:6443\", or file, the path of a PEM certificate such as \"/etc/etcd/pki/peer.crt\".") {
		complete = false
	}

	if addr, ok := a.String("address"); ok {
		if checks.ValidateHostPort(a, "address", addr, `"127.0.0.1:6443", "etcd.internal:2379" or "[::1]:443"`) {
			c.address = addr
		} else {
			complete = false
		}
	} else if a.IsUnknown("address") {
		complete = false
	}

	path := func(name string) string {
		s, ok := a.String(name)
		switch {
		case !ok:
			if a.IsUnknown(name) {
				complete = false
			}
			return ""
		case s == "":
			a.Errorf(name, "Empty path", "%s must be the path of a PEM file; leave it out instead.", name)
			complete = false
			return ""
		}
		return dsl.ResolvePath(env.BaseDir, s)
	}
	c.file = path("file")
	c.caFile = path("ca_file")

	if sn, ok := a.String("server_name"); ok {
		if sn == "" {
			a.Errorf("server_name", "Empty server name", "server_name must be the name the certificate must carry, such as \"kubernetes.default.svc\"; leave it out to use the host of address.")
			complete = false
		}
		c.serverName = sn
	} else if a.IsUnknown("server_name") {
		complete = false
	}

	if v, ok := a.Bool("verify"); ok {
		c.verify = v
	} else if a.IsUnknown("verify") {
		complete = false
	}

	if !c.verify {
		if a.IsSet("ca_file") {
			a.Warnf("ca_file", "ca_file not used", "verify = false skips the verification of the certificate chain, so ca_file is not read.")
		}
		if a.IsSet("server_name") && a.IsSet("file") {
			a.Warnf("server_name", "server_name not used", "verify = false skips the host-name verification, and a certificate file is not sent to any server, so server_name has no use here.")
		}
	}

	if a.Diags.HasErrors() || !complete {
		return nil, a.Diags
	}
	return c, a.Diags
}
