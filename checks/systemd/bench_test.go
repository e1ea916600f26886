package systemdcheck

import (
	"context"
	"path/filepath"
	"testing"
)

// BenchmarkCheck measures one run. dbus: the usual path, against a real
// dbus-daemon with the stand-in manager (two connections, the handshake,
// Hello, one call). systemctl: the fallback, with a shell script in place
// of systemctl (a fork and exec, as the real one costs). memory: the
// decision alone.
func BenchmarkCheck(b *testing.B) {
	ctx := context.Background()
	b.Run("dbus/units", func(b *testing.B) {
		sock, _ := startBus(b, captured())
		c := newChecker([]string{"containerd.service", "-.mount"}, nil).at(sock, missingPath(b, "systemctl"))
		bench(ctx, b, c)
	})
	b.Run("dbus/failed", func(b *testing.B) {
		m := captured()
		m.failed = nil
		sock, _ := startBus(b, m)
		bench(ctx, b, newChecker(nil, nil).at(sock, missingPath(b, "systemctl")))
	})
	b.Run("systemctl/units", func(b *testing.B) {
		one, _ := filepath.Abs(filepath.Join("testdata", "show-one.txt"))
		dir := fakeSystemctl(b, "exec cat '"+one+"'\n")
		bench(ctx, b, newChecker([]string{"containerd.service"}, nil).at(missingPath(b, "bus"), filepath.Join(dir, "systemctl")))
	})
	b.Run("memory/units", func(b *testing.B) {
		bench(ctx, b, &Checker{units: []string{"kubelet.service", "containerd.service"}, bus: node})
	})
}

func bench(ctx context.Context, b *testing.B, c *Checker) {
	b.ReportAllocs()
	for b.Loop() {
		if res := c.Check(ctx); res.Error != "" {
			b.Fatal(res.Error)
		}
	}
}
