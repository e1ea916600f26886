package checks

import (
	"context"
	"sync"
	"time"
)

// HangGuard runs a system call that can block for good (statfs on a dead NFS
// server) on its own goroutine, so that a run returns at its deadline. The
// goroutine cannot be stopped: it ends when the kernel returns. Until then the
// guard refuses to start another call, so a hung mount holds at most one
// goroutine (and one thread) per check, not one per run. The zero value is
// ready to use.
type HangGuard struct {
	mu    sync.Mutex
	hung  int       // abandoned calls still blocked
	since time.Time // start of the oldest of them
}

// ErrBlocked reports that a call of an earlier run has not returned yet.
type ErrBlocked struct{ since time.Time }

func (e ErrBlocked) Error() string {
	ago := time.Since(e.since)
	if ago >= time.Second {
		ago = ago.Round(time.Second)
	} else {
		ago = ago.Round(time.Millisecond)
	}
	return "the call made " + ago.String() + " ago by a run that timed out has not returned yet (a hung file system?)"
}

// Do runs f and waits for it or for ctx. It returns ctx's error when ctx
// ended first (f is then left to finish alone, and must write nothing the
// caller reads), or ErrBlocked without running f while an earlier call hangs.
func (g *HangGuard) Do(ctx context.Context, f func()) error {
	g.mu.Lock()
	if g.hung > 0 {
		err := ErrBlocked{g.since}
		g.mu.Unlock()
		return err
	}
	g.mu.Unlock()

	start := time.Now()
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
	}

	g.mu.Lock()
	defer g.mu.Unlock()
	select {
	case <-done: // it finished while we looked away: use it
		return nil
	default:
	}
	if g.hung == 0 {
		g.since = start
	}
	g.hung++
	go func() { // owned by f: ends when the blocked call returns
		<-done
		g.mu.Lock()
		g.hung--
		g.mu.Unlock()
	}()
	return ctx.Err()
}
