package all

import (
	"testing"

	"github.com/satellite-hq/satellite/checks"
)

func TestBuiltinsRegistered(t *testing.T) {
	for _, typ := range []string{"clock", "container", "disk", "disk_latency", "dns", "exec", "file", "heartbeat", "http", "kernel_module", "load", "memory", "metrics", "peers", "process", "sysctl", "systemd", "tcp", "tls"} {
		reg, ok := checks.Lookup(typ)
		if !ok {
			t.Errorf("check type %q is not registered", typ)
			continue
		}
		if reg.Sample == "" || reg.Doc == "" {
			t.Errorf("check type %q lacks a sample or a doc line", typ)
		}
	}
}
