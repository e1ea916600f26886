package engine

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	ctyjson "github.com/zclconf/go-cty/cty/json"

	"github.com/satellite-hq/satellite/dsl"
)

// fingerprintFmt is the fingerprint as it was written with fmt, one
// fingerprinter per check: the bytes fingerprint must keep.
func fingerprintFmt(c *compiler, ch *Check, body cty.Value) string {
	fp := &fingerprinter{h: sha256.New()}
	h := fp.h
	fp.field(ch.Address)
	fp.field(ch.Type)
	for i := range checkMetaArgs {
		checkMetaArgs[i].fingerprint(fp, ch)
	}
	ptr := func(f *float64) string {
		if f == nil {
			return "-"
		}
		return strconv.FormatFloat(*f, 'g', -1, 64)
	}
	for _, t := range ch.Thresholds {
		fmt.Fprintf(h, "t|%s|%v|%s|%s\n", t.Metric, t.Below, ptr(t.Warn), ptr(t.Crit))
	}
	for _, a := range ch.Asserts {
		fmt.Fprintf(h, "a|%s|%s\n", string(c.sourceBytes(a.Condition)), string(c.sourceBytes(a.ErrorMessage)))
	}
	if body.IsWhollyKnown() {
		if b, err := ctyjson.Marshal(body, body.Type()); err == nil {
			h.Write(b)
		}
	}
	if ch.evalCtx != nil {
		if each, ok := ch.evalCtx.Variables["each"]; ok && each.IsWhollyKnown() {
			if b, err := ctyjson.Marshal(each, each.Type()); err == nil {
				h.Write(b)
			}
		}
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// The fingerprints of a plan large enough to be computed in parallel, with
// one fingerprinter per worker reused from check to check, are those written
// with fmt, one check at a time.
func TestFingerprintsParallel(t *testing.T) {
	src := []byte("result.status_code == 200\n\"${result.body} is bad\"\n")
	cond, d1 := hclsyntax.ParseExpression(src[:25], "a.hcl", hcl.InitialPos)
	msg, d2 := hclsyntax.ParseExpression(src[26:], "a.hcl", hcl.Pos{Line: 2, Column: 1, Byte: 26})
	if d1.HasErrors() || d2.HasErrors() {
		t.Fatal(d1, d2)
	}
	c := &compiler{cfg: &dsl.Config{Files: map[string]*hcl.File{"a.hcl": {Bytes: src}}}, plan: &Plan{}}
	base := &hcl.EvalContext{}
	n := 2*parallelFingerprints + 3
	for i := range n {
		warn, crit := float64(i)/3, float64(i)
		ch := &Check{
			Address: fmt.Sprintf("tcp.c%04d", i), Type: "tcp",
			Interval: time.Duration(10+i%7) * time.Second, Timeout: time.Second,
			Labels:                 map[string]string{"team": "t" + strconv.Itoa(i%5), "file": "f", "z": strconv.Itoa(i)},
			FailuresBeforeCritical: 1 + i%3, SuccessesBeforePassing: 1,
			evalCtx: base,
			body: cty.ObjectVal(map[string]cty.Value{
				"address": cty.StringVal(fmt.Sprintf("127.0.0.1:%d", 9000+i)),
				"port":    cty.NumberIntVal(int64(9000 + i)),
			}),
		}
		if i%3 == 0 {
			ch.OnlyOn = map[string]string{"role": "master"}
		}
		if i%4 == 0 {
			ch.DependsOn = []string{fmt.Sprintf("tcp.c%04d", i-1)}
			ch.Sinks = []string{"influxdb.tsdb"}
		}
		if i%2 == 0 {
			ch.Thresholds = []Threshold{{Metric: "latency_ms", Warn: &warn, Crit: &crit, Below: i%6 == 0}, {Metric: "x", Crit: &crit}}
			ch.Asserts = []Assert{{Condition: cond, ErrorMessage: msg}, {Condition: cond}}
		}
		if i%5 == 0 {
			ch.evalCtx = base.NewChild()
			ch.evalCtx.Variables = map[string]cty.Value{"each": cty.ObjectVal(map[string]cty.Value{"key": cty.StringVal("k"), "value": cty.NumberIntVal(int64(i))})}
		}
		if i == 7 {
			ch.body = cty.NilVal // not decoded: no fingerprint
		}
		c.plan.Checks = append(c.plan.Checks, ch)
	}
	bodies := map[*Check]cty.Value{}
	for _, ch := range c.plan.Checks {
		bodies[ch] = ch.body
	}
	c.fingerprints()
	seen := map[string]bool{}
	for _, ch := range c.plan.Checks {
		if ch.body != cty.NilVal {
			t.Fatalf("%s: the decoded body is still held after its fingerprint", ch.Address)
		}
		want := ""
		if body := bodies[ch]; body != cty.NilVal {
			want = fingerprintFmt(c, ch, body)
		}
		if ch.Fingerprint != want {
			t.Fatalf("%s: fingerprint %q, want %q", ch.Address, ch.Fingerprint, want)
		}
		if want != "" && seen[want] {
			t.Fatalf("%s: fingerprint %q repeated", ch.Address, want)
		}
		seen[want] = true
	}
}
