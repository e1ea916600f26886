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
	// disk. The Writer closes it.
	Queue Queue
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
	// Close, or still queued when Close gave up.
	Dropped uint64
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
// records that find the queue full are dropped and counted.
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

	delivered, dropped, retries, failures atomic.Uint64
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
	return &Writer{
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
// failed Write is retried, the same batch in the same order, with
// exponential backoff, while Enqueue goes on accepting records. Run does not
// flush on return; Close does. It returns ErrWriterClosed after Close, and
// an error when called twice.
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
			_ = w.flush(ctx, w.stop, true)
		case <-tick.C:
			_ = w.flush(ctx, w.stop, false)
		}
		w.logDrops()
	}
}

// Close stops accepting records, waits for Run to return, writes what is
// queued and closes the sink and the queue. ctx bounds the whole: when it
// ends, an in-flight Write is cancelled and what is left is dropped and
// counted. Calling Close again does nothing.
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
	if err := w.flush(ctx, nil, false); err != nil {
		errs = append(errs, err)
	}
	if left := w.q.Len(); left > 0 {
		w.dropped.Add(uint64(left))
		errs = append(errs, fmt.Errorf("%d record(s) not delivered", left))
	}
	w.logDrops()
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
	return WriterStats{
		Queued:    uint64(w.q.Len()),
		Delivered: w.delivered.Load(),
		Dropped:   w.dropped.Load(),
		Retries:   w.retries.Load(),
		Failures:  w.failures.Load(),
		LastError: last,
	}
}

// flush delivers queued records in batches: only full batches when
// fullOnly, else everything. It returns early, with the error, when ctx is
// done, stop is closed, or the queue fails; the undelivered batch stays at
// the head of the queue.
func (w *Writer) flush(ctx context.Context, stop <-chan struct{}, fullOnly bool) error {
	for {
		n := w.q.Len()
		if n == 0 || (fullOnly && n < w.batch) {
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
		if err := w.deliver(ctx, stop, batch); err != nil {
			return err
		}
		if err := w.q.Ack(len(batch)); err != nil {
			// The batch is stored but may be written again: a duplicate
			// rather than a loss.
			w.log.Error("removing a delivered batch from the queue failed", "error", err)
			return fmt.Errorf("removing a delivered batch from the queue: %w", err)
		}
	}
}

// deliver writes batch until the sink takes it, waiting between attempts,
// and returns an error only when ctx is done or stop is closed first.
func (w *Writer) deliver(ctx context.Context, stop <-chan struct{}, batch []Record) error {
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			w.retries.Add(1)
		}
		err := w.sink.Write(ctx, batch)
		if err == nil {
			w.delivered.Add(uint64(len(batch)))
			w.mu.Lock()
			w.lastErr = ""
			w.mu.Unlock()
			if attempt > 0 {
				w.log.Info("sink writes again", "records", len(batch), "retries", attempt)
			}
			return nil
		}
		w.failures.Add(1)
		w.mu.Lock()
		w.lastErr = err.Error()
		w.mu.Unlock()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		wait := w.backoff(attempt)
		if attempt == 0 {
			w.log.Warn("sink write failed; retrying", "records", len(batch), "error", err, "retry_in", wait)
		} else {
			w.log.Debug("sink write failed again", "records", len(batch), "attempt", attempt+1, "error", err, "retry_in", wait)
		}
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
	n := w.dropped.Load()
	if n == w.droppedLogged {
		return
	}
	w.log.Warn("sink queue full: records dropped", "dropped", n-w.droppedLogged, "dropped_total", n, "queued", w.q.Len())
	w.droppedLogged = n
}
