package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/satellite-hq/satellite/api"
	"github.com/satellite-hq/satellite/health"
)

// The watch's pace: changes that come together are drawn once, and a lost
// stream is tried again with a growing wait.
const (
	watchDebounce   = 200 * time.Millisecond
	watchRetryFirst = 500 * time.Millisecond
	watchRetryMax   = 10 * time.Second
)

// watchStatus draws the status table, then again on every change the
// agent's event stream tells, until Ctrl-C (or SIGTERM). On a terminal
// each table replaces the last; otherwise each is written below the last,
// as a log. It returns the exit code of the last table drawn.
func watchStatus(parent context.Context, stdout, stderr io.Writer, c *api.Client, f *statusFlags) error {
	ctx, stop := signal.NotifyContext(parent, os.Interrupt, syscall.SIGTERM)
	defer stop()
	term := useColor(stdout) || isTerminal(stdout)
	last := health.Degraded
	fetched := false
	draw := func(note string) {
		cs, err := fetchWatched(ctx, c, f)
		if err != nil {
			if ctx.Err() == nil {
				fmt.Fprintf(stderr, "%s: %s\n", time.Now().Format("15:04:05"), err)
			}
			return
		}
		fetched, last = true, cs.Status
		var buf bytes.Buffer
		if f.format == "json" {
			// One document per line, for a script reading the changes.
			b, err := json.Marshal(cs)
			if err != nil {
				fmt.Fprintf(stderr, "Error: %s\n", err)
				return
			}
			buf.Write(b)
			buf.WriteByte('\n')
			_, _ = buf.WriteTo(stdout)
			return
		}
		if term {
			buf.WriteString("\x1b[H\x1b[2J") // home, clear the screen
		}
		if err := writeStatusTable(&buf, cs, f.local, time.Now(), useColor(stdout)); err != nil {
			fmt.Fprintf(stderr, "Error: %s\n", err)
			return
		}
		fmt.Fprintf(&buf, "\n%s · %s · Ctrl-C to stop\n", time.Now().Format("15:04:05"), note)
		if !term {
			buf.WriteString("\n")
		}
		_, _ = buf.WriteTo(stdout)
	}

	// The first read says at once when there is no agent to watch.
	if _, err := fetchWatched(ctx, c, f); err != nil {
		return agentError(stderr, err, f.tokenGiven())
	}
	retry := watchRetryFirst
	for ctx.Err() == nil {
		changed := make(chan struct{}, 1)
		done := make(chan error, 1)
		sctx, cancel := context.WithCancel(ctx)
		go func() { // owned here: cancel and <-done end it below
			done <- c.Events(sctx, func(ev api.StreamEvent) error {
				if ev.Event == "reset" {
					return errors.New("the agent dropped this stream (too slow)")
				}
				select {
				case changed <- struct{}{}:
				default:
				}
				return nil
			})
		}()
		var err error
		var debounce <-chan time.Time
	stream:
		for {
			select {
			case <-changed:
				if debounce == nil {
					debounce = time.After(watchDebounce)
				}
			case <-debounce:
				debounce = nil
				draw("live")
				retry = watchRetryFirst
			case err = <-done:
				break stream
			}
		}
		cancel()
		if ctx.Err() != nil {
			break
		}
		var se *api.StatusError
		if errors.As(err, &se) && (se.Code == 401 || se.Code == 403 || se.Code == 404) {
			return agentError(stderr, err, f.tokenGiven())
		}
		why := "the agent ended the stream"
		if err != nil {
			why = err.Error()
		}
		fmt.Fprintf(stderr, "%s: %s; reconnecting in %s\n", time.Now().Format("15:04:05"), why, retry)
		select {
		case <-ctx.Done():
		case <-time.After(retry):
		}
		retry = min(retry*2, watchRetryMax)
	}
	if !fetched {
		return exitError{exitNoAgent}
	}
	if last != health.Healthy {
		return exitError{exitFailed}
	}
	return nil
}

// fetchWatched reads the document the watch shows.
func fetchWatched(ctx context.Context, c *api.Client, f *statusFlags) (health.Cluster, error) {
	switch {
	case f.node != "":
		cs, _, err := c.NodeStatus(ctx, f.node)
		return cs, err
	case f.local:
		n, _, err := c.LocalStatus(ctx)
		return localDocument(n), err
	}
	cs, _, err := c.Status(ctx)
	return cs, err
}

// isTerminal reports whether w is a character device (a terminal), with
// or without NO_COLOR.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
