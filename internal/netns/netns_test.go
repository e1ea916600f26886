package netns

import (
	"context"
	"os/exec"
	"strings"
	"testing"

	"github.com/satellite-hq/satellite/internal/testenv"
)

func TestLab(t *testing.T) {
	testenv.NeedRoot(t, "building network namespaces")
	ctx := context.Background()
	l, err := New(ctx, "satnt-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	for _, step := range []error{
		l.Add(ctx, "br"), l.Bridge(ctx, "br", "br0"),
		l.Add(ctx, "x"), l.Plug(ctx, "x", "eth0", "10.79.0.1/24", "br", "br0", "p-x"),
		l.Add(ctx, "y"), l.Plug(ctx, "y", "eth0", "10.79.0.2/24", "br", "br0", "p-y"),
	} {
		if step != nil {
			t.Fatal(step)
		}
	}
	out, err := l.Command(ctx, "x", "ip", "-4", "addr", "show", "eth0").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "10.79.0.1/24") {
		t.Fatalf("eth0 in x: %s %v", out, err)
	}
	if err := l.Drop(ctx, "x", "cut", "10.79.0.2"); err != nil {
		t.Fatal(err)
	}
	out, err = l.Command(ctx, "x", "nft", "list", "table", "inet", "cut").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "10.79.0.2 drop") {
		t.Fatalf("nft table: %s %v", out, err)
	}
	if err := l.Undrop(ctx, "x", "cut"); err != nil {
		t.Fatal(err)
	}
	if err := l.SetLink(ctx, "br", "p-y", false); err != nil {
		t.Fatal(err)
	}
	// A second lab with the same prefix purges the first's leftovers.
	if _, err := New(ctx, "satnt-"); err != nil {
		t.Fatal(err)
	}
	list, _ := exec.Command("ip", "netns", "list").Output()
	if strings.Contains(string(list), "satnt-") {
		t.Fatalf("leftovers not purged: %s", list)
	}
	l.names = nil
}
