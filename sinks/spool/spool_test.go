package spool

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/satellite-hq/satellite/sinks"
)

var base = time.Date(2026, 11, 25, 10, 0, 0, 123456789, time.FixedZone("X", 3600))

// rec is the i-th record of a test; its Check names i, and every field is
// set so that the round trip is checked whole.
func rec(i int) sinks.Record {
	r := sinks.Record{
		Time:      base.Add(time.Duration(i)*time.Millisecond + time.Duration(i%1000)),
		Node:      "node-1",
		Check:     fmt.Sprintf(`http.api["%06d"]`, i),
		Type:      "http",
		Status:    "critical",
		RunStatus: "warning",
		Changed:   i%2 == 0,
		Previous:  "passing",
		Duration:  time.Duration(i) * time.Microsecond,
		Metrics:   map[string]float64{"latency_ms": float64(i) / 3, "code": 503},
		Error:     "connection refused",
		Labels:    map[string]string{"team": "core", "zone": "b"},
	}
	switch i % 5 {
	case 1:
		r.Metrics["nan"] = math.NaN()
		r.Metrics["inf"] = math.Inf(-1)
	case 2:
		r.Metrics, r.Labels, r.Error, r.Previous = nil, nil, "", ""
	}
	return r
}

// index is the i a record was made from.
func index(t testing.TB, r sinks.Record) int {
	t.Helper()
	var i int
	if _, err := fmt.Sscanf(r.Check, `http.api["%06d"]`, &i); err != nil {
		t.Fatalf("record %q: %v", r.Check, err)
	}
	return i
}

// sameRecord compares every field; NaN metrics compare by their bits.
func sameRecord(a, b sinks.Record) bool {
	if !a.Time.Equal(b.Time) || a.ID() != b.ID() || a.Node != b.Node || a.Check != b.Check || a.Type != b.Type ||
		a.Status != b.Status || a.RunStatus != b.RunStatus || a.Changed != b.Changed || a.Previous != b.Previous ||
		a.Duration != b.Duration || a.Error != b.Error || len(a.Metrics) != len(b.Metrics) || len(a.Labels) != len(b.Labels) {
		return false
	}
	for k, v := range a.Metrics {
		w, ok := b.Metrics[k]
		if !ok || math.Float64bits(v) != math.Float64bits(w) {
			return false
		}
	}
	for k, v := range a.Labels {
		if w, ok := b.Labels[k]; !ok || v != w {
			return false
		}
	}
	return true
}

// logBuf is a logger whose output a test reads.
type logBuf struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func (l *logBuf) logger() hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{Output: l, Level: hclog.Debug})
}

func open(t testing.TB, opts Options) *Spool[sinks.Record] {
	t.Helper()
	s, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func push(t testing.TB, s *Spool[sinks.Record], from, to int) {
	t.Helper()
	for i := from; i < to; i++ {
		if err := s.Push(rec(i)); err != nil {
			t.Fatalf("Push(%d): %v", i, err)
		}
	}
}

// drain peeks and acks everything, in batches of n, and returns the indices.
func drain(t testing.TB, s *Spool[sinks.Record], n int) []int {
	t.Helper()
	var got []int
	for {
		batch, err := s.Peek(n)
		if err != nil {
			t.Fatal(err)
		}
		if len(batch) == 0 {
			return got
		}
		for _, r := range batch {
			got = append(got, index(t, r))
		}
		if err := s.Ack(len(batch)); err != nil {
			t.Fatal(err)
		}
	}
}

func seq(from, to int) []int {
	var out []int
	for i := from; i < to; i++ {
		out = append(out, i)
	}
	return out
}

func segFiles(t testing.TB, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*"+segSuffix))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func diskBytes(t testing.TB, dir string) int64 {
	t.Helper()
	var n int64
	for _, p := range segFiles(t, dir) {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		n += fi.Size()
	}
	return n
}

// abandon leaves s as a crash would: nothing synced or closed in order. The
// kernel has every write, as it does after kill -9 (there is no user-space
// buffer to lose). The lock goes with the handles, as with a dead process.
func abandon(s *Spool[sinks.Record]) {
	s.wmu.Lock()
	s.rmu.Lock()
	defer s.rmu.Unlock()
	defer s.wmu.Unlock()
	if s.stop != nil {
		close(s.stop)
		<-s.done
	}
	s.closed.Store(true)
	for _, f := range s.toSync {
		f.Close()
	}
	_ = s.closeFiles()
}

func TestRoundTripAcrossSegments(t *testing.T) {
	dir := t.TempDir()
	s := open(t, Options{Dir: dir, SegmentBytes: 4 << 10})
	const n = 1000
	push(t, s, 0, n)
	if s.Len() != n {
		t.Fatalf("Len = %d", s.Len())
	}
	if files := segFiles(t, dir); len(files) < 10 {
		t.Fatalf("%d segments, want records spread over many", len(files))
	}
	if got, want := s.Bytes(), diskBytes(t, dir); got != want {
		t.Errorf("Bytes = %d, files hold %d", got, want)
	}

	// Peek twice returns the same records; Ack moves on.
	next := 0
	for next < n {
		batch, err := s.Peek(37)
		if err != nil {
			t.Fatal(err)
		}
		again, _ := s.Peek(37)
		if len(batch) != min(37, n-next) || len(again) != len(batch) {
			t.Fatalf("Peek = %d then %d records at %d", len(batch), len(again), next)
		}
		for i, r := range batch {
			if want := rec(next + i); !sameRecord(r, want) || !sameRecord(again[i], want) {
				t.Fatalf("record %d = %+v, want %+v", next+i, r, want)
			}
		}
		if err := s.Ack(len(batch)); err != nil {
			t.Fatal(err)
		}
		next += len(batch)
		if s.Len() != n-next {
			t.Fatalf("Len = %d after %d acked", s.Len(), next)
		}
	}
	if got, _ := s.Peek(10); got != nil {
		t.Errorf("Peek on an empty spool = %d records", len(got))
	}
	// Acknowledged segments are gone, all but the one being written.
	if files := segFiles(t, dir); len(files) != 1 {
		t.Errorf("%d segment files left, want 1: %v", len(files), files)
	}
	if got, want := s.Bytes(), diskBytes(t, dir); got != want {
		t.Errorf("Bytes = %d, files hold %d", got, want)
	}
}

func TestAckWithoutPeek(t *testing.T) {
	s := open(t, Options{Dir: t.TempDir(), SegmentBytes: 4 << 10})
	push(t, s, 0, 300)
	if err := s.Ack(120); err != nil {
		t.Fatal(err)
	}
	// More than is queued acknowledges what is there.
	got, _ := s.Peek(1)
	if len(got) != 1 || index(t, got[0]) != 120 {
		t.Fatalf("after Ack(120) the head is %v", got)
	}
	if err := s.Ack(1000); err != nil || s.Len() != 0 {
		t.Fatalf("Ack(1000) = %v, Len %d", err, s.Len())
	}
	push(t, s, 300, 310)
	if got := drain(t, s, 4); !slices.Equal(got, seq(300, 310)) {
		t.Errorf("after emptying, got %v", got)
	}
}

func TestReopen(t *testing.T) {
	for _, crash := range []bool{false, true} {
		t.Run(fmt.Sprintf("crash=%v", crash), func(t *testing.T) {
			dir := t.TempDir()
			opts := Options{Dir: dir, SegmentBytes: 4 << 10}
			s, err := Open(opts)
			if err != nil {
				t.Fatal(err)
			}
			push(t, s, 0, 500)
			if got := drain(t, s, 50); !slices.Equal(got, seq(0, 500)) {
				t.Fatalf("drained %d records", len(got))
			}
			push(t, s, 500, 800)
			// Acknowledge 130 of them, the last batch partly.
			for _, k := range []int{100, 30} {
				b, _ := s.Peek(100)
				if len(b) != 100 {
					t.Fatalf("Peek = %d", len(b))
				}
				if err := s.Ack(k); err != nil {
					t.Fatal(err)
				}
			}
			if crash {
				abandon(s)
			} else if err := s.Close(); err != nil {
				t.Fatal(err)
			}

			s = open(t, opts)
			if s.Len() != 170 {
				t.Errorf("Len after reopening = %d, want 170", s.Len())
			}
			push(t, s, 800, 850)
			if got := drain(t, s, 64); !slices.Equal(got, seq(630, 850)) {
				t.Errorf("after reopening got %d records %v..., want 630..849", len(got), got[:min(5, len(got))])
			}
		})
	}
}

func TestTornTail(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(Options{Dir: dir, SegmentBytes: 4 << 10})
	if err != nil {
		t.Fatal(err)
	}
	push(t, s, 0, 100)
	abandon(s)

	// Cut the last record short, as a crash in the middle of its write would.
	files := segFiles(t, dir)
	last := files[len(files)-1]
	fi, err := os.Stat(last)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(last, fi.Size()-5); err != nil {
		t.Fatal(err)
	}

	var logs logBuf
	s = open(t, Options{Dir: dir, SegmentBytes: 4 << 10, Logger: logs.logger()})
	if !strings.Contains(logs.String(), "[WARN]") || !strings.Contains(logs.String(), "torn by a crash") {
		t.Errorf("no warning about the torn record; logs:\n%s", logs.String())
	}
	if s.Len() != 99 {
		t.Errorf("Len = %d, want 99", s.Len())
	}
	// New records go after the cut, not after the garbage.
	push(t, s, 100, 120)
	want := append(seq(0, 99), seq(100, 120)...)
	if got := drain(t, s, 30); !slices.Equal(got, want) {
		t.Errorf("got %v", got)
	}
}

func TestGarbledTail(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	push(t, s, 0, 10)
	abandon(s)
	// A record whose bytes never reached the disk whole: zeros.
	files := segFiles(t, dir)
	f, err := os.OpenFile(files[len(files)-1], os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(make([]byte, 300)); err != nil {
		t.Fatal(err)
	}
	f.Close()
	s = open(t, Options{Dir: dir})
	if got := drain(t, s, 100); !slices.Equal(got, seq(0, 10)) {
		t.Errorf("got %v", got)
	}
}

func TestCorruptCursor(t *testing.T) {
	t.Run("both slots", func(t *testing.T) {
		dir := t.TempDir()
		opts := Options{Dir: dir, SegmentBytes: 4 << 10}
		s := open(t, opts)
		push(t, s, 0, 200)
		b, _ := s.Peek(150)
		if err := s.Ack(len(b)); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, cursorFile), bytes.Repeat([]byte{0xa5}, 64), 0o640); err != nil {
			t.Fatal(err)
		}
		var logs logBuf
		opts.Logger = logs.logger()
		s = open(t, opts)
		if !strings.Contains(logs.String(), "cursor is unreadable") {
			t.Errorf("no warning; logs:\n%s", logs.String())
		}
		// Redelivery from the oldest segment kept: some acknowledged records
		// again, then every one not acknowledged, in order.
		got := drain(t, s, 1000)
		if len(got) < 50 || got[len(got)-1] != 199 || !slices.Equal(got, seq(got[0], 200)) || got[0] > 150 {
			t.Errorf("after a corrupt cursor got %d records from %d", len(got), got[0])
		}
	})
	t.Run("one slot", func(t *testing.T) {
		dir := t.TempDir()
		opts := Options{Dir: dir}
		s := open(t, opts)
		push(t, s, 0, 100)
		for range 3 {
			b, _ := s.Peek(10)
			if err := s.Ack(len(b)); err != nil {
				t.Fatal(err)
			}
		}
		gen := s.cur.gen
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		// Tear the slot written last: the other one is one Ack older.
		f, err := os.OpenFile(filepath.Join(dir, cursorFile), os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteAt([]byte{1, 2, 3}, int64(gen%2)*cursorSlot+14); err != nil {
			t.Fatal(err)
		}
		f.Close()
		s = open(t, opts)
		if got := drain(t, s, 1000); !slices.Equal(got, seq(20, 100)) {
			t.Errorf("got %v, want 20..99", got)
		}
	})
}

func TestBoundDropsOldest(t *testing.T) {
	dir := t.TempDir()
	const max = 64 << 10
	var logs logBuf
	s := open(t, Options{Dir: dir, MaxBytes: max, Logger: logs.logger()})
	if s.segBytes != max/4 {
		t.Fatalf("segment size %d, want %d", s.segBytes, max/4)
	}
	const n = 5000
	for i := range n {
		if err := s.Push(rec(i)); err != nil {
			t.Fatal(err)
		}
		if b := s.Bytes(); b > max {
			t.Fatalf("after %d records the spool holds %d bytes, over %d", i+1, b, max)
		}
	}
	if d := diskBytes(t, dir); d > max || d != s.Bytes() {
		t.Errorf("files hold %d bytes, Bytes() = %d, bound %d", d, s.Bytes(), max)
	}
	kept := s.Len()
	if kept == 0 || uint64(kept)+s.Dropped() != n {
		t.Fatalf("kept %d, dropped %d; want them to add up to %d", kept, s.Dropped(), n)
	}
	if !strings.Contains(logs.String(), "dropped the oldest records") {
		t.Errorf("the drops were not logged:\n%s", logs.String())
	}
	// What is kept is the newest, whole, in order.
	if got := drain(t, s, 500); !slices.Equal(got, seq(n-kept, n)) {
		t.Errorf("kept %d records from %d, want %d..%d", len(got), got[0], n-kept, n-1)
	}

	// The counts survive no restart (they are since Open), but the bound
	// does: reopening with a lower one drops to it.
	push(t, s, n, 2*n)
	kept = s.Len()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(t, Options{Dir: dir, MaxBytes: max / 2})
	if s.Bytes() > max/2 || s.Dropped() == 0 || uint64(s.Len())+s.Dropped() != uint64(kept) {
		t.Errorf("reopened at half the bound: %d bytes, %d kept, %d dropped (of %d)", s.Bytes(), s.Len(), s.Dropped(), kept)
	}
}

// TestBoundWhilePeeked drops the records a Peek returned before they are
// acknowledged: the Ack must not acknowledge newer records in their place,
// and a record counts as dropped only when it was not delivered.
func TestBoundWhilePeeked(t *testing.T) {
	for _, ack := range []bool{true, false} {
		t.Run(fmt.Sprintf("ack=%v", ack), func(t *testing.T) {
			s := open(t, Options{Dir: t.TempDir(), MaxBytes: MinMaxBytes})
			push(t, s, 0, 20)
			batch, _ := s.Peek(10)
			if len(batch) != 10 {
				t.Fatal(len(batch))
			}
			// Push until the batch's segment is dropped.
			i := 20
			for i-s.Len() <= 10 {
				push(t, s, i, i+1)
				i++
			}
			wantHead := i - s.Len()
			if ack {
				// The sink took the batch after all.
				if err := s.Ack(len(batch)); err != nil {
					t.Fatal(err)
				}
			}
			after, _ := s.Peek(1)
			if index(t, after[0]) != wantHead {
				t.Errorf("the head moved from %d to %d", wantHead, index(t, after[0]))
			}
			delivered := 0
			if ack {
				delivered = len(batch)
			}
			if s.Len()+int(s.Dropped())+delivered != i {
				t.Errorf("queued %d + dropped %d + delivered %d != %d pushed", s.Len(), s.Dropped(), delivered, i)
			}
		})
	}
}

func TestConcurrentPushPeekAck(t *testing.T) {
	for _, bounded := range []bool{false, true} {
		t.Run(fmt.Sprintf("bounded=%v", bounded), func(t *testing.T) {
			opts := Options{Dir: t.TempDir(), SegmentBytes: 8 << 10, SyncInterval: time.Millisecond}
			if bounded {
				opts.MaxBytes = 32 << 10
			}
			s := open(t, opts)
			const n = 20000
			done := make(chan struct{})
			var pushErr error
			go func() {
				defer close(done)
				for i := range n {
					if err := s.Push(rec(i)); err != nil {
						pushErr = err
						return
					}
				}
			}()
			var got []int
			finished := false
			for !finished {
				select {
				case <-done:
					finished = true
				default:
				}
				batch, err := s.Peek(50)
				if err != nil {
					t.Fatal(err)
				}
				for _, r := range batch {
					got = append(got, index(t, r))
				}
				if err := s.Ack(len(batch)); err != nil {
					t.Fatal(err)
				}
				_, _, _ = s.Len(), s.Bytes(), s.Dropped()
			}
			got = append(got, drain(t, s, 50)...)
			if pushErr != nil {
				t.Fatal(pushErr)
			}
			// Strictly increasing: in order, no duplicates; with no bound,
			// everything.
			for i := 1; i < len(got); i++ {
				if got[i] <= got[i-1] {
					t.Fatalf("record %d after %d", got[i], got[i-1])
				}
			}
			if uint64(len(got))+s.Dropped() != n {
				t.Errorf("received %d + dropped %d != %d", len(got), s.Dropped(), n)
			}
			if !bounded && s.Dropped() != 0 {
				t.Errorf("dropped %d with no bound reached", s.Dropped())
			}
		})
	}
}

func TestSyncPolicies(t *testing.T) {
	for _, p := range []SyncPolicy{SyncNone, SyncInterval, SyncAlways} {
		t.Run(p.String(), func(t *testing.T) {
			dir := t.TempDir()
			opts := Options{Dir: dir, Sync: p, SegmentBytes: 4 << 10, SyncInterval: time.Millisecond}
			s := open(t, opts)
			push(t, s, 0, 100)
			time.Sleep(5 * time.Millisecond) // let the syncer run over rolled segments
			push(t, s, 100, 200)
			b, _ := s.Peek(30)
			_ = s.Ack(len(b))
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			s = open(t, opts)
			if got := drain(t, s, 40); !slices.Equal(got, seq(30, 200)) {
				t.Errorf("got %v", got)
			}
		})
	}
}

func TestLockedAndClosed(t *testing.T) {
	dir := t.TempDir()
	s := open(t, Options{Dir: dir})
	if _, err := Open(Options{Dir: dir}); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Errorf("second Open = %v, want in use", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Push(rec(0)); !errors.Is(err, ErrClosed) {
		t.Errorf("Push after Close = %v", err)
	}
	if _, err := s.Peek(1); !errors.Is(err, ErrClosed) {
		t.Errorf("Peek after Close = %v", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
	if _, err := Open(Options{}); err == nil {
		t.Error("Open with no folder succeeded")
	}
}

func TestTooLarge(t *testing.T) {
	s := open(t, Options{Dir: t.TempDir(), MaxBytes: MinMaxBytes})
	r := rec(0)
	r.Error = strings.Repeat("x", MinMaxBytes/2)
	if err := s.Push(r); !errors.Is(err, ErrTooLarge) {
		t.Errorf("Push of a record over half the bound = %v", err)
	}
	// A record larger than a segment, but within the bound, is kept.
	r.Error = strings.Repeat("y", MinMaxBytes/3)
	if err := s.Push(r); err != nil {
		t.Fatal(err)
	}
	push(t, s, 1, 3)
	got, err := s.Peek(10)
	if err != nil || len(got) != 3 || got[0].Error != r.Error || index(t, got[2]) != 2 {
		t.Fatalf("Peek = %d records, %v", len(got), err)
	}
}

func TestDamagedMiddleSegment(t *testing.T) {
	dir := t.TempDir()
	opts := Options{Dir: dir, SegmentBytes: 4 << 10}
	s := open(t, opts)
	push(t, s, 0, 200)
	// Garble a record in the second segment behind the spool's back.
	files := segFiles(t, dir)
	f, err := os.OpenFile(files[1], os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("garbage!"), 600); err != nil {
		t.Fatal(err)
	}
	f.Close()
	got := drain(t, s, 25)
	// The damaged segment's records from the damage on are lost, counted;
	// everything else comes through in order.
	for i := 1; i < len(got); i++ {
		if got[i] <= got[i-1] {
			t.Fatalf("out of order: %d after %d", got[i], got[i-1])
		}
	}
	if got[len(got)-1] != 199 || uint64(len(got))+s.Dropped() != 200 || s.Dropped() == 0 {
		t.Errorf("got %d records, dropped %d", len(got), s.Dropped())
	}
}
