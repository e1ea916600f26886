package silence

import (
	"strings"
	"testing"
	"time"
)

// FuzzDecode feeds Decode what a hostile or broken peer may send: it must
// never panic, and what it takes must be a valid silence that encodes
// within the bound and decodes to itself.
func FuzzDecode(f *testing.F) {
	s := valid()
	b, _ := Encode(s)
	f.Add(b)
	s.Version, s.ExpiredAt, s.Reason = 7, t0.Add(time.Minute), `quotes " and \ and ünïcode`
	b, _ = Encode(s)
	f.Add(b)
	for _, seed := range []string{
		``, `{}`, `null`, `[]`, `{"i":1}`, `{"t":-1,"e":1e300,"v":-0}`,
		strings.Repeat(`{"i":`, 100),
		`{"i":"0123456789abcdef","n":"[","c":"*","a":"a","r":"r","t":1795608000,"e":1795615200,"v":1}`,
		`{"i":"0123456789abcdef","n":"*","c":"*","a":"a","r":"\ud800","t":1795608000,"e":1795615200,"v":1,"x":1795608000}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		got, err := Decode(in)
		if err != nil {
			return
		}
		if err := got.Validate(); err != nil {
			t.Fatalf("Decode took an invalid silence: %v", err)
		}
		out, err := Encode(got)
		if err != nil || len(out) > MaxEncoded {
			t.Fatalf("%d bytes, %v", len(out), err)
		}
		again, err := Decode(out)
		if err != nil || again != got {
			t.Fatalf("round trip: %+v %v\nwas %+v", again, err, got)
		}
	})
}
