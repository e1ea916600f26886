package checks

import (
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/zclconf/go-cty/cty"
)

func testRegistration(metrics ...string) *Registration {
	return &Registration{
		Type:    "test",
		Spec:    &hcldec.ObjectSpec{},
		Metrics: metrics,
		Result:  map[string]cty.Type{"extra": cty.String},
		Build:   func(cty.Value, Env) (Checker, hcl.Diagnostics) { return nil, nil },
	}
}

// result.duration_ms is the time the scheduler measured, not anything the
// checker says; a type's own duration_ms metric takes its place.
func TestResultValueDuration(t *testing.T) {
	reg := testRegistration("latency_ms")
	res := Result{Error: "boom", Metrics: map[string]float64{"latency_ms": 12}}
	v := reg.ResultValue(res, 1500*time.Microsecond)
	if !v.Type().Equals(reg.ResultType()) {
		t.Fatalf("type %#v, want %#v", v.Type(), reg.ResultType())
	}
	if got, _ := v.GetAttr("duration_ms").AsBigFloat().Float64(); got != 1.5 {
		t.Errorf("duration_ms %v, want 1.5", got)
	}
	if got, _ := v.GetAttr("latency_ms").AsBigFloat().Float64(); got != 12 {
		t.Errorf("latency_ms %v", got)
	}
	if v.GetAttr("status").AsString() != string(StatusCritical) || v.GetAttr("error").AsString() != "boom" || !v.GetAttr("extra").IsNull() {
		t.Errorf("result %#v", v)
	}
	if got, _ := reg.ResultValue(Result{}, 0).GetAttr("duration_ms").AsBigFloat().Float64(); got != 0 {
		t.Errorf("duration_ms %v for no time", got)
	}

	own := testRegistration("duration_ms")
	v = own.ResultValue(Result{Metrics: map[string]float64{"duration_ms": 7}}, time.Second)
	if got, _ := v.GetAttr("duration_ms").AsBigFloat().Float64(); got != 7 {
		t.Errorf("duration_ms %v, want the type's own metric 7", got)
	}
}
