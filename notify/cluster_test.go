package notify_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/satellite-hq/satellite/notify"
)

// clusterRig is several members' Cluster in one test: each has its own
// view of the membership, the gossip reaches the members of its side, and
// every alert sent is recorded with its sender. No mesh runs: the views are
// set by the test (the agent tests run real meshes).
type clusterRig struct {
	t     *testing.T
	names []string
	cs    map[string]*notify.Cluster
	mu    sync.Mutex
	// view[n] is what n sees: name -> status ("" when n does not see it).
	view map[string]map[string]string
	side map[string]int
	sent []string // "sender: key state"
	now  time.Time
}

func newClusterRig(t *testing.T, names ...string) *clusterRig {
	r := &clusterRig{t: t, names: names, cs: map[string]*notify.Cluster{}, view: map[string]map[string]string{},
		side: map[string]int{}, now: time.Unix(1_800_000_000, 0)}
	for _, n := range names {
		r.view[n] = map[string]string{}
		for _, m := range names {
			r.view[n][m] = "alive"
		}
	}
	for _, n := range names {
		r.start(n, t.TempDir())
	}
	return r
}

func (r *clusterRig) start(n, dir string) {
	c, err := notify.NewCluster(notify.ClusterOptions{
		Node: n, DataDir: dir, RolloutTimeout: time.Hour, StartGrace: time.Nanosecond,
		Members: func() []notify.ClusterMember {
			r.mu.Lock()
			defer r.mu.Unlock()
			var out []notify.ClusterMember
			for m, st := range r.view[n] {
				if st != "" {
					out = append(out, notify.ClusterMember{Name: m, Status: st, ConfigHash: "h1"})
				}
			}
			return out
		},
		Publish: func(b []byte) error {
			r.mu.Lock()
			var to []*notify.Cluster
			for _, m := range r.names {
				if r.side[m] == r.side[n] && r.view[n][m] == "alive" && r.cs[m] != nil {
					to = append(to, r.cs[m])
				}
			}
			r.mu.Unlock()
			for _, c := range to {
				c.Receive(b)
			}
			return nil
		},
		Send: func(a notify.Alert) {
			r.mu.Lock()
			r.sent = append(r.sent, fmt.Sprintf("%s: %s %s", n, a.Key, a.State))
			r.mu.Unlock()
		},
	})
	if err != nil {
		r.t.Fatal(err)
	}
	r.cs[n] = c
}

// set makes every member of who see name as st.
func (r *clusterRig) set(name, st string, who ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, w := range who {
		r.view[w][name] = st
	}
}

// run judges every running member's view each 2s for d.
func (r *clusterRig) run(d time.Duration, running ...string) {
	for end := r.now.Add(d); r.now.Before(end); r.now = r.now.Add(2 * time.Second) {
		for _, n := range running {
			r.cs[n].Judge(r.now)
		}
	}
}

// sentFor lists what was sent about key, as "sender state".
func (r *clusterRig) sentFor(key string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, s := range r.sent {
		sender, rest, _ := strings.Cut(s, ": ")
		k, st, _ := strings.Cut(rest, " ")
		if k == key {
			out = append(out, sender+" "+st)
		}
	}
	return out
}

func stateList(ss []string) string {
	var out []string
	for _, s := range ss {
		_, st, _ := strings.Cut(s, " ")
		out = append(out, st)
	}
	return strings.Join(out, ",")
}

func TestClusterFailedMemberIsToldOnceAndResolvedOnce(t *testing.T) {
	r := newClusterRig(t, "a", "b", "c")
	r.set("c", "failed", "a", "b")
	r.run(40*time.Second, "a", "b")
	got := r.sentFor("cluster/member/c")
	if stateList(got) != "problem" {
		t.Fatalf("c failed: sent %v, want one problem", got)
	}
	r.set("c", "alive", "a", "b")
	r.run(40*time.Second, "a", "b", "c")
	got = r.sentFor("cluster/member/c")
	if stateList(got) != "problem,resolved" {
		t.Fatalf("c back: sent %v, want one problem and one recovery", got)
	}
	if len(r.sent) != 2 {
		t.Errorf("sent %v, want nothing else", r.sent)
	}
}

// The owner of an open alert is killed: the member ranked next resolves it
// later, and the problem is not sent again.
func TestClusterNewOwnerResolvesAndDoesNotResend(t *testing.T) {
	r := newClusterRig(t, "a", "b", "c", "d", "e")
	all := []string{"a", "b", "c", "d", "e"}
	r.set("e", "failed", "a", "b", "c", "d")
	r.run(20*time.Second, "a", "b", "c", "d")
	first := r.sentFor("cluster/member/e")
	if len(first) != 1 {
		t.Fatalf("e failed: sent %v", first)
	}
	owner, _, _ := strings.Cut(first[0], " ")
	var rest []string
	for _, n := range all[:4] {
		if n != owner {
			rest = append(rest, n)
		}
	}
	r.set(owner, "failed", rest...) // the owner is killed
	r.run(60*time.Second, rest...)
	r.set("e", "alive", rest...)
	r.run(60*time.Second, rest...)
	got := r.sentFor("cluster/member/e")
	if stateList(got) != "problem,resolved" {
		t.Fatalf("sent about e: %v, want one problem (by %s) and one recovery", got, owner)
	}
	if by, _, _ := strings.Cut(got[1], " "); by == owner {
		t.Errorf("the recovery came from the dead owner %s", owner)
	}
	if got := r.sentFor("cluster/member/" + owner); stateList(got) != "problem" {
		t.Errorf("sent about the dead owner %s: %v, want one problem", owner, got)
	}
}

// A 2-versus-1 partition: the majority tells of the unreachable node once,
// the minority sends one "partitioned" alert and nothing about the others;
// healed, each is resolved once.
func TestClusterPartition(t *testing.T) {
	r := newClusterRig(t, "a", "b", "c")
	r.mu.Lock()
	r.side["c"] = 1
	r.mu.Unlock()
	r.set("c", "failed", "a", "b")
	r.set("a", "failed", "c")
	r.set("b", "failed", "c")
	r.run(40*time.Second, "a", "b", "c")
	if got := r.sentFor("cluster/member/c"); stateList(got) != "problem" {
		t.Errorf("majority about c: %v", got)
	}
	if got := r.sentFor("cluster/partition"); len(got) != 1 || !strings.HasPrefix(got[0], "c ") {
		t.Errorf("partitioned: %v, want one, from c", got)
	}
	for _, n := range []string{"a", "b"} {
		if got := r.sentFor("cluster/member/" + n); len(got) != 0 {
			t.Errorf("the minority told of %s: %v", n, got)
		}
	}
	// Healed: the sides' logs merge (serf's push-pull replays the events).
	r.mu.Lock()
	r.side["c"] = 0
	r.mu.Unlock()
	for _, from := range []string{"a", "c"} {
		for k, e := range r.cs[from].Entries() {
			b := fmt.Sprintf(`{"k":%q,"s":%q,"v":%q,"t":%d,"b":%q}`, k, e.State, e.Severity, e.Time, e.By)
			for _, to := range []string{"a", "b", "c"} {
				r.cs[to].Receive([]byte(b))
			}
		}
	}
	r.set("c", "alive", "a", "b")
	r.set("a", "alive", "c")
	r.set("b", "alive", "c")
	r.run(40*time.Second, "a", "b", "c")
	if got := r.sentFor("cluster/member/c"); stateList(got) != "problem,resolved" {
		t.Errorf("after the heal, about c: %v", got)
	}
	if got := r.sentFor("cluster/partition"); stateList(got) != "problem,resolved" {
		t.Errorf("after the heal, partition: %v", got)
	}
	if len(r.sent) != 4 {
		t.Errorf("sent %v, want 4 in all", r.sent)
	}
}

func TestClusterLogSurvivesARestart(t *testing.T) {
	dir := t.TempDir()
	r := newClusterRig(t, "a", "b", "c")
	r.start("a", dir) // a on a known dir
	r.set("c", "failed", "a", "b")
	r.run(40*time.Second, "a", "b")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r.cs["a"].Run(ctx) // saves on its way out
	again, err := notify.NewCluster(notify.ClusterOptions{Node: "a", DataDir: dir, Members: func() []notify.ClusterMember { return nil }, Send: func(notify.Alert) {}})
	if err != nil {
		t.Fatal(err)
	}
	if e := again.Entries(); len(e) != 1 || e["cluster/member/c"].State != notify.StateProblem {
		t.Fatalf("the log after a restart: %+v", e)
	}
}

func TestClusterReceiveRefusesMalformed(t *testing.T) {
	r := newClusterRig(t, "a", "b")
	for _, b := range []string{``, `{`, `{"k":"member/x","s":"problem","t":1,"b":"z"}`, `{"k":"cluster/x","s":"bogus","t":1,"b":"z"}`,
		`{"k":"cluster/x","s":"problem","t":1}`, `[1,2]`, `{"k":"cluster/` + strings.Repeat("x", 300) + `","s":"problem","t":1,"b":"z"}`} {
		r.cs["a"].Receive([]byte(b))
	}
	if e := r.cs["a"].Entries(); len(e) != 0 {
		t.Errorf("malformed entries were taken: %+v", e)
	}
}
