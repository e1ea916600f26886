package sqlite

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"strconv"
	"testing"
)

// The JSON written without reflection is byte for byte what encoding/json
// writes, and keys or values it would escape go through encoding/json.
func TestPlainJSONMatchesEncodingJSON(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	floats := []float64{0, math.Copysign(0, -1), 1, -1, 0.1, 1.5, 200, 1e-6, 9.99e-7, 1e-7, 1e20, 1e21, 1.5e300, -2.5e-300,
		math.MaxFloat64, math.SmallestNonzeroFloat64, 123456789.123, math.NaN(), math.Inf(1), math.Inf(-1)}
	for range 2000 {
		switch rng.IntN(3) {
		case 0:
			floats = append(floats, rng.NormFloat64()*math.Pow(10, float64(rng.IntN(60)-30)))
		case 1:
			floats = append(floats, math.Float64frombits(rng.Uint64()))
		default:
			floats = append(floats, float64(rng.IntN(100000))/float64(1+rng.IntN(1000)))
		}
	}
	for i := 0; i < len(floats); i += 3 {
		m := map[string]float64{}
		for j, f := range floats[i:min(i+3, len(floats))] {
			m["metric_"+strconv.Itoa(j)] = f
		}
		got, ok := plainMetricsJSON(m)
		want, err := marshalMetrics(m)
		if !ok || err != nil || got != want {
			t.Fatalf("%v: plain %q (%v), encoding/json %q (%v)", m, got, ok, want, err)
		}
	}
	for _, k := range []string{`a"b`, `a\b`, "<", ">", "&", "\n", "é", "\u2028", "\xff"} {
		if _, ok := plainMetricsJSON(map[string]float64{k: 1}); ok {
			t.Errorf("metric key %q: want encoding/json", k)
		}
		if _, ok := plainLabelsJSON(map[string]string{"k": k}); ok {
			t.Errorf("label value %q: want encoding/json", k)
		}
		m := map[string]string{k: k, "team": "core"}
		got, err := labelsJSON(m)
		want, _ := json.Marshal(m)
		if err != nil || got != string(want) {
			t.Errorf("labels %q: %q, want %q", m, got, want)
		}
	}
	m := map[string]string{"team": "core", "env": "prod", "a-b.c/d": "x y:z", "": ""}
	got, ok := plainLabelsJSON(m)
	want, _ := json.Marshal(m)
	if !ok || got != string(want) {
		t.Errorf("labels: %q, want %q", got, want)
	}
}
