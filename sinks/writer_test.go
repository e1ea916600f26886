package sinks_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/satellite-hq/satellite/health"
	"github.com/satellite-hq/satellite/sinks"
	"github.com/satellite-hq/satellite/sinks/spool"
	"github.com/satellite-hq/satellite/sinks/sqlite"
)

// testSink is the real SQLite sink with the failures a test asks for: it
// fails while failing is set, and the first failFirst writes. It records the
// size of every batch it stored.
type testSink struct {
	db        *sqlite.DB
	failFirst int64
	failing   atomic.Bool
	calls     atomic.Int64
	closed    atomic.Bool

	mu      sync.Mutex
	batches []int
}

var errInjected = errors.New("injected failure")

func (s *testSink) Write(ctx context.Context, batch []sinks.Record) error {
	if n := s.calls.Add(1); n <= s.failFirst || s.failing.Load() {
		return errInjected
	}
	if err := s.db.Write(ctx, batch); err != nil {
		return err
	}
	s.mu.Lock()
	s.batches = append(s.batches, len(batch))
	s.mu.Unlock()
	return nil
}

func (s *testSink) Close() error {
	s.closed.Store(true)
	return s.db.Close()
}

func (s *testSink) sizes() []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.batches)
}

// newTestSink opens a real history database in a temporary folder.
func newTestSink(t *testing.T) *testSink {
	t.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), sqlite.HistoryFile), 0)
	if err != nil {
		t.Fatal(err)
	}
	s := &testSink{db: db}
	t.Cleanup(func() { _ = db.Close() }) // Close again does nothing
	return s
}

// stored returns the checks of the stored records, oldest first.
func (s *testSink) stored(t *testing.T) []string {
	t.Helper()
	// Closing the writer closes the database; read from a fresh handle.
	db, err := sqlite.Open(context.Background(), s.db.Path(), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	changes, err := db.StateChanges(context.Background(), health.Query{})
	if err != nil {
		t.Fatal(err)
	}
	out := make([]string, len(changes))
	for i, c := range changes {
		out[len(changes)-1-i] = c.Check // newest first
	}
	return out
}

var base = time.Now().Add(-time.Hour).Truncate(time.Millisecond)

// rec is the i-th record of a test: a state change, so that StateChanges
// reads it back, one millisecond after the previous one.
func rec(i int) sinks.Record {
	return sinks.Record{
		Time: base.Add(time.Duration(i) * time.Millisecond), Node: "n1", Check: name(i), Type: "tcp",
		Status: "critical", RunStatus: "critical", Changed: true, Previous: "passing", Error: "refused",
	}
}

func name(i int) string { return fmt.Sprintf("tcp.c%04d", i) }

func names(from, to int) []string {
	var out []string
	for i := from; i < to; i++ {
		out = append(out, name(i))
	}
	return out
}

// noLeaks fails the test when it ends with more goroutines than it started
// with. Register it first: cleanups run last-in first-out.
func noLeaks(t *testing.T) {
	t.Helper()
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(5 * time.Second)
		for runtime.NumGoroutine() > before {
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<16)
				t.Errorf("goroutines: %d before, %d after\n%s", before, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}

// start runs w in a goroutine that the test owns, and closes w at the end.
func start(t *testing.T, w *sinks.Writer) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- w.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		// ErrWriterClosed: the test closed w before Run began.
		if err := <-errc; err != nil && !errors.Is(err, sinks.ErrWriterClosed) {
			t.Errorf("Run: %v", err)
		}
		_ = w.Close(context.Background())
	})
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func enqueue(t *testing.T, w *sinks.Writer, from, to int) {
	t.Helper()
	for i := from; i < to; i++ {
		if !w.Enqueue(rec(i)) {
			t.Fatalf("Enqueue(%d) dropped the record", i)
		}
	}
}

func closeWriter(t *testing.T, w *sinks.Writer) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := w.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

func TestWriterBatchesBySize(t *testing.T) {
	noLeaks(t)
	s := newTestSink(t)
	w := sinks.NewWriter(s, sinks.WriterOptions{Name: "sqlite.test", BatchSize: 10, FlushInterval: time.Hour})
	start(t, w)

	enqueue(t, w, 0, 25)
	eventually(t, "two full batches", func() bool { return w.Stats().Delivered == 20 })
	// The last 5 wait for the interval (an hour) or Close.
	time.Sleep(50 * time.Millisecond)
	if st := w.Stats(); st.Delivered != 20 || st.Queued != 5 {
		t.Fatalf("stats = %+v, want 20 delivered and 5 queued", st)
	}
	if got := s.sizes(); !slices.Equal(got, []int{10, 10}) {
		t.Fatalf("batches = %v, want [10 10]", got)
	}

	closeWriter(t, w)
	if got := s.sizes(); !slices.Equal(got, []int{10, 10, 5}) {
		t.Errorf("batches = %v, want [10 10 5]", got)
	}
	if got := s.stored(t); !slices.Equal(got, names(0, 25)) {
		t.Errorf("stored %v", got)
	}
}

func TestWriterBatchesByInterval(t *testing.T) {
	noLeaks(t)
	s := newTestSink(t)
	w := sinks.NewWriter(s, sinks.WriterOptions{BatchSize: 100, FlushInterval: 20 * time.Millisecond})
	start(t, w)

	enqueue(t, w, 0, 3)
	eventually(t, "the interval flush", func() bool { return w.Stats().Delivered == 3 })
	enqueue(t, w, 3, 5)
	eventually(t, "the second interval flush", func() bool { return w.Stats().Delivered == 5 })
	if got := s.sizes(); !slices.Equal(got, []int{3, 2}) {
		t.Errorf("batches = %v, want [3 2]", got)
	}
	if got := s.stored(t); !slices.Equal(got, names(0, 5)) {
		t.Errorf("stored %v", got)
	}
}

func TestWriterCloseFlushesEverything(t *testing.T) {
	for _, run := range []bool{true, false} {
		t.Run(fmt.Sprintf("run=%v", run), func(t *testing.T) {
			noLeaks(t)
			s := newTestSink(t)
			w := sinks.NewWriter(s, sinks.WriterOptions{BatchSize: 100, FlushInterval: time.Hour})
			if run {
				start(t, w)
			}
			enqueue(t, w, 0, 250)
			if run {
				// Close while Run is running: the full batches are out.
				eventually(t, "two full batches", func() bool { return w.Stats().Delivered == 200 })
			}
			closeWriter(t, w)

			st := w.Stats()
			if st.Delivered != 250 || st.Queued != 0 || st.Dropped != 0 {
				t.Errorf("stats = %+v", st)
			}
			if !s.closed.Load() {
				t.Error("Close did not close the sink")
			}
			if got := s.stored(t); !slices.Equal(got, names(0, 250)) {
				t.Errorf("stored %d records, want 250 in order", len(got))
			}
			// Closed: records are refused and counted.
			if w.Enqueue(rec(250)) {
				t.Error("Enqueue after Close accepted a record")
			}
			if st := w.Stats(); st.Dropped != 1 {
				t.Errorf("dropped = %d, want 1", st.Dropped)
			}
			if err := w.Close(context.Background()); err != nil {
				t.Errorf("second Close: %v", err)
			}
			if err := w.Run(context.Background()); !errors.Is(err, sinks.ErrWriterClosed) {
				t.Errorf("Run after Close = %v, want ErrWriterClosed", err)
			}
		})
	}
}

func TestWriterDropsWhenFull(t *testing.T) {
	noLeaks(t)
	s := newTestSink(t)
	// Not running: nothing leaves the queue until Close.
	w := sinks.NewWriter(s, sinks.WriterOptions{BatchSize: 2, QueueSize: 5})
	accepted := 0
	for i := range 8 {
		if w.Enqueue(rec(i)) {
			accepted++
		}
	}
	if st := w.Stats(); accepted != 5 || st.Queued != 5 || st.Dropped != 3 {
		t.Fatalf("accepted %d, stats %+v; want 5 accepted, 5 queued, 3 dropped", accepted, st)
	}
	closeWriter(t, w)
	if got := s.stored(t); !slices.Equal(got, names(0, 5)) {
		t.Errorf("stored %v, want the first 5", got)
	}
}

func TestWriterDefaultQueueSize(t *testing.T) {
	s := newTestSink(t)
	w := sinks.NewWriter(s, sinks.WriterOptions{BatchSize: 3})
	for i := range 40 {
		w.Enqueue(rec(i))
	}
	if st := w.Stats(); st.Queued != 30 || st.Dropped != 10 {
		t.Errorf("stats %+v, want 30 queued (10 batches) and 10 dropped", st)
	}
	closeWriter(t, w)
}

func TestWriterRetriesFailedBatch(t *testing.T) {
	noLeaks(t)
	s := newTestSink(t)
	s.failFirst = 3
	w := sinks.NewWriter(s, sinks.WriterOptions{
		BatchSize: 5, FlushInterval: 5 * time.Millisecond,
		MinBackoff: time.Millisecond, MaxBackoff: 4 * time.Millisecond,
	})
	start(t, w)

	enqueue(t, w, 0, 12)
	eventually(t, "delivery after the failures", func() bool { return w.Stats().Delivered == 12 })
	st := w.Stats()
	if st.Failures != 3 || st.Retries != 3 || st.Dropped != 0 || st.LastError != "" {
		t.Errorf("stats = %+v; want 3 failures, 3 retries, no drops, no last error", st)
	}
	// The failed batch was the first 5, and was written first, whole.
	if got := s.sizes(); len(got) == 0 || got[0] != 5 {
		t.Errorf("batches = %v, want the first to be the retried 5", got)
	}
	if got := s.stored(t); !slices.Equal(got, names(0, 12)) {
		t.Errorf("stored %v, want 12 in order", got)
	}
}

func TestWriterKeepsAcceptingWhileRetrying(t *testing.T) {
	noLeaks(t)
	s := newTestSink(t)
	s.failing.Store(true)
	w := sinks.NewWriter(s, sinks.WriterOptions{
		BatchSize: 5, QueueSize: 10, FlushInterval: 5 * time.Millisecond,
		MinBackoff: time.Millisecond, MaxBackoff: 2 * time.Millisecond,
	})
	start(t, w)

	enqueue(t, w, 0, 5)
	eventually(t, "failed writes", func() bool { return w.Stats().Failures >= 2 })
	if st := w.Stats(); !strings.Contains(st.LastError, errInjected.Error()) || st.Delivered != 0 {
		t.Fatalf("stats while failing = %+v", st)
	}
	// The writer is retrying the first batch; Enqueue still answers at
	// once, and drops what does not fit.
	done := make(chan int)
	go func() {
		accepted := 0
		for i := 5; i < 20; i++ {
			if w.Enqueue(rec(i)) {
				accepted++
			}
		}
		done <- accepted
	}()
	select {
	case accepted := <-done:
		if accepted != 5 {
			t.Fatalf("accepted %d more, want 5 (queue of 10)", accepted)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Enqueue blocked while the sink was failing")
	}
	if st := w.Stats(); st.Dropped != 10 || st.Queued != 10 {
		t.Fatalf("stats = %+v, want 10 dropped and 10 queued", st)
	}

	s.failing.Store(false)
	eventually(t, "delivery after recovery", func() bool { return w.Stats().Delivered == 10 })
	if st := w.Stats(); st.LastError != "" || st.Retries == 0 || st.Queued != 0 {
		t.Errorf("stats after recovery = %+v", st)
	}
	if got := s.stored(t); !slices.Equal(got, names(0, 10)) {
		t.Errorf("stored %v, want the first 10 in order", got)
	}
}

func TestWriterCloseBoundedByContext(t *testing.T) {
	noLeaks(t)
	s := newTestSink(t)
	s.failing.Store(true)
	w := sinks.NewWriter(s, sinks.WriterOptions{
		BatchSize: 5, FlushInterval: time.Millisecond,
		MinBackoff: 10 * time.Millisecond, MaxBackoff: 20 * time.Millisecond,
	})
	start(t, w)
	enqueue(t, w, 0, 7)
	eventually(t, "a failed write", func() bool { return w.Stats().Failures >= 1 })

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	began := time.Now()
	err := w.Close(ctx)
	if err == nil || !strings.Contains(err.Error(), "7 record(s) not delivered") {
		t.Errorf("Close = %v, want an error counting 7 undelivered records", err)
	}
	if d := time.Since(began); d > 5*time.Second {
		t.Errorf("Close took %s despite a 100ms context", d)
	}
	if st := w.Stats(); st.Dropped != 7 || st.Delivered != 0 {
		t.Errorf("stats = %+v, want 7 dropped", st)
	}
	if !s.closed.Load() {
		t.Error("the sink was not closed")
	}
}

// hangingSink blocks in Write until its context ends, as a sink stuck on a
// dead network peer would.
type hangingSink struct {
	entered chan struct{}
	once    sync.Once
}

func (h *hangingSink) Write(ctx context.Context, _ []sinks.Record) error {
	h.once.Do(func() { close(h.entered) })
	<-ctx.Done()
	return ctx.Err()
}

func (h *hangingSink) Close() error { return nil }

func TestWriterCloseCancelsHungWrite(t *testing.T) {
	noLeaks(t)
	h := &hangingSink{entered: make(chan struct{})}
	w := sinks.NewWriter(h, sinks.WriterOptions{BatchSize: 1})
	start(t, w)
	enqueue(t, w, 0, 3)
	<-h.entered

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := w.Close(ctx); err == nil {
		t.Error("Close returned no error with records undelivered")
	}
	if st := w.Stats(); st.Dropped != 3 {
		t.Errorf("stats = %+v, want 3 dropped", st)
	}
}

func TestWriterRunTwice(t *testing.T) {
	noLeaks(t)
	w := sinks.NewWriter(newTestSink(t), sinks.WriterOptions{BatchSize: 1})
	start(t, w)
	// A delivery shows that Run has started.
	enqueue(t, w, 0, 1)
	eventually(t, "a delivery", func() bool { return w.Stats().Delivered == 1 })
	if err := w.Run(context.Background()); err == nil || errors.Is(err, sinks.ErrWriterClosed) {
		t.Errorf("second Run = %v, want an error", err)
	}
}

// TestWriterConcurrentEnqueue runs producers against a live writer under
// -race, and checks that every record is either delivered or counted.
func TestWriterConcurrentEnqueue(t *testing.T) {
	noLeaks(t)
	s := newTestSink(t)
	w := sinks.NewWriter(s, sinks.WriterOptions{BatchSize: 16, QueueSize: 64, FlushInterval: time.Millisecond})
	start(t, w)

	var wg sync.WaitGroup
	var accepted atomic.Uint64
	for p := range 4 {
		wg.Go(func() {
			for i := range 200 {
				if w.Enqueue(rec(p*1000 + i)) {
					accepted.Add(1)
				}
				_ = w.Stats()
			}
		})
	}
	wg.Wait()
	closeWriter(t, w)
	st := w.Stats()
	if st.Delivered != accepted.Load() || st.Delivered+st.Dropped != 800 {
		t.Errorf("stats = %+v, accepted %d; want delivered = accepted and delivered + dropped = 800", st, accepted.Load())
	}
	if got := len(s.stored(t)); uint64(got) != st.Delivered {
		t.Errorf("stored %d, delivered %d", got, st.Delivered)
	}
}

func TestMemoryQueue(t *testing.T) {
	q := sinks.NewMemoryQueue(4)
	next, want := 0, 0
	// Many rounds of push, peek and ack, so that the buffer wraps and is
	// compacted; order must hold throughout.
	for round := range 50 {
		for q.Len() < 4 {
			if err := q.Push(rec(next)); err != nil {
				t.Fatal(err)
			}
			next++
		}
		if err := q.Push(rec(next)); !errors.Is(err, sinks.ErrQueueFull) {
			t.Fatalf("Push on a full queue = %v", err)
		}
		n := round%3 + 1
		got, err := q.Peek(n)
		if err != nil || len(got) != n {
			t.Fatalf("Peek(%d) = %d records, %v", n, len(got), err)
		}
		for _, r := range got {
			if r.Check != name(want) {
				t.Fatalf("round %d: got %s, want %s", round, r.Check, name(want))
			}
			want++
		}
		// The copy is the caller's: changing it does not change the queue.
		got[0].Check = "changed"
		if err := q.Ack(n); err != nil {
			t.Fatal(err)
		}
	}
	rest, _ := q.Peek(10)
	if len(rest) != q.Len() || rest[0].Check != name(want) {
		t.Errorf("rest = %d records starting %s, want %d starting %s", len(rest), rest[0].Check, q.Len(), name(want))
	}
	if err := q.Ack(100); err != nil || q.Len() != 0 {
		t.Errorf("Ack(100) = %v, len %d", err, q.Len())
	}
	if got, _ := q.Peek(1); got != nil {
		t.Errorf("Peek on empty = %v", got)
	}
}

// idSink records the IDs and checks of what it stores. It fails every Write
// while failing is set, and rejects (sinks.Reject) every batch holding a
// record whose check is in bad, as InfluxDB rejects a whole batch for one
// point with a conflicting field type.
type idSink struct {
	failing atomic.Bool
	bad     map[string]bool

	mu     sync.Mutex
	ids    []string
	checks []string
	writes int
}

func (s *idSink) Write(_ context.Context, batch []sinks.Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.writes++
	if s.failing.Load() {
		return errInjected
	}
	for _, r := range batch {
		if s.bad[r.Check] {
			return sinks.Reject(fmt.Errorf("field type conflict in %s", r.Check))
		}
	}
	for _, r := range batch {
		s.ids = append(s.ids, r.ID())
		s.checks = append(s.checks, r.Check)
	}
	return nil
}

func (s *idSink) Close() error { return nil }

func (s *idSink) stored() ([]string, []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.ids), slices.Clone(s.checks)
}

func ids(from, to int) []string {
	var out []string
	for i := from; i < to; i++ {
		out = append(out, rec(i).ID())
	}
	return out
}

func openSpool(t *testing.T, dir string, max int64) *spool.Spool[sinks.Record] {
	t.Helper()
	s, err := spool.Open(spool.Options{Dir: dir, MaxBytes: max, SegmentBytes: 8 << 10})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// TestWriterSpoolOutage: a sink down for a while, with a real spool behind
// the writer; when it comes back, every record arrives once, in order.
func TestWriterSpoolOutage(t *testing.T) {
	noLeaks(t)
	s := &idSink{}
	s.failing.Store(true)
	sp := openSpool(t, t.TempDir(), 0)
	w := sinks.NewWriter(s, sinks.WriterOptions{
		BatchSize: 50, FlushInterval: 2 * time.Millisecond, Queue: sp,
		MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond,
	})
	start(t, w)

	enqueue(t, w, 0, 1000)
	eventually(t, "retries", func() bool { return w.Stats().Retries >= 3 })
	st := w.Stats()
	if st.Delivered != 0 || st.Queued != 1000 || st.SpoolBytes == 0 || st.SpoolBytes != uint64(sp.Bytes()) {
		t.Fatalf("stats while down = %+v", st)
	}
	enqueue(t, w, 1000, 2000) // the outage goes on
	s.failing.Store(false)
	eventually(t, "delivery after the outage", func() bool { return w.Stats().Delivered == 2000 })
	gotIDs, _ := s.stored()
	if !slices.Equal(gotIDs, ids(0, 2000)) {
		t.Errorf("stored %d records, want the 2000 once each in order", len(gotIDs))
	}
	closeWriter(t, w)
	if st := w.Stats(); st.Dropped != 0 || st.Queued != 0 || st.DeadLettered != 0 {
		t.Errorf("stats = %+v", st)
	}
}

// TestWriterDeadLetter: batches holding bad records are rejected whole; the
// writer finds the bad records, moves them to the dead-letter file, and
// delivers the rest, in order.
func TestWriterDeadLetter(t *testing.T) {
	bad := map[string]bool{name(3): true, name(40): true, name(41): true, name(99): true}
	for _, q := range []string{"memory", "spool"} {
		t.Run(q, func(t *testing.T) {
			noLeaks(t)
			dir := t.TempDir()
			dl := filepath.Join(dir, "dead", "letters.jsonl")
			s := &idSink{bad: bad}
			opts := sinks.WriterOptions{Name: "test.dl", BatchSize: 25, FlushInterval: time.Millisecond, DeadLetter: dl}
			if q == "spool" {
				opts.Queue = openSpool(t, filepath.Join(dir, "spool"), 0)
			}
			w := sinks.NewWriter(s, opts)
			start(t, w)
			enqueue(t, w, 0, 100)
			eventually(t, "the good records", func() bool { return w.Stats().Delivered == 96 })
			_, got := s.stored()
			var want []string
			for i := range 100 {
				if !bad[name(i)] {
					want = append(want, name(i))
				}
			}
			if !slices.Equal(got, want) {
				t.Errorf("stored %v", got)
			}
			closeWriter(t, w)
			if st := w.Stats(); st.DeadLettered != 4 || st.Dropped != 0 || st.Queued != 0 {
				t.Errorf("stats = %+v", st)
			}

			letters := readDeadLetters(t, dl)
			if len(letters) != 4 {
				t.Fatalf("%d dead letters, want 4", len(letters))
			}
			for k, i := range []int{3, 40, 41, 99} {
				d := letters[k]
				if d.Record.Check != name(i) || d.Record.ID != rec(i).ID() || d.Sink != "test.dl" ||
					!strings.Contains(d.Error, "field type conflict in "+name(i)) || time.Since(d.Time) > time.Minute ||
					!d.Record.Time.Equal(rec(i).Time) {
					t.Errorf("dead letter %d = %+v", k, d)
				}
			}
		})
	}
}

func readDeadLetters(t *testing.T, path string) []sinks.DeadLetter {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []sinks.DeadLetter
	for _, line := range strings.Split(strings.TrimSuffix(string(data), "\n"), "\n") {
		var d sinks.DeadLetter
		if err := json.Unmarshal([]byte(line), &d); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		out = append(out, d)
	}
	return out
}

// TestWriterDeadLetterBounds: the dead-letter file is rotated at its bound,
// and with no file the rejected records are dropped and counted.
func TestWriterDeadLetterBounds(t *testing.T) {
	bad := map[string]bool{}
	for i := range 200 {
		bad[name(i)] = true
	}
	dl := filepath.Join(t.TempDir(), "dl.jsonl")
	w := sinks.NewWriter(&idSink{bad: bad}, sinks.WriterOptions{BatchSize: 10, QueueSize: 200, DeadLetter: dl, DeadLetterMax: 8 << 10})
	enqueue(t, w, 0, 200)
	closeWriter(t, w)
	if st := w.Stats(); st.DeadLettered != 200 {
		t.Errorf("stats = %+v", st)
	}
	cur, old := readDeadLetters(t, dl), readDeadLetters(t, dl+".1")
	for _, p := range []string{dl, dl + ".1"} {
		if fi, err := os.Stat(p); err != nil || fi.Size() > 8<<10 {
			t.Errorf("%s: %v, %d bytes over the 8 KiB bound", p, err, fi.Size())
		}
	}
	// The newest are kept, in order, across the two files.
	all := append(old, cur...)
	if all[len(all)-1].Record.Check != name(199) || len(old) == 0 {
		t.Errorf("newest dead letter %s, %d in the rotated file", all[len(all)-1].Record.Check, len(old))
	}
	for k := 1; k < len(all); k++ {
		if all[k].Record.Check != name(200-len(all)+k) {
			t.Fatalf("dead letter %d is %s", k, all[k].Record.Check)
		}
	}

	// No dead-letter file: dropped, counted.
	w = sinks.NewWriter(&idSink{bad: bad}, sinks.WriterOptions{BatchSize: 10})
	enqueue(t, w, 0, 20)
	closeWriter(t, w)
	if st := w.Stats(); st.Dropped != 20 || st.DeadLettered != 0 {
		t.Errorf("stats without a dead-letter file = %+v", st)
	}
}

func TestDeadLetterNonFinite(t *testing.T) {
	dl := filepath.Join(t.TempDir(), "dl.jsonl")
	w := sinks.NewWriter(&idSink{bad: map[string]bool{name(0): true}}, sinks.WriterOptions{DeadLetter: dl})
	r := rec(0)
	r.Metrics = map[string]float64{"nan": math.NaN(), "up": math.Inf(1), "down": math.Inf(-1), "x": 1.5}
	w.Enqueue(r)
	closeWriter(t, w)
	got := readDeadLetters(t, dl)
	want := map[string]any{"nan": "NaN", "up": "+Inf", "down": "-Inf", "x": 1.5}
	if len(got) != 1 || !maps.Equal(got[0].Record.Metrics, want) {
		t.Errorf("dead letters = %+v", got)
	}
}

// TestWriterCloseKeepsSpool: Close with the sink down leaves the records in
// the spool, not dropped, and without waiting out retries; the next writer
// delivers them.
func TestWriterCloseKeepsSpool(t *testing.T) {
	noLeaks(t)
	dir := t.TempDir()
	s := &idSink{}
	s.failing.Store(true)
	w := sinks.NewWriter(s, sinks.WriterOptions{BatchSize: 10, FlushInterval: time.Millisecond, Queue: openSpool(t, dir, 0), MinBackoff: time.Hour})
	start(t, w)
	enqueue(t, w, 0, 35)
	eventually(t, "a failure", func() bool { return w.Stats().Failures >= 1 })
	began := time.Now()
	closeWriter(t, w)
	if d := time.Since(began); d > 5*time.Second {
		t.Errorf("Close took %s", d)
	}
	if st := w.Stats(); st.Dropped != 0 || st.Queued != 35 {
		t.Errorf("stats after Close = %+v, want 35 queued and none dropped", st)
	}

	s.failing.Store(false)
	w = sinks.NewWriter(s, sinks.WriterOptions{BatchSize: 10, Queue: openSpool(t, dir, 0)})
	if st := w.Stats(); st.Queued != 35 {
		t.Fatalf("reopened spool holds %d", st.Queued)
	}
	closeWriter(t, w)
	if got, _ := s.stored(); !slices.Equal(got, ids(0, 35)) {
		t.Errorf("delivered %d after the restart", len(got))
	}
}

// TestWriterSpoolBound: with the sink down, the spool's bound drops the
// oldest records; the writer's stats count them, and Enqueue still accepts.
func TestWriterSpoolBound(t *testing.T) {
	noLeaks(t)
	sp := openSpool(t, t.TempDir(), 64<<10)
	s := &idSink{}
	w := sinks.NewWriter(s, sinks.WriterOptions{BatchSize: 100, Queue: sp}) // not running
	const n = 5000
	enqueue(t, w, 0, n)
	st := w.Stats()
	if st.Dropped == 0 || st.Dropped != sp.Dropped() || st.Queued+st.Dropped != n || st.SpoolBytes > 64<<10 {
		t.Fatalf("stats = %+v (spool dropped %d)", st, sp.Dropped())
	}
	kept := int(st.Queued)
	closeWriter(t, w) // delivers what is kept
	if got, _ := s.stored(); !slices.Equal(got, ids(n-kept, n)) {
		t.Errorf("delivered %d, want the newest %d in order", len(got), kept)
	}
}

// TestWriterSpoolBoundDuringOutage: the sink is down long enough for the
// spool to drop at its bound, while the writer retries a batch the bound
// drops under it. When the sink is back, what it gets is in order, without
// duplicates, and delivered + dropped adds up to what was enqueued.
func TestWriterSpoolBoundDuringOutage(t *testing.T) {
	noLeaks(t)
	s := &idSink{}
	s.failing.Store(true)
	sp := openSpool(t, t.TempDir(), 32<<10)
	w := sinks.NewWriter(s, sinks.WriterOptions{
		BatchSize: 40, FlushInterval: time.Millisecond, Queue: sp,
		MinBackoff: time.Millisecond, MaxBackoff: 3 * time.Millisecond,
	})
	start(t, w)
	const n = 3000
	for i := range n {
		if !w.Enqueue(rec(i)) {
			t.Fatalf("Enqueue(%d) refused", i)
		}
		if i%100 == 0 {
			time.Sleep(time.Millisecond) // let the writer retry in between
		}
	}
	if st := w.Stats(); st.Dropped == 0 || st.Retries == 0 {
		t.Fatalf("stats = %+v; want drops at the bound while retrying", st)
	}
	s.failing.Store(false)
	eventually(t, "the spool to drain", func() bool { return w.Stats().Queued == 0 })
	closeWriter(t, w)
	st := w.Stats()
	_, got := s.stored()
	if st.Delivered+st.Dropped != n || uint64(len(got)) != st.Delivered {
		t.Errorf("delivered %d + dropped %d != %d enqueued (sink has %d)", st.Delivered, st.Dropped, n, len(got))
	}
	for k := 1; k < len(got); k++ {
		if got[k] <= got[k-1] {
			t.Fatalf("%s after %s", got[k], got[k-1])
		}
	}
	if len(got) == 0 || got[len(got)-1] != name(n-1) {
		t.Errorf("the newest record was not delivered")
	}
}
