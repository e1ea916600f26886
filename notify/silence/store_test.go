package silence

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// clock is a settable clock for a store.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// changes records what OnChange was told.
type changes struct {
	mu  sync.Mutex
	got []Silence
}

func (c *changes) add(s Silence) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.got = append(c.got, s)
}

func (c *changes) take() []Silence {
	c.mu.Lock()
	defer c.mu.Unlock()
	got := c.got
	c.got = nil
	return got
}

func open(t *testing.T, dir string, c *clock, ch *changes) *Store {
	t.Helper()
	opts := Options{Now: c.now}
	if ch != nil {
		opts.OnChange = ch.add
	}
	s, err := Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func mustAdd(t *testing.T, s *Store, node, check string, d time.Duration) Silence {
	t.Helper()
	sl, err := s.Add(Silence{Node: node, Check: check, Author: "alice", Reason: "maintenance", Expires: s.now().Add(d)})
	if err != nil {
		t.Fatal(err)
	}
	return sl
}

func ids(list []Silence) string {
	var b strings.Builder
	for _, s := range list {
		fmt.Fprintf(&b, "%s/%s ", s.Node, s.Check)
	}
	return strings.TrimSpace(b.String())
}

func TestSilenceStoreAddExpireMatch(t *testing.T) {
	c := &clock{t: t0.Add(250 * time.Millisecond)}
	ch := &changes{}
	s := open(t, t.TempDir(), c, ch)

	a := mustAdd(t, s, "node-b", "*", 2*time.Hour)
	if !IsID(a.ID) || a.Version != 1 || !a.Created.Equal(t0) || !a.Expires.Equal(t0.Add(2*time.Hour)) || a.Author != "alice" {
		t.Fatalf("%+v", a)
	}
	if got := ch.take(); len(got) != 1 || got[0] != a {
		t.Errorf("OnChange: %+v", got)
	}
	b := mustAdd(t, s, "node-*", "http.*", time.Hour)
	e := mustAdd(t, s, "", "", 3*time.Hour) // everything, allowed here
	if !e.Everything() {
		t.Errorf("%+v", e)
	}

	// Match: the one ending last of those that match both globs.
	now := c.now()
	for _, tc := range []struct{ node, check, want string }{
		{"node-b", "http.api", e.ID},
		{"node-c", "tcp.etcd", e.ID},
	} {
		if got, ok := s.Match(tc.node, tc.check, now); !ok || got.ID != tc.want {
			t.Errorf("%s %s: %+v %v", tc.node, tc.check, got, ok)
		}
	}
	if _, err := s.Expire(e.ID, now); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		node, check, want string
	}{
		{"node-b", "http.api", a.ID},   // a ends after b
		{"node-c", "http.api", b.ID},   // only b
		{"node-c", "tcp.etcd", ""},     // neither
		{"node-b", "tcp.etcd", a.ID},   // a: every check of node-b
		{"node-bb", "tcp.etcd", ""},    // a glob, not a prefix
		{"node-c", "http.a/b", ""},     // * stops at /
		{"node-c", "https.api", ""},    // "http.*"
		{"xnode-c", "http.api", ""},    // anchored
		{"node-c", "http.", b.ID},      // * matches nothing too
		{"NODE-C", "http.api", ""},     // case counts
		{"node-c", "HTTP.api", ""},     // case counts
		{"node-c", "http.api\n", b.ID}, // names are not judged
	} {
		got, ok := s.Match(tc.node, tc.check, now)
		if ok != (tc.want != "") || got.ID != tc.want {
			t.Errorf("%q %q: %s %v, want %q", tc.node, tc.check, got.ID, ok, tc.want)
		}
	}
	// An hour later b has ended, and a silence matches until its end only.
	if got, ok := s.Match("node-c", "http.api", t0.Add(time.Hour)); ok {
		t.Errorf("b still matches at its end: %+v", got)
	}
	if got, ok := s.Match("node-b", "x.y", t0.Add(2*time.Hour-time.Second)); !ok || got.ID != a.ID {
		t.Errorf("a a second before its end: %+v %v", got, ok)
	}

	// Expire: version bumped, the time in whole seconds, told once.
	ch.take()
	c.set(t0.Add(10*time.Minute + 700*time.Millisecond))
	x, err := s.Expire(a.ID, c.now())
	if err != nil || x.Version != 2 || !x.ExpiredAt.Equal(t0.Add(10*time.Minute)) || x.Active(c.now()) || !x.Expires.Equal(a.Expires) {
		t.Fatalf("%+v %v", x, err)
	}
	if got := ch.take(); len(got) != 1 || got[0] != x {
		t.Errorf("OnChange: %+v", got)
	}
	// Again: unchanged, nothing told; an unknown ID is ErrNotFound.
	if y, err := s.Expire(a.ID, c.now().Add(time.Minute)); err != nil || y != x {
		t.Errorf("again: %+v %v", y, err)
	}
	if got := ch.take(); len(got) != 0 {
		t.Errorf("OnChange for nothing: %+v", got)
	}
	if _, err := s.Expire("ffffffffffffffff", c.now()); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown: %v", err)
	}
	// A silence that ended by itself is not expired again.
	if y, err := s.Expire(b.ID, t0.Add(2*time.Hour)); err != nil || y != b {
		t.Errorf("ended: %+v %v", y, err)
	}

	// List: sorted by end; the ended ones only with includeExpired.
	if got := ids(s.List(c.now(), false)); got != "node-*/http.*" {
		t.Errorf("active: %s", got)
	}
	if got := ids(s.List(c.now(), true)); got != "*/* node-b/* node-*/http.*" {
		t.Errorf("all: %s", got)
	}
	if got := s.List(t0.Add(time.Hour), false); len(got) != 0 {
		t.Errorf("after every end: %+v", got)
	}
	if got, ok := s.Get(x.ID); !ok || got != x {
		t.Errorf("Get: %+v", got)
	}
}

func TestSilenceStoreAddRefuses(t *testing.T) {
	c := &clock{t: t0}
	s := open(t, "", c, nil)
	base := Silence{Node: "n", Author: "a", Reason: "r", Expires: t0.Add(time.Hour)}
	for _, tc := range []struct {
		edit func(*Silence)
		want string
	}{
		{func(s *Silence) { s.ID = "0123456789abcdef" }, "Add makes them"},
		{func(s *Silence) { s.Version = 3 }, "Add makes them"},
		{func(s *Silence) { s.ExpiredAt = t0 }, "Add makes them"},
		{func(s *Silence) { s.Reason = "" }, "the reason is required"},
		{func(s *Silence) { s.Expires = t0.Add(91 * 24 * time.Hour) }, "at most 90 days"},
		{func(s *Silence) { s.Created, s.Expires = t0.Add(-2*time.Hour), t0.Add(-time.Hour) }, "which is past"},
	} {
		sl := base
		tc.edit(&sl)
		if _, err := s.Add(sl); err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", sl, err, tc.want)
		}
	}
	if len(s.All()) != 0 {
		t.Errorf("refused silences kept: %+v", s.All())
	}
}

func TestSilenceStorePersists(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data") // Open makes it
	c := &clock{t: t0}
	s := open(t, dir, c, nil)
	a := mustAdd(t, s, "node-a", "*", time.Hour)
	b := mustAdd(t, s, "*", "tcp.etcd", 2*time.Hour)
	b, err := s.Expire(b.ID, t0.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}

	fi, err := os.Stat(Path(dir))
	if err != nil || fi.Mode().Perm() != 0o640 {
		t.Fatalf("%v %v", fi, err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("the data dir holds %v", entries)
	}
	var doc fileDoc
	raw, _ := os.ReadFile(Path(dir))
	if err := json.Unmarshal(raw, &doc); err != nil || doc.Version != 1 || len(doc.Silences) != 2 {
		t.Fatalf("%s %v", raw, err)
	}
	if !strings.Contains(string(raw), `"expired_at":"2026-11-25T12:01:00Z"`) {
		t.Errorf("%s", raw)
	}

	// A restart: the same silences, the early-expired one too.
	_ = os.WriteFile(filepath.Join(dir, ".silences-123.tmp"), []byte("half a write"), 0o600)
	s2 := open(t, dir, c, nil)
	if got := s2.All(); len(got) != 2 || got[0] != min2(a, b) || got[1] != max2(a, b) {
		t.Errorf("reopened: %+v", got)
	}
	if _, err := os.Stat(filepath.Join(dir, ".silences-123.tmp")); !os.IsNotExist(err) {
		t.Errorf("the leftover temporary file is still there: %v", err)
	}
	// Long after, the file's silences are past keeping: not loaded.
	c.set(t0.Add(2*time.Hour + TombstoneTTL))
	if got := open(t, dir, c, nil).All(); len(got) != 0 {
		t.Errorf("loaded past keeping: %+v", got)
	}
}

func min2(a, b Silence) Silence {
	if a.ID < b.ID {
		return a
	}
	return b
}

func max2(a, b Silence) Silence {
	if a.ID < b.ID {
		return b
	}
	return a
}

// A write that fails fails Add and Expire, and changes nothing.
func TestSilenceStoreWriteFails(t *testing.T) {
	dir := t.TempDir()
	c := &clock{t: t0}
	ch := &changes{}
	s := open(t, dir, c, ch)
	a := mustAdd(t, s, "n", "*", time.Hour)
	ch.take()
	// A folder in the file's place: rename cannot replace it (even as root).
	if err := os.Remove(Path(dir)); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(Path(dir), "x"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Add(Silence{Node: "m", Author: "a", Reason: "r", Expires: t0.Add(time.Hour)}); err == nil ||
		!strings.Contains(err.Error(), "silences: writing") {
		t.Errorf("Add: %v", err)
	}
	if _, err := s.Expire(a.ID, t0); err == nil {
		t.Error("Expire did not fail")
	}
	if got := s.All(); len(got) != 1 || got[0] != a || len(ch.take()) != 0 {
		t.Errorf("after failed writes: %+v", got)
	}
	if entries, _ := filepath.Glob(filepath.Join(dir, tmpPattern)); len(entries) != 0 {
		t.Errorf("temporary files left: %v", entries)
	}
	// A peer's change holds in memory though.
	peer := valid()
	peer.Created, peer.Expires = t0, t0.Add(time.Hour)
	if !s.Merge(peer) || len(s.All()) != 2 {
		t.Errorf("merge on a failing disk: %+v", s.All())
	}
}

func TestSilenceStoreCorrupt(t *testing.T) {
	c := &clock{t: t0}
	good := valid()
	goodJSON, _ := json.Marshal(good)
	for name, content := range map[string]string{
		"truncated":     `{"version":1,"silences":[` + string(goodJSON),
		"empty":         ``,
		"not json":      "hello",
		"no version":    `{"silences":[]}`,
		"version 0":     `{"version":0,"silences":[]}`,
		"invalid entry": `{"version":1,"silences":[{"id":"nope"}]}`,
		"twice":         `{"version":1,"silences":[` + string(goodJSON) + `,` + string(goodJSON) + `]}`,
		"fraction":      `{"version":1,"silences":[` + strings.Replace(string(goodJSON), `12:00:00Z`, `12:00:00.5Z`, 1) + `]}`,
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(Path(dir), []byte(content), 0o640); err != nil {
				t.Fatal(err)
			}
			_, err := Open(dir, Options{Now: c.now})
			if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "the silence file "+Path(dir)+" is corrupt: ") {
				t.Fatalf("%v", err)
			}
			// The caller says: start empty. The file is kept aside.
			s, err := Open(dir, Options{Now: c.now, DiscardCorrupt: true})
			if err != nil || len(s.All()) != 0 {
				t.Fatalf("%v", err)
			}
			if b, err := os.ReadFile(Path(dir) + ".corrupt"); err != nil || string(b) != content {
				t.Errorf("aside: %q %v", b, err)
			}
			if _, err := os.Stat(Path(dir)); !os.IsNotExist(err) {
				t.Errorf("the corrupt file is still in place: %v", err)
			}
		})
	}

	// A newer format is not corrupt: never discarded.
	dir := t.TempDir()
	_ = os.WriteFile(Path(dir), []byte(`{"version":2,"silences":[]}`), 0o640)
	_, err := Open(dir, Options{Now: c.now, DiscardCorrupt: true})
	if err == nil || errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "from a newer satellite") {
		t.Errorf("%v", err)
	}
	// Nor an unreadable one.
	dir = t.TempDir()
	_ = os.Mkdir(Path(dir), 0o750)
	if _, err := Open(dir, Options{DiscardCorrupt: true}); err == nil || errors.Is(err, ErrCorrupt) {
		t.Errorf("a folder: %v", err)
	}
	if _, err := os.Stat(Path(dir)); err != nil {
		t.Errorf("moved: %v", err)
	}
}

func TestSilenceStoreMerge(t *testing.T) {
	c := &clock{t: t0}
	ch := &changes{}
	s := open(t, t.TempDir(), c, ch)
	v1 := valid()
	if !s.Merge(v1) || s.Merge(v1) {
		t.Fatal("a new silence once")
	}
	if got := ch.take(); len(got) != 1 || got[0] != v1 {
		t.Errorf("OnChange: %+v", got)
	}
	v2 := v1
	v2.Version, v2.ExpiredAt = 2, t0.Add(time.Minute)
	later := v2
	later.ExpiredAt = t0.Add(2 * time.Minute)
	for _, tc := range []struct {
		name string
		in   Silence
		want bool
		kept Silence
	}{
		{"higher version", v2, true, v2},
		{"the same again", v2, false, v2},
		{"older", v1, false, v2},
		{"same version, expired later", later, true, later},
		{"same version, expired sooner", v2, false, later},
	} {
		if got := s.Merge(tc.in); got != tc.want {
			t.Errorf("%s: %v", tc.name, got)
		}
		if got, _ := s.Get(v1.ID); got != tc.kept {
			t.Errorf("%s: kept %+v", tc.name, got)
		}
	}
	if got := ch.take(); len(got) != 2 || got[0] != v2 || got[1] != later {
		t.Errorf("OnChange: %+v", got)
	}

	// Invalid, or past keeping: ignored.
	bad := valid()
	bad.ID, bad.Check = "1111111111111111", "["
	old := valid()
	old.ID, old.Created, old.Expires = "2222222222222222", t0.Add(-48*time.Hour), t0.Add(-TombstoneTTL)
	if s.Merge(bad) || s.Merge(old) || s.Merge(Silence{}) {
		t.Error("took a bad or stale silence")
	}

	// MergeAll: one write for many, the newest copy of each.
	n := valid()
	n.ID = "3333333333333333"
	n2 := n
	n2.Version, n2.ExpiredAt = 5, t0
	if got := s.MergeAll([]Silence{n, bad, n2, n, v1}); got != 1 {
		t.Errorf("MergeAll: %d", got)
	}
	if got, _ := s.Get(n.ID); got != n2 {
		t.Errorf("%+v", got)
	}
	if got := ch.take(); len(got) != 1 || got[0] != n2 {
		t.Errorf("OnChange: %+v", got)
	}
}

// An early-expired silence is kept until a day after its planned end, so a
// late copy of the active version, from a peer that was away for days,
// does not bring it back; after that such a copy is refused as ended.
func TestSilenceStoreTombstones(t *testing.T) {
	c := &clock{t: t0}
	s := open(t, t.TempDir(), c, nil)
	long := mustAdd(t, s, "node-a", "*", 30*24*time.Hour)
	short := mustAdd(t, s, "node-b", "*", time.Hour)
	if _, err := s.Expire(long.ID, t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	for _, d := range []time.Duration{2 * time.Hour, 3 * 24 * time.Hour, 30*24*time.Hour + TombstoneTTL - time.Second} {
		c.set(t0.Add(d))
		s.GC(c.now())
		if s.Merge(long) {
			t.Fatalf("after %s: the old copy came back", d)
		}
		if _, ok := s.Match("node-a", "x", c.now()); ok {
			t.Fatalf("after %s: node-a silenced", d)
		}
	}
	if _, ok := s.Get(short.ID); ok {
		t.Error("the short silence is kept past a day after its end")
	}
	c.set(t0.Add(30*24*time.Hour + TombstoneTTL))
	if n := s.GC(c.now()); n != 1 || len(s.All()) != 0 {
		t.Errorf("GC dropped %d, kept %+v", n, s.All())
	}
	if s.Merge(long) {
		t.Error("the old copy came back once forgotten")
	}
}

func TestSilenceStoreFull(t *testing.T) {
	c := &clock{t: t0}
	s := open(t, "", c, nil)
	s.max = 3
	first := mustAdd(t, s, "a", "*", time.Hour)
	mustAdd(t, s, "b", "*", 2*time.Hour)
	mustAdd(t, s, "c", "*", 2*time.Hour)
	_, err := s.Add(Silence{Node: "d", Author: "a", Reason: "r", Expires: t0.Add(time.Hour)})
	if !errors.Is(err, ErrFull) || !strings.Contains(err.Error(), "too many silences: 3 are kept") {
		t.Fatalf("%v", err)
	}
	peer := valid()
	if s.Merge(peer) {
		t.Error("a peer's silence beyond the bound")
	}
	// Once the first is past keeping, there is room: Add collects it.
	c.set(first.Expires.Add(TombstoneTTL))
	if _, err := s.Add(Silence{Node: "d", Author: "a", Reason: "r", Expires: c.now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.Get(first.ID); ok || len(s.All()) != 3 {
		t.Errorf("%+v", s.All())
	}
	if MaxSilences != 10000 {
		t.Errorf("MaxSilences %d", MaxSilences)
	}
}

func TestSilenceNextChange(t *testing.T) {
	c := &clock{t: t0}
	s := open(t, "", c, nil)
	if got := s.NextChange(t0); !got.IsZero() {
		t.Errorf("%v", got)
	}
	a := mustAdd(t, s, "a", "*", 2*time.Hour)
	b := mustAdd(t, s, "b", "*", 3*time.Hour)
	if got := s.NextChange(t0); !got.Equal(a.Expires) {
		t.Errorf("%v", got)
	}
	if _, err := s.Expire(b.ID, t0.Add(30*time.Minute)); err != nil {
		t.Fatal(err)
	}
	// b now ends at 12:30 rather than 15:00; then a, at 14:00.
	if got := s.NextChange(t0.Add(20 * time.Minute)); !got.Equal(t0.Add(30 * time.Minute)) {
		t.Errorf("%v", got)
	}
	if got := s.NextChange(t0.Add(30 * time.Minute)); !got.Equal(a.Expires) {
		t.Errorf("%v", got)
	}
	if got := s.NextChange(a.Expires); !got.IsZero() {
		t.Errorf("after every end: %v", got)
	}
}

// OnChange runs outside the locks: it may read and change the store.
func TestSilenceOnChangeMayCallTheStore(t *testing.T) {
	c := &clock{t: t0}
	var s *Store
	var seen []string
	s, err := Open(t.TempDir(), Options{Now: c.now, OnChange: func(sl Silence) {
		got, ok := s.Match(sl.Node, "x.y", c.now())
		seen = append(seen, fmt.Sprintf("%v:%v", ok, got.ID == sl.ID))
		if sl.Version == 1 {
			if _, err := s.Expire(sl.ID, c.now()); err != nil {
				t.Error(err)
			}
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		mustAdd(t, s, "n", "*", time.Hour)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("OnChange deadlocked")
	}
	if strings.Join(seen, " ") != "true:true false:false" {
		t.Errorf("%v", seen)
	}
}

func TestSilenceStoreConcurrent(t *testing.T) {
	c := &clock{t: t0}
	ch := &changes{}
	s := open(t, t.TempDir(), c, ch)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 10 {
				sl := mustAdd(t, s, fmt.Sprintf("node-%d", i), "*", time.Hour)
				s.Match(fmt.Sprintf("node-%d", i), "c", c.now())
				s.List(c.now(), true)
				s.NextChange(c.now())
				if j%2 == 0 {
					if _, err := s.Expire(sl.ID, c.now()); err != nil {
						t.Error(err)
					}
				}
				peer := sl
				peer.Version++
				s.Merge(peer)
			}
		}()
	}
	wg.Wait()
	if n := len(s.All()); n != 80 {
		t.Errorf("%d silences", n)
	}
	reopened := open(t, filepath.Dir(s.path), c, nil)
	if a, b := s.All(), reopened.All(); fmt.Sprint(a) != fmt.Sprint(b) {
		t.Error("the file is not what memory holds")
	}
	if n := len(ch.take()); n != 80+40+40 { // adds, expires, merges of the unexpired
		t.Errorf("%d changes told", n)
	}
}
