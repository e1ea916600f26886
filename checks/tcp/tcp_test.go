package tcpcheck

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/satellite-hq/satellite/checks/checktest"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/zclconf/go-cty/cty"

	"github.com/satellite-hq/satellite/checks"
)

func registration(t testing.TB) *checks.Registration {
	t.Helper()
	reg, ok := checks.Lookup(Type)
	if !ok {
		t.Fatal("tcp is not registered")
	}
	return reg
}

type decoded struct {
	val   cty.Value
	env   checks.Env
	diags hcl.Diagnostics
}

// decodeChecks decodes every check block of src with the registered spec.
func decodeChecks(t testing.TB, src string, ctx *hcl.EvalContext) []decoded {
	t.Helper()
	var out []decoded
	for _, d := range checktest.DecodeChecks(t, Type, src, checks.Env{}, ctx) {
		out = append(out, decoded{val: d.Val, env: d.Env, diags: d.Diags})
	}
	return out
}

func build(t testing.TB, address string) (checks.Checker, hcl.Diagnostics, string) {
	t.Helper()
	src := "check \"tcp\" \"t\" {\n  address = " + address + "\n}\n"
	d := decodeChecks(t, src, nil)[0]
	if d.diags.HasErrors() {
		t.Fatalf("decode: %s", d.diags)
	}
	c, diags := registration(t).Build(d.val, d.env)
	return c, diags, src
}

func mustBuild(t testing.TB, address string) checks.Checker {
	t.Helper()
	c, diags, _ := build(t, `"`+address+`"`)
	if diags.HasErrors() || c == nil {
		t.Fatalf("build %s: checker %v, diags %s", address, c, diags)
	}
	return c
}

// acceptingListener accepts and closes connections until the test ends.
func acceptingListener(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_ = c.Close()
		}
	}()
	t.Cleanup(func() { _ = ln.Close(); <-done })
	return ln.Addr().String()
}

func wantCritical(t *testing.T, res checks.Result, parts ...string) {
	t.Helper()
	if res.Verdict() != checks.StatusCritical {
		t.Fatalf("verdict %s, want critical", res.Verdict())
	}
	t.Logf("error: %s", res.Error)
	for _, p := range parts {
		if !strings.Contains(res.Error, p) {
			t.Errorf("error %q does not contain %q", res.Error, p)
		}
	}
	if _, ok := res.Metrics[MetricLatency]; ok {
		t.Error("latency_ms reported for a failed connect")
	}
}

func TestSuccess(t *testing.T) {
	res := run(mustBuild(t, acceptingListener(t)), 5*time.Second)
	if res.Verdict() != checks.StatusPassing {
		t.Fatalf("verdict %s, error %q", res.Verdict(), res.Error)
	}
	if l, ok := res.Metrics[MetricLatency]; !ok || l <= 0 {
		t.Errorf("latency_ms %v, %v", l, ok)
	}
}

func TestRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	wantCritical(t, run(mustBuild(t, addr), 5*time.Second), "connection refused", addr)
}

func TestCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res := mustBuild(t, acceptingListener(t)).Check(ctx)
	wantCritical(t, res, "canceled")
}

func TestDeadlinePassed(t *testing.T) {
	// A deadline already in the past: the dial must not start, and the error
	// must say it timed out.
	ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Millisecond))
	defer cancel()
	res := mustBuild(t, acceptingListener(t)).Check(ctx)
	wantCritical(t, res, "timed out after 0s")
}

func TestBuildDiagnostics(t *testing.T) {
	tests := []struct{ address, summary, detail string }{
		{`"127.0.0.1"`, "Invalid address", "missing port"},
		{`"localhost:0"`, "Invalid port", `"0"`},
		{`"localhost:65536"`, "Invalid port", `"65536"`},
		{`"localhost:http"`, "Invalid port", `"http"`},
		{`":2379"`, "Address without a host", `"127.0.0.1:2379"`},
		{`"::1:80"`, "Invalid address", "too many colons"},
		{`""`, "Invalid address", ""},
	}
	for _, tt := range tests {
		t.Run(tt.address, func(t *testing.T) {
			c, diags, src := build(t, tt.address)
			if c != nil || len(diags) != 1 || !diags.HasErrors() {
				t.Fatalf("checker %v, diags %s; want one error", c, diags)
			}
			d := diags[0]
			if d.Summary != tt.summary || !strings.Contains(d.Detail, tt.detail) || !strings.HasSuffix(d.Detail, ".") {
				t.Errorf("diagnostic %q: %q; want %q containing %q", d.Summary, d.Detail, tt.summary, tt.detail)
			}
			if d.Subject == nil || d.Subject.Start.Line != 2 || src[d.Subject.Start.Byte:d.Subject.End.Byte] != tt.address {
				t.Errorf("subject %v, want the address value on line 2", d.Subject)
			}
		})
	}
}

func TestBuildValid(t *testing.T) {
	for _, addr := range []string{"127.0.0.1:1", "[::1]:65535", "etcd.internal:2379", "localhost:10250"} {
		mustBuild(t, addr)
	}
}

func TestBuildUnknownAndMissing(t *testing.T) {
	ctx := &hcl.EvalContext{Variables: map[string]cty.Value{"var": cty.ObjectVal(map[string]cty.Value{"a": cty.UnknownVal(cty.String)})}}
	d := decodeChecks(t, "check \"tcp\" \"t\" {\n  address = var.a\n}\n", ctx)[0]
	c, diags := registration(t).Build(d.val, d.env)
	if c != nil || len(diags) != 0 {
		t.Errorf("unknown address: checker %v, diags %s; want neither", c, diags)
	}

	if c, diags := registration(t).Build(cty.UnknownVal(hcldec.ImpliedType(Spec)), checks.Env{}); c != nil || len(diags) > 0 {
		t.Errorf("a wholly unknown body: checker %v, diags %s", c, diags)
	}

	d = decodeChecks(t, "check \"tcp\" \"t\" {\n}\n", nil)[0]
	if !d.diags.HasErrors() {
		t.Error("hcldec accepted a tcp check without address")
	}
	c, diags = registration(t).Build(d.val, d.env)
	if c != nil || !diags.HasErrors() {
		t.Errorf("missing address: checker %v, diags %s", c, diags)
	}
}

func TestSample(t *testing.T) {
	reg := registration(t)
	if reg.Sample == "" || reg.Doc == "" || len(reg.Result) != 0 {
		t.Fatalf("registration: sample %d bytes, doc %q, result %v", len(reg.Sample), reg.Doc, reg.Result)
	}
	ds := decodeChecks(t, reg.Sample, nil)
	if len(ds) == 0 {
		t.Fatal("sample has no check block")
	}
	for _, d := range ds {
		if d.diags.HasErrors() {
			t.Fatalf("decode sample: %s", d.diags)
		}
		if c, diags := reg.Build(d.val, d.env); c == nil || len(diags) > 0 {
			t.Errorf("sample at %s: checker %v, diags %s", d.env.Block, c, diags)
		}
	}
	if !reg.HasMetric(MetricLatency) {
		t.Error("latency_ms not declared")
	}
}

func TestDescribeTimeoutWithoutDeadline(t *testing.T) {
	// A net timeout that is not the run's deadline still says it timed out.
	err := &net.OpError{Op: "dial", Net: "tcp", Err: timeoutErr{}}
	msg := describe(context.Background(), err, "127.0.0.1:1", time.Now())
	if !strings.Contains(msg, "timed out") {
		t.Errorf("%q", msg)
	}
	if msg := describe(context.Background(), errors.New("boom"), "a:1", time.Now()); msg != "boom" {
		t.Errorf("%q", msg)
	}
}

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

func BenchmarkTCPCheck(b *testing.B) {
	c := mustBuild(b, acceptingListener(b))
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if res := c.Check(ctx); res.Error != "" {
			b.Fatal(res.Error)
		}
	}
}

// Shared with every check type's tests (checks/checktest).
var (
	run = checktest.Run
)
