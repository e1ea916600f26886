package api

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/satellite-hq/satellite/events"
	"github.com/satellite-hq/satellite/health"
)

// The event stream's limits.
const (
	// MaxEventStreams is how many GET /v1/events streams an agent serves
	// at once; one more answers 503.
	MaxEventStreams = 256
	// eventStreamQueue is how many events may wait for one client (a
	// burst of every check of a large node changing at once); a client
	// that falls further behind is sent a reset and dropped.
	eventStreamQueue = 1024
	// eventPingInterval is how often an idle stream gets a comment line,
	// so that proxies keep it open and a dead client is noticed.
	eventPingInterval = 15 * time.Second
	// eventWriteTimeout bounds one write to a client: a client that does
	// not read is dropped, never waited for.
	eventWriteTimeout = 10 * time.Second
	// eventBatchDelay is how long a stream waits, after an event, for the
	// events that follow it, to send them in one write.
	eventBatchDelay = 250 * time.Millisecond
	// EventSubscriber names the streams' bus subscriptions on /metrics.
	EventSubscriber = "api.events"
)

// streamed is what the event stream tells: the state changes of this
// node's checks, the cluster events and the peers' changed digests. Every
// run is not: a page refetches what it shows on a change.
func streamed(e *events.Event) bool {
	return e.Kind != events.CheckRun || e.Changed
}

// The frames' data, by event name (docs/api.md, GET /v1/events).
type (
	streamHello struct {
		Node string    `json:"node"`
		Time time.Time `json:"time"`
	}
	streamCheck struct {
		Time     time.Time     `json:"time"`
		Node     string        `json:"node"`
		Check    string        `json:"check"`
		Type     string        `json:"type"`
		Status   health.Status `json:"status"`
		Previous health.Status `json:"previous"`
		Error    string        `json:"error,omitempty"`
		Flapping bool          `json:"flapping"`
	}
	streamMember struct {
		Time   time.Time `json:"time"`
		Node   string    `json:"node"`
		Event  string    `json:"event"`
		Detail string    `json:"detail,omitempty"`
	}
	streamChange struct {
		Time   time.Time `json:"time"`
		Node   string    `json:"node"`
		From   string    `json:"from"`
		To     string    `json:"to"`
		Detail string    `json:"detail,omitempty"`
	}
	streamDigest struct {
		Time   time.Time `json:"time"`
		Node   string    `json:"node"`
		Status string    `json:"status"`
	}
	streamReset struct {
		Reason string `json:"reason"`
	}
)

// frameOf is the event's name and data on the stream.
func frameOf(e *events.Event) (string, any) {
	switch e.Kind {
	case events.CheckRun:
		return "check", streamCheck{Time: e.Time, Node: e.Node, Check: e.Check.Address, Type: e.Check.Type,
			Status: e.Status, Previous: e.Previous, Error: e.Error, Flapping: e.Flapping}
	case events.NodeStatus:
		return "status", streamChange{Time: e.Time, Node: e.Node, From: e.From, To: e.To, Detail: e.Detail}
	case events.ConfigHash:
		return "config_hash", streamChange{Time: e.Time, Node: e.Node, From: e.From, To: e.To, Detail: e.Detail}
	case events.Digest:
		return "digest", streamDigest{Time: e.Time, Node: e.Node, Status: e.To}
	default:
		return "member", streamMember{Time: e.Time, Node: e.Node, Event: e.Kind.String(), Detail: e.Detail}
	}
}

// frameCache encodes each event's frame once for every stream: the
// streams share the event (the bus hands the same *Event to each), so the
// last few hundred encodings are kept by the event's address.
type frameCache struct {
	mu    sync.Mutex
	byEv  map[*events.Event]encodedFrame
	order []*events.Event // oldest first, at most frameCacheSize
}

type encodedFrame struct {
	name string
	data []byte
}

// frameCacheSize covers a burst of changes that every stream takes in
// turn.
const frameCacheSize = 1024

func (c *frameCache) encode(e *events.Event) (string, []byte) {
	c.mu.Lock()
	if f, ok := c.byEv[e]; ok {
		c.mu.Unlock()
		return f.name, f.data
	}
	c.mu.Unlock()
	name, v := frameOf(e)
	data, err := json.Marshal(v)
	if err != nil {
		// Only NaN or Inf could fail, and frames carry no metrics.
		data = []byte(`{}`)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.byEv == nil {
		c.byEv = make(map[*events.Event]encodedFrame, frameCacheSize)
	}
	if _, ok := c.byEv[e]; !ok {
		if len(c.order) == frameCacheSize {
			delete(c.byEv, c.order[0])
			c.order = c.order[1:]
		}
		c.byEv[e] = encodedFrame{name, data}
		c.order = append(c.order, e)
	}
	return name, data
}

// eventStream is one client's stream: the bus hands events to push, which
// never blocks; the request's goroutine writes them.
type eventStream struct {
	ch chan *events.Event
	// wake tells the writer that ch has events, and half that it is half
	// full; each holds at most one token, so the writer wakes once per
	// batch, not once per event.
	wake, half chan struct{}
	overflow   atomic.Bool
}

func (st *eventStream) push(_ context.Context, e *events.Event) {
	select {
	case st.ch <- e:
	default:
		st.overflow.Store(true)
	}
	signal(st.wake)
	if len(st.ch) >= cap(st.ch)/2 {
		signal(st.half)
	}
}

// signal leaves a token in c unless one is there.
func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// nodeName is this node's name, read once: LocalStatus builds the whole
// probe list.
func (s *Server) nodeName() string {
	s.nameOnce.Do(func() { s.name = s.b.LocalStatus().Name })
	return s.name
}

// flushed flushes what was written and lifts the write deadline again: it
// bounds one write, and the stream may then be idle for a while.
func flushed(rc *http.ResponseController) bool {
	if rc.Flush() != nil {
		return false
	}
	return rc.SetWriteDeadline(time.Time{}) == nil
}

// handleEvents serves GET /v1/events: server-sent events, one bus
// subscription per client, until the client goes, falls behind (a reset
// frame, then the end) or the agent stops.
func (s *Server) handleEvents(w http.ResponseWriter, r *http.Request) {
	if r.URL.RawQuery != "" {
		writeError(w, http.StatusBadRequest, "GET /v1/events takes no parameters")
		return
	}
	if s.events == nil {
		writeError(w, http.StatusNotFound, "this agent has no event stream")
		return
	}
	if s.streams.Add(1) > int64(s.maxStreams) {
		s.streams.Add(-1)
		writeError(w, http.StatusServiceUnavailable, fmt.Sprintf("this agent serves %d event streams already", s.maxStreams))
		return
	}
	defer s.streams.Add(-1)

	st := &eventStream{ch: make(chan *events.Event, eventStreamQueue), wake: make(chan struct{}, 1), half: make(chan struct{}, 1)}
	// The subscription's own queue only has to cover the moment push
	// takes; the client's backlog is st.ch.
	sub := s.events.Subscribe(EventSubscriber, events.SubscribeOptions{Queue: 64, Filter: streamed}, st.push)
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		sub.Close(ctx)
		cancel()
	}()

	rc := http.NewResponseController(w)
	// The server's read timeout would end the stream (the connection's
	// background read fails and cancels the request); this request has
	// no body to read.
	if err := rc.SetReadDeadline(time.Time{}); err != nil {
		s.log.Debug("event stream: clearing the read deadline", "error", err)
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no") // no buffering in a proxy in front
	w.WriteHeader(http.StatusOK)

	// Frames are written to the response's buffer and flushed once per
	// batch: the events that wait when one is taken go out with it, in
	// one write to the socket.
	id := 0
	frame := func(name string, data []byte) error {
		id++
		_, err := fmt.Fprintf(w, "id: %d\nevent: %s\ndata: %s\n\n", id, name, data)
		return err
	}
	send := func(fill func() error) bool {
		if err := rc.SetWriteDeadline(time.Now().Add(eventWriteTimeout)); err != nil {
			return false
		}
		if fill() != nil {
			return false
		}
		return flushed(rc)
	}
	hello, _ := json.Marshal(streamHello{Node: s.nodeName(), Time: time.Now().UTC()})
	if !send(func() error { return frame("hello", hello) }) {
		return
	}
	ping := time.NewTicker(eventPingInterval)
	defer ping.Stop()
	// Events are sent in batches: the first one waiting wakes the writer,
	// which waits a short while (eventBatchDelay) for those that follow
	// it, then takes them all from the queue and sends them in one write
	// to the socket. A burst of changes costs each stream a few
	// writes, not one per change; a page still sees a change well within
	// a second.
	var (
		batch []*events.Event
		due   <-chan time.Time
	)
	// flush sends what the queue holds; false ends the stream.
	flush := func() bool {
		due = nil
		for len(batch) <= eventStreamQueue {
			select {
			case e := <-st.ch:
				batch = append(batch, e)
				continue
			default:
			}
			break
		}
		reset := st.overflow.Load()
		if len(batch) == 0 && !reset {
			return true // a wake for events an earlier batch took
		}
		ok := send(func() error {
			if reset {
				data, _ := json.Marshal(streamReset{Reason: fmt.Sprintf("more than %d events waited for this client; reconnect and read the state again", eventStreamQueue)})
				return frame("reset", data)
			}
			for _, e := range batch {
				name, data := s.frames.encode(e)
				if err := frame(name, data); err != nil {
					return err
				}
			}
			return nil
		})
		batch = batch[:0]
		return ok && !reset
	}
	for {
		select {
		case <-r.Context().Done():
			return
		case <-s.stopping:
			return
		case <-ping.C:
			if !send(func() error { _, err := io.WriteString(w, ": ping\n\n"); return err }) {
				return
			}
		case <-st.wake:
			if due == nil {
				due = time.After(eventBatchDelay)
			}
		case <-st.half:
			// A burst: send now rather than let the queue overflow.
			if !flush() {
				return
			}
		case <-due:
			if !flush() {
				return
			}
		}
	}
}
