package peerscheck

import (
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/zclconf/go-cty/cty"

	"github.com/satellite-hq/satellite/checks"
)

func build(t *testing.T, body string) *Checker {
	t.Helper()
	return mustCheck(t, "check \"peers\" \"t\" {\n"+body+"\n}\n", "peers.t").Checker.(*Checker)
}

func peer(name, status string, rtt time.Duration) checks.Peer {
	return checks.Peer{Name: name, Status: status, RTT: rtt, HasRTT: rtt > 0}
}

// fiveMembers: three alive (one without a coordinate yet), one failed, one
// that left cleanly.
var fiveMembers = fakeMesh{peers: []checks.Peer{
	peer("node-c", "alive", 12*time.Millisecond),
	peer("node-a", "alive", 3*time.Millisecond),
	peer("node-e", "alive", 0),
	peer("node-d", "failed", 40*time.Millisecond),
	peer("node-b", "left", 0),
}}

func strs(v cty.Value) []string {
	var out []string
	for it := v.ElementIterator(); it.Next(); {
		_, e := it.Element()
		out = append(out, e.AsString())
	}
	return out
}

func TestBuild(t *testing.T) {
	if c := build(t, ""); c.minAlive != DefaultMinAlive {
		t.Errorf("default min_alive %d", c.minAlive)
	}
	if c := build(t, "min_alive = 0"); c.minAlive != 0 {
		t.Errorf("min_alive %d", c.minAlive)
	}
	for _, tc := range []struct{ attr, summary, detail string }{
		{`min_alive = -1`, "Invalid min_alive", "min_alive must be 0 or more, not -1"},
		{`min_alive = 1.5`, "Invalid number", `"min_alive" must be a whole number, not 1.5`},
		{`min_alive = "two"`, "Incorrect attribute value type", "a number is required"},
	} {
		src := "check \"peers\" \"t\" {\n  " + tc.attr + " # <-\n}\n"
		_, diags := compile(t, src, false)
		wantDiag(t, src, diags, tc.summary, tc.detail)
	}
	// An unknown value (validate --unknown-env): no error, no checker.
	plan, diags := compile(t, "check \"peers\" \"t\" {\n  min_alive = tonumber(env(\"N\"))\n}\n", true)
	if len(diags) > 0 {
		t.Fatal(diags)
	}
	if c, _ := plan.Check("peers.t"); c.Checker != nil {
		t.Error("a checker from an unknown min_alive")
	}
}

func TestNoMesh(t *testing.T) {
	res := build(t, "").Check(context.Background())
	wantCritical(t, res, checks.ErrNoMesh.Error())
}

func TestCounts(t *testing.T) {
	c := build(t, "min_alive = 3")
	res := c.Check(withMesh(fiveMembers))
	wantPassing(t, res)
	want := map[string]float64{MetricAlive: 3, MetricFailed: 1, MetricRTTMax: 12}
	if !reflect.DeepEqual(res.Metrics, want) {
		t.Errorf("metrics %v, want %v", res.Metrics, want)
	}
	if got := strs(res.Attrs["alive_peers"]); !reflect.DeepEqual(got, []string{"node-a", "node-c", "node-e"}) {
		t.Errorf("alive_peers %q", got)
	}
	if got := strs(res.Attrs["failed_peers"]); !reflect.DeepEqual(got, []string{"node-d"}) {
		t.Errorf("failed_peers %q", got)
	}
	if res.Detail != "failed: node-d" {
		t.Errorf("detail %q", res.Detail)
	}
	reg, _ := checks.Lookup(Type)
	if got := reg.ResultValue(res, 0); !got.Type().Equals(reg.ResultType()) {
		t.Errorf("result type %#v, want %#v", got.Type(), reg.ResultType())
	}
}

func TestTooFewAlive(t *testing.T) {
	res := build(t, "min_alive = 4").Check(withMesh(fiveMembers))
	wantCritical(t, res, "3 other member(s) alive, fewer than min_alive = 4", "failed: node-d")

	// Alone in the mesh, with the default: critical, and no rtt metric.
	res = build(t, "").Check(withMesh(fakeMesh{}))
	wantCritical(t, res, "0 other member(s) alive, fewer than min_alive = 1")
	if _, ok := res.Metrics[MetricRTTMax]; ok || res.Metrics[MetricAlive] != 0 {
		t.Errorf("metrics %v", res.Metrics)
	}
	if res.Attrs["failed_peers"].LengthInt() != 0 {
		t.Errorf("failed_peers %#v", res.Attrs["failed_peers"])
	}
	// min_alive = 0 only reports.
	wantPassing(t, build(t, "min_alive = 0").Check(withMesh(fakeMesh{})))
}

func TestManyFailedNamed(t *testing.T) {
	var m fakeMesh
	for i := range 12 {
		m.peers = append(m.peers, peer(string(rune('a'+i)), "failed", 0))
	}
	res := build(t, "").Check(withMesh(m))
	wantCritical(t, res, "failed: a, b, c, d, e, f, g, h, i, j and 2 more")
	if res.Attrs["failed_peers"].LengthInt() != 12 {
		t.Errorf("failed_peers has %d", res.Attrs["failed_peers"].LengthInt())
	}
}

func TestCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(withMesh(fiveMembers))
	cancel()
	wantCritical(t, build(t, "").Check(ctx), "peers: canceled")
}

// Through the engine: the sample's thresholds and assert see the metrics
// and the result attributes.
func TestEngineVerdict(t *testing.T) {
	reg, _ := checks.Lookup(Type)
	plan, diags := compile(t, reg.Sample, false)
	if len(diags) > 0 {
		t.Fatal(diags)
	}
	mesh, _ := plan.Check("peers.mesh")
	res := mesh.Checker.Check(withMesh(fiveMembers))
	if v := mesh.Evaluate(res, 0); v.Status != checks.StatusWarning || v.Error != "failed 1 is above the warning threshold 0" {
		t.Errorf("mesh: %+v", v)
	}
	masters, _ := plan.Check("peers.masters")
	res = masters.Checker.Check(withMesh(fiveMembers))
	if v := masters.Evaluate(res, 0); v.Status != checks.StatusCritical || v.Error != "members failed: node-d" {
		t.Errorf("masters: %+v", v)
	}
}

// One run against a 1,000-member mesh.
func BenchmarkCheck1000(b *testing.B) {
	var m fakeMesh
	for i := range 1000 {
		st := "alive"
		if i%50 == 0 {
			st = "failed"
		}
		m.peers = append(m.peers, peer(fmt.Sprintf("node-%04d", (i*7919)%1000), st, time.Duration(i)*time.Microsecond))
	}
	c := &Checker{minAlive: 1}
	ctx := withMesh(m)
	b.ReportAllocs()
	for b.Loop() {
		if res := c.Check(ctx); res.Verdict() != checks.StatusPassing {
			b.Fatal(res.Error)
		}
	}
}
