package email_test

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/mail"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/hashicorp/hcl/v2/hclsyntax"

	"github.com/satellite-hq/satellite/internal/testenv"
	"github.com/satellite-hq/satellite/notify"
	"github.com/satellite-hq/satellite/notify/email"
)

// server is the SMTP server scripts/services/smtp.sh started.
type server struct {
	host          string
	port, smtps   int
	maildir       string
	ca            *x509.CertPool
	user, pass    string
	caFile, smtpS string
}

func need(t *testing.T) server {
	t.Helper()
	what := "the SMTP server (scripts/services/smtp.sh)"
	addr := testenv.Need(t, testenv.SMTPAddr, what)
	s := server{
		smtpS:   testenv.Need(t, testenv.SMTPSAddr, what),
		maildir: testenv.Need(t, testenv.SMTPMaildir, what),
		caFile:  testenv.Need(t, testenv.SMTPCA, what),
		user:    testenv.Need(t, testenv.SMTPUser, what),
		pass:    testenv.Need(t, testenv.SMTPPassword, what),
	}
	var p string
	var err error
	if s.host, p, err = net.SplitHostPort(addr); err != nil {
		t.Fatal(err)
	}
	s.port, _ = strconv.Atoi(p)
	_, p, _ = net.SplitHostPort(s.smtpS)
	s.smtps, _ = strconv.Atoi(p)
	pem, err := os.ReadFile(s.caFile)
	if err != nil {
		t.Fatal(err)
	}
	s.ca = x509.NewCertPool()
	if !s.ca.AppendCertsFromPEM(pem) {
		t.Fatalf("no certificate in %s", s.caFile)
	}
	return s
}

func (s server) config() email.Config {
	return email.Config{Host: s.host, Port: s.port, From: "Satellite <satellite@example.com>",
		To: []string{"ops@example.com", "On Call <oncall@example.com>"}, Username: s.user, Password: s.pass,
		TLS: email.TLSStartTLS, RootCAs: s.ca, SubjectPrefix: "[satellite] ", Timeout: 10 * time.Second}
}

func newEmail(t *testing.T, c email.Config) *email.Email {
	t.Helper()
	e, err := email.New(c)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func newID(t *testing.T) string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func message(t *testing.T) *notify.Message {
	since := time.Date(2026, 12, 3, 5, 41, 56, 0, time.UTC)
	return &notify.Message{Version: notify.PayloadVersion, ID: newID(t), Notifier: "email.ops", Sender: "node-a",
		Time: since.Add(10 * time.Second), Title: "2 checks on node-a: 1 critical, 1 resolved (and 3 more)", More: 3,
		Alerts: []notify.Alert{
			{Key: "node-a/http.api", State: notify.StateProblem, Severity: notify.SeverityCritical, Node: "node-a",
				Check: "http.api", Type: "http", Status: "critical", Previous: "passing", Since: since,
				Error:    "status 500, body <script>alert('x')</script> & more\nsecond line",
				Labels:   map[string]string{"team": "platform", "tier": "web"},
				Blocking: []string{"http.behind", "http.scheduler"}},
			{Key: "node-a/tcp.etcd", State: notify.StateResolved, Severity: notify.SeverityWarning, Node: "node-a",
				Check: "tcp.etcd", Type: "tcp", Status: "passing", Previous: "warning", Since: since},
		}}
}

// received is a mail as the server stored it.
type received struct {
	header mail.Header
	parts  map[string]string // by media type, decoded
}

// find waits for the mail with message ID id in the maildir.
func (s server) find(t *testing.T, id string) received {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		for _, sub := range []string{"new", "cur"} {
			files, _ := filepath.Glob(filepath.Join(s.maildir, sub, "*"))
			for _, f := range files {
				if r, ok := parse(t, f, id); ok {
					return r
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no mail %s in %s", id, s.maildir)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func parse(t *testing.T, file, id string) (received, bool) {
	t.Helper()
	fh, err := os.Open(file)
	if err != nil {
		return received{}, false
	}
	defer fh.Close()
	m, err := mail.ReadMessage(fh)
	if err != nil || m.Header.Get(email.MessageIDHeader) != id {
		return received{}, false
	}
	r := received{header: m.Header, parts: map[string]string{}}
	mt, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/alternative" {
		t.Fatalf("Content-Type %q (%v), want multipart/alternative", m.Header.Get("Content-Type"), err)
	}
	mr := multipart.NewReader(m.Body, params["boundary"])
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		pt, pp, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		if !strings.EqualFold(pp["charset"], "utf-8") {
			t.Errorf("part %s: charset %q", pt, pp["charset"])
		}
		b, err := io.ReadAll(p) // quoted-printable is decoded by the reader
		if err != nil {
			t.Fatal(err)
		}
		r.parts[pt] = string(b)
	}
	return r, true
}

func TestStartTLSWithAuth(t *testing.T) {
	s := need(t)
	e := newEmail(t, s.config())
	m := message(t)
	rc, err := e.Send(context.Background(), m)
	if err != nil || rc.Status != 250 || rc.Body == "" {
		t.Fatalf("Send: %+v, %v", rc, err)
	}
	got := s.find(t, m.ID)
	h := got.header
	dec := new(mime.WordDecoder)
	subject, _ := dec.DecodeHeader(h.Get("Subject"))
	if want := "[satellite] " + m.Title; subject != want {
		t.Errorf("Subject %q, want %q", subject, want)
	}
	from, err := h.AddressList("From")
	if err != nil || len(from) != 1 || from[0].Address != "satellite@example.com" || from[0].Name != "Satellite" {
		t.Errorf("From %v (%v)", from, err)
	}
	to, err := h.AddressList("To")
	if err != nil || len(to) != 2 || to[0].Address != "ops@example.com" || to[1].Address != "oncall@example.com" || to[1].Name != "On Call" {
		t.Errorf("To %v (%v)", to, err)
	}
	// aiosmtpd's Mailbox records the envelope: both got it, from the sender.
	if rcpt := h.Get("X-RcptTo"); !strings.Contains(rcpt, "ops@example.com") || !strings.Contains(rcpt, "oncall@example.com") {
		t.Errorf("envelope recipients %q", rcpt)
	}
	if h.Get("X-MailFrom") != "satellite@example.com" {
		t.Errorf("envelope sender %q", h.Get("X-MailFrom"))
	}
	if h.Get("Auto-Submitted") != "auto-generated" || h.Get("Message-Id") != "<"+m.ID+"@example.com>" {
		t.Errorf("headers: Auto-Submitted %q, Message-Id %q", h.Get("Auto-Submitted"), h.Get("Message-Id"))
	}
	if d, err := h.Date(); err != nil || !d.Equal(m.Time) {
		t.Errorf("Date %v (%v), want %v", d, err, m.Time)
	}

	text, html := got.parts["text/plain"], got.parts["text/html"]
	if text == "" || html == "" || len(got.parts) != 2 {
		t.Fatalf("parts: %v", got.parts)
	}
	for _, want := range []string{
		m.Title,
		"CRITICAL: http.api on node-a",
		"state:    problem, severity critical\n  status:   critical (was passing)",
		"state:    resolved, severity warning\n  status:   passing (was warning)",
		"error:    status 500, body <script>alert('x')</script> & more\n            second line",
		"since:    2026-12-03 05:41:56 UTC",
		"type:     http",
		"labels:   team=platform, tier=web",
		"blocking: http.behind, http.scheduler",
		"RESOLVED: tcp.etcd on node-a",
		"and 3 more alerts",
		"message " + m.ID,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("the text part lacks %q:\n%s", want, text)
		}
	}
	for _, want := range []string{
		"<table", "<td>node-a</td>", "http.api", "tcp.etcd", "<b>RESOLVED</b><br>resolved (warning)", "<b>CRITICAL</b><br>problem (critical)", "team=platform, tier=web", "http.behind, http.scheduler",
		"2026-12-03 05:41:56 UTC", "and 3 more alerts",
		"status 500, body &lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; more",
	} {
		if !strings.Contains(html, want) {
			t.Errorf("the HTML part lacks %q:\n%s", want, html)
		}
	}
	if strings.Contains(html, "<script>") {
		t.Errorf("the HTML part holds an unescaped <script>:\n%s", html)
	}
}

func TestImplicitTLS(t *testing.T) {
	s := need(t)
	c := s.config()
	c.TLS, c.Port = email.TLSImplicit, s.smtps
	// A test message (`satellite notify test`): no alerts.
	m := &notify.Message{Version: notify.PayloadVersion, ID: newID(t), Notifier: "email.ops", Sender: "node-a",
		Time: time.Now().UTC().Truncate(time.Second), Title: "Test message from satellite on node-a", Test: true, Alerts: []notify.Alert{}}
	if rc, err := newEmail(t, c).Send(context.Background(), m); err != nil || rc.Status != 250 {
		t.Fatalf("SMTPS: %+v, %v", rc, err)
	}
	got := s.find(t, m.ID)
	if text := got.parts["text/plain"]; !strings.HasPrefix(text, m.Title+"\n") || !strings.Contains(text, "This is a test message") {
		t.Errorf("the text part of a test message:\n%s", text)
	}
	if html := got.parts["text/html"]; !strings.Contains(html, "This is a test message") || strings.Contains(html, "<table") {
		t.Errorf("the HTML part of a test message:\n%s", html)
	}
}

func TestOpportunisticUpgrades(t *testing.T) {
	s := need(t)
	c := s.config()
	c.TLS = email.TLSOpportunistic
	m := message(t)
	// The server takes AUTH only after STARTTLS: delivered means upgraded.
	if _, err := newEmail(t, c).Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	s.find(t, m.ID)
}

func TestPlainTextRefused(t *testing.T) {
	s := need(t)
	c := s.config()
	c.TLS, c.Username, c.Password, c.RootCAs = email.TLSNone, "", "", nil
	// Without STARTTLS, the server refuses MAIL FROM with 530: permanent.
	rc, err := newEmail(t, c).Send(context.Background(), message(t))
	if !notify.IsRejected(err) || rc.Status != 530 {
		t.Fatalf("plain text to a STARTTLS-only server: %+v, %v", rc, err)
	}
}

func TestWrongPassword(t *testing.T) {
	s := need(t)
	c := s.config()
	c.Password = "Wr0ng-" + s.pass
	e := newEmail(t, c)
	rc, err := e.Send(context.Background(), message(t))
	if !notify.IsRejected(err) || rc.Status != 535 || !strings.Contains(err.Error(), "535") {
		t.Fatalf("a wrong password: %+v, %v; want a rejection with 535", rc, err)
	}
	for _, str := range []string{err.Error(), e.String(), fmt.Sprintf("%#v", e), fmt.Sprintf("%+v", e)} {
		if strings.Contains(str, c.Password) || strings.Contains(str, s.pass) {
			t.Errorf("the password in %q", str)
		}
	}
}

func TestRecipientReplies(t *testing.T) {
	s := need(t)
	for _, c := range []struct {
		to       string
		code     int
		rejected bool
	}{{"tempfail@example.com", 450, false}, {"nouser@example.com", 550, true}} {
		cfg := s.config()
		cfg.To = []string{c.to}
		rc, err := newEmail(t, cfg).Send(context.Background(), message(t))
		if err == nil || notify.IsRejected(err) != c.rejected || rc.Status != c.code {
			t.Errorf("to %s: %+v, %v; want %d, rejected %v", c.to, rc, err, c.code, c.rejected)
		}
	}
}

func TestConnectionFailures(t *testing.T) {
	s := need(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	c := s.config()
	c.Port = port
	e := newEmail(t, c)
	rc, err := e.Send(context.Background(), message(t))
	if err == nil || notify.IsRejected(err) || rc.Status != 0 || strings.Contains(err.Error(), s.pass) {
		t.Errorf("a closed port: %+v, %v; want a retryable error", rc, err)
	}

	// A certificate nobody vouches for: no delivery, and a retry (the
	// certificate may be replaced).
	c = s.config()
	c.RootCAs = x509.NewCertPool()
	if _, err := newEmail(t, c).Send(context.Background(), message(t)); err == nil || notify.IsRejected(err) || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("an untrusted certificate: %v", err)
	}
}

func TestContextEndsTheSession(t *testing.T) {
	// A server that takes the connection and never greets: the context,
	// not the 30 s timeout, ends the wait.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	e := newEmail(t, email.Config{Host: "127.0.0.1", Port: l.Addr().(*net.TCPAddr).Port, From: "a@example.com",
		To: []string{"b@example.com"}, TLS: email.TLSNone, Timeout: 30 * time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = e.Send(ctx, message(t))
	if err == nil || notify.IsRejected(err) {
		t.Fatalf("a silent server: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Send took %v after its context ended", d)
	}
}

func TestRender(t *testing.T) {
	s := email.Subject("[satellite] ", "http.api critical on node-a: line one\r\nBcc: evil@example.com")
	if strings.ContainsAny(s, "\r\n") || s != "[satellite] http.api critical on node-a: line one Bcc: evil@example.com" {
		t.Errorf("Subject %q", s)
	}
	long := email.Subject("", strings.Repeat("x", 500))
	if r := []rune(long); len(r) != 200 || !strings.HasSuffix(long, "…") {
		t.Errorf("a long subject is %d runes", len(r))
	}
	if !email.IsLoopback("localhost") || !email.IsLoopback("127.0.0.2") || !email.IsLoopback("::1") || email.IsLoopback("mail.example.com") || email.IsLoopback("10.0.0.1") {
		t.Error("IsLoopback")
	}
}

func build(t *testing.T, src string, baseDir string) (notify.Notifier, hcl.Diagnostics) {
	t.Helper()
	reg, ok := notify.Lookup(email.Type)
	if !ok {
		t.Fatal("email is not registered")
	}
	f, diags := hclsyntax.ParseConfig([]byte(src), "n.hcl", hcl.InitialPos)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	val, diags := hcldec.Decode(f.Body, reg.Spec, nil)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	return reg.Build(val, notify.Env{Body: f.Body, Block: hcl.Range{Filename: "n.hcl"}, BaseDir: baseDir, Address: "email.ops"})
}

func TestBuild(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "smtp.pass"), []byte("s3cret-pw\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	n, diags := build(t, `
host          = "smtp.example.com"
from          = "Satellite <satellite@example.com>"
to            = ["ops@example.com"]
username      = "satellite"
password_file = "smtp.pass"
`, dir)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	if s := fmt.Sprint(n); s != "email{server=smtp.example.com:587 tls=starttls from=satellite@example.com to=1 auth=satellite}" || strings.Contains(fmt.Sprintf("%#v", n), "s3cret") {
		t.Errorf("String() = %q", s)
	}
	n, diags = build(t, `
host = "smtp.example.com"
tls  = "tls"
from = "satellite@example.com"
to   = ["ops@example.com"]
`, dir)
	if diags.HasErrors() || !strings.Contains(fmt.Sprint(n), ":465 tls=tls") {
		t.Errorf("implicit TLS defaults to 465: %v %v", n, diags)
	}
	if _, diags := build(t, "host = \"::1\"\ntls = \"none\"\nfrom = \"a@b.c\"\nto = [\"d@e.f\"]", dir); diags.HasErrors() {
		t.Errorf("none on loopback: %v", diags)
	}

	ok := "from = \"a@example.com\"\nto = [\"b@example.com\"]\n"
	for _, c := range []struct{ src, summary, line string }{
		{"from = \"a@example.com\"\nto = [\"b@example.com\"]", "Missing host", ""},
		{"host = \"smtp.example.com:587\"\n" + ok, "Invalid host", "n.hcl:1"},
		{ok + "host = \"smtp.example.com\"\ntls = \"none\"", "Plain-text SMTP", "n.hcl:4"},
		{ok + "host = \"smtp.example.com\"\ntls = \"ssl\"", "Invalid tls", "n.hcl:4"},
		{ok + "host = \"smtp.example.com\"\nport = 70000", "Invalid port", "n.hcl:4"},
		{"host = \"h\"\nfrom = \"not an address\"\nto = [\"b@example.com\"]", "Invalid from", "n.hcl:2"},
		{"host = \"h\"\nfrom = \"a@example.com\"\nto = []", "Missing to", "n.hcl:3"},
		{"host = \"h\"\nfrom = \"a@example.com\"\nto = [\"b@example.com\", \"x\"]", "Invalid to", "n.hcl:3"},
		{ok + "host = \"h\"\npassword = \"s3cret-pw\"", "Password without username", "n.hcl:4"},
		{ok + "host = \"h\"\nusername = \"u\"", "Missing password", "n.hcl:4"},
		{ok + "host = \"h\"\nusername = \"u\"\npassword = \"s3cret-pw\"\npassword_file = \"smtp.pass\"", "Conflicting attributes", "n.hcl:6"},
		{ok + "host = \"h\"\nca_file = \"smtp.pass\"", "Invalid ca_file", "n.hcl:4"},
		{ok + "host = \"h\"\nca_file = \"nope.pem\"", "Unreadable ca_file", "n.hcl:4"},
		{ok + "host = \"h\"\nsubject_prefix = \"a\\nb\"", "Invalid subject_prefix", "n.hcl:4"},
		{ok + "host = \"h\"\ntimeout = \"0s\"", "Invalid timeout", "n.hcl:4"},
	} {
		_, diags := build(t, c.src, dir)
		if !diags.HasErrors() || diags[0].Summary != c.summary {
			t.Errorf("%q: %v, want %q", c.src, diags, c.summary)
			continue
		}
		if c.line != "" && !strings.HasPrefix(diags[0].Subject.String(), c.line+",") {
			t.Errorf("%q: at %s, want %s", c.src, diags[0].Subject, c.line)
		}
		if strings.Contains(diags.Error(), "s3cret") {
			t.Errorf("%q: the password is in %q", c.src, diags.Error())
		}
	}
}
