package sinks

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
)

// Defaults of WriterOptions.
const (
	DefaultBatchSize     = 100
	DefaultFlushInterval = time.Second
	// DefaultQueueFactor times BatchSize is the default QueueSize.
	DefaultQueueFactor = 10
	DefaultMinBackoff  = 500 * time.Millisecond
	DefaultMaxBackoff  = 30 * time.Second
	// DefaultDeadLetterMax is the default bound of the dead-letter file.
	DefaultDeadLetterMax = 16 << 20
)

var (
	// ErrQueueFull is returned by Queue.Push when the queue holds all it may.
	ErrQueueFull = errors.New("sink queue is full")
	// ErrWriterClosed is returned by Writer.Run after Close.
	ErrWriterClosed = errors.New("sink writer is closed")
)

// Queue holds the records a Writer has accepted and not yet delivered, oldest
// first. Records are read with Peek and removed with Ack only once the sink
// has stored them, so that a queue kept on disk can hold them across a crash.
// Push is called from the scheduler's goroutine, the rest from the Writer's,
// so an implementation must be safe for concurrent use.
//
// The Writer also uses what a queue can tell beyond this (sinks/spool can):
//
//	Durable() bool   // records survive Close and a crash: not dropped at Close
//	Bytes() int64    // size on disk, for WriterStats.SpoolBytes
//	Dropped() uint64 // records the queue dropped itself (at its bound)
//
// A queue that drops records itself should make Ack(n) after a Peek
// acknowledge exactly the records that Peek returned.
type Queue interface {
	// Push appends a record; ErrQueueFull when there is no room. It must not
	// block for long: it runs on the scheduler's goroutine.
	Push(r Record) error
	// Peek returns up to n of the oldest records without removing them. The
	// slice is the caller's.
	Peek(n int) ([]Record, error)
	// Ack removes the n oldest records, which have been delivered.
	Ack(n int) error
	// Len is the number of records held.
	Len() int
	// Close releases the queue.
	Close() error
}

// MemoryQueue is a bounded in-memory Queue. Its records are lost when the
// process ends.
type MemoryQueue struct {
	mu    sync.Mutex
	items []Record // items[head:] are queued
	head  int
	max   int
}

var _ Queue = (*MemoryQueue)(nil)

// NewMemoryQueue returns a queue that holds at most size records (at least 1).
func NewMemoryQueue(size int) *MemoryQueue {
	return &MemoryQueue{max: max(size, 1)}
}

// Push appends r, or returns ErrQueueFull.
func (q *MemoryQueue) Push(r Record) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	n := len(q.items) - q.head
	if n >= q.max {
		return ErrQueueFull
	}
	// Reuse the space Ack freed at the front rather than let append grow
	// the array past what the queue may hold.
	if q.head > 0 && len(q.items) == cap(q.items) {
		copy(q.items, q.items[q.head:])
		clear(q.items[n:])
		q.items = q.items[:n]
		q.head = 0
	}
	q.items = append(q.items, r)
	return nil
}

// Peek returns a copy of up to n of the oldest records.
func (q *MemoryQueue) Peek(n int) ([]Record, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	n = min(n, len(q.items)-q.head)
	if n <= 0 {
		return nil, nil
	}
	out := make([]Record, n)
	copy(out, q.items[q.head:q.head+n])
	return out, nil
}

// Ack removes the n oldest records.
func (q *MemoryQueue) Ack(n int) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	n = min(n, len(q.items)-q.head)
	if n <= 0 {
		return nil
	}
	// Drop the references so that delivered records can be collected.
	clear(q.items[q.head : q.head+n])
	q.head += n
	if q.head == len(q.items) {
		q.items = q.items[:0]
		q.head = 0
	}
	return nil
}

// Len returns the number of queued records.
func (q *MemoryQueue) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.items) - q.head
}

// Close does nothing; the records still queued are dropped with the queue.
func (q *MemoryQueue) Close() error { return nil }

// WriterOptions configure a Writer. Zero values take the defaults.
type WriterOptions struct {
	// Name names the sink in logs, such as "sqlite.archive".
	Name string
	// BatchSize is the most records one Write gets; a full batch is written
	// at once. Default DefaultBatchSize.
	BatchSize int
	// FlushInterval is how often whatever is queued is written, full batch
	// or not. Default DefaultFlushInterval.
	FlushInterval time.Duration
	// QueueSize bounds the in-memory queue; records that find it full are
	// dropped and counted. Default DefaultQueueFactor*BatchSize. Ignored
	// when Queue is set.
	QueueSize int
	// Queue replaces the in-memory queue, for instance with one kept on
	// disk (sinks/spool). The Writer closes it.
	Queue Queue
	// DeadLetter is the file that records the sink rejects as bad (see
	// Reject) are appended to, as JSON lines, so that they do not block the
	// queue. Empty: rejected records are dropped, counted and logged.
	DeadLetter string
	// DeadLetterMax bounds the dead-letter file: when a line would take it
	// past this, it is renamed to DeadLetter+".1", replacing the previous
	// one, and a new file started. Default DefaultDeadLetterMax.
	DeadLetterMax int64
	// MinBackoff and MaxBackoff bound the wait before retrying a failed
	// batch; it doubles from MinBackoff up to MaxBackoff, with jitter.
	// Defaults DefaultMinBackoff and DefaultMaxBackoff.
	MinBackoff, MaxBackoff time.Duration
	// Logger receives the writer's logs. Default: none.
	Logger hclog.Logger
}

// WriterStats are a Writer's counters, for /metrics.
type WriterStats struct {
	// Queued is how many records wait to be delivered now.
	Queued uint64
	// Delivered counts the records the sink has stored.
	Delivered uint64
	// Dropped counts the records lost: refused by a full queue or after
	// Close, dropped by the queue at its bound, rejected by the sink with no
	// dead-letter file to go to, or, unless the queue is durable, still
	// queued when Close gave up.
	Dropped uint64
	// DeadLettered counts the records the sink rejected and that went to the
	// dead-letter file.
	DeadLettered uint64
	// SpoolBytes is the queue's size on disk; 0 for a queue in memory.
	SpoolBytes uint64
	// Retries counts the Writes that repeated a failed batch.
	Retries uint64
	// Failures counts the Writes that failed.
	Failures uint64
	// LastError is the error of the last failed Write; empty once a Write
	// succeeds again.
	LastError string
}

// Writer feeds one Sink in batches from its own goroutine, so that a slow or
// failing sink never holds up the scheduler: Enqueue never blocks, and
// records that find the queue full are dropped and counted. A failed batch
// is retried, in order, with backoff; a batch the sink rejects as bad is
// split until the bad records are found, and those go to the dead-letter
// file.
//
// The owner starts the goroutine and stops it:
//
//	w := sinks.NewWriter(sink, opts)
//	go w.Run(ctx)       // returns when ctx is done or Close is called
//	w.Enqueue(record)   // from the scheduler, any number of times
//	err := w.Close(ctx) // waits for Run, flushes, closes the sink
//
// Close must be called, also after ctx is cancelled: it is what flushes the
// queue and closes the sink.
type Writer struct {
	sink       Sink
	q          Queue
	name       string
	batch      int
	interval   time.Duration
	minBackoff time.Duration
	maxBackoff time.Duration
	log        hclog.Logger
	durable    bool
	dead       deadLetters // only Run's goroutine, or Close after it, uses it

	// accept guards closed: Enqueue holds it shared while it pushes, so no
	// record slips into the queue after Close has started flushing.
	accept sync.RWMutex
	closed bool

	mu        sync.Mutex // guards started, cancelRun, lastErr
	started   bool
	cancelRun context.CancelFunc
	lastErr   string

	full chan struct{} // a full batch is queued; buffered, 1
	stop chan struct{} // closed by Close
	done chan struct{} // closed when Run returns

	delivered, dropped, retries, failures, deadLettered atomic.Uint64
	// pushErr is the last error of Queue.Push other than ErrQueueFull, for
	// the log.
	pushErr atomic.Pointer[string]
	// droppedLogged is how many drops the log has already reported; only
	// Run's goroutine (or Close after it) touches it.
	droppedLogged uint64
}

// NewWriter returns a Writer for s. It starts nothing: the owner calls Run.
func NewWriter(s Sink, opts WriterOptions) *Writer {
	if opts.BatchSize <= 0 {
		opts.BatchSize = DefaultBatchSize
	}
	if opts.FlushInterval <= 0 {
		opts.FlushInterval = DefaultFlushInterval
	}
	if opts.QueueSize <= 0 {
		opts.QueueSize = DefaultQueueFactor * opts.BatchSize
	}
	if opts.MinBackoff <= 0 {
		opts.MinBackoff = DefaultMinBackoff
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = DefaultMaxBackoff
	}
	opts.MaxBackoff = max(opts.MaxBackoff, opts.MinBackoff)
	q := opts.Queue
	if q == nil {
		q = NewMemoryQueue(opts.QueueSize)
	}
	log := opts.Logger
	if log == nil {
		log = hclog.NewNullLogger()
	}
	if opts.Name != "" {
		log = log.With("sink", opts.Name)
	}
	if opts.DeadLetterMax <= 0 {
		opts.DeadLetterMax = DefaultDeadLetterMax
	}
	durable := false
	if d, ok := q.(interface{ Durable() bool }); ok {
		durable = d.Durable()
	}
	return &Writer{
		durable:    durable,
		dead:       deadLetters{path: opts.DeadLetter, max: opts.DeadLetterMax, sink: opts.Name},
		sink:       s,
		q:          q,
		name:       opts.Name,
		batch:      opts.BatchSize,
		interval:   opts.FlushInterval,
		minBackoff: opts.MinBackoff,
		maxBackoff: opts.MaxBackoff,
		log:        log,
		full:       make(chan struct{}, 1),
		stop:       make(chan struct{}),
		done:       make(chan struct{}),
	}
}

// Enqueue hands r to the writer. It never blocks; it returns false when r
// was dropped because the queue is full or the writer is closed. r is
// written later, on another goroutine: its maps must not change afterwards.
func (w *Writer) Enqueue(r Record) bool {
	w.accept.RLock()
	defer w.accept.RUnlock()
	if w.closed {
		w.dropped.Add(1)
		return false
	}
	if err := w.q.Push(r); err != nil {
		// Enqueue runs on the scheduler's goroutine, so the drop is logged
		// later, by Run.
		if !errors.Is(err, ErrQueueFull) {
			msg := err.Error()
			w.pushErr.Store(&msg)
		}
		w.dropped.Add(1)
		return false
	}
	if w.q.Len() >= w.batch {
		select {
		case w.full <- struct{}{}:
		default: // Run has been told already
		}
	}
	return true
}

// Run writes queued records to the sink until ctx is done or Close is
// called: a full batch at once, anything queued every FlushInterval. A
// failed Write is retried from the same oldest record, in the same order,
// with exponential backoff, while Enqueue goes on accepting records. Run
// does not flush on return; Close does. It returns ErrWriterClosed after
// Close, and an error when called twice.
func (w *Writer) Run(ctx context.Context) error {
	w.mu.Lock()
	w.accept.RLock()
	closed := w.closed
	w.accept.RUnlock()
	if closed {
		w.mu.Unlock()
		return ErrWriterClosed
	}
	if w.started {
		w.mu.Unlock()
		return errors.New("sinks: Writer.Run called twice")
	}
	w.started = true
	// Close cancels an in-flight Write through this when its own ctx ends.
	ctx, cancel := context.WithCancel(ctx)
	w.cancelRun = cancel
	w.mu.Unlock()
	defer close(w.done)
	defer cancel()

	tick := time.NewTicker(w.interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-w.stop:
			return nil
		case <-w.full:
			_ = w.flush(ctx, w.stop, true, false)
		case <-tick.C:
			_ = w.flush(ctx, w.stop, false, false)
		}
		w.logDrops()
	}
}

// Close stops accepting records, waits for Run to return, writes what is
// queued and closes the sink and the queue. ctx bounds the whole: when it
// ends, an in-flight Write is cancelled and what is left is dropped and
// counted. With a durable queue, what is left stays in it for the next
// start instead, not counted as dropped, and a failed Write is not retried:
// the records are safe, and the agent's shutdown should not wait for a sink
// that is down. Calling Close again does nothing.
func (w *Writer) Close(ctx context.Context) error {
	w.accept.Lock()
	if w.closed {
		w.accept.Unlock()
		return nil
	}
	w.closed = true
	w.accept.Unlock()

	w.mu.Lock()
	started, cancel := w.started, w.cancelRun
	w.mu.Unlock()
	close(w.stop)
	if started {
		select {
		case <-w.done:
		case <-ctx.Done():
			cancel()
			<-w.done // a Write that ignores ctx holds this up
		}
	}

	var errs []error
	// No stop channel: only ctx ends the final flush's retries.
	err := w.flush(ctx, nil, false, w.durable)
	if err != nil && !w.durable {
		errs = append(errs, err)
	}
	if left := w.q.Len(); left > 0 {
		if w.durable {
			w.log.Info("records kept in the spool for the next start", "records", left, "error", err)
		} else {
			w.dropped.Add(uint64(left))
			errs = append(errs, fmt.Errorf("%d record(s) not delivered", left))
		}
	}
	w.logDrops()
	if err := w.dead.close(); err != nil {
		errs = append(errs, err)
	}
	if err := w.sink.Close(); err != nil {
		errs = append(errs, err)
	}
	if err := w.q.Close(); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		if w.name != "" {
			return fmt.Errorf("sink %s: %w", w.name, err)
		}
		return err
	}
	return nil
}

// Stats returns the writer's counters.
func (w *Writer) Stats() WriterStats {
	w.mu.Lock()
	last := w.lastErr
	w.mu.Unlock()
	st := WriterStats{
		Queued:       uint64(w.q.Len()),
		Delivered:    w.delivered.Load(),
		Dropped:      w.totalDropped(),
		DeadLettered: w.deadLettered.Load(),
		Retries:      w.retries.Load(),
		Failures:     w.failures.Load(),
		LastError:    last,
	}
	if b, ok := w.q.(interface{ Bytes() int64 }); ok {
		st.SpoolBytes = uint64(max(b.Bytes(), 0))
	}
	return st
}

// totalDropped is the writer's drops and the queue's own.
func (w *Writer) totalDropped() uint64 {
	n := w.dropped.Load()
	if d, ok := w.q.(interface{ Dropped() uint64 }); ok {
		n += d.Dropped()
	}
	return n
}

// flush delivers queued records in batches: only full batches when
// fullOnly, else everything. A failed Write is retried after a backoff,
// from the same oldest record (the batch is read again: a durable queue may
// have dropped its head at the bound meanwhile), so nothing is reordered or
// skipped; with once, the first failure ends the flush instead. It returns
// early, with the error, when ctx is done, stop is closed, or the queue
// fails; what is not delivered stays at the head of the queue.
func (w *Writer) flush(ctx context.Context, stop <-chan struct{}, fullOnly, once bool) error {
	for attempt := 0; ; {
		n := w.q.Len()
		if n == 0 || (fullOnly && attempt == 0 && n < w.batch) {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		select {
		case <-stop:
			return ErrWriterClosed
		default:
		}
		batch, err := w.q.Peek(w.batch)
		if err != nil {
			w.log.Error("reading the queue failed", "error", err)
			return fmt.Errorf("reading the queue: %w", err)
		}
		if len(batch) == 0 {
			return nil
		}
		if attempt > 0 {
			w.retries.Add(1)
		}
		dead := w.deadLettered.Load()
		done, err := w.write(ctx, batch)
		if k := w.deadLettered.Load() - dead; k > 0 {
			w.log.Warn("the sink rejected records; moved to the dead-letter file", "records", k, "file", w.dead.path, "error", w.dead.lastErr)
		}
		if done > 0 {
			if err := w.q.Ack(done); err != nil {
				// The records are stored but may be written again: a
				// duplicate rather than a loss.
				w.log.Error("removing delivered records from the queue failed", "error", err)
				return fmt.Errorf("removing delivered records from the queue: %w", err)
			}
		}
		if err == nil {
			if attempt > 0 {
				w.log.Info("sink writes again", "records", len(batch), "retries", attempt)
			}
			attempt = 0
			continue
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if once {
			return err
		}
		wait := w.backoff(attempt)
		if attempt == 0 {
			w.log.Warn("sink write failed; retrying", "records", len(batch), "error", err, "retry_in", wait)
		} else {
			w.log.Debug("sink write failed again", "records", len(batch), "attempt", attempt+1, "error", err, "retry_in", wait)
		}
		attempt++
		w.logDrops()
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-stop:
			t.Stop()
			return ErrWriterClosed
		}
	}
}

// write writes batch once, and returns how many of its first records are
// done with (delivered, or rejected and dead-lettered) and the error that
// stopped it. When the sink rejects the batch as bad, the halves are written
// in turn, down to single records, so that the good records of a batch are
// delivered, in order, and only the bad ones go to the dead-letter file: a
// bad record costs about 2·log2(batch) more Writes.
func (w *Writer) write(ctx context.Context, batch []Record) (int, error) {
	err := w.sink.Write(ctx, batch)
	if err == nil {
		w.delivered.Add(uint64(len(batch)))
		w.mu.Lock()
		w.lastErr = ""
		w.mu.Unlock()
		return len(batch), nil
	}
	w.failures.Add(1)
	w.mu.Lock()
	w.lastErr = err.Error()
	w.mu.Unlock()
	if !IsRejected(err) || ctx.Err() != nil {
		return 0, err
	}
	if len(batch) == 1 {
		w.deadLetter(batch[0], err)
		return 1, nil
	}
	mid := len(batch) / 2
	done, err := w.write(ctx, batch[:mid])
	if err != nil {
		return done, err
	}
	more, err := w.write(ctx, batch[mid:])
	return done + more, err
}

// deadLetter appends a rejected record to the dead-letter file. A record
// that cannot go there (no file set, or the write failed) is dropped and
// counted: retrying it would block the queue for good.
func (w *Writer) deadLetter(r Record, cause error) {
	if w.dead.path == "" {
		w.dropped.Add(1)
		w.log.Error("the sink rejected a record and no dead-letter file is set: dropped", "check", r.Check, "id", r.ID(), "error", cause)
		return
	}
	if err := w.dead.write(r, cause, time.Now()); err != nil {
		w.dropped.Add(1)
		w.log.Error("writing the dead-letter file failed: the rejected record is dropped", "file", w.dead.path, "check", r.Check, "id", r.ID(), "error", err)
		return
	}
	w.deadLettered.Add(1)
}

// backoff is the wait after the attempt-th failure (from 0): MinBackoff
// doubled per attempt up to MaxBackoff, of which a random half is taken off
// so that sinks failing together do not retry together.
func (w *Writer) backoff(attempt int) time.Duration {
	d := w.maxBackoff
	if attempt < 32 {
		if e := w.minBackoff << attempt; e > 0 && e < d {
			d = e
		}
	}
	half := d / 2
	return half + rand.N(d-half+1)
}

// logDrops logs the records dropped since it last did, at most once per
// call, so that a full queue gives one line per flush and not one per record.
func (w *Writer) logDrops() {
	n := w.totalDropped()
	if n == w.droppedLogged {
		return
	}
	args := []any{"dropped", n - w.droppedLogged, "dropped_total", n, "queued", w.q.Len()}
	if e := w.pushErr.Swap(nil); e != nil {
		args = append(args, "error", *e)
	}
	w.log.Warn("sink records dropped", args...)
	w.droppedLogged = n
}
