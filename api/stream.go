package api

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// StreamEvent is one frame of GET /v1/events: its id, its event name
// (hello, check, member, status, config_hash, digest, reset) and its JSON
// data.
type StreamEvent struct {
	ID    string
	Event string
	Data  []byte
}

// maxStreamLine bounds one line of the event stream.
const maxStreamLine = 1 << 20

// Events reads GET /v1/events, calling fn for each frame in order, until
// ctx is done (it returns ctx's error), the agent ends the stream (nil),
// the connection fails or fn returns an error (that error). The client's
// timeout bounds the wait for the answer's headers only: a stream may be
// quiet for long. A caller that wants the stream for good reconnects, and
// reads the state again after each hello.
func (c *Client) Events(ctx context.Context, fn func(StreamEvent) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/v1/events", nil)
	if err != nil {
		return fmt.Errorf("request /v1/events: %w", err)
	}
	req.Header.Set("Accept", "text/event-stream")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	headers := time.AfterFunc(c.timeout, cancel)
	resp, err := c.hc.Do(req)
	if !headers.Stop() && err != nil {
		// The timer fired: no answer within the timeout.
		err = context.DeadlineExceeded
	}
	if err != nil {
		return &UnreachableError{URL: c.base, Err: err, timeout: c.timeout}
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		return &StatusError{URL: c.base, Code: resp.StatusCode, Message: errorMessage(data)}
	}
	err = readStream(resp.Body, fn)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

// readStream parses text/event-stream frames (fields id, event and data;
// comment lines skipped) and hands each to fn; it returns nil at the end
// of the stream.
func readStream(r io.Reader, fn func(StreamEvent) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), maxStreamLine)
	var (
		ev   StreamEvent
		data bytes.Buffer
		has  bool
	)
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			if has {
				ev.Data = bytes.Clone(bytes.TrimSuffix(data.Bytes(), []byte("\n")))
				if ev.Event == "" {
					ev.Event = "message"
				}
				if err := fn(ev); err != nil {
					return err
				}
			}
			ev, has = StreamEvent{}, false
			data.Reset()
			continue
		}
		if strings.HasPrefix(line, ":") {
			continue
		}
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "id":
			ev.ID, has = value, true
		case "event":
			ev.Event, has = value, true
		case "data":
			data.WriteString(value)
			data.WriteByte('\n')
			has = true
		}
	}
	if err := sc.Err(); err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("reading the event stream: %w", err)
	}
	return nil
}

// errorMessage is the API's {"error": ...} text of an answer, if any.
func errorMessage(data []byte) string {
	var e struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(data, &e) != nil {
		return ""
	}
	return e.Error
}
