// Package silence holds the silences of notifications: "do not notify
// about these checks on these nodes until then, because". A silenced check
// is still run and its results recorded; only its notifications wait. When
// a silence ends and the check is still failing, the problem is sent then.
//
// A Store keeps the silences of one node in its data dir
// (agent.data_dir/silences.json) and merges the copies its peers gossip:
// every change bumps a silence's Version and the highest version wins, so
// the members converge whatever order the copies arrive in. Encode and
// Decode are the gossip form: compact JSON that fits serf's user-event
// limit (MaxEncoded).
//
// Limits, so that every silence fits one serf user event:
//
//	node and check globs  at most 64 bytes each (MaxGlob); empty is "*"
//	author                required, at most 64 bytes (MaxAuthor)
//	reason                required, at most 160 bytes (MaxReason)
//	duration              at least a minute, at most 90 days
//	encoded               at most 480 bytes (MaxEncoded): only text full of
//	                      " or \ (which JSON escapes) can reach it
//	silences kept         at most 10,000 (MaxSilences), ended ones included
//
// Text is one line of valid UTF-8: no control characters (newlines
// included), no U+2028 or U+2029.
package silence

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"path"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// The limits of a silence (see the package documentation).
const (
	MaxGlob     = 64
	MaxAuthor   = 64
	MaxReason   = 160
	MinDuration = time.Minute
	MaxDuration = 90 * 24 * time.Hour
	// MaxEncoded bounds Encode's answer: serf's user events are at most 512
	// bytes, the event's name and serf's own framing included.
	MaxEncoded = 480
	// MaxSilences bounds the silences a Store keeps, ended ones (kept for
	// TombstoneTTL) included.
	MaxSilences = 10000
	// TombstoneTTL is how long a Store keeps a silence after its planned
	// end (Expires), expired early or not, so that an old copy a peer
	// gossips late is known to be over rather than taken for a new one.
	TombstoneTTL = 24 * time.Hour
)

// Any is the glob that matches every node, or every check.
const Any = "*"

// idLen is the length of an ID: 16 hex digits, 64 random bits.
const idLen = 16

// The times a silence may hold: whole seconds from 2000 to 2200, so that
// each is 10 digits at most in the gossip form.
var (
	minTime = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	maxTime = time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC)
)

// Errors of the package; the errors of a bad silence wrap ErrInvalid.
var (
	ErrInvalid  = errors.New("invalid silence")
	ErrNotFound = errors.New("no such silence")
	ErrFull     = errors.New("too many silences")
)

// Silence is one silence.
type Silence struct {
	// ID is 16 random hex digits, made by Store.Add.
	ID string `json:"id"`
	// Node is a glob (path.Match) on the node's name; "*" every node.
	Node string `json:"node"`
	// Check is a glob on the check's address (TYPE.NAME); "*" every check.
	Check string `json:"check"`
	// Author and Reason say who made it and why.
	Author string `json:"author"`
	Reason string `json:"reason"`
	// Created and Expires are when it was made and when it ends as
	// planned: UTC, whole seconds.
	Created time.Time `json:"created"`
	Expires time.Time `json:"expires"`
	// Version is 1 when made, and bumped by every change (expiring it
	// early); among copies of one silence the highest version wins.
	Version uint64 `json:"version"`
	// ExpiredAt is when it was expired early; zero when it was not.
	ExpiredAt time.Time `json:"expired_at,omitzero"`
}

// End is when the silence ends: when it was expired early, else Expires.
func (s Silence) End() time.Time {
	if !s.ExpiredAt.IsZero() && s.ExpiredAt.Before(s.Expires) {
		return s.ExpiredAt
	}
	return s.Expires
}

// Active reports whether the silence holds at now.
func (s Silence) Active(now time.Time) bool { return now.Before(s.End()) }

// Matches reports whether the silence's globs match node and check (active
// or not).
func (s Silence) Matches(node, check string) bool {
	ok, err := path.Match(s.Node, node)
	if !ok || err != nil {
		return false
	}
	ok, err = path.Match(s.Check, check)
	return ok && err == nil
}

// Everything reports whether the silence matches every check of every node.
func (s Silence) Everything() bool { return s.Node == Any && s.Check == Any }

// invalid is an error wrapping ErrInvalid with msg alone as its text.
type invalid struct{ msg string }

func (e *invalid) Error() string { return e.msg }
func (e *invalid) Unwrap() error { return ErrInvalid }

func invalidf(format string, args ...any) error {
	return &invalid{msg: fmt.Sprintf(format, args...)}
}

// Prepare checks a new silence as a person gives it (its globs, author,
// reason and times; not its ID nor version, which Add makes) and returns
// it normalized: white space trimmed, an empty glob "*", times in UTC
// whole seconds (Created, when zero, is left for Add to set). The CLI and
// the API call it to refuse a bad request early; Add calls it too.
func Prepare(s Silence) (Silence, error) {
	s.Node, s.Check = strings.TrimSpace(s.Node), strings.TrimSpace(s.Check)
	if s.Node == "" {
		s.Node = Any
	}
	if s.Check == "" {
		s.Check = Any
	}
	s.Author, s.Reason = strings.TrimSpace(s.Author), strings.TrimSpace(s.Reason)
	if !s.Created.IsZero() {
		s.Created = wholeSecond(s.Created)
	}
	s.Expires = wholeSecond(s.Expires)
	if err := checkFields(s); err != nil {
		return s, err
	}
	if s.Created.IsZero() {
		if err := checkTime("expires", s.Expires); err != nil {
			return s, err
		}
	} else if err := checkTimes(s.Created, s.Expires); err != nil {
		return s, err
	}
	// It must still fit once expired early, with any version.
	worst := s
	worst.ID, worst.Version = strings.Repeat("f", idLen), math.MaxUint64
	worst.Created, worst.ExpiredAt = maxTime.Add(-time.Second), maxTime.Add(-time.Second)
	if err := checkSize(worst); err != nil {
		return s, err
	}
	return s, nil
}

// Validate checks a whole silence: what Store loads, Merge takes and
// Decode reads.
func (s Silence) Validate() error {
	if !isID(s.ID) {
		return invalidf("the ID %q is not %d hex digits", clip(s.ID), idLen)
	}
	if s.Version == 0 {
		return invalidf("silence %s has version 0", s.ID)
	}
	if err := checkFields(s); err != nil {
		return err
	}
	if err := checkTimes(s.Created, s.Expires); err != nil {
		return err
	}
	if !s.ExpiredAt.IsZero() {
		if err := checkTime("expired_at", s.ExpiredAt); err != nil {
			return err
		}
	}
	return checkSize(s)
}

// checkFields checks the globs, the author and the reason.
func checkFields(s Silence) error {
	for _, g := range []struct{ what, glob string }{{"node", s.Node}, {"check", s.Check}} {
		if err := CheckGlob(g.glob); err != nil {
			return invalidf("%s: %v", g.what, err)
		}
	}
	if err := checkText("author", s.Author, MaxAuthor); err != nil {
		return err
	}
	return checkText("reason", s.Reason, MaxReason)
}

// CheckGlob checks a node or check glob: not empty, at most MaxGlob bytes
// of one line, in path.Match's syntax. The error wraps ErrInvalid.
func CheckGlob(glob string) error {
	if glob == "" {
		return invalidf("the glob is empty (%q matches everything)", Any)
	}
	if err := checkLine(glob); err != nil {
		return invalidf("the glob %s", err)
	}
	if len(glob) > MaxGlob {
		return invalidf("the glob is %d bytes long, more than %d", len(glob), MaxGlob)
	}
	if _, err := path.Match(glob, ""); err != nil {
		return invalidf("the glob %q is malformed (an unclosed [ or a trailing \\): write it as path.Match takes it", glob)
	}
	return nil
}

func checkText(what, text string, limit int) error {
	switch {
	case text == "":
		return invalidf("the %s is required", what)
	case len(text) > limit:
		return invalidf("the %s is %d bytes long, more than %d", what, len(text), limit)
	}
	if err := checkLine(text); err != nil {
		return invalidf("the %s %s", what, err)
	}
	return nil
}

// checkLine refuses what is not one line of valid UTF-8, and the
// characters JSON writes as six bytes.
func checkLine(s string) error {
	if !utf8.ValidString(s) {
		return errors.New("is not valid UTF-8")
	}
	for _, r := range s {
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' || r == utf8.RuneError {
			return fmt.Errorf("holds the character %U, which a silence does not take: it must be one line of text", r)
		}
	}
	return nil
}

func checkTimes(created, expires time.Time) error {
	if err := checkTime("created", created); err != nil {
		return err
	}
	if err := checkTime("expires", expires); err != nil {
		return err
	}
	switch d := expires.Sub(created); {
	case d < MinDuration:
		return invalidf("the silence must last at least %s (it ends %s after it starts)", MinDuration, d)
	case d > MaxDuration:
		return invalidf("the silence may last at most 90 days (%s), not %s", MaxDuration, d)
	}
	return nil
}

func checkTime(what string, t time.Time) error {
	if t.IsZero() {
		return invalidf("the %s time is missing", what)
	}
	if t.Before(minTime) || !t.Before(maxTime) {
		return invalidf("the %s time %s is not between %d and %d", what, t.UTC().Format(time.RFC3339), minTime.Year(), maxTime.Year())
	}
	if t.Nanosecond() != 0 {
		return invalidf("the %s time %s is not a whole second", what, t.UTC().Format(time.RFC3339Nano))
	}
	return nil
}

func checkSize(s Silence) error {
	b, err := encode(s)
	if err != nil {
		return err
	}
	if len(b) > MaxEncoded {
		return invalidf("the silence takes %d bytes once encoded for gossip, more than %d: shorten the reason or the author (\" and \\ take two bytes each)", len(b), MaxEncoded)
	}
	return nil
}

func isID(id string) bool {
	if len(id) != idLen {
		return false
	}
	for i := range len(id) {
		c := id[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// IsID reports whether id has the form of a silence ID: 16 lowercase hex
// digits.
func IsID(id string) bool { return isID(id) }

// clip shortens what a message quotes of hostile input.
func clip(s string) string {
	if len(s) <= 40 {
		return s
	}
	return s[:40] + "..."
}

// wholeSecond is t in UTC, without its fraction of a second nor its
// monotonic reading.
func wholeSecond(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.UTC().Truncate(time.Second)
}

// wire is the gossip form: short keys and Unix seconds, to leave the
// room of serf's user events to the text.
type wire struct {
	ID        string `json:"i"`
	Node      string `json:"n"`
	Check     string `json:"c"`
	Author    string `json:"a"`
	Reason    string `json:"r"`
	Created   int64  `json:"t"`
	Expires   int64  `json:"e"`
	Version   uint64 `json:"v"`
	ExpiredAt int64  `json:"x,omitempty"`
}

// Encode returns the gossip form of s: one compact JSON object of at most
// MaxEncoded bytes,
//
//	{"i":ID,"n":NODE,"c":CHECK,"a":AUTHOR,"r":REASON,"t":CREATED,"e":EXPIRES,"v":VERSION,"x":EXPIRED_AT}
//
// times in Unix seconds, "x" only when it was expired early. It refuses a
// silence that is not valid.
func Encode(s Silence) ([]byte, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	return encode(s)
}

func encode(s Silence) ([]byte, error) {
	w := wire{ID: s.ID, Node: s.Node, Check: s.Check, Author: s.Author, Reason: s.Reason,
		Created: s.Created.Unix(), Expires: s.Expires.Unix(), Version: s.Version}
	if !s.ExpiredAt.IsZero() {
		w.ExpiredAt = s.ExpiredAt.Unix()
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(w); err != nil {
		return nil, fmt.Errorf("encoding silence %s: %w", s.ID, err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// Decode reads what Encode wrote, from a peer: it ignores fields it does
// not know (a newer version's) and checks all the others as Validate does.
// The error wraps ErrInvalid.
func Decode(b []byte) (Silence, error) {
	if len(b) > MaxEncoded {
		return Silence{}, invalidf("the encoded silence is %d bytes long, more than %d", len(b), MaxEncoded)
	}
	// Pointers tell a missing number from a zero one.
	var w struct {
		ID        string  `json:"i"`
		Node      string  `json:"n"`
		Check     string  `json:"c"`
		Author    string  `json:"a"`
		Reason    string  `json:"r"`
		Created   *int64  `json:"t"`
		Expires   *int64  `json:"e"`
		Version   *uint64 `json:"v"`
		ExpiredAt int64   `json:"x"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return Silence{}, invalidf("the encoded silence is not its JSON object: %v", err)
	}
	if w.Created == nil || w.Expires == nil || w.Version == nil {
		return Silence{}, invalidf("the encoded silence lacks one of t, e and v")
	}
	s := Silence{ID: w.ID, Node: w.Node, Check: w.Check, Author: w.Author, Reason: w.Reason, Version: *w.Version}
	var err error
	if s.Created, err = unix("t", *w.Created); err != nil {
		return Silence{}, err
	}
	if s.Expires, err = unix("e", *w.Expires); err != nil {
		return Silence{}, err
	}
	if w.ExpiredAt != 0 {
		if s.ExpiredAt, err = unix("x", w.ExpiredAt); err != nil {
			return Silence{}, err
		}
	}
	if err := s.Validate(); err != nil {
		return Silence{}, err
	}
	return s, nil
}

// unix reads a time of the gossip form, refusing one out of range before
// time.Unix sees it.
func unix(what string, sec int64) (time.Time, error) {
	if sec < minTime.Unix() || sec >= maxTime.Unix() {
		return time.Time{}, invalidf("the time %s=%d is not between %d and %d", what, sec, minTime.Year(), maxTime.Year())
	}
	return time.Unix(sec, 0).UTC(), nil
}

// newID returns a new random ID, from crypto/rand (whose Read does not
// fail).
func newID() string {
	var b [idLen / 2]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
