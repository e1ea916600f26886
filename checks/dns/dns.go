// Package dnscheck is the `dns` check type: a name resolves, at a given
// server or at the nameservers of /etc/resolv.conf, to the expected values.
package dnscheck

import (
	_ "embed"
	"errors"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/miekg/dns"
	"github.com/satellite-hq/satellite/checks"
	"github.com/satellite-hq/satellite/dsl"
	"github.com/zclconf/go-cty/cty"
)

//go:embed sample.hcl
var sample string

// Type is the first label of `check "dns" "NAME"`.
const Type = "dns"

// Metric names the type reports.
const (
	// MetricLatency is the time the answering server took, in milliseconds.
	MetricLatency = "latency_ms"
	// MetricAnswers is the number of answers of the queried record type.
	MetricAnswers = "answers"
)

// DefaultPort is the port of a `server` written without one.
const DefaultPort = "53"

// SystemResolvConf is where the nameservers come from when `server` is not set.
const SystemResolvConf = "/etc/resolv.conf"

// udpBufferSize is the EDNS0 buffer size advertised over UDP: the size the
// DNS flag day 2020 recommends, which avoids IP fragmentation.
const udpBufferSize = 1232

// Spec is the schema of the type's own attributes.
var Spec = hcldec.ObjectSpec{
	"name":        &hcldec.AttrSpec{Name: "name", Type: cty.String, Required: true},
	"record_type": &hcldec.AttrSpec{Name: "record_type", Type: cty.String},
	"server":      &hcldec.AttrSpec{Name: "server", Type: cty.String},
	"expect":      &hcldec.AttrSpec{Name: "expect", Type: cty.List(cty.String)},
	"protocol":    &hcldec.AttrSpec{Name: "protocol", Type: cty.String},
}

// ResultAttrs are the extra attributes of `result` for assert.
var ResultAttrs = map[string]cty.Type{
	"answers": cty.List(cty.String),
	"rcode":   cty.String,
}

// recordTypes maps the accepted `record_type` values to their DNS type.
var recordTypes = map[string]uint16{
	"A":     dns.TypeA,
	"AAAA":  dns.TypeAAAA,
	"CNAME": dns.TypeCNAME,
	"NS":    dns.TypeNS,
	"SRV":   dns.TypeSRV,
	"TXT":   dns.TypeTXT,
}

func init() {
	checks.Register(&checks.Registration{
		Type:    Type,
		Spec:    Spec,
		Metrics: []string{MetricLatency, MetricAnswers},
		Result:  ResultAttrs,
		Build:   Build,
		Sample:  sample,
		Doc:     "A DNS name resolves, optionally to expected values.",
	})
}

// Build validates a decoded `dns` body and returns its checker. It does no
// I/O (neither /etc/resolv.conf nor a server host name is read here); a nil
// Checker comes back when a value it needs is unknown or invalid.
func Build(cfg cty.Value, env checks.Env) (checks.Checker, hcl.Diagnostics) {
	if !cfg.IsKnown() {
		return nil, nil // nothing to check yet (validate --unknown-env)
	}
	a := dsl.NewAttrs(cfg, env.Body, env.Block)
	c := &Checker{qtype: dns.TypeA, typeName: "A", network: "udp", resolvConf: SystemResolvConf, readResolvConf: dns.ClientConfigFromFile}
	complete := true

	if name, ok := dsl.Required(a, "name", `the name to resolve, such as "etcd.internal"`, a.String); ok && validateName(a, name) {
		c.name = dns.Fqdn(name)
	} else {
		complete = false
	}

	typeKnown := true
	if rt, ok := a.String("record_type"); ok {
		if t, found := recordTypes[strings.ToUpper(rt)]; found {
			c.qtype, c.typeName = t, strings.ToUpper(rt)
		} else {
			a.Errorf("record_type", "Unknown record type", "%q is not a record type this check knows; use one of %s.", rt, strings.Join(recordTypeNames(), ", "))
			complete, typeKnown = false, false
		}
	} else if a.IsUnknown("record_type") {
		complete, typeKnown = false, false
	}

	if s, ok := a.String("server"); ok {
		if addr, valid := parseServer(a, s); valid {
			c.server = addr
		} else {
			complete = false
		}
	} else if a.IsUnknown("server") {
		complete = false
	}

	if p, ok := a.String("protocol"); ok {
		switch strings.ToLower(p) {
		case "udp", "tcp":
			c.network = strings.ToLower(p)
		default:
			a.Errorf("protocol", "Unknown protocol", "%q is not a DNS transport; use \"udp\" (the default) or \"tcp\".", p)
			complete = false
		}
	} else if a.IsUnknown("protocol") {
		complete = false
	}

	if values, ok := a.StringList("expect"); ok {
		if typeKnown {
			for _, v := range values {
				key, err := normalise(c.qtype, v)
				if err != nil {
					a.Errorf("expect", "Invalid expect value", "%q cannot be a %s answer: %s.", v, c.typeName, err)
					complete = false
					continue
				}
				c.expect = append(c.expect, expectation{raw: v, key: key})
			}
		}
	} else if a.IsUnknown("expect") {
		complete = false
	}

	if a.Diags.HasErrors() || !complete {
		return nil, a.Diags
	}
	return c, a.Diags
}

func recordTypeNames() []string {
	names := make([]string, 0, len(recordTypes))
	for n := range recordTypes {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// validateName reports a name that DNS cannot carry.
func validateName(a *dsl.Attrs, name string) bool {
	if name == "" || name == "." {
		a.Errorf("name", "Invalid name", "The name to resolve must not be empty; write it like \"etcd.internal\".")
		return false
	}
	if _, ok := dns.IsDomainName(name); !ok {
		a.Errorf("name", "Invalid name", "%q is not a domain name: labels are at most 63 characters, the name at most 253, and empty labels (\"..\") are not allowed.", name)
		return false
	}
	return true
}

// parseServer turns `server` into host:port, adding port 53 when there is none.
func parseServer(a *dsl.Attrs, s string) (string, bool) {
	if s == "" {
		a.Errorf("server", "Empty server", "server must be the address of a DNS server, such as \"10.0.0.2\" or \"10.0.0.2:5353\"; leave it out to ask the nameservers of %s.", SystemResolvConf)
		return "", false
	}
	bare := s
	if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
		bare = s[1 : len(s)-1]
	}
	if ip, err := netip.ParseAddr(bare); err == nil {
		return net.JoinHostPort(ip.String(), DefaultPort), true // "10.0.0.2", "::1", "[::1]"
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		var ae *net.AddrError
		if errors.As(err, &ae) && ae.Err == "missing port in address" && !strings.ContainsAny(s, "[]:") {
			host, port = s, DefaultPort // "dns.internal"
		} else {
			msg := err.Error()
			if ae != nil {
				msg = ae.Err
			}
			a.Errorf("server", "Invalid server address", "%q is not a server address (%s); write it like \"10.0.0.2\", \"10.0.0.2:5353\", \"dns.internal:53\" or \"[::1]:53\".", s, msg)
			return "", false
		}
	}
	if host == "" {
		a.Errorf("server", "Server without a host", "%q has no host; write the server to ask, such as \"127.0.0.1%s\".", s, s)
		return "", false
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		a.Errorf("server", "Invalid port", "%q has port %q; a port is a number from 1 to 65535.", s, port)
		return "", false
	}
	return net.JoinHostPort(host, port), true
}

// expectation is one `expect` value, as written and in comparable form.
type expectation struct {
	raw, key string
}

// normalise returns the comparable form of a value of record type t, as
// written in `expect` or read from an answer: IP addresses in canonical
// form, names lower-cased and fully qualified, SRV as "target.:port", TXT
// as is.
func normalise(t uint16, v string) (string, error) {
	switch t {
	case dns.TypeA, dns.TypeAAAA:
		ip, err := netip.ParseAddr(v)
		if err != nil || ip.Zone() != "" {
			return "", errors.New("it is not an IP address")
		}
		ip = ip.Unmap()
		if t == dns.TypeA && !ip.Is4() {
			return "", errors.New("an A record holds an IPv4 address; use record_type = \"AAAA\" for IPv6")
		}
		if t == dns.TypeAAAA && ip.Is4() && !strings.Contains(v, ":") {
			return "", errors.New("an AAAA record holds an IPv6 address; use record_type = \"A\" for IPv4")
		}
		return ip.String(), nil
	case dns.TypeCNAME, dns.TypeNS:
		if _, ok := dns.IsDomainName(v); !ok || v == "" {
			return "", errors.New("it is not a domain name")
		}
		return dns.CanonicalName(v), nil
	case dns.TypeSRV:
		i := strings.LastIndexByte(v, ':')
		if i < 0 {
			return "", errors.New("write an SRV answer as \"target:port\", such as \"etcd-1.internal:2380\"")
		}
		target, port := v[:i], v[i+1:]
		if _, ok := dns.IsDomainName(target); !ok || target == "" {
			return "", errors.New("its target is not a domain name; write it as \"target:port\", such as \"etcd-1.internal:2380\"")
		}
		if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
			return "", errors.New("its port is not a number from 0 to 65535")
		}
		return srvKey(target, port), nil
	default: // TXT
		return v, nil
	}
}

func srvKey(target, port string) string { return dns.CanonicalName(target) + ":" + port }
