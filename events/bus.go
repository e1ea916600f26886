package events

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
)

// DefaultQueue is a subscriber's queue length when Subscribe is given none:
// eight seconds of a node running a thousand checks a second.
const DefaultQueue = 8192

// DropLogInterval is the least time between two warnings of one
// subscriber's dropped events.
const DropLogInterval = 10 * time.Second

// Handler handles one event; see the package's contract. ctx is done when
// the subscription is being closed and its caller stopped waiting.
type Handler func(ctx context.Context, e *Event)

// Bus hands every published event to every subscriber. The zero value is
// not usable: make one with New.
type Bus struct {
	log hclog.Logger

	mu     sync.RWMutex
	subs   []*Subscription
	closed bool

	published atomic.Uint64
}

// New makes a bus; log (a named sub-logger) gets the drop warnings.
func New(log hclog.Logger) *Bus {
	if log == nil {
		log = hclog.NewNullLogger()
	}
	return &Bus{log: log}
}

// Subscription is one subscriber: its queue, its goroutine and its counters.
type Subscription struct {
	bus    *Bus
	name   string
	filter func(*Event) bool
	queue  chan *Event

	// ctx is given to the handler; cancel ends a handler that blocks once
	// Close's caller stops waiting for it.
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once

	delivered, dropped atomic.Uint64
	// lastDropLog is when the last drop warning was written (Unix ns).
	lastDropLog atomic.Int64
}

// SubscribeOptions configure a subscription.
type SubscribeOptions struct {
	// Queue is the queue's length; default DefaultQueue.
	Queue int
	// Filter, when set, keeps only the events it returns true for: the
	// others are neither queued nor counted as dropped. It runs on the
	// publisher's goroutine and must be quick and never block.
	Filter func(*Event) bool
}

// Subscribe adds a subscriber named name (it names it in logs and on
// /metrics) and starts its goroutine, which handle runs on until the
// subscription or the bus is closed. Subscribing to a closed bus returns a
// closed subscription.
func (b *Bus) Subscribe(name string, opts SubscribeOptions, handle Handler) *Subscription {
	if opts.Queue <= 0 {
		opts.Queue = DefaultQueue
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Subscription{bus: b, name: name, filter: opts.Filter, queue: make(chan *Event, opts.Queue),
		ctx: ctx, cancel: cancel, done: make(chan struct{})}
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		cancel()
		close(s.done)
		return s
	}
	b.subs = append(b.subs, s)
	b.mu.Unlock()
	go s.run(handle) // owned by the subscription: Close ends it
	return s
}

func (s *Subscription) run(handle Handler) {
	defer close(s.done)
	for e := range s.queue {
		handle(s.ctx, e)
		s.delivered.Add(1)
	}
}

// Publish hands e to every subscriber with room in its queue, and never
// blocks. e must not be modified afterwards.
func (b *Bus) Publish(e *Event) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if b.closed {
		return
	}
	b.published.Add(1)
	for _, s := range b.subs {
		if s.filter != nil && !s.filter(e) {
			continue
		}
		select {
		case s.queue <- e:
		default:
			s.drop()
		}
	}
}

func (s *Subscription) drop() {
	n := s.dropped.Add(1)
	now := time.Now().UnixNano()
	last := s.lastDropLog.Load()
	if now-last >= int64(DropLogInterval) && s.lastDropLog.CompareAndSwap(last, now) {
		s.bus.log.Warn("a subscriber's queue is full: events dropped", "subscriber", s.name, "dropped_total", n, "queue", cap(s.queue))
	}
}

// Close removes the subscription from the bus, lets its goroutine handle
// what is queued, and waits for it until ctx is done; then it cancels the
// handler's context and waits for the handler to return. Closing twice is
// harmless; the second call waits like the first.
func (s *Subscription) Close(ctx context.Context) {
	s.once.Do(func() {
		b := s.bus
		b.mu.Lock()
		for i, x := range b.subs {
			if x == s {
				b.subs = append(b.subs[:i:i], b.subs[i+1:]...)
				break
			}
		}
		if !b.closed {
			close(s.queue) // no Publish holds the read lock now
		}
		b.mu.Unlock()
	})
	select {
	case <-s.done:
	case <-ctx.Done():
		s.cancel()
		<-s.done
	}
	s.cancel()
}

// Name is the subscriber's name.
func (s *Subscription) Name() string { return s.name }

// Close stops publishing and closes every subscription, as Subscription.Close
// does, in the order they subscribed; each has until ctx is done to drain.
func (b *Bus) Close(ctx context.Context) {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return
	}
	subs := append([]*Subscription(nil), b.subs...)
	b.mu.Unlock()
	for _, s := range subs {
		s.Close(ctx)
	}
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
}

// SubscriberStats are one subscriber's counters.
type SubscriberStats struct {
	Name string
	// Queued is how many events wait in its queue.
	Queued int
	// Delivered counts the events its handler returned from.
	Delivered uint64
	// Dropped counts the events lost because its queue was full.
	Dropped uint64
}

// Stats returns the bus's published count and each current subscriber's
// counters, in the order they subscribed.
func (b *Bus) Stats() (published uint64, subs []SubscriberStats) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	subs = make([]SubscriberStats, len(b.subs))
	for i, s := range b.subs {
		subs[i] = SubscriberStats{Name: s.name, Queued: len(s.queue), Delivered: s.delivered.Load(), Dropped: s.dropped.Load()}
	}
	return b.published.Load(), subs
}
