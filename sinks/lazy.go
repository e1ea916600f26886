package sinks

import (
	"context"
	"fmt"
	"sync"
)

// Lazy returns a Sink that opens the real one on its first Write, and again
// on the next Write after opening failed. A sink whose server is down when
// the agent starts is thus not skipped: the Writer keeps its records queued
// (spooled) and retries with backoff until Open succeeds.
func Lazy(o Opener) *LazySink { return &LazySink{opener: o} }

// LazySink is the Sink Lazy returns.
type LazySink struct {
	opener Opener
	mu     sync.Mutex // one Open at a time; guards s and closed
	s      Sink
	closed bool
}

func (l *LazySink) sink(ctx context.Context) (Sink, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil, ErrWriterClosed
	}
	if l.s != nil {
		return l.s, nil
	}
	s, err := l.opener.Open(ctx)
	if err != nil {
		return nil, fmt.Errorf("opening: %w", err)
	}
	l.s = s
	return s, nil
}

// Open opens the sink now if it is not open yet, so that its owner can report
// an error at once; a failed Open is tried again by the next Write.
func (l *LazySink) Open(ctx context.Context) error {
	_, err := l.sink(ctx)
	return err
}

// Write opens the sink if it is not open, and writes the batch to it.
func (l *LazySink) Write(ctx context.Context, batch []Record) error {
	s, err := l.sink(ctx)
	if err != nil {
		return err
	}
	return s.Write(ctx, batch)
}

// Close closes the sink if it was opened.
func (l *LazySink) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	if l.s == nil {
		return nil
	}
	return l.s.Close()
}
