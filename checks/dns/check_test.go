package dnscheck

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/zclconf/go-cty/cty"

	"github.com/satellite-hq/satellite/checks"
)

func TestRecordTypes(t *testing.T) {
	srv := newServer(t)
	tests := []struct {
		name, body string
		answers    []string
	}{
		{"A", `name = "a.test"
expect = ["10.0.0.2"]`, []string{"10.0.0.1", "10.0.0.2"}},
		{"A through a CNAME", `name = "www.test."
expect = ["10.0.0.1", "10.0.0.2"]`, []string{"10.0.0.1", "10.0.0.2"}},
		{"AAAA", `name = "a.test"
record_type = "AAAA"
expect = ["2001:DB8:0::1"]`, []string{"2001:db8::1"}},
		{"CNAME", `name = "WWW.test"
record_type = "CNAME"
expect = ["A.Test."]`, []string{"a.test"}},
		{"CNAME without dot", `name = "www.test"
record_type = "cname"
expect = ["a.test"]`, []string{"a.test"}},
		{"SRV", `name = "_etcd-server._tcp.test"
record_type = "SRV"
expect = ["etcd-2.test:2380", "etcd-1.test.:2380"]`, []string{"etcd-1.test:2380", "etcd-2.test:2380"}},
		{"TXT", `name = "txt.test"
record_type = "TXT"
expect = ["v=spf1 ip4:10.0.0.0/8 -all"]`, []string{"v=spf1 ip4:10.0.0.0/8 -all", "hello world"}},
		{"NS", `name = "test"
record_type = "NS"
expect = ["ns1.test", "ns2.test."]`, []string{"ns1.test", "ns2.test"}},
		{"no expect", `name = "a.test"`, []string{"10.0.0.1", "10.0.0.2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := mustBuild(t, tt.body+"\nserver = \""+srv.addr+"\"")
			res := run(c, 5*time.Second)
			wantPassing(t, res)
			if got := answerTexts(t, res); !slices.Equal(got, tt.answers) {
				t.Errorf("answers %q, want %q", got, tt.answers)
			}
			if n := res.Metrics[MetricAnswers]; n != float64(len(tt.answers)) {
				t.Errorf("answers metric %v, want %d", n, len(tt.answers))
			}
			if l, ok := res.Metrics[MetricLatency]; !ok || l <= 0 {
				t.Errorf("latency_ms %v, %v", l, ok)
			}
			if rc := res.Attrs["rcode"]; !rc.RawEquals(cty.StringVal("NOERROR")) {
				t.Errorf("rcode %#v", rc)
			}
			if res.Detail != "" {
				t.Errorf("detail %q", res.Detail)
			}
		})
	}
	for _, q := range srv.queries() {
		if !strings.HasPrefix(q, "udp ") {
			t.Errorf("query %q did not use UDP, the default", q)
		}
	}
}

func TestProtocolTCP(t *testing.T) {
	srv := newServer(t)
	c := mustBuild(t, fmt.Sprintf("name = \"a.test\"\nserver = %q\nprotocol = \"tcp\"", srv.addr))
	wantPassing(t, run(c, 5*time.Second))
	if q := srv.queries(); !slices.Equal(q, []string{"tcp a.test. A"}) {
		t.Errorf("server saw %q, want one TCP query", q)
	}
}

func TestTruncatedAnswerRetriedOverTCP(t *testing.T) {
	srv := newServer(t)
	c := mustBuild(t, fmt.Sprintf("name = \"big.test\"\nrecord_type = \"TXT\"\nserver = %q", srv.addr))
	res := run(c, 5*time.Second)
	wantPassing(t, res)
	if n := res.Metrics[MetricAnswers]; n != 40 {
		t.Errorf("%v answers, want 40", n)
	}
	if q := srv.queries(); !slices.Equal(q, []string{"udp big.test. TXT", "tcp big.test. TXT"}) {
		t.Errorf("server saw %q, want UDP then TCP", q)
	}
}

func TestNXDOMAIN(t *testing.T) {
	srv := newServer(t)
	c := mustBuild(t, fmt.Sprintf("name = \"missing.test\"\nserver = %q", srv.addr))
	res := run(c, 5*time.Second)
	wantCritical(t, res, "A missing.test: the name does not exist (NXDOMAIN from "+srv.addr+")")
	if rc := res.Attrs["rcode"]; !rc.RawEquals(cty.StringVal("NXDOMAIN")) {
		t.Errorf("rcode %#v", rc)
	}
	if a := res.Attrs["answers"]; !a.RawEquals(cty.ListValEmpty(cty.String)) {
		t.Errorf("answers %#v, want an empty list", a)
	}
	if n, ok := res.Metrics[MetricAnswers]; !ok || n != 0 {
		t.Errorf("answers metric %v, %v", n, ok)
	}
	if _, ok := res.Metrics[MetricLatency]; !ok {
		t.Error("latency_ms missing: the server did answer")
	}
}

func TestServerFailure(t *testing.T) {
	srv := newServer(t)
	for name, rcode := range map[string]string{"fail.test": "SERVFAIL", "refused.test": "REFUSED"} {
		c := mustBuild(t, fmt.Sprintf("name = %q\nserver = %q", name, srv.addr))
		res := run(c, 5*time.Second)
		wantCritical(t, res, fmt.Sprintf("A %s: %s answered %s", name, srv.addr, rcode))
		if rc := res.Attrs["rcode"]; !rc.RawEquals(cty.StringVal(rcode)) {
			t.Errorf("rcode %#v", rc)
		}
	}
}

func TestNoAnswer(t *testing.T) {
	srv := newServer(t)
	c := mustBuild(t, fmt.Sprintf("name = \"empty.test\"\nserver = %q", srv.addr))
	res := run(c, 5*time.Second)
	wantCritical(t, res, "A empty.test: no A record in the answer from "+srv.addr)
	if !strings.HasPrefix(res.Detail, "rcode NOERROR, 0 answer(s)") {
		t.Errorf("detail %q", res.Detail)
	}

	// A CNAME whose target the server does not resolve: say what came instead.
	c = mustBuild(t, fmt.Sprintf("name = \"dangling.test\"\nserver = %q", srv.addr))
	res = run(c, 5*time.Second)
	wantCritical(t, res, "no A record", "(only CNAME dangling.test → elsewhere.example)")
}

func TestExpectMismatch(t *testing.T) {
	srv := newServer(t)
	c := mustBuild(t, fmt.Sprintf("name = \"a.test\"\nserver = %q\nexpect = [\"10.0.0.9\", \"10.0.0.1\", \"10.0.0.8\"]", srv.addr))
	res := run(c, 5*time.Second)
	wantCritical(t, res)
	want := "A a.test: expected 10.0.0.9, 10.0.0.8, not among the answers from " + srv.addr + ": 10.0.0.1, 10.0.0.2"
	if res.Error != want {
		t.Errorf("error %q\nwant  %q", res.Error, want)
	}
	if !strings.Contains(res.Detail, "a.test.\t60\tIN\tA\t10.0.0.2") {
		t.Errorf("detail %q does not show the answer section", res.Detail)
	}
	if got := answerTexts(t, res); len(got) != 2 {
		t.Errorf("answers %q", got)
	}

	// Names compare without case and final dot, but a different name is a mismatch.
	c = mustBuild(t, fmt.Sprintf("name = \"www.test\"\nrecord_type = \"CNAME\"\nserver = %q\nexpect = [\"b.test\"]", srv.addr))
	wantCritical(t, run(c, 5*time.Second), "expected b.test, not among the answers", ": a.test")
	c = mustBuild(t, fmt.Sprintf("name = \"_etcd-server._tcp.test\"\nrecord_type = \"SRV\"\nserver = %q\nexpect = [\"etcd-1.test:2379\"]", srv.addr))
	wantCritical(t, run(c, 5*time.Second), "expected etcd-1.test:2379")
	c = mustBuild(t, fmt.Sprintf("name = \"txt.test\"\nrecord_type = \"TXT\"\nserver = %q\nexpect = [\"HELLO WORLD\"]", srv.addr))
	wantCritical(t, run(c, 5*time.Second), `expected HELLO WORLD`)
}

func TestNoServerListening(t *testing.T) {
	// On loopback, the kernel answers a query to a closed port at once
	// (ICMP port unreachable for UDP, RST for TCP): refused, not a timeout.
	addr := closedPort(t)
	for _, proto := range []string{"udp", "tcp"} {
		t.Run(proto, func(t *testing.T) {
			c := mustBuild(t, fmt.Sprintf("name = \"a.test\"\nserver = %q\nprotocol = %q", addr, proto))
			start := time.Now()
			res := run(c, 5*time.Second)
			wantCritical(t, res, "A a.test at "+addr+" ("+proto+"): ", "connection refused")
			if len(res.Metrics) != 0 || res.Attrs != nil {
				t.Errorf("metrics %v, attrs %v without an answer", res.Metrics, res.Attrs)
			}
			if took := time.Since(start); took > 2*time.Second {
				t.Errorf("took %s", took)
			}
		})
	}
}

func TestTimeout(t *testing.T) {
	silent := silentServer(t, "127.0.0.1")
	srv := newServer(t)
	tests := []struct{ name, server, proto, qname string }{
		{"silent socket, udp", silent, "udp", "a.test"},
		{"silent socket, tcp", silent, "tcp", "a.test"},
		{"query never answered, udp", srv.addr, "udp", "slow.test"},
		{"query never answered, tcp", srv.addr, "tcp", "slow.test"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := mustBuild(t, fmt.Sprintf("name = %q\nserver = %q\nprotocol = %q", tt.qname, tt.server, tt.proto))
			start := time.Now()
			res := run(c, 300*time.Millisecond)
			took := time.Since(start)
			wantCritical(t, res, fmt.Sprintf("A %s at %s (%s): timed out after 300ms", tt.qname, tt.server, tt.proto))
			if took > 2*time.Second {
				t.Errorf("check returned %s after a 300ms deadline", took)
			}
		})
	}
}

func TestTimeoutLongerThanLibraryDefault(t *testing.T) {
	// The DNS library gives up after 2s by default; the run's own timeout
	// must be what counts, so an answer after 2.2s still passes.
	if testing.Short() {
		t.Skip("takes 2s")
	}
	srv := newServer(t)
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { _ = pc.Close(); wg.Wait() })
	// A relay that holds each query 2.2s before passing it on.
	wg.Go(func() {
		buf := make([]byte, 2048)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			time.Sleep(2200 * time.Millisecond)
			m := new(dns.Msg)
			if m.Unpack(buf[:n]) != nil {
				continue
			}
			r, err := dns.Exchange(m, srv.addr)
			if err != nil {
				continue
			}
			out, _ := r.Pack()
			_, _ = pc.WriteTo(out, from)
		}
	})
	c := mustBuild(t, fmt.Sprintf("name = \"a.test\"\nserver = %q", pc.LocalAddr()))
	res := run(c, 5*time.Second)
	wantPassing(t, res)
	if l := res.Metrics[MetricLatency]; l < 2200 {
		t.Errorf("latency_ms %v, want at least 2200", l)
	}
}

func TestCanceled(t *testing.T) {
	srv := newServer(t)
	c := mustBuild(t, fmt.Sprintf("name = \"slow.test\"\nserver = %q", srv.addr))

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	wantCritical(t, c.Check(ctx), "canceled")

	// Canceled while waiting for the answer.
	ctx, cancel = context.WithTimeout(context.Background(), 10*time.Second)
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	wantCritical(t, c.Check(ctx), "A slow.test at "+srv.addr+" (udp): canceled")
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("a canceled run took %s", took)
	}
}

func TestDeadlinePassed(t *testing.T) {
	srv := newServer(t)
	c := mustBuild(t, fmt.Sprintf("name = \"a.test\"\nserver = %q", srv.addr))
	ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	wantCritical(t, c.Check(ctx), "timed out after 0s")
	if q := srv.queries(); len(q) != 0 {
		t.Errorf("queries %q sent after the deadline", q)
	}
}

// resolvConfAt makes c read resolv.conf text written to a temporary file,
// with the test server's port (resolv.conf cannot say a port).
func resolvConfAt(t *testing.T, c *Checker, text, port string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "resolv.conf")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	c.resolvConf = path
	c.readResolvConf = func(p string) (*dns.ClientConfig, error) {
		if p != path {
			t.Errorf("read %s, want %s", p, path)
		}
		conf, err := dns.ClientConfigFromFile(p)
		if err == nil {
			conf.Port = port
		}
		return conf, err
	}
	return path
}

func TestSystemResolver(t *testing.T) {
	srv := newServer(t)

	t.Run("default file", func(t *testing.T) {
		c, diags := build(t, "check \"dns\" \"t\" {\n  name = \"a.test\"\n}\n")
		if diags.HasErrors() {
			t.Fatal(diags)
		}
		// Only looked at, never run: the machine's resolver is off limits.
		if cc := c.(*Checker); cc.server != "" || cc.resolvConf != "/etc/resolv.conf" || cc.readResolvConf == nil {
			t.Errorf("server %q resolv.conf %q", cc.server, cc.resolvConf)
		}
	})

	t.Run("first nameserver", func(t *testing.T) {
		c := mustBuild(t, `name = "a.test"`)
		resolvConfAt(t, c, "# test\nsearch test\nnameserver 127.0.0.1\n", srv.port)
		res := run(c, 5*time.Second)
		wantPassing(t, res)
		if n := res.Metrics[MetricAnswers]; n != 2 {
			t.Errorf("%v answers", n)
		}
	})

	t.Run("names are not completed with the search list", func(t *testing.T) {
		c := mustBuild(t, `name = "a"`)
		resolvConfAt(t, c, "search test\nnameserver 127.0.0.1\n", srv.port)
		wantCritical(t, run(c, 5*time.Second), "NXDOMAIN")
	})

	t.Run("a nameserver that refuses, then one that answers", func(t *testing.T) {
		// 127.0.0.2 is loopback too, and nothing listens there on the port.
		c := mustBuild(t, `name = "a.test"`)
		resolvConfAt(t, c, "nameserver 127.0.0.2\nnameserver 127.0.0.1\n", srv.port)
		res := run(c, 5*time.Second)
		wantPassing(t, res)
		if want := "Other nameservers: A a.test at 127.0.0.2:" + srv.port + " (udp): "; !strings.HasPrefix(res.Detail, want) || !strings.Contains(res.Detail, "connection refused") {
			t.Errorf("detail %q, want it to start with %q", res.Detail, want)
		}
	})

	t.Run("a silent nameserver, then one that answers", func(t *testing.T) {
		if testing.Short() {
			t.Skip("takes 1s")
		}
		silentOn(t, "127.0.0.3", srv.port)
		c := mustBuild(t, `name = "a.test"`)
		resolvConfAt(t, c, "options timeout:1\nnameserver 127.0.0.3\nnameserver 127.0.0.1\n", srv.port)
		start := time.Now()
		wantPassing(t, run(c, 5*time.Second))
		if took := time.Since(start); took < time.Second || took > 3*time.Second {
			t.Errorf("took %s, want the 1s of options timeout:1 and a little", took)
		}
	})

	t.Run("a nameserver that fails, then one that answers", func(t *testing.T) {
		for ip, rcode := range map[string]int{"127.0.0.5": dns.RcodeServerFailure, "127.0.0.6": dns.RcodeRefused} {
			failing := newFailingServer(t, ip, srv.port, rcode)
			c := mustBuild(t, `name = "a.test"`)
			resolvConfAt(t, c, "nameserver "+ip+"\nnameserver 127.0.0.1\n", srv.port)
			res := run(c, 5*time.Second)
			wantPassing(t, res)
			if want := fmt.Sprintf("Other nameservers: %s:%s answered %s.", ip, srv.port, dns.RcodeToString[rcode]); res.Detail != want {
				t.Errorf("detail %q, want %q", res.Detail, want)
			}
			if q := failing.queries(); len(q) != 1 {
				t.Errorf("the failing server saw %q", q)
			}
		}
	})

	t.Run("every nameserver fails", func(t *testing.T) {
		c := mustBuild(t, `name = "fail.test"`)
		resolvConfAt(t, c, "nameserver 127.0.0.2\nnameserver 127.0.0.1\n", srv.port)
		wantCritical(t, run(c, 5*time.Second), "A fail.test: 127.0.0.1:"+srv.port+" answered SERVFAIL")
		c = mustBuild(t, `name = "a.test"`)
		path := resolvConfAt(t, c, "nameserver 127.0.0.2\nnameserver 127.0.0.4\n", srv.port)
		wantCritical(t, run(c, 5*time.Second), "no nameserver of "+path+" answered: A a.test at 127.0.0.2:"+srv.port, "; A a.test at 127.0.0.4:"+srv.port)
	})

	t.Run("no nameserver", func(t *testing.T) {
		c := mustBuild(t, `name = "a.test"`)
		path := resolvConfAt(t, c, "search test\n", srv.port)
		wantCritical(t, run(c, 5*time.Second), "no server set and "+path+" lists no nameserver")
	})

	t.Run("no file", func(t *testing.T) {
		c := mustBuild(t, `name = "a.test"`)
		path := resolvConfAt(t, c, "", srv.port)
		_ = os.Remove(path)
		wantCritical(t, run(c, 5*time.Second), "system resolver configuration cannot be read", path, "no such file")
	})
}

// silentOn drops every UDP query to ip:port until the test ends.
func silentOn(t *testing.T, ip, port string) {
	t.Helper()
	pc, err := net.ListenPacket("udp", net.JoinHostPort(ip, port))
	if err != nil {
		t.Skipf("cannot listen on %s:%s: %v", ip, port, err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 2048)
		for {
			if _, _, err := pc.ReadFrom(buf); err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() { _ = pc.Close(); <-done })
}

func TestResultConformsToDeclaredType(t *testing.T) {
	srv := newServer(t)
	reg := registration(t)
	for _, name := range []string{"a.test", "missing.test"} {
		res := run(mustBuild(t, fmt.Sprintf("name = %q\nserver = %q", name, srv.addr)), 5*time.Second)
		v := reg.ResultValue(res, 0)
		if err := v.Type().TestConformance(reg.ResultType()); err != nil {
			t.Errorf("%s: result does not conform: %v", name, err)
		}
	}
	// No answer at all: the attributes are null, as declared.
	res := run(mustBuild(t, fmt.Sprintf("name = \"a.test\"\nserver = %q", closedPort(t))), 5*time.Second)
	v := reg.ResultValue(res, 0)
	if !v.GetAttr("answers").IsNull() || !v.GetAttr("rcode").IsNull() || !v.GetAttr("latency_ms").IsNull() {
		t.Errorf("result without an answer: %#v", v)
	}
}

func TestConcurrentRuns(t *testing.T) {
	srv := newServer(t)
	c := mustBuild(t, fmt.Sprintf("name = \"a.test\"\nserver = %q\nexpect = [\"10.0.0.1\"]", srv.addr))
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if res := run(c, 5*time.Second); res.Verdict() != checks.StatusPassing {
				t.Errorf("run: %s", res.Error)
			}
		})
	}
	wg.Wait()
}

func BenchmarkCheck(b *testing.B) {
	srv := newServer(b)
	c := mustBuild(b, fmt.Sprintf("name = \"a.test\"\nserver = %q\nexpect = [\"10.0.0.1\"]", srv.addr))
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	b.ReportAllocs()
	for b.Loop() {
		if res := c.Check(ctx); res.Error != "" {
			b.Fatal(res.Error)
		}
	}
}
