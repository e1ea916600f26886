package agent

import (
	"context"
	"sync"
)

// parts is what Run has started, stopped in the reverse order: the API
// before the scheduler, the scheduler before the mesh, the mesh before the
// bus drains into the writers, the writers before the history closes. Every
// goroutine the agent starts itself is started through goRun, so each has
// one owner and Run waits for all of them.
type parts struct {
	stops []func()
}

// onStop adds a stop function, run by stop after those added later.
func (p *parts) onStop(f func()) { p.stops = append(p.stops, f) }

// goRun runs f on a goroutine of its own under a context that its stop
// function cancels; stop then waits for f to return. f's error, once it
// returns, is sent on the returned channel (buffered: nobody has to read it).
func (p *parts) goRun(ctx context.Context, f func(context.Context) error) <-chan error {
	ctx, cancel := context.WithCancel(ctx)
	errc := make(chan error, 1)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		errc <- f(ctx)
	}()
	p.onStop(func() {
		cancel()
		wg.Wait()
	})
	return errc
}

// stop runs the stop functions, the last added first, and forgets them.
func (p *parts) stop() {
	for i := len(p.stops) - 1; i >= 0; i-- {
		p.stops[i]()
	}
	p.stops = nil
}
