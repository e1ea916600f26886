package checks

import (
	"context"
	"errors"
	"net"
	"time"
)

type timeoutKey struct{}

// WithTimeout is context.WithTimeout that also remembers d, so that
// Interrupted names the run's configured timeout rather than what was left
// of it when the checker started.
func WithTimeout(parent context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithValue(parent, timeoutKey{}, d), d)
}

// Interrupted says why a run's context ended, for its error: "timed out
// after 3s" (the configured timeout when the engine set one with
// WithTimeout, else the time from start to the deadline), or "canceled".
func Interrupted(ctx context.Context, start time.Time) string {
	if errors.Is(ctx.Err(), context.Canceled) {
		return "canceled"
	}
	if d, ok := ctx.Value(timeoutKey{}).(time.Duration); ok {
		return "timed out after " + d.String()
	}
	if dl, ok := ctx.Deadline(); ok {
		// 0s when the deadline had passed before the run began.
		return "timed out after " + max(dl.Sub(start), 0).Round(time.Millisecond).String()
	}
	return "timed out"
}

// IsTimeout reports whether a failed operation ran into the run's deadline:
// the context's own error, or a network timeout (a dialer's socket deadline,
// taken from ctx, can fire a moment before ctx reports it).
func IsTimeout(ctx context.Context, err error) bool {
	var ne net.Error
	return errors.Is(ctx.Err(), context.DeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) ||
		(errors.As(err, &ne) && ne.Timeout())
}
