package silence

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

// valid is a whole silence, as a store keeps it.
func valid() Silence {
	return Silence{ID: "0123456789abcdef", Node: "node-*", Check: "http.*", Author: "alice@node-a",
		Reason: "kernel upgrade, OPS-1234", Created: t0, Expires: t0.Add(2 * time.Hour), Version: 1}
}

func TestSilencePrepare(t *testing.T) {
	got, err := Prepare(Silence{Node: "  ", Check: " tcp.etcd ", Author: " bob ", Reason: " why \t",
		Created: t0.Add(300 * time.Millisecond).In(time.FixedZone("X", 3600)), Expires: t0.Add(time.Hour + 999*time.Millisecond)})
	if err != nil {
		t.Fatal(err)
	}
	want := Silence{Node: "*", Check: "tcp.etcd", Author: "bob", Reason: "why", Created: t0, Expires: t0.Add(time.Hour)}
	if got != want || got.Created.Location() != time.UTC {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
	if got.Everything() || !got.Matches("any-node", "tcp.etcd") || got.Matches("n", "tcp.etcd2") {
		t.Errorf("globs of %+v", got)
	}

	base := Silence{Node: "node-a", Check: "*", Author: "bob", Reason: "why", Created: t0, Expires: t0.Add(time.Hour)}
	for _, tc := range []struct {
		name string
		edit func(*Silence)
		want string
	}{
		{"no reason", func(s *Silence) { s.Reason = " " }, "the reason is required"},
		{"no author", func(s *Silence) { s.Author = "" }, "the author is required"},
		{"long reason", func(s *Silence) { s.Reason = strings.Repeat("r", MaxReason+1) }, "the reason is 161 bytes long, more than 160"},
		{"long author", func(s *Silence) { s.Author = strings.Repeat("é", 33) }, "the author is 66 bytes long, more than 64"},
		{"long glob", func(s *Silence) { s.Node = strings.Repeat("n", MaxGlob+1) }, "node: the glob is 65 bytes long, more than 64"},
		{"bad glob", func(s *Silence) { s.Check = "http.[api" }, `check: the glob "http.[api" is malformed`},
		{"bad glob escape", func(s *Silence) { s.Node = `node\` }, `node: the glob "node\\" is malformed`},
		{"newline", func(s *Silence) { s.Reason = "two\nlines" }, "the reason holds the character U+000A"},
		{"line separator", func(s *Silence) { s.Author = "a\u2028b" }, "U+2028"},
		{"not utf-8", func(s *Silence) { s.Reason = "caf\xe9" }, "the reason is not valid UTF-8"},
		{"replacement char", func(s *Silence) { s.Reason = "a\uFFFDb" }, "U+FFFD"},
		{"too short", func(s *Silence) { s.Expires = t0.Add(59 * time.Second) }, "must last at least 1m0s"},
		{"backwards", func(s *Silence) { s.Expires = t0.Add(-time.Hour) }, "must last at least"},
		{"too long", func(s *Silence) { s.Expires = t0.Add(MaxDuration + time.Second) }, "at most 90 days"},
		{"no expiry", func(s *Silence) { s.Expires = time.Time{} }, "the expires time is missing"},
		{"no expiry, no created", func(s *Silence) { s.Expires, s.Created = time.Time{}, time.Time{} }, "the expires time is missing"},
		{"far future", func(s *Silence) { s.Created, s.Expires = time.Time{}, time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC) }, "not between 2000 and 2200"},
		{"escapes", func(s *Silence) { s.Reason, s.Author = strings.Repeat(`"`, MaxReason), strings.Repeat("a", MaxAuthor) },
			"once encoded for gossip, more than 480"},
	} {
		s := base
		tc.edit(&s)
		_, err := Prepare(s)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
	// At the limits, it is fine: 90 days, a minute, the longest texts.
	for _, edit := range []func(*Silence){
		func(s *Silence) { s.Expires = t0.Add(MaxDuration) },
		func(s *Silence) { s.Expires = t0.Add(MinDuration) },
		func(s *Silence) {
			s.Reason, s.Author = strings.Repeat("r", MaxReason), strings.Repeat("a", MaxAuthor)
			s.Node, s.Check = strings.Repeat("n", MaxGlob), strings.Repeat("c", MaxGlob)
		},
		func(s *Silence) { s.Reason = "emoji 👩‍🔧 and <html> & \"some\" quotes" },
	} {
		s := base
		edit(&s)
		if _, err := Prepare(s); err != nil {
			t.Error(err)
		}
	}
}

// Every silence Prepare takes fits a serf user event once encoded, with
// the largest version and expired early: the limits add up.
func TestSilenceEncodedSizeBound(t *testing.T) {
	s := Silence{ID: "ffffffffffffffff", Node: strings.Repeat("n", MaxGlob), Check: strings.Repeat("c", MaxGlob),
		Author: strings.Repeat("a", MaxAuthor), Reason: strings.Repeat("r", MaxReason),
		Created: maxTime.Add(-MaxDuration - time.Second), Expires: maxTime.Add(-time.Second), Version: math.MaxUint64,
		ExpiredAt: maxTime.Add(-time.Second)}
	b, err := Encode(s)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) > MaxEncoded {
		t.Fatalf("%d bytes: %s", len(b), b)
	}
	t.Logf("the largest silence of plain text takes %d of %d bytes", len(b), MaxEncoded)
	// Two-byte escapes are what can reach the bound: Prepare refuses those.
	s.Reason = strings.Repeat(`\`, 60) + strings.Repeat("r", MaxReason-60)
	if _, err := Prepare(s); err == nil || !strings.Contains(err.Error(), "shorten the reason") {
		t.Errorf("escapes: %v", err)
	}
}

func TestSilenceEncodeDecode(t *testing.T) {
	s := valid()
	s.Reason = `say "hi" <b>&</b> \ ünïcode`
	b, err := Encode(s)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"i":"0123456789abcdef","n":"node-*","c":"http.*","a":"alice@node-a","r":"say \"hi\" <b>&</b> \\ ünïcode",` +
		`"t":1795608000,"e":1795615200,"v":1}`
	if string(b) != want {
		t.Errorf("got  %s\nwant %s", b, want)
	}
	got, err := Decode(b)
	if err != nil || got != s {
		t.Fatalf("%+v %v", got, err)
	}

	s.Version, s.ExpiredAt = 2, t0.Add(time.Minute)
	b, _ = Encode(s)
	if !strings.HasSuffix(string(b), `"v":2,"x":1795608060}`) {
		t.Errorf("%s", b)
	}
	if got, err := Decode(b); err != nil || got != s || got.Active(t0.Add(time.Minute)) || !got.Active(t0.Add(59*time.Second)) {
		t.Errorf("%+v %v", got, err)
	}

	// A newer version's fields are ignored; white space is fine.
	if got, err := Decode([]byte(` {"i":"0123456789abcdef","n":"node-*","c":"http.*","a":"alice@node-a","r":"kernel upgrade, OPS-1234",
		"t":1795608000,"e":1795615200,"v":1,"future":{"x":[1,2]}} `)); err != nil || got != valid() {
		t.Errorf("unknown field: %+v %v", got, err)
	}

	if _, err := Encode(Silence{}); err == nil {
		t.Error("Encode took an invalid silence")
	}
}

func TestSilenceDecodeRefuses(t *testing.T) {
	ok := `"i":"0123456789abcdef","n":"*","c":"*","a":"a","r":"r","t":1795608000,"e":1795615200,"v":1`
	for _, tc := range []struct{ in, want string }{
		{``, "not its JSON object"},
		{`null`, "lacks one of t, e and v"},
		{`[]`, "not its JSON object"},
		{`{` + ok + `}x`, "not its JSON object"},
		{`{` + ok + `,"x":-1}`, "x=-1 is not between"},
		{`{` + ok + `,"x":1}`, "not between"},
		{`{` + strings.Replace(ok, `"v":1`, `"v":0`, 1) + `}`, "version 0"},
		{`{` + strings.Replace(ok, `,"v":1`, ``, 1) + `}`, "lacks one of t, e and v"},
		{`{` + strings.Replace(ok, `"v":1`, `"v":-1`, 1) + `}`, "not its JSON object"},
		{`{` + strings.Replace(ok, `"v":1`, `"v":1.5`, 1) + `}`, "not its JSON object"},
		{`{` + strings.Replace(ok, `"t":1795608000`, `"t":"1795608000"`, 1) + `}`, "not its JSON object"},
		{`{` + strings.Replace(ok, `"t":1795608000`, `"t":9223372036854775807`, 1) + `}`, "not between"},
		{`{` + strings.Replace(ok, `"e":1795615200`, `"e":1795608001`, 1) + `}`, "at least 1m0s"},
		{`{` + strings.Replace(ok, `"0123456789abcdef"`, `"0123456789ABCDEF"`, 1) + `}`, "is not 16 hex digits"},
		{`{` + strings.Replace(ok, `"n":"*"`, `"n":""`, 1) + `}`, "node: the glob is empty"},
		{`{` + strings.Replace(ok, `"n":"*"`, `"n":"["`, 1) + `}`, "malformed"},
		{`{` + strings.Replace(ok, `"a":"a"`, `"a":""`, 1) + `}`, "the author is required"},
		{`{` + strings.Replace(ok, `"r":"r"`, `"r":"a\u0000b"`, 1) + `}`, "holds the character U+0000"},
		{`{` + strings.Replace(ok, `"r":"r"`, "\"r\":\"\xff\"", 1) + `}`, "U+FFFD"},
		{`{` + strings.Replace(ok, `"r":"r"`, `"r":"`+strings.Repeat("r", 400)+`"`, 1) + `}`, "more than 480"},
	} {
		_, err := Decode([]byte(tc.in))
		if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, ErrInvalid) {
			t.Errorf("%.70s: %v, want %q", tc.in, err, tc.want)
		}
	}
}

func TestSilenceIDs(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		id := newID()
		if !IsID(id) || seen[id] {
			t.Fatalf("%q", id)
		}
		seen[id] = true
	}
	for _, id := range []string{"", "0123456789abcde", "0123456789abcdef0", "0123456789abcdeg", "0123456789ABCDEF"} {
		if IsID(id) {
			t.Errorf("%q taken", id)
		}
	}
}
