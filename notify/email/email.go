// Package email is the `email` notifier type: each message is one mail,
// with a plain-text and an HTML part, sent over SMTP with STARTTLS (or
// implicit TLS) and AUTH (docs/notify/email.md).
//
// A permanent SMTP reply (5xx: a refused login, an unknown recipient) is a
// rejection; a transient one (4xx) and a failed connection are retried.
package email

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/textproto"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hcldec"
	gomail "github.com/wneessen/go-mail"
	"github.com/zclconf/go-cty/cty"

	"github.com/satellite-hq/satellite/dsl"
	"github.com/satellite-hq/satellite/notify"
)

// Type is the first label of `notifier "email" "NAME"`.
const Type = "email"

// The TLS modes of the tls attribute.
const (
	// TLSStartTLS: STARTTLS is mandatory; a server that does not offer it
	// gets nothing (the default).
	TLSStartTLS = "starttls"
	// TLSOpportunistic: STARTTLS when the server offers it, plain text
	// otherwise (a password then goes only over a mechanism that does not
	// reveal it, or not at all).
	TLSOpportunistic = "opportunistic"
	// TLSImplicit: TLS from the first byte (SMTPS, port 465).
	TLSImplicit = "tls"
	// TLSNone: plain text, for a relay on the same machine only.
	TLSNone = "none"
)

// Defaults.
const (
	DefaultPort          = 587
	DefaultImplicitPort  = 465
	DefaultTimeout       = 30 * time.Second
	DefaultSubjectPrefix = "[satellite] "
)

// MessageIDHeader carries the message's ID, the same on every retry.
const MessageIDHeader = "X-Satellite-Message-Id"

// maxSubject bounds the subject, in runes (an error can be long).
const maxSubject = 200

var spec = hcldec.ObjectSpec{
	"host":           &hcldec.AttrSpec{Name: "host", Type: cty.String},
	"port":           &hcldec.AttrSpec{Name: "port", Type: cty.Number},
	"from":           &hcldec.AttrSpec{Name: "from", Type: cty.String},
	"to":             &hcldec.AttrSpec{Name: "to", Type: cty.List(cty.String)},
	"username":       &hcldec.AttrSpec{Name: "username", Type: cty.String},
	"password":       &hcldec.AttrSpec{Name: "password", Type: cty.String},
	"password_file":  &hcldec.AttrSpec{Name: "password_file", Type: cty.String},
	"tls":            &hcldec.AttrSpec{Name: "tls", Type: cty.String},
	"ca_file":        &hcldec.AttrSpec{Name: "ca_file", Type: cty.String},
	"subject_prefix": &hcldec.AttrSpec{Name: "subject_prefix", Type: cty.String},
	"timeout":        &hcldec.AttrSpec{Name: "timeout", Type: cty.DynamicPseudoType},
}

func init() {
	notify.Register(&notify.Registration{
		Type:  Type,
		Spec:  spec,
		Build: build,
		Doc:   "Mails each message (plain text and HTML) over SMTP with STARTTLS or TLS and AUTH.",
	})
}

// Config is what New takes.
type Config struct {
	// Host and Port are the SMTP server's; Port 0 is DefaultPort, or
	// DefaultImplicitPort with TLS = TLSImplicit.
	Host string
	Port int
	// From is the sender, To the recipients (RFC 5322 addresses, display
	// names allowed).
	From string
	To   []string
	// Username and Password log in (AUTH) when Username is set.
	Username, Password string
	// TLS is one of the TLS* modes; "" is TLSStartTLS.
	TLS string
	// RootCAs are the CAs the server's certificate is checked against;
	// nil is the system's.
	RootCAs *x509.CertPool
	// SubjectPrefix goes before each message's title.
	SubjectPrefix string
	// Timeout bounds one delivery, from the connection to QUIT; 0 is
	// DefaultTimeout.
	Timeout time.Duration
}

// Email is a built `notifier "email"` block.
type Email struct {
	cfg  Config
	from *mail.Address
	to   []*mail.Address
}

// New checks cfg and returns the notifier. It does no I/O.
func New(cfg Config) (*Email, error) {
	e := &Email{cfg: cfg}
	if cfg.Host == "" {
		return nil, errors.New("no SMTP host")
	}
	switch cfg.TLS {
	case "":
		e.cfg.TLS = TLSStartTLS
	case TLSStartTLS, TLSOpportunistic, TLSImplicit:
	case TLSNone:
		if !IsLoopback(cfg.Host) {
			return nil, errors.New(`tls = "none" is for a loopback host only`)
		}
	default:
		return nil, fmt.Errorf("unknown TLS mode %q", cfg.TLS)
	}
	if e.cfg.Port == 0 {
		e.cfg.Port = DefaultPort
		if e.cfg.TLS == TLSImplicit {
			e.cfg.Port = DefaultImplicitPort
		}
	}
	if e.cfg.Port < 1 || e.cfg.Port > 65535 {
		return nil, fmt.Errorf("port %d is out of range", e.cfg.Port)
	}
	if e.cfg.Timeout <= 0 {
		e.cfg.Timeout = DefaultTimeout
	}
	from, err := mail.ParseAddress(cfg.From)
	if err != nil {
		return nil, fmt.Errorf("from: %v", err)
	}
	e.from = from
	if len(cfg.To) == 0 {
		return nil, errors.New("no recipient")
	}
	for _, t := range cfg.To {
		a, err := mail.ParseAddress(t)
		if err != nil {
			return nil, fmt.Errorf("to %q: %v", t, err)
		}
		e.to = append(e.to, a)
	}
	if cfg.Username == "" && cfg.Password != "" {
		return nil, errors.New("a password without a username")
	}
	return e, nil
}

// IsLoopback reports whether host is localhost or a loopback address.
func IsLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") || strings.HasSuffix(strings.ToLower(host), ".localhost") {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}

// String describes the notifier without its password.
func (e *Email) String() string {
	auth := "none"
	if e.cfg.Username != "" {
		auth = e.cfg.Username
	}
	return fmt.Sprintf("email{server=%s tls=%s from=%s to=%d auth=%s}",
		net.JoinHostPort(e.cfg.Host, strconv.Itoa(e.cfg.Port)), e.cfg.TLS, e.from.Address, len(e.to), auth)
}

// GoString keeps the password out of %#v as well.
func (e *Email) GoString() string { return e.String() }

func build(cfg cty.Value, env notify.Env) (notify.Notifier, hcl.Diagnostics) {
	if !cfg.IsWhollyKnown() {
		return nil, nil // validate --unknown-env: nothing to check yet
	}
	a := dsl.NewAttrs(cfg, env.Body, env.Block)
	ok := true
	c := Config{SubjectPrefix: DefaultSubjectPrefix, Timeout: DefaultTimeout, TLS: TLSStartTLS}

	if h, set := a.String("host"); set {
		c.Host = strings.TrimSpace(h)
		if c.Host == "" || strings.ContainsAny(c.Host, " \t\r\n/@") || (strings.Contains(c.Host, ":") && net.ParseIP(c.Host) == nil) {
			a.Errorf("host", "Invalid host", "Attribute \"host\" must be the SMTP server's host name or address, without a port (set port) or a scheme.")
			ok = false
		}
	} else {
		a.Errorf("", "Missing host", "An email notifier needs host, the SMTP server to send through.")
		ok = false
	}

	if t, set := a.String("tls"); set {
		switch t {
		case TLSStartTLS, TLSOpportunistic, TLSImplicit:
			c.TLS = t
		case TLSNone:
			c.TLS = t
			if c.Host != "" && !IsLoopback(c.Host) {
				a.Errorf("tls", "Plain-text SMTP", "tls = \"none\" sends the mail (and a password) in the clear: it is allowed only for a relay on this machine (localhost, 127.0.0.1, ::1), not %s. Use \"starttls\", \"tls\" or \"opportunistic\".", c.Host)
				ok = false
			}
		default:
			a.Errorf("tls", "Invalid tls", "Attribute \"tls\" must be \"starttls\" (the default), \"opportunistic\", \"tls\" (implicit TLS, port 465) or \"none\", not %q.", t)
			ok = false
		}
	}

	if p, set := a.Int("port"); set {
		if p < 1 || p > 65535 {
			a.Errorf("port", "Invalid port", "Attribute \"port\" must be a TCP port, 1 to 65535, not %d.", p)
			ok = false
		}
		c.Port = int(p)
	}

	if f, set := a.String("from"); set {
		if _, err := mail.ParseAddress(f); err != nil {
			a.Errorf("from", "Invalid from", "Attribute \"from\" must be one mail address, such as \"satellite@example.com\" or \"Satellite <satellite@example.com>\": %v.", err)
			ok = false
		}
		c.From = f
	} else {
		a.Errorf("", "Missing from", "An email notifier needs from, the sender's address.")
		ok = false
	}

	if to, set := a.StringList("to"); set {
		if len(to) == 0 {
			a.Errorf("to", "Missing to", "Attribute \"to\" needs at least one recipient.")
			ok = false
		}
		for i, t := range to {
			if _, err := mail.ParseAddress(t); err != nil {
				a.Errorf("to", "Invalid to", "Recipient %d of to, %q, is not a mail address: %v.", i+1, t, err)
				ok = false
			}
		}
		c.To = to
	} else if !a.IsSet("to") {
		a.Errorf("", "Missing to", "An email notifier needs to, the list of recipients.")
		ok = false
	}

	c.Username, _ = a.String("username")
	pw, havePW := notify.SecretAttr(a, "password", "password_file", env.BaseDir, &ok)
	switch {
	case havePW && c.Username == "":
		a.Errorf(notify.FirstSet(a, "password", "password_file"), "Password without username", "Set username with the password, or remove the password.")
		ok = false
	case !havePW && ok && c.Username != "":
		a.Errorf("username", "Missing password", "A username needs password (or password_file).")
		ok = false
	case havePW && pw == "":
		a.Errorf(notify.FirstSet(a, "password", "password_file"), "Empty password", "The password is empty.")
		ok = false
	}
	c.Password = pw

	if p, set := a.String("ca_file"); set {
		path := dsl.ResolvePath(env.BaseDir, p)
		switch pem, err := os.ReadFile(path); {
		case c.TLS == TLSNone:
			a.Errorf("ca_file", "Unused ca_file", "ca_file checks the server's certificate, and tls = \"none\" uses none.")
			ok = false
		case err != nil:
			a.Errorf("ca_file", "Unreadable ca_file", "Reading %s: %v.", path, err)
			ok = false
		default:
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				a.Errorf("ca_file", "Invalid ca_file", "%s holds no PEM certificate.", path)
				ok = false
			}
			c.RootCAs = pool
		}
	}

	if s, set := a.String("subject_prefix"); set {
		if strings.ContainsAny(s, "\r\n") {
			a.Errorf("subject_prefix", "Invalid subject_prefix", "A subject is one line: subject_prefix cannot hold a line break.")
			ok = false
		}
		c.SubjectPrefix = s
	}

	c.Timeout = notify.TimeoutAttr(a, c.Timeout, &ok)
	if !ok || a.Diags.HasErrors() {
		return nil, a.Diags
	}
	e, err := New(c)
	if err != nil {
		a.Errorf("", "Invalid email notifier", "%s.", err)
		return nil, a.Diags
	}
	return e, a.Diags
}

// authMechs are the AUTH mechanisms tried, the first the server offers.
// PLAIN and LOGIN refuse to run on a connection without TLS (but to
// localhost); with tls = "none" (loopback only) they are let through.
var (
	authMechs = []gomail.SMTPAuthType{
		gomail.SMTPAuthSCRAMSHA256PLUS, gomail.SMTPAuthSCRAMSHA256, gomail.SMTPAuthSCRAMSHA1PLUS,
		gomail.SMTPAuthSCRAMSHA1, gomail.SMTPAuthCramMD5, gomail.SMTPAuthPlain, gomail.SMTPAuthLogin,
	}
	authMechsLoopback = []gomail.SMTPAuthType{
		gomail.SMTPAuthSCRAMSHA256, gomail.SMTPAuthSCRAMSHA1, gomail.SMTPAuthCramMD5,
		gomail.SMTPAuthPlainNoEnc, gomail.SMTPAuthLoginNoEnc,
	}
)

// Send mails m to every recipient in one SMTP transaction.
func (e *Email) Send(ctx context.Context, m *notify.Message) (notify.Receipt, error) {
	msg, err := e.mail(m)
	if err != nil {
		return notify.Receipt{}, notify.Reject(err)
	}
	ctx, cancel := context.WithTimeout(ctx, e.cfg.Timeout)
	defer cancel()

	tlsCfg := &tls.Config{ServerName: e.cfg.Host, RootCAs: e.cfg.RootCAs, MinVersion: tls.VersionTLS12}
	// The connection is dialed here so that ctx ends the whole session, not
	// only the dial: go-mail's own deadlines restart at each command.
	var (
		mu       sync.Mutex
		stopConn []func() bool
	)
	dial := func(dctx context.Context, network, addr string) (net.Conn, error) {
		var (
			conn net.Conn
			err  error
		)
		d := &net.Dialer{}
		if e.cfg.TLS == TLSImplicit {
			conn, err = (&tls.Dialer{NetDialer: d, Config: tlsCfg.Clone()}).DialContext(dctx, network, addr)
		} else {
			conn, err = d.DialContext(dctx, network, addr)
		}
		if err != nil {
			return nil, err
		}
		mu.Lock()
		stopConn = append(stopConn, context.AfterFunc(ctx, func() { conn.Close() }))
		mu.Unlock()
		return conn, nil
	}
	defer func() {
		mu.Lock()
		defer mu.Unlock()
		for _, s := range stopConn {
			s()
		}
	}()

	opts := []gomail.Option{
		gomail.WithPort(e.cfg.Port),
		gomail.WithTimeout(e.cfg.Timeout),
		gomail.WithTLSConfig(tlsCfg),
		gomail.WithDialContextFunc(dial),
	}
	switch e.cfg.TLS {
	case TLSStartTLS:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	case TLSOpportunistic:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSOpportunistic))
	case TLSImplicit:
		opts = append(opts, gomail.WithSSL()) // dial does the TLS; no STARTTLS on top
	case TLSNone:
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	}
	if e.cfg.Username != "" {
		mechs := authMechs
		if e.cfg.TLS == TLSNone {
			mechs = authMechsLoopback
		}
		opts = append(opts, gomail.WithUsername(e.cfg.Username), gomail.WithPassword(e.cfg.Password),
			gomail.WithOpportunisticSMTPAuth(mechs...))
	}
	client, err := gomail.NewClient(e.cfg.Host, opts...)
	if err != nil {
		return notify.Receipt{}, notify.Reject(e.redact(err))
	}
	err = client.DialAndSendWithContext(ctx, msg)
	if msg.IsDelivered() {
		// Taken: a failure after it (QUIT) must not send it twice.
		return notify.Receipt{Status: 250, Body: msg.ServerResponse()}, nil
	}
	if err == nil {
		err = errors.New("the server did not take the message")
	}
	code := ReplyCode(err)
	rc := notify.Receipt{Status: code}
	err = e.redact(err)
	if code >= 500 && code < 600 {
		return rc, notify.Reject(err)
	}
	return rc, err
}

// ReplyCode is the SMTP reply code of an error of the session, 0 when it
// has none (a connection error).
func ReplyCode(err error) int {
	var te *textproto.Error
	if errors.As(err, &te) {
		return te.Code
	}
	var se *gomail.SendError
	if errors.As(err, &se) {
		return se.ErrorCode()
	}
	return 0
}

// redact keeps the password out of an error, should a server or a library
// ever quote it.
func (e *Email) redact(err error) error {
	if e.cfg.Password == "" || !strings.Contains(err.Error(), e.cfg.Password) {
		return err
	}
	return errors.New(strings.ReplaceAll(err.Error(), e.cfg.Password, "***"))
}

// mail is the message m is sent as.
func (e *Email) mail(m *notify.Message) (*gomail.Msg, error) {
	text, html, err := render(m)
	if err != nil {
		return nil, err
	}
	msg := gomail.NewMsg()
	msg.FromMailAddress(e.from)
	msg.ToMailAddress(e.to...)
	msg.Subject(Subject(e.cfg.SubjectPrefix, m.Title))
	msg.SetDateWithValue(m.Time)
	domain := "satellite.invalid"
	if i := strings.LastIndexByte(e.from.Address, '@'); i >= 0 {
		domain = e.from.Address[i+1:]
	}
	if m.ID != "" {
		// The same on every retry: a receiver that keeps Message-IDs sees
		// a retried message once.
		msg.SetMessageIDWithValue(m.ID + "@" + domain)
		msg.SetGenHeader(MessageIDHeader, m.ID)
	}
	// RFC 3834: no vacation replies to an alert.
	msg.SetGenHeader("Auto-Submitted", "auto-generated")
	msg.SetGenHeader(gomail.HeaderXAutoResponseSuppress, "All")
	msg.SetUserAgent("satellite")
	msg.SetBodyString(gomail.TypeTextPlain, text)
	msg.AddAlternativeString(gomail.TypeTextHTML, html)
	return msg, nil
}

// Subject is prefix and title on one line, at most maxSubject runes.
func Subject(prefix, title string) string {
	s := oneLine(prefix + title)
	if r := []rune(s); len(r) > maxSubject {
		s = string(r[:maxSubject-1]) + "…"
	}
	return s
}

// oneLine turns control characters (line breaks of an error) into spaces.
func oneLine(s string) string {
	return strings.Join(strings.FieldsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }), " ")
}
