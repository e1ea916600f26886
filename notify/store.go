package notify

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/hashicorp/go-hclog"

	"github.com/satellite-hq/satellite/sinks"
	"github.com/satellite-hq/satellite/sinks/spool"
)

// A notifier's state on disk, under agent.data_dir/notify/TYPE.NAME/:
//
//	spool/             the alerts decided and not yet delivered: a write-ahead
//	                   spool (sinks/spool), so a kill -9 loses none
//	open.json          the problems delivered and not resolved: after a
//	                   restart no problem is sent twice and every one is
//	                   resolved
//	dead-letter.jsonl  the messages the receiver rejected
const (
	openFile       = "open.json"
	deadLetterFile = "dead-letter.jsonl"
	// spoolMax bounds a notifier's spool: alerts are a few hundred bytes.
	spoolMax = 64 << 20
)

// Dir is a notifier's folder under the data dir.
func Dir(dataDir, addr string) string { return filepath.Join(dataDir, "notify", addr) }

// alertQueue is where a notifier's alerts wait: a spool, or memory when
// there is no data dir (tests of the dispatcher alone).
type alertQueue interface {
	Push(Alert) error
	Peek(n int) ([]Alert, error)
	Ack(n int) error
	Len() int
	Close() error
}

// alertCodec encodes alerts in a spool: a version byte, then JSON (alerts
// hold no NaN, and are encoded off the scheduler's goroutine).
type alertCodec struct{}

const alertVersion = 1

func (alertCodec) Append(dst []byte, a *Alert) []byte {
	b, err := json.Marshal(a)
	if err != nil {
		b = []byte("{}") // an Alert always encodes: strings, a time, a map of strings
	}
	return append(append(dst, alertVersion), b...)
}

func (alertCodec) Decode(p []byte) (Alert, error) {
	var a Alert
	if len(p) == 0 || p[0] != alertVersion {
		return a, errors.New("unknown alert encoding")
	}
	err := json.Unmarshal(p[1:], &a)
	return a, err
}

// memQueue is an unbounded in-memory alertQueue.
type memQueue struct {
	mu sync.Mutex
	q  []Alert
}

func (m *memQueue) Push(a Alert) error {
	m.mu.Lock()
	m.q = append(m.q, a)
	m.mu.Unlock()
	return nil
}

func (m *memQueue) Peek(n int) ([]Alert, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]Alert(nil), m.q[:min(n, len(m.q))]...), nil
}

func (m *memQueue) Ack(n int) error {
	m.mu.Lock()
	m.q = m.q[min(n, len(m.q)):]
	m.mu.Unlock()
	return nil
}

func (m *memQueue) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.q)
}

func (m *memQueue) Close() error { return nil }

// store is a notifier's state on disk; nil-safe for the in-memory case.
type store struct {
	dir  string
	dead *sinks.DeadLetterFile
}

func openStore(dir string, log hclog.Logger) (*store, alertQueue, map[string]Alert, error) {
	if dir == "" {
		return nil, &memQueue{}, map[string]Alert{}, nil
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, nil, nil, err
	}
	sp, err := spool.OpenCodec[Alert](spool.Options{Dir: filepath.Join(dir, "spool"), MaxBytes: spoolMax, Logger: log}, alertCodec{})
	if err != nil {
		return nil, nil, nil, err
	}
	s := &store{dir: dir, dead: sinks.NewDeadLetterFile(filepath.Join(dir, deadLetterFile), 0)}
	open, err := s.loadOpen()
	if err != nil {
		// The problems open are lost, not the alerts to come: say so and
		// go on (a recovery may then not be sent).
		log.Error("notifier state unreadable: starting without the problems open", "path", filepath.Join(dir, openFile), "error", err)
		open = map[string]Alert{}
	}
	return s, sp, open, nil
}

type openDoc struct {
	Version int     `json:"version"`
	Open    []Alert `json:"open"`
}

func (s *store) loadOpen() (map[string]Alert, error) {
	out := map[string]Alert{}
	b, err := os.ReadFile(filepath.Join(s.dir, openFile))
	if errors.Is(err, os.ErrNotExist) {
		return out, nil
	}
	if err != nil {
		return out, err
	}
	var doc openDoc
	if err := json.Unmarshal(b, &doc); err != nil {
		return out, err
	}
	if doc.Version != 1 {
		return out, fmt.Errorf("version %d of %s is not known", doc.Version, openFile)
	}
	for _, a := range doc.Open {
		out[a.Key] = a
	}
	return out, nil
}

// saveOpen replaces open.json (write, fsync, rename).
func (s *store) saveOpen(open map[string]Alert) error {
	if s == nil {
		return nil
	}
	doc := openDoc{Version: 1, Open: make([]Alert, 0, len(open))}
	for _, a := range open {
		doc.Open = append(doc.Open, a)
	}
	return writeFileSync(filepath.Join(s.dir, openFile), doc)
}

// deadLetter is one line of dead-letter.jsonl.
type deadLetter struct {
	Error   string   `json:"error"`
	Message *Message `json:"message"`
}

func (s *store) deadLetter(m *Message, cause error) error {
	if s == nil {
		return nil
	}
	return s.dead.Append(deadLetter{Error: cause.Error(), Message: m})
}

func (s *store) close() {
	if s != nil {
		_ = s.dead.Close()
	}
}
