package dnscheck

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"
	"github.com/zclconf/go-cty/cty"

	"github.com/satellite-hq/satellite/checks"
)

// noDeadlineWait bounds each network operation of a run whose context has no
// deadline (the engine always sets one; direct callers may not).
const noDeadlineWait = 10 * time.Second

// Checker sends one query per run. Build makes it; it is safe for concurrent use.
type Checker struct {
	name     string // fully qualified
	qtype    uint16
	typeName string
	server   string // host:port; empty: the nameservers of resolvConf
	network  string // "udp" or "tcp"
	expect   []expectation
	// resolvConf is the resolv.conf(5) file read at every run when server is
	// empty, with readResolvConf. Tests replace both (resolv.conf has no port
	// option, and their server is not on port 53), so that they never reach
	// the machine's real resolver.
	resolvConf     string
	readResolvConf func(path string) (*dns.ClientConfig, error)
}

// answer is one record of the queried type.
type answer struct {
	text, key string
}

// Check queries the server (or the system's nameservers, in order) once and
// judges the answer.
func (c *Checker) Check(ctx context.Context) checks.Result {
	servers, perServer, err := c.servers()
	if err != nil {
		return critical(err.Error())
	}
	q := new(dns.Msg)
	q.SetQuestion(c.name, c.qtype)
	q.SetEdns0(udpBufferSize, false)

	var (
		resp    *dns.Msg
		latency time.Duration
		from    string
		failed  []string
	)
	for i, srv := range servers {
		actx, cancel := ctx, context.CancelFunc(func() {})
		if perServer > 0 && i < len(servers)-1 {
			// Leave time for the next nameserver, as the C library does
			// (resolv.conf "options timeout:"); the last one gets the rest.
			actx, cancel = context.WithTimeout(ctx, perServer)
		}
		t0 := time.Now()
		r, err := c.exchange(actx, srv, q)
		took := time.Since(t0)
		if err != nil {
			failed = append(failed, c.describe(actx, err, srv, t0))
		}
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				break // the run's own deadline: no time for another server
			}
			continue
		}
		resp, latency, from = r, took, srv
		if (r.Rcode == dns.RcodeServerFailure || r.Rcode == dns.RcodeRefused) && i < len(servers)-1 {
			failed = append(failed, fmt.Sprintf("%s answered %s", srv, dns.RcodeToString[r.Rcode]))
			continue // the next nameserver may know better
		}
		break
	}
	if resp == nil {
		msg := strings.Join(failed, "; ")
		if c.server == "" && len(servers) > 1 {
			msg = fmt.Sprintf("no nameserver of %s answered: %s", c.resolvConf, msg)
		}
		return critical(msg)
	}
	res := c.judge(resp, latency, from)
	if len(failed) > 0 {
		// Other nameservers failed on the way: say so, even on a pass.
		tried := "Other nameservers: " + strings.Join(failed, "; ") + "."
		res.Detail = strings.TrimSpace(tried + "\n" + res.Detail)
	}
	return res
}

// servers returns the addresses to ask, in order, and how long each may take
// when another one follows (0: no limit but the run's).
func (c *Checker) servers() ([]string, time.Duration, error) {
	if c.server != "" {
		return []string{c.server}, 0, nil
	}
	conf, err := c.readResolvConf(c.resolvConf)
	if err != nil {
		return nil, 0, fmt.Errorf("no server set and the system resolver configuration cannot be read: %w", err)
	}
	if len(conf.Servers) == 0 {
		return nil, 0, fmt.Errorf("no server set and %s lists no nameserver", c.resolvConf)
	}
	out := make([]string, len(conf.Servers))
	for i, s := range conf.Servers {
		out[i] = net.JoinHostPort(s, conf.Port)
	}
	return out, time.Duration(conf.Timeout) * time.Second, nil
}

// exchange sends q to one server, and again over TCP when a UDP answer
// comes back truncated.
func (c *Checker) exchange(ctx context.Context, server string, q *dns.Msg) (*dns.Msg, error) {
	r, err := exchangeOver(ctx, c.network, server, q)
	if err == nil && r.Truncated && c.network == "udp" {
		return exchangeOver(ctx, "tcp", server, q)
	}
	return r, err
}

// exchangeOver is one query over one transport. The client library takes
// only the context's deadline, not its cancellation, so the connection is
// closed when ctx ends.
func exchangeOver(ctx context.Context, network, server string, q *dns.Msg) (*dns.Msg, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	wait := noDeadlineWait
	if dl, ok := ctx.Deadline(); ok {
		wait = max(time.Until(dl), time.Nanosecond) // 0 would mean the library's default of 2s
	}
	client := &dns.Client{Net: network, Timeout: wait}
	conn, err := client.DialContext(ctx, server)
	if err != nil {
		return nil, err
	}
	defer func() { _ = conn.Close() }()
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer stop()
	r, _, err := client.ExchangeWithConnContext(ctx, q, conn)
	if err != nil {
		return nil, err
	}
	if len(r.Question) != 1 || !strings.EqualFold(r.Question[0].Name, q.Question[0].Name) || r.Question[0].Qtype != q.Question[0].Qtype {
		return nil, fmt.Errorf("the answer is for another question (%s)", questionString(r))
	}
	return r, nil
}

func questionString(r *dns.Msg) string {
	if len(r.Question) == 0 {
		return "none"
	}
	q := r.Question[0]
	return dns.TypeToString[q.Qtype] + " " + q.Name
}

// judge turns a server's response into the run's result.
func (c *Checker) judge(r *dns.Msg, latency time.Duration, from string) checks.Result {
	rcode := dns.RcodeToString[r.Rcode]
	if rcode == "" {
		rcode = "RCODE" + strconv.Itoa(r.Rcode)
	}
	answers := c.answers(r)
	texts := make([]cty.Value, len(answers))
	for i, a := range answers {
		texts[i] = cty.StringVal(a.text)
	}
	list := cty.ListValEmpty(cty.String)
	if len(texts) > 0 {
		list = cty.ListVal(texts)
	}
	res := checks.Result{
		Metrics: map[string]float64{
			MetricLatency: float64(latency) / float64(time.Millisecond),
			MetricAnswers: float64(len(answers)),
		},
		Attrs: map[string]cty.Value{"answers": list, "rcode": cty.StringVal(rcode)},
	}
	what := c.typeName + " " + display(c.name)
	switch {
	case r.Rcode == dns.RcodeNameError:
		res.Error = fmt.Sprintf("%s: the name does not exist (NXDOMAIN from %s)", what, from)
	case r.Rcode != dns.RcodeSuccess:
		res.Error = fmt.Sprintf("%s: %s answered %s", what, from, rcode)
	case len(answers) == 0:
		res.Error = fmt.Sprintf("%s: no %s record in the answer from %s", what, c.typeName, from)
		if others := otherRecords(r, c.qtype); others != "" {
			res.Error += " (only " + others + ")"
		}
	default:
		if missing := c.missing(answers); len(missing) > 0 {
			got := make([]string, len(answers))
			for i, a := range answers {
				got[i] = a.text
			}
			res.Error = fmt.Sprintf("%s: expected %s, not among the answers from %s: %s",
				what, strings.Join(missing, ", "), from, strings.Join(got, ", "))
		}
	}
	if res.Error != "" {
		res.Status = checks.StatusCritical
		res.Detail = answerSection(r)
	}
	return res
}

// answers returns the records of the queried type, in the server's order.
// A query for A that the server answers with a CNAME chain yields the
// chain's A records.
func (c *Checker) answers(r *dns.Msg) []answer {
	var out []answer
	for _, rr := range r.Answer {
		if rr.Header().Rrtype != c.qtype || rr.Header().Class != dns.ClassINET {
			continue
		}
		var a answer
		switch v := rr.(type) {
		case *dns.A:
			ip, _ := netip.AddrFromSlice(v.A)
			a.text = ip.Unmap().String()
			a.key = a.text
		case *dns.AAAA:
			ip, _ := netip.AddrFromSlice(v.AAAA)
			a.text = ip.String()
			a.key = ip.Unmap().String()
		case *dns.CNAME:
			a.text, a.key = display(v.Target), dns.CanonicalName(v.Target)
		case *dns.NS:
			a.text, a.key = display(v.Ns), dns.CanonicalName(v.Ns)
		case *dns.SRV:
			port := strconv.Itoa(int(v.Port))
			a.text, a.key = display(v.Target)+":"+port, srvKey(v.Target, port)
		case *dns.TXT:
			// The strings of one record are one text (as for SPF, RFC 7208 3.3).
			a.text = strings.ToValidUTF8(strings.Join(v.Txt, ""), "\uFFFD")
			a.key = strings.Join(v.Txt, "")
		default:
			continue
		}
		out = append(out, a)
	}
	return out
}

// missing returns the expected values that are not among the answers.
func (c *Checker) missing(answers []answer) []string {
	var out []string
	for _, e := range c.expect {
		found := false
		for _, a := range answers {
			if a.key == e.key {
				found = true
				break
			}
		}
		if !found {
			out = append(out, e.raw)
		}
	}
	return out
}

// display writes a name without its final dot, as operators write names.
func display(name string) string {
	if name == "." {
		return name
	}
	return strings.TrimSuffix(name, ".")
}

// otherRecords sums up an answer section without records of the queried
// type, such as a CNAME whose target the server did not resolve.
func otherRecords(r *dns.Msg, qtype uint16) string {
	var parts []string
	for _, rr := range r.Answer {
		h := rr.Header()
		if h.Rrtype == qtype {
			continue
		}
		s := dns.TypeToString[h.Rrtype] + " " + display(h.Name)
		if cn, ok := rr.(*dns.CNAME); ok {
			s += " → " + display(cn.Target)
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, ", ")
}

// answerSection is the answer as dig shows it, for Result.Detail.
func answerSection(r *dns.Msg) string {
	lines := []string{fmt.Sprintf("rcode %s, %d answer(s)", dns.RcodeToString[r.Rcode], len(r.Answer))}
	for _, rr := range r.Answer {
		lines = append(lines, rr.String())
	}
	return strings.ToValidUTF8(strings.Join(lines, "\n"), "\uFFFD")
}

// describe turns a failed exchange into one line; a run cut short by its
// deadline says that it timed out, and after how long.
func (c *Checker) describe(ctx context.Context, err error, server string, start time.Time) string {
	target := fmt.Sprintf("%s %s at %s (%s)", c.typeName, display(c.name), server, c.network)
	switch {
	case checks.IsTimeout(ctx, err):
		if _, ok := ctx.Deadline(); ok {
			return fmt.Sprintf("%s: %s", target, checks.Interrupted(ctx, start))
		}
		return fmt.Sprintf("%s: timed out: %v", target, err)
	case errors.Is(ctx.Err(), context.Canceled):
		return fmt.Sprintf("%s: canceled", target)
	default:
		return fmt.Sprintf("%s: %v", target, err)
	}
}

func critical(msg string) checks.Result {
	return checks.Result{Status: checks.StatusCritical, Error: msg}
}
