package clockcheck

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/zclconf/go-cty/cty"

	"github.com/satellite-hq/satellite/checks"
)

func build(t *testing.T, body string) *Checker {
	t.Helper()
	return mustCheck(t, "check \"clock\" \"t\" {\n"+body+"\n}\n", "clock.t").Checker.(*Checker)
}

func alive(names ...string) []checks.Peer {
	out := make([]checks.Peer, len(names))
	for i, n := range names {
		out[i] = checks.Peer{Name: n, Status: "alive"}
	}
	return out
}

func clockSample(peer string, offset time.Duration) checks.ClockSample {
	return checks.ClockSample{Peer: peer, Offset: offset, RTT: 2 * time.Millisecond}
}

func TestBuild(t *testing.T) {
	for body, want := range map[string]time.Duration{
		``:                    DefaultMaxDrift,
		`max_drift = "250ms"`: 250 * time.Millisecond,
		`max_drift = 0.5`:     500 * time.Millisecond,
		`max_drift = "0s"`:    0,
	} {
		if c := build(t, body); c.maxDrift != want {
			t.Errorf("%s: max_drift %s, want %s", body, c.maxDrift, want)
		}
	}
	for _, tc := range []struct{ attr, detail string }{
		{`max_drift = "soon"`, `"soon" is not a duration`},
		{`max_drift = "-1s"`, `"-1s" is negative`},
		{`max_drift = true`, `a duration must be a string like "30s", not bool`},
	} {
		src := "check \"clock\" \"t\" {\n  " + tc.attr + " # <-\n}\n"
		_, diags := compile(t, src, false)
		wantDiag(t, src, diags, "Invalid duration", tc.detail)
	}
}

func TestNoMesh(t *testing.T) {
	wantCritical(t, run(build(t, ""), time.Second), checks.ErrNoMesh.Error())
}

func TestNoAlivePeer(t *testing.T) {
	m := &fakeMesh{peers: []checks.Peer{{Name: "node-b", Status: "failed"}}}
	res := build(t, "").Check(withMesh(m))
	wantCritical(t, res, "no peer to compare the clock with: no other member of the mesh is alive")
	if m.calls.Load() != 0 {
		t.Error("queried with no alive peer")
	}
	if res.Metrics[MetricPeers] != 0 || res.Attrs["worst_peer"].AsString() != "" {
		t.Errorf("%v %v", res.Metrics, res.Attrs)
	}
}

func TestDrift(t *testing.T) {
	m := &fakeMesh{peers: alive("node-a", "node-b", "node-c", "node-d"), samples: []checks.ClockSample{
		clockSample("node-a", 3*time.Millisecond), clockSample("node-b", -700*time.Millisecond), clockSample("node-c", 12500*time.Microsecond),
	}}
	res := build(t, "").Check(withMesh(m))
	wantPassing(t, res) // 700ms is within the default 1s
	if res.Metrics[MetricDriftMax] != 700 || res.Metrics[MetricPeers] != 3 {
		t.Errorf("metrics %v", res.Metrics)
	}
	if got := res.Attrs["worst_peer"]; got != cty.StringVal("node-b") {
		t.Errorf("worst_peer %#v", got)
	}
	offsets := res.Attrs["offsets_ms"].AsValueMap()
	if len(offsets) != 3 || !offsets["node-b"].RawEquals(cty.NumberFloatVal(-700)) || !offsets["node-c"].RawEquals(cty.NumberFloatVal(12.5)) {
		t.Errorf("offsets_ms %#v", offsets)
	}
	if want := "node-b -700.0ms (delay 2.0ms), node-c +12.5ms (delay 2.0ms), node-a +3.0ms (delay 2.0ms); 1 alive peer(s) did not answer"; res.Detail != want {
		t.Errorf("detail %q\nwant   %q", res.Detail, want)
	}
	reg, _ := checks.Lookup(Type)
	if got := reg.ResultValue(res, 0); !got.Type().Equals(reg.ResultType()) {
		t.Errorf("result type %#v", got.Type())
	}

	wantCritical(t, build(t, `max_drift = "500ms"`).Check(withMesh(m)),
		"the clock of node-b is -700.0ms off ours, more than max_drift = 500ms")
	// 0 leaves it to thresholds.
	m.samples = append(m.samples, clockSample("node-d", time.Hour))
	wantPassing(t, build(t, `max_drift = "0s"`).Check(withMesh(m)))
}

func TestNoAnswer(t *testing.T) {
	m := &fakeMesh{peers: alive("node-b", "node-c")}
	wantCritical(t, build(t, "").Check(withMesh(m)), "none of 2 alive peer(s) answered the clock request")

	// The mesh says why (mesh.Mesh.Clocks's wording).
	m.err = errors.New("node-b, node-c: no /v1/peer/clock (404): an older satellite version, measured once upgraded")
	wantCritical(t, build(t, "").Check(withMesh(m)),
		"no peer's clock was read: node-b, node-c: no /v1/peer/clock (404): an older satellite version, measured once upgraded")

	// Some were read: judged on those, and the rest's reason in the detail.
	m.samples = []checks.ClockSample{clockSample("node-b", time.Millisecond)}
	m.err = errors.New("node-c: no answer within 2s")
	res := build(t, "").Check(withMesh(m))
	wantPassing(t, res)
	if want := "node-b +1.0ms (delay 2.0ms); 1 alive peer(s) did not answer; node-c: no answer within 2s"; res.Detail != want {
		t.Errorf("detail %q", res.Detail)
	}
}

// Nobody answers: the run ends with the check's timeout and says so.
func TestTimeout(t *testing.T) {
	m := &fakeMesh{peers: alive("node-b"), block: true}
	ctx, cancel := checks.WithTimeout(withMesh(m), 50*time.Millisecond)
	defer cancel()
	res := build(t, "").Check(ctx)
	wantCritical(t, res, "no peer's clock was read: timed out after 50ms")

	ctx, cancel = context.WithCancel(withMesh(m))
	cancel()
	wantCritical(t, build(t, "").Check(ctx), "canceled")
}

// Through the engine: the sample's thresholds judge the metrics.
func TestEngineVerdict(t *testing.T) {
	reg, _ := checks.Lookup(Type)
	plan, diags := compile(t, reg.Sample, false)
	if len(diags) > 0 {
		t.Fatal(diags)
	}
	c, _ := plan.Check("clock.drift")
	m := &fakeMesh{peers: alive("node-b", "node-c"), samples: []checks.ClockSample{clockSample("node-b", 150*time.Millisecond)}}
	v := c.Evaluate(c.Checker.Check(withMesh(m)), 0)
	if v.Status != checks.StatusCritical || v.Error != "drift_ms_max 150 is above the warning threshold 50; peers 1 is below the critical threshold 2" {
		t.Errorf("%+v", v)
	}
	m.samples = append(m.samples, clockSample("node-c", -20*time.Millisecond))
	m.samples[0].Offset = 20 * time.Millisecond
	if v := c.Evaluate(c.Checker.Check(withMesh(m)), 0); v.Status != checks.StatusPassing {
		t.Errorf("%+v", v)
	}
}
