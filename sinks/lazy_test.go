package sinks

import (
	"context"
	"errors"
	"testing"
	"time"
)

type flakyOpener struct {
	failures int
	opens    int
	sink     *recordingSink
}

func (o *flakyOpener) Open(context.Context) (Sink, error) {
	o.opens++
	if o.opens <= o.failures {
		return nil, errors.New("connection refused")
	}
	return o.sink, nil
}

type recordingSink struct {
	got    []Record
	closed bool
}

func (s *recordingSink) Write(_ context.Context, b []Record) error {
	s.got = append(s.got, b...)
	return nil
}
func (s *recordingSink) Close() error { s.closed = true; return nil }

func TestLazyOpensOnWriteAndRetries(t *testing.T) {
	o := &flakyOpener{failures: 2, sink: &recordingSink{}}
	s := Lazy(o)
	if o.opens != 0 {
		t.Fatal("Lazy opened before the first Write")
	}
	rec := Record{Check: "tcp.a", Time: time.Unix(1, 0)}
	for i := 0; i < 2; i++ {
		err := s.Write(context.Background(), []Record{rec})
		if err == nil || err.Error() != "opening: connection refused" {
			t.Fatalf("write %d: err = %v, want the Open error", i, err)
		}
	}
	if err := s.Write(context.Background(), []Record{rec}); err != nil {
		t.Fatal(err)
	}
	if err := s.Write(context.Background(), []Record{rec}); err != nil {
		t.Fatal(err)
	}
	if o.opens != 3 || len(o.sink.got) != 2 {
		t.Fatalf("opens = %d, records = %d; want 3 opens and 2 records", o.opens, len(o.sink.got))
	}
	if err := s.Close(); err != nil || !o.sink.closed {
		t.Fatalf("Close: err %v, sink closed %v", err, o.sink.closed)
	}
	if err := s.Write(context.Background(), []Record{rec}); !errors.Is(err, ErrWriterClosed) {
		t.Fatalf("Write after Close: %v", err)
	}
}

func TestLazyCloseUnopened(t *testing.T) {
	o := &flakyOpener{sink: &recordingSink{}}
	if err := Lazy(o).Close(); err != nil || o.opens != 0 {
		t.Fatalf("Close of an unopened sink: err %v, opens %d", err, o.opens)
	}
}
