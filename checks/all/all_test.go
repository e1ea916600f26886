package all

import (
	"testing"

	"github.com/satellite-hq/satellite/checks"
)

func TestBuiltinsRegistered(t *testing.T) {
	for _, typ := range []string{"http", "tcp"} {
		reg, ok := checks.Lookup(typ)
		if !ok {
			t.Errorf("check type %q is not registered", typ)
			continue
		}
		if reg.Sample == "" || reg.Doc == "" || len(reg.Metrics) == 0 {
			t.Errorf("check type %q lacks a sample, doc or metrics", typ)
		}
	}
}
