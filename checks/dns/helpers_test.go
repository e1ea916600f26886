package dnscheck

import (
	"errors"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/satellite-hq/satellite/checks/checktest"

	"github.com/hashicorp/hcl/v2"
	"github.com/miekg/dns"
	"github.com/satellite-hq/satellite/checks"
	"github.com/zclconf/go-cty/cty"
)

func registration(t testing.TB) *checks.Registration {
	t.Helper()
	reg, ok := checks.Lookup(Type)
	if !ok {
		t.Fatal("dns is not registered")
	}
	return reg
}

// decoded is one check block of a source, decoded with the type's spec.
type decoded struct {
	val   cty.Value
	env   checks.Env
	diags hcl.Diagnostics
}

// decodeChecks parses src and decodes every check block with the registered
// spec, variables from vars.
func decodeChecks(t testing.TB, src string, vars map[string]cty.Value) []decoded {
	t.Helper()
	var out []decoded
	for _, d := range checktest.DecodeChecks(t, Type, src, checks.Env{}, checktest.VarContext(vars)) {
		out = append(out, decoded{val: d.Val, env: d.Env, diags: d.Diags})
	}
	return out
}

// build decodes the one check block of src and builds it.
func build(t testing.TB, src string) (checks.Checker, hcl.Diagnostics) {
	t.Helper()
	ds := decodeChecks(t, src, nil)
	if len(ds) != 1 {
		t.Fatalf("got %d check blocks, want 1", len(ds))
	}
	if ds[0].diags.HasErrors() {
		return nil, ds[0].diags
	}
	return registration(t).Build(ds[0].val, ds[0].env)
}

// mustBuild builds a check body that must be valid. Its checker can never
// read the machine's resolv.conf: a test that leaves out `server` must set
// resolvConf and readResolvConf itself.
func mustBuild(t testing.TB, body string) *Checker {
	t.Helper()
	c, diags := build(t, "check \"dns\" \"t\" {\n"+body+"\n}\n")
	if diags.HasErrors() {
		t.Fatalf("build: %s", diags)
	}
	if c == nil {
		t.Fatal("build returned a nil checker without an error")
	}
	cc := c.(*Checker)
	cc.readResolvConf = func(path string) (*dns.ClientConfig, error) {
		t.Errorf("the check read %s; a test must never reach the machine's resolver", path)
		return nil, errors.New("blocked by the test")
	}
	return cc
}

// answerTexts returns result.answers as strings.
func answerTexts(t testing.TB, res checks.Result) []string {
	t.Helper()
	v, ok := res.Attrs["answers"]
	if !ok || v.IsNull() {
		t.Fatalf("no answers attribute in %v", res.Attrs)
	}
	var out []string
	for it := v.ElementIterator(); it.Next(); {
		_, e := it.Element()
		out = append(out, e.AsString())
	}
	return out
}

// zone is what the test server knows, in master-file syntax.
const zone = `
a.test.                 60 IN A     10.0.0.1
a.test.                 60 IN A     10.0.0.2
a.test.                 60 IN AAAA  2001:db8::1
www.test.               60 IN CNAME a.test.
dangling.test.          60 IN CNAME elsewhere.example.
_etcd-server._tcp.test. 60 IN SRV   0 0 2380 etcd-1.test.
_etcd-server._tcp.test. 60 IN SRV   0 0 2380 etcd-2.test.
txt.test.               60 IN TXT   "v=spf1 ip4:10.0.0.0/8 " "-all"
txt.test.               60 IN TXT   "hello world"
test.                   60 IN NS    ns1.test.
test.                   60 IN NS    ns2.test.
empty.test.             60 IN TXT   "a name with no address"
`

// Names with a behaviour of their own.
const (
	nameSlow    = "slow.test."    // never answered
	nameFail    = "fail.test."    // SERVFAIL
	nameRefused = "refused.test." // REFUSED
	nameBig     = "big.test."     // truncated over UDP, whole over TCP
)

// testServer is a DNS server on 127.0.0.1, on one port for UDP and TCP.
type testServer struct {
	addr, port string
	records    map[string][]dns.RR
	rcodeAll   int // when set, the answer to every query

	mu   sync.Mutex
	seen []string // "udp a.test. A" for every query
}

func newServer(t testing.TB) *testServer {
	t.Helper()
	s := &testServer{records: map[string][]dns.RR{}}
	for _, line := range strings.Split(strings.TrimSpace(zone), "\n") {
		rr, err := dns.NewRR(line)
		if err != nil {
			t.Fatalf("zone line %q: %v", line, err)
		}
		name := strings.ToLower(rr.Header().Name)
		s.records[name] = append(s.records[name], rr)
	}
	pc, ln := listenBoth(t, "127.0.0.1")
	s.start(t, pc, ln)
	return s
}

// newFailingServer answers every query on ip:port (UDP) with rcode.
func newFailingServer(t testing.TB, ip, port string, rcode int) *testServer {
	t.Helper()
	pc, err := net.ListenPacket("udp", net.JoinHostPort(ip, port))
	if err != nil {
		t.Skipf("cannot listen on %s:%s: %v", ip, port, err)
	}
	s := &testServer{rcodeAll: rcode}
	s.start(t, pc, nil)
	return s
}

func (s *testServer) start(t testing.TB, pc net.PacketConn, ln net.Listener) {
	t.Helper()
	s.addr = pc.LocalAddr().String()
	_, s.port, _ = net.SplitHostPort(s.addr)
	serve(t, &dns.Server{PacketConn: pc, Handler: s})
	if ln != nil {
		serve(t, &dns.Server{Listener: ln, Handler: s})
	}
}

// listenBoth listens on UDP and TCP on the same free port of ip.
func listenBoth(t testing.TB, ip string) (net.PacketConn, net.Listener) {
	t.Helper()
	for range 20 {
		pc, err := net.ListenPacket("udp", net.JoinHostPort(ip, "0"))
		if err != nil {
			t.Fatal(err)
		}
		_, port, _ := net.SplitHostPort(pc.LocalAddr().String())
		ln, err := net.Listen("tcp", net.JoinHostPort(ip, port))
		if err != nil {
			_ = pc.Close()
			continue
		}
		return pc, ln
	}
	t.Fatal("no port free for both UDP and TCP")
	return nil, nil
}

// serve runs srv until the test ends.
func serve(t testing.TB, srv *dns.Server) {
	t.Helper()
	started := make(chan struct{})
	done := make(chan struct{})
	srv.NotifyStartedFunc = func() { close(started) }
	go func() {
		defer close(done)
		_ = srv.ActivateAndServe()
	}()
	select {
	case <-started:
	case <-done:
		t.Fatal("the DNS server did not start")
	}
	t.Cleanup(func() { _ = srv.Shutdown(); <-done })
}

func (s *testServer) ServeDNS(w dns.ResponseWriter, r *dns.Msg) {
	q := r.Question[0]
	name := strings.ToLower(q.Name)
	network := w.RemoteAddr().Network()
	s.mu.Lock()
	s.seen = append(s.seen, network+" "+name+" "+dns.TypeToString[q.Qtype])
	s.mu.Unlock()

	m := new(dns.Msg)
	m.SetReply(r)
	m.Authoritative = true
	switch {
	case s.rcodeAll != 0:
		m.Rcode = s.rcodeAll
		_ = w.WriteMsg(m)
		return
	}
	switch name {
	case nameSlow:
		return
	case nameFail:
		m.Rcode = dns.RcodeServerFailure
	case nameRefused:
		m.Rcode = dns.RcodeRefused
	case nameBig:
		if network == "udp" {
			m.Truncated = true
			break
		}
		for i := range 40 {
			rr, _ := dns.NewRR(nameBig + ` 60 IN TXT "` + strings.Repeat("x", 200) + `" "` + string(rune('a'+i%26)) + `"`)
			m.Answer = append(m.Answer, rr)
		}
	default:
		m.Answer = s.lookup(name, q.Qtype, 0)
		if _, ok := s.records[name]; !ok {
			m.Rcode = dns.RcodeNameError
		}
	}
	_ = w.WriteMsg(m)
}

// lookup answers from the zone, following CNAMEs within it.
func (s *testServer) lookup(name string, qtype uint16, depth int) []dns.RR {
	var out []dns.RR
	for _, rr := range s.records[name] {
		switch h := rr.Header(); {
		case h.Rrtype == qtype:
			out = append(out, rr)
		case h.Rrtype == dns.TypeCNAME && depth < 8:
			out = append(out, rr)
			out = append(out, s.lookup(strings.ToLower(rr.(*dns.CNAME).Target), qtype, depth+1)...)
		}
	}
	return out
}

// queries returns the queries the server saw.
func (s *testServer) queries() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.seen...)
}

// silentServer reads queries over UDP and TCP on one port and never answers.
func silentServer(t testing.TB, ip string) string {
	t.Helper()
	pc, ln := listenBoth(t, ip)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var held []net.Conn
	wg.Go(func() {
		buf := make([]byte, 2048)
		for {
			if _, _, err := pc.ReadFrom(buf); err != nil {
				return
			}
		}
	})
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c)
			mu.Unlock()
		}
	})
	t.Cleanup(func() {
		_ = pc.Close()
		_ = ln.Close()
		wg.Wait()
		for _, c := range held {
			_ = c.Close()
		}
	})
	return pc.LocalAddr().String()
}

// closedPort returns a loopback address on which nothing listens, over UDP or TCP.
func closedPort(t testing.TB) string {
	t.Helper()
	pc, ln := listenBoth(t, "127.0.0.1")
	addr := pc.LocalAddr().String()
	_ = pc.Close()
	_ = ln.Close()
	return addr
}

// Shared with every check type's tests (checks/checktest).
var (
	run          = checktest.Run
	wantCritical = checktest.WantCritical
	wantPassing  = checktest.WantPassing
)
