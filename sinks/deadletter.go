package sinks

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/satellite-hq/satellite/health"
)

// DeadLetter is one line of a dead-letter file: a record the sink rejected,
// why, and when.
type DeadLetter struct {
	// Time is when the record was moved here.
	Time time.Time `json:"time"`
	// Sink names the sink, such as "influxdb.tsdb".
	Sink string `json:"sink,omitempty"`
	// Error is the sink's reason.
	Error string `json:"error"`
	// Record is the rejected record.
	Record DeadRecord `json:"record"`
}

// DeadRecord is a Record as a dead-letter file holds it. Metrics are numbers,
// except NaN and infinities, which JSON has not: the strings "NaN", "+Inf"
// and "-Inf".
type DeadRecord struct {
	// ID is Record.ID.
	ID string `json:"id"`
	// Time is when the run started.
	Time time.Time `json:"time"`
	// Node ran the check.
	Node string `json:"node"`
	// Check is the check's address.
	Check string `json:"check"`
	// Type is the check type.
	Type string `json:"type"`
	// Status is the state after thresholds, asserts and hysteresis.
	Status health.Status `json:"status"`
	// RunStatus is the run's own status.
	RunStatus health.Status `json:"run_status"`
	// Changed is true when Status changed.
	Changed bool `json:"changed"`
	// Previous is the state before, when Changed.
	Previous health.Status `json:"previous,omitempty"`
	// DurationNS is how long the run took, in nanoseconds.
	DurationNS int64 `json:"duration_ns"`
	// Metrics are the run's metrics.
	Metrics map[string]any `json:"metrics,omitempty"`
	// Error is the run's error, redacted.
	Error string `json:"error,omitempty"`
	// Labels are the check's labels.
	Labels map[string]string `json:"labels,omitempty"`
}

func deadRecord(r Record) DeadRecord {
	d := DeadRecord{
		ID: r.ID(), Time: r.Time, Node: r.Node, Check: r.Check, Type: r.Type, Status: r.Status,
		RunStatus: r.RunStatus, Changed: r.Changed, Previous: r.Previous, DurationNS: int64(r.Duration),
		Error: r.Error, Labels: r.Labels,
	}
	if len(r.Metrics) > 0 {
		d.Metrics = make(map[string]any, len(r.Metrics))
		for k, v := range r.Metrics {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				// strconv writes "NaN", "+Inf", "-Inf".
				d.Metrics[k] = strconv.FormatFloat(v, 'g', -1, 64)
			} else {
				d.Metrics[k] = v
			}
		}
	}
	return d
}

// deadLetters is a Writer's dead-letter file, opened on first use. It is not
// safe for concurrent use: only Run's goroutine, or Close after it, writes.
type deadLetters struct {
	path    string
	max     int64
	sink    string
	f       *os.File
	size    int64
	lastErr string // the last rejection, for the log
}

// write appends one line for r; the file is rotated first when the line
// would take it past max.
func (d *deadLetters) write(r Record, cause error, now time.Time) error {
	d.lastErr = cause.Error()
	return d.appendJSON(DeadLetter{Time: now.UTC(), Sink: d.sink, Error: cause.Error(), Record: deadRecord(r)})
}

// appendJSON appends v as one JSON line, rotating first when the line
// would take the file past max.
func (d *deadLetters) appendJSON(v any) error {
	line, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encoding a dead letter: %w", err)
	}
	line = append(line, '\n')
	if d.f != nil && d.size > 0 && d.size+int64(len(line)) > d.max {
		if err := d.rotate(); err != nil {
			return err
		}
	}
	if d.f == nil {
		if err := d.open(); err != nil {
			return err
		}
		if d.size > 0 && d.size+int64(len(line)) > d.max {
			if err := d.rotate(); err != nil {
				return err
			}
		}
	}
	n, err := d.f.Write(line)
	d.size += int64(n)
	if err != nil {
		return fmt.Errorf("writing the dead-letter file: %w", err)
	}
	return nil
}

func (d *deadLetters) open() error {
	if err := os.MkdirAll(filepath.Dir(d.path), 0o750); err != nil {
		return fmt.Errorf("dead-letter file: %w", err)
	}
	f, err := os.OpenFile(d.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return fmt.Errorf("dead-letter file: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("dead-letter file: %w", err)
	}
	d.f, d.size = f, fi.Size()
	return nil
}

// rotate keeps the current file as PATH.1, replacing the one before, and
// starts an empty one: at most twice the bound on disk, the newest kept.
func (d *deadLetters) rotate() error {
	err := d.close()
	if rerr := os.Rename(d.path, d.path+".1"); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
		err = errors.Join(err, fmt.Errorf("rotating the dead-letter file: %w", rerr))
	}
	if err != nil {
		return err
	}
	return d.open()
}

func (d *deadLetters) close() error {
	if d.f == nil {
		return nil
	}
	err := d.f.Close()
	d.f, d.size = nil, 0
	if err != nil {
		return fmt.Errorf("closing the dead-letter file: %w", err)
	}
	return nil
}

// DeadLetterFile is a dead-letter file for what is not a Record (a
// notifier's rejected messages): JSON lines, rotated as a sink's. It is not
// safe for concurrent use.
type DeadLetterFile struct{ d deadLetters }

// NewDeadLetterFile is the file at path, opened on first use, rotated at
// max bytes (DefaultDeadLetterMax when max ≤ 0).
func NewDeadLetterFile(path string, max int64) *DeadLetterFile {
	if max <= 0 {
		max = DefaultDeadLetterMax
	}
	return &DeadLetterFile{d: deadLetters{path: path, max: max}}
}

// Append writes v as one line.
func (f *DeadLetterFile) Append(v any) error { return f.d.appendJSON(v) }

// Close closes the file; a later Append opens it again.
func (f *DeadLetterFile) Close() error { return f.d.close() }
