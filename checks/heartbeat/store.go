package heartbeatcheck

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/satellite-hq/satellite/internal/atomicfile"

	"github.com/satellite-hq/satellite/checks"
)

// Dir is the folder, under agent.data_dir, that holds one file per
// heartbeat check.
const Dir = "heartbeats"

// MaxMessage bounds the message a heartbeat keeps, in bytes: it goes into
// the check's detail or error, so into the status document, the history and
// the sinks.
const MaxMessage = 256

// maxRecord bounds what is read of a heartbeat file: one is about 200 bytes.
const maxRecord = 8 << 10

// maxPlain bounds the escaped check name a file is named after; a longer
// one (a long for_each key) is cut and followed by a hash of the address.
const maxPlain = 160

// tmpPattern names the temporary files of writeAtomic; no file FileName
// makes starts with a dot.
const tmpPattern = ".tmp-*"

// Record is what the file of one heartbeat check holds.
type Record struct {
	// Check is the check's address, so that a file is never read for
	// another check.
	Check string `json:"check"`
	// Watching is when this node first ran the check (or, when a heartbeat
	// came first, that heartbeat): the first heartbeat is due within
	// `within` of it, restarts included.
	Watching time.Time `json:"watching_since"`
	// Last is when the latest heartbeat came; zero before the first.
	Last time.Time `json:"last,omitzero"`
	// Failed is true when the latest heartbeat reported a failure
	// (?status=fail).
	Failed bool `json:"failed,omitempty"`
	// Message is what the latest heartbeat said (its body), cleaned by
	// CleanMessage.
	Message string `json:"message,omitempty"`
}

// FileName is the name of the file of the check at address in Dir: the
// check's name (what follows "heartbeat.") with every byte but ASCII
// letters, digits, "_" and "-" written as %XX, plus ".json". An address
// that does not start with "heartbeat.", has an empty name, or whose escaped
// name is longer than maxPlain bytes is named by its first bytes, "~" and
// a SHA-256 of the whole address. The name is one path component, never
// "." or "..", at most about 200 bytes, and different addresses get
// different names ("~" is always escaped in the plain form). It never holds
// anything secret: the address is in logs and the API anyway.
func FileName(address string) string {
	name, typed := strings.CutPrefix(address, Type+".")
	var b strings.Builder
	b.Grow(len(name) + 8)
	for i := 0; i < len(name) && b.Len() <= maxPlain; i++ {
		c := name[i]
		if safe(c) {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	s := b.String()
	if !typed || s == "" || b.Len() > maxPlain {
		sum := sha256.Sum256([]byte(address))
		s = s[:min(len(s), maxPlain)] + "~" + hex.EncodeToString(sum[:16])
	}
	return s + ".json"
}

func safe(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-'
}

// Path is the file of the check at address under dataDir.
func Path(dataDir, address string) string {
	return filepath.Join(dataDir, Dir, FileName(address))
}

// CleanMessage makes a heartbeat's body into the one line it keeps:
// invalid UTF-8 and control characters (newlines, tabs, escapes) become
// spaces, runs of spaces one, and the result is cut to MaxMessage bytes on
// a character boundary.
func CleanMessage(s string) string {
	var b strings.Builder
	space := false
	for _, r := range strings.ToValidUTF8(s, " ") {
		if unicode.IsControl(r) || unicode.IsSpace(r) || r == utf8.RuneError {
			space = b.Len() > 0
			continue
		}
		n := utf8.RuneLen(r)
		if space {
			n++
		}
		if b.Len()+n > MaxMessage {
			break
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		b.WriteRune(r)
	}
	return b.String()
}

// fileMu serialises every read-modify-write of the heartbeat files in this
// process (a heartbeat arriving while a run records when it started
// watching), whichever checker (the one before a reload, or after) does it.
var fileMu sync.Mutex

// errCorrupt marks a heartbeat file that is not one.
var errCorrupt = errors.New("not a heartbeat file")

// load reads the record at path, which must be address's; a missing file
// is an error wrapping fs.ErrNotExist.
func load(path, address string) (Record, error) {
	var r Record
	data, err := checks.ReadFileLimited(path, maxRecord, "a heartbeat file")
	if err != nil {
		return r, err
	}
	if err := json.Unmarshal(data, &r); err != nil {
		return Record{}, fmt.Errorf("%s: %w (%v)", path, errCorrupt, err)
	}
	switch {
	case r.Check != address:
		return Record{}, fmt.Errorf("%s: %w: it is %q's, not %s's", path, errCorrupt, r.Check, address)
	case r.Watching.IsZero():
		return Record{}, fmt.Errorf("%s: %w: it has no watching_since", path, errCorrupt)
	}
	return r, nil
}

// save replaces the record at path: a temporary file in the same folder
// (created with the folder when missing), fsync, rename, then fsync of the
// folder, so that a crash leaves the old record or the new one, never half.
func save(path string, r Record) error {
	data, err := json.Marshal(r)
	if err != nil {
		return err
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	if err := atomicfile.Write(path, append(data, '\n'), 0o640, tmpPattern); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

// watch returns the record of the check at path, and writes one that says
// it is watched from now when there is none yet.
func watch(path, address string, now time.Time) (Record, error) {
	fileMu.Lock()
	defer fileMu.Unlock()
	r, err := load(path, address)
	if !errors.Is(err, fs.ErrNotExist) {
		return r, err
	}
	r = Record{Check: address, Watching: now.UTC()}
	if err := save(path, r); err != nil {
		return r, fmt.Errorf("recording when the check started watching: %w", err)
	}
	return r, nil
}

// beat records a heartbeat of the check at path at now. A record that
// cannot be read (missing, or corrupt) is started afresh: the heartbeat is
// what matters.
func beat(path, address string, now time.Time, failed bool, message string) (Record, error) {
	fileMu.Lock()
	defer fileMu.Unlock()
	now = now.UTC()
	r, err := load(path, address)
	if err != nil || r.Watching.After(now) {
		r = Record{Check: address, Watching: now}
	}
	r.Last, r.Failed, r.Message = now, failed, CleanMessage(message)
	return r, save(path, r)
}
