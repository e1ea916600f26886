package mesh

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"
)

// App events reach every member (the sender too); app state is read from
// another member over the peer endpoint, through the peer token when the
// mesh is encrypted; an over-long event is refused.
func TestAppEventsAndState(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	got := map[string][]string{}
	_, key := mustKey(t)
	edit := func(name string) func(*Config) {
		return func(c *Config) {
			c.EncryptKey = key
			c.OnApp = func(kind string, p []byte) {
				mu.Lock()
				got[name] = append(got[name], kind+":"+string(p))
				mu.Unlock()
			}
			c.AppState = func(kind string) ([]byte, bool) {
				if kind != "nlog" {
					return nil, false
				}
				return []byte(`{"from":"` + name + `"}`), true
			}
		}
	}
	a := startNode(t, "app-a", addr(93, 1), edit("app-a"))
	b := startNode(t, "app-b", addr(93, 2), func(c *Config) { edit("app-b")(c); c.Join = []string{gossip(addr(93, 1))} })
	waitFor(t, 10*time.Second, "two members", func() bool { return a.aliveCount() == 2 && b.aliveCount() == 2 })

	if err := a.m.PublishApp("nlog", []byte(`{"k":"x"}`)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the event on both", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got["app-a"]) == 1 && len(got["app-b"]) == 1 && got["app-b"][0] == `nlog:{"k":"x"}`
	})
	if err := a.m.PublishApp("nlog", []byte(strings.Repeat("x", MaxAppPayload("nlog")+1))); err == nil {
		t.Error("an over-long app event was taken")
	}
	st, err := b.m.ReadApp(context.Background(), "nlog")
	if err != nil || string(st) != `{"from":"app-a"}` {
		t.Fatalf("ReadApp = %q, %v", st, err)
	}
	if _, err := b.m.ReadApp(context.Background(), "nope"); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("ReadApp of an unknown kind: %v", err)
	}
}
