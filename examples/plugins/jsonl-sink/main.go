// Command jsonl-sink is a satellite sink plugin that appends every check
// result to a file as one JSON object per line, and syncs the file to disk
// once per batch. It is the example of docs/sinks/plugins.md:
//
//	sink "plugin" "jsonl" {
//	  command = "plugins/jsonl-sink"
//	  config  = { path = "/var/log/satellite/results.jsonl" }
//	}
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/satellite-hq/satellite/sinkplugin"
)

func main() { sinkplugin.Serve(&jsonlSink{}) }

// line is the JSON form of one record.
type line struct {
	ID              string             `json:"id"`
	Time            time.Time          `json:"time"`
	Node            string             `json:"node"`
	Check           string             `json:"check"`
	Type            string             `json:"type"`
	Status          string             `json:"status"`
	RunStatus       string             `json:"run_status"`
	Changed         bool               `json:"changed"`
	Previous        string             `json:"previous,omitempty"`
	DurationSeconds float64            `json:"duration_seconds"`
	Metrics         map[string]float64 `json:"metrics,omitempty"`
	Error           string             `json:"error,omitempty"`
	Labels          map[string]string  `json:"labels,omitempty"`
}

type jsonlSink struct {
	mu   sync.Mutex // satellite calls one method at a time; this keeps it true
	f    *os.File
	size int64 // the file's length after the last complete batch
	buf  bytes.Buffer
}

// Configure opens (creating it if needed) the file named by config "path".
// A relative path is taken from the folder of the config file that declares
// the sink, where satellite starts its plugins.
func (s *jsonlSink) Configure(_ context.Context, config map[string]string) error {
	path := config["path"]
	if path == "" {
		return errors.New(`config "path" is required: the file to append the results to, such as { path = "/var/log/satellite/results.jsonl" }`)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return fmt.Errorf("opening the results file: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return fmt.Errorf("opening the results file: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f != nil {
		_ = s.f.Close()
	}
	s.f, s.size = f, st.Size()
	sinkplugin.Logger().Info("appending results", "path", path)
	return nil
}

// Write appends the batch and syncs the file. The batch is written with one
// write so that a failure leaves either all of it or, after the truncation
// below, none of it: the retry that follows then does not leave half a
// batch twice.
func (s *jsonlSink) Write(_ context.Context, batch []sinkplugin.Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f == nil {
		return errors.New("not configured")
	}
	s.buf.Reset()
	enc := json.NewEncoder(&s.buf)
	for _, r := range batch {
		err := enc.Encode(line{
			ID: r.ID, Time: r.Time, Node: r.Node, Check: r.Check, Type: r.Type,
			Status: r.Status, RunStatus: r.RunStatus, Changed: r.Changed, Previous: r.Previous,
			DurationSeconds: r.Duration.Seconds(), Metrics: r.Metrics, Error: r.Error, Labels: r.Labels,
		})
		if err != nil {
			// JSON has no NaN or infinity: this batch can never be written,
			// and sending it again would hold up every later one.
			return sinkplugin.Reject(fmt.Errorf("record %s of %s: %w", r.ID, r.Check, err))
		}
	}
	n, err := s.f.Write(s.buf.Bytes())
	if err == nil {
		err = s.f.Sync()
	}
	if err != nil {
		if n > 0 {
			if terr := s.f.Truncate(s.size); terr != nil {
				err = errors.Join(err, fmt.Errorf("removing the partial batch: %w", terr))
			}
		}
		return fmt.Errorf("appending to the results file: %w", err)
	}
	s.size += int64(n)
	return nil
}

// Close closes the file; sinkplugin.Serve calls it when satellite stops
// the plugin.
func (s *jsonlSink) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f == nil {
		return nil
	}
	err := s.f.Close()
	s.f = nil
	return err
}
