package silence

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/satellite-hq/satellite/internal/atomicfile"

	"github.com/hashicorp/go-hclog"
)

// fileName is the store's file in the data dir; fileVersion the version of
// its format.
const (
	fileName    = "silences.json"
	fileVersion = 1
	// maxFile bounds what Open reads: 10,000 silences are about 4 MiB.
	maxFile = 16 << 20
	// tmpPattern names the temporary files of a write, removed by Open
	// when a crash left one.
	tmpPattern = ".silences-*.tmp"
)

// Path is the file that holds a node's silences: DATA_DIR/silences.json.
func Path(dataDir string) string { return filepath.Join(dataDir, fileName) }

// ErrCorrupt is what Open's error wraps when the file is not a silence file
// it can read (truncated, edited by hand, not JSON, a silence that is not
// valid).
var ErrCorrupt = errors.New("the silence file is corrupt")

// Options configure a Store.
type Options struct {
	// OnChange is called after Add, Expire, Merge or MergeAll changed a
	// silence, with the silence as it now is (saved, but for a Merge whose
	// write failed, see Logger). It is
	// called outside the store's locks, so it may call the store; calls
	// may come from several goroutines at once, and two quick changes may
	// be told out of order (the silence's Version says which is newer).
	// Merged changes, a peer's, fire it too; GC fires nothing.
	OnChange func(Silence)
	// Now is the clock of Add, Merge, MergeAll and Open; default time.Now.
	Now func() time.Time
	// Logger gets the failures of writes that do not fail their call
	// (Merge, GC); default a null logger.
	Logger hclog.Logger
	// DiscardCorrupt makes Open move a corrupt file aside (to
	// silences.json.corrupt, replacing an older one), log it and start
	// without silences, rather than fail. A file of a newer format version
	// is never discarded.
	DiscardCorrupt bool
}

// Store holds a node's silences, in memory and in one JSON file in its
// data dir, written atomically (a temporary file, fsync, rename) before a
// change is seen. It is safe for concurrent use; readers (Match, List...)
// never wait for the disk.
type Store struct {
	path     string // "" for a store in memory only
	onChange func(Silence)
	now      func() time.Time
	log      hclog.Logger
	max      int

	// writeMu serializes the changes, and is held while the file is
	// written: a change's function reads byID under it alone.
	writeMu sync.Mutex
	// mu guards byID; readers take it shared.
	mu   sync.RWMutex
	byID map[string]Silence
}

// fileDoc is the file's content.
type fileDoc struct {
	Version  int       `json:"version"`
	Silences []Silence `json:"silences"`
}

// Open loads the silences of dataDir (Path), creating dataDir when it is
// missing; a missing file is no silences. dataDir "" gives a store in
// memory only (tests). Silences kept past TombstoneTTL are dropped. A
// corrupt file is an error wrapping ErrCorrupt, unless
// opts.DiscardCorrupt.
func Open(dataDir string, opts Options) (*Store, error) {
	s := &Store{onChange: opts.OnChange, now: opts.Now, log: opts.Logger, max: MaxSilences, byID: map[string]Silence{}}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = hclog.NewNullLogger()
	}
	if dataDir == "" {
		return s, nil
	}
	s.path = Path(dataDir)
	if err := os.MkdirAll(dataDir, 0o750); err != nil {
		return nil, fmt.Errorf("silences: %w", err)
	}
	removeTemps(dataDir)
	list, err := load(s.path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case errors.Is(err, ErrCorrupt) && opts.DiscardCorrupt:
		aside := s.path + ".corrupt"
		if rerr := os.Rename(s.path, aside); rerr != nil {
			return nil, fmt.Errorf("%w; moving it aside failed: %v", err, rerr)
		}
		s.log.Warn("the silence file was corrupt: moved aside, starting without silences", "error", err, "moved_to", aside)
	case err != nil:
		return nil, err
	}
	now := s.now()
	for _, sl := range list {
		if kept(sl, now) {
			s.byID[sl.ID] = sl
		}
	}
	return s, nil
}

// removeTemps removes what an interrupted write left.
func removeTemps(dir string) {
	tmps, _ := filepath.Glob(filepath.Join(dir, tmpPattern))
	for _, t := range tmps {
		_ = os.Remove(t)
	}
}

// corruptError is a file Open cannot read.
type corruptError struct {
	path string
	err  error
}

func (e *corruptError) Error() string {
	return fmt.Sprintf("the silence file %s is corrupt: %v (move it away to start without silences)", e.path, e.err)
}

func (e *corruptError) Unwrap() error { return ErrCorrupt }

func load(path string) ([]Silence, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("silences: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxFile+1))
	if err != nil {
		return nil, fmt.Errorf("silences: reading %s: %w", path, err)
	}
	bad := func(format string, args ...any) error {
		return &corruptError{path: path, err: fmt.Errorf(format, args...)}
	}
	if len(b) > maxFile {
		return nil, bad("it is larger than %d MiB", maxFile>>20)
	}
	var doc struct {
		Version  *int              `json:"version"`
		Silences []json.RawMessage `json:"silences"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, bad("%v", err)
	}
	switch {
	case doc.Version == nil:
		return nil, bad("it has no format version")
	case *doc.Version > fileVersion:
		return nil, fmt.Errorf("silences: %s is of format version %d, from a newer satellite; this one reads version %d", path, *doc.Version, fileVersion)
	case *doc.Version != fileVersion:
		return nil, bad("its format version %d is unknown", *doc.Version)
	case len(doc.Silences) > MaxSilences:
		return nil, bad("it holds %d silences, more than %d", len(doc.Silences), MaxSilences)
	}
	out := make([]Silence, 0, len(doc.Silences))
	seen := make(map[string]bool, len(doc.Silences))
	for i, raw := range doc.Silences {
		var sl Silence
		if err := json.Unmarshal(raw, &sl); err != nil {
			return nil, bad("silence %d: %v", i+1, err)
		}
		if err := sl.Validate(); err != nil {
			return nil, bad("silence %d: %v", i+1, err)
		}
		if seen[sl.ID] {
			return nil, bad("silence %s is there twice", sl.ID)
		}
		seen[sl.ID] = true
		out = append(out, sl)
	}
	return out, nil
}

// kept reports whether the store still keeps sl at now: until TombstoneTTL
// after its planned end, expired early or not, so that a late copy of it,
// from a peer that was away, is known to be over rather than new.
func kept(sl Silence, now time.Time) bool { return now.Before(sl.Expires.Add(TombstoneTTL)) }

// newer reports whether a is a later copy of a silence than b: a higher
// version, or the same one expired later.
func newer(a, b Silence) bool {
	return a.Version > b.Version || a.Version == b.Version && a.ExpiredAt.After(b.ExpiredAt)
}

// edit is what a change's function decides.
type edit struct {
	put  []Silence // new or changed silences, told to OnChange
	drop []string  // IDs to forget (GC)
}

// change runs fn under writeMu, then writes the file with its edit applied
// and applies it in memory. When the write fails the edit is dropped and
// the error returned if mustPersist; otherwise the edit is applied anyway
// (the next write saves it) and the error logged. OnChange is told of each
// silence put.
func (s *Store) change(what string, mustPersist bool, fn func(now time.Time) (edit, error)) (edit, error) {
	s.writeMu.Lock()
	e, err := fn(s.now())
	if err != nil || len(e.put) == 0 && len(e.drop) == 0 {
		s.writeMu.Unlock()
		return e, err
	}
	if werr := s.persist(e); werr != nil {
		if mustPersist {
			s.writeMu.Unlock()
			return edit{}, werr
		}
		s.log.Error("saving the silences failed; they are kept in memory until the next write", "change", what, "error", werr)
	}
	s.mu.Lock()
	for _, id := range e.drop {
		delete(s.byID, id)
	}
	for _, sl := range e.put {
		s.byID[sl.ID] = sl
	}
	s.mu.Unlock()
	s.writeMu.Unlock()
	if s.onChange != nil {
		for _, sl := range e.put {
			s.onChange(sl)
		}
	}
	return e, nil
}

// persist writes the file as it will be once e is applied; it is called
// under writeMu.
func (s *Store) persist(e edit) error {
	if s.path == "" {
		return nil
	}
	next := make(map[string]Silence, len(s.byID)+len(e.put))
	for id, sl := range s.byID {
		next[id] = sl
	}
	for _, id := range e.drop {
		delete(next, id)
	}
	for _, sl := range e.put {
		next[sl.ID] = sl
	}
	doc := fileDoc{Version: fileVersion, Silences: sortedByID(next)}
	b, err := json.Marshal(doc)
	if err != nil {
		return fmt.Errorf("silences: encoding: %w", err)
	}
	return writeAtomic(s.path, b)
}

// writeAtomic replaces path with data: a temporary file in the same
// folder, fsync, rename, then fsync of the folder.
func writeAtomic(path string, data []byte) error {
	if err := atomicfile.Write(path, data, 0o640, tmpPattern); err != nil {
		return fmt.Errorf("silences: writing %s: %w", path, err)
	}
	return nil
}

func sortedByID(m map[string]Silence) []Silence {
	out := make([]Silence, 0, len(m))
	for _, sl := range m {
		out = append(out, sl)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// stale lists the silences past TombstoneTTL at now; called under writeMu.
func (s *Store) stale(now time.Time) []string {
	var ids []string
	for id, sl := range s.byID {
		if !kept(sl, now) {
			ids = append(ids, id)
		}
	}
	return ids
}

// Add makes a new silence of sl's globs, author, reason and times (see
// Prepare; Created, when zero, is now), saves it and returns it with its
// ID and Version 1. sl's ID, Version and ExpiredAt must be zero: a peer's
// silence goes to Merge. A silence of everything (both globs "*") is
// allowed; the CLI asks for --all. Errors wrap ErrInvalid, or ErrFull when
// MaxSilences are kept, or are the file's.
func (s *Store) Add(sl Silence) (Silence, error) {
	if sl.ID != "" || sl.Version != 0 || !sl.ExpiredAt.IsZero() {
		return Silence{}, invalidf("a new silence has no ID, version nor expired_at yet: Add makes them (Merge takes a peer's silence)")
	}
	e, err := s.change("add", true, func(now time.Time) (edit, error) {
		var e edit
		if sl.Created.IsZero() {
			sl.Created = now
		}
		var err error
		if sl, err = Prepare(sl); err != nil {
			return e, err
		}
		if !sl.Expires.After(now) {
			return e, invalidf("the silence would end at %s, which is past", sl.Expires.Format(time.RFC3339))
		}
		if len(s.byID) >= s.max {
			e.drop = s.stale(now)
			if len(s.byID)-len(e.drop) >= s.max {
				return edit{}, fmt.Errorf("%w: %d are kept, the ended ones included until %s after their planned end", ErrFull, len(s.byID), TombstoneTTL)
			}
		}
		sl.ID, sl.Version = newID(), 1
		for _, dup := s.byID[sl.ID]; dup; _, dup = s.byID[sl.ID] {
			sl.ID = newID()
		}
		if err := sl.Validate(); err != nil {
			return edit{}, err
		}
		e.put = []Silence{sl}
		return e, nil
	})
	if err != nil {
		return Silence{}, err
	}
	return e.put[0], nil
}

// Expire ends silence id at now (ExpiredAt, Version+1), saves it and
// returns it. A silence that had already ended is returned unchanged. The
// error is ErrNotFound for an unknown id (or one dropped by GC), else the
// file's.
func (s *Store) Expire(id string, now time.Time) (Silence, error) {
	var cur Silence
	_, err := s.change("expire", true, func(time.Time) (edit, error) {
		var ok bool
		if cur, ok = s.byID[id]; !ok {
			return edit{}, fmt.Errorf("%w: no silence has ID %q", ErrNotFound, clip(id))
		}
		if !cur.Active(now) {
			return edit{}, nil
		}
		if cur.Version == ^uint64(0) {
			return edit{}, invalidf("silence %s cannot change any more (its version is the largest)", id)
		}
		next := cur
		next.Version++
		next.ExpiredAt = wholeSecond(now)
		if err := next.Validate(); err != nil {
			return edit{}, err
		}
		cur = next
		return edit{put: []Silence{next}}, nil
	})
	if err != nil {
		return Silence{}, err
	}
	return cur, nil
}

// Merge takes a silence a peer sent: it is kept when its ID is unknown, or
// when it is a later copy (a higher version, or the same expired later)
// than the one kept. An invalid silence, one past TombstoneTTL, or a new
// one beyond MaxSilences is ignored. It reports whether anything changed.
// A failed write is logged: the change holds in memory and the next write
// saves it.
func (s *Store) Merge(sl Silence) bool { return s.MergeAll([]Silence{sl}) > 0 }

// MergeAll merges many silences (a peer's All, for anti-entropy) with one
// write, and returns how many changed.
func (s *Store) MergeAll(list []Silence) int {
	e, _ := s.change("merge", false, func(now time.Time) (edit, error) {
		var e edit
		taken := map[string]int{} // ID to its index in e.put
		size := len(s.byID)
		gcDone := false
		for _, sl := range list {
			if sl.Validate() != nil || !kept(sl, now) {
				continue
			}
			if i, ok := taken[sl.ID]; ok {
				if newer(sl, e.put[i]) {
					e.put[i] = sl
				}
				continue
			}
			if cur, ok := s.byID[sl.ID]; ok {
				if newer(sl, cur) {
					taken[sl.ID] = len(e.put)
					e.put = append(e.put, sl)
				}
				continue
			}
			if size >= s.max && !gcDone {
				e.drop, gcDone = s.stale(now), true
				size -= len(e.drop)
			}
			if size >= s.max {
				continue
			}
			size++
			taken[sl.ID] = len(e.put)
			e.put = append(e.put, sl)
		}
		return e, nil
	})
	return len(e.put)
}

// GC forgets the silences kept past TombstoneTTL after their planned end
// at now, and returns how many. It tells OnChange nothing.
func (s *Store) GC(now time.Time) int {
	e, _ := s.change("gc", false, func(time.Time) (edit, error) {
		return edit{drop: s.stale(now)}, nil
	})
	return len(e.drop)
}

// Get returns silence id, active or not.
func (s *Store) Get(id string) (Silence, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	sl, ok := s.byID[id]
	return sl, ok
}

// List returns the silences active at now (with includeExpired, also those
// that ended and are still kept), sorted by their end, then ID.
func (s *Store) List(now time.Time, includeExpired bool) []Silence {
	s.mu.RLock()
	out := make([]Silence, 0, len(s.byID))
	for _, sl := range s.byID {
		if includeExpired || sl.Active(now) {
			out = append(out, sl)
		}
	}
	s.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i].End(), out[j].End()
		if !a.Equal(b) {
			return a.Before(b)
		}
		return out[i].ID < out[j].ID
	})
	return out
}

// Match returns the silence active at now whose globs match node and
// check; of several, the one that ends last (then the smallest ID).
func (s *Store) Match(node, check string, now time.Time) (Silence, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var best Silence
	found := false
	for _, sl := range s.byID {
		if !sl.Active(now) || !sl.Matches(node, check) {
			continue
		}
		if !found || sl.End().After(best.End()) || sl.End().Equal(best.End()) && sl.ID < best.ID {
			best, found = sl, true
		}
	}
	return best, found
}

// All returns every silence kept, ended ones included, sorted by ID: what a
// node sends a peer for anti-entropy (MergeAll).
func (s *Store) All() []Silence {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return sortedByID(s.byID)
}

// NextChange is the next time after now that a silence active at now ends:
// when the dispatcher should look again at what it holds back. Zero when
// no silence is active.
func (s *Store) NextChange(now time.Time) time.Time {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var next time.Time
	for _, sl := range s.byID {
		if end := sl.End(); sl.Active(now) && (next.IsZero() || end.Before(next)) {
			next = end
		}
	}
	return next
}
