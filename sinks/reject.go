package sinks

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"hash/fnv"
)

// RejectedError marks a batch the sink will never accept as it is (an
// InfluxDB 4xx such as a field-type conflict): retrying it would block the
// queue forever, so the Writer moves it to the dead-letter file instead.
type RejectedError struct{ Err error }

func (e *RejectedError) Error() string { return "rejected by the sink: " + e.Err.Error() }
func (e *RejectedError) Unwrap() error { return e.Err }

// Reject wraps err as a RejectedError; nil stays nil.
func Reject(err error) error {
	if err == nil {
		return nil
	}
	return &RejectedError{Err: err}
}

// IsRejected reports whether err, or an error it wraps, is a RejectedError.
func IsRejected(err error) bool {
	var r *RejectedError
	return errors.As(err, &r)
}

// ID is a stable identifier of the record: the same run of the same check on
// the same node always has the same ID, so that a sink that can deduplicate
// stores a redelivered batch once. It is 16 hex digits.
func (r Record) ID() string {
	h := fnv.New64a()
	_, _ = h.Write([]byte(r.Node))
	_, _ = h.Write([]byte{0})
	_, _ = h.Write([]byte(r.Check))
	_, _ = h.Write([]byte{0})
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(r.Time.UnixNano()))
	_, _ = h.Write(b[:])
	return hex.EncodeToString(h.Sum(nil))
}
