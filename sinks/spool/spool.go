// Package spool is a sink's write-ahead queue on disk: a bounded, crash-safe
// FIFO of sinks.Record that implements sinks.Queue (or of any type with a
// Codec: the notifiers' alerts), so that an outage of the
// sink, a restart or a kill -9 of the agent loses nothing.
//
// A spool is a folder (agent.data_dir/spool/TYPE.NAME, see Dir) holding:
//
//	00000000000000000001.seg ...  segment files: a magic header, then frames
//	                              (length, CRC-32C, encoded record), appended
//	cursor                        the first record not yet acknowledged
//	LOCK                          flock'ed while a process has the spool open
//	dead-letter.jsonl             not the spool's: see DeadLetterFile
//
// Push appends a frame to the newest segment with one write(2), so the record
// is in the kernel before Push returns and survives the process being killed;
// when it also survives a power loss depends on the SyncPolicy. A new segment
// is started at Options.SegmentBytes. Ack moves the cursor and deletes the
// segments it has passed. At Options.MaxBytes the oldest segment is deleted,
// acknowledged or not, and its records counted as dropped: the newest records
// are the ones kept.
//
// Open recovers whatever a crash left: a frame cut short or garbled at the end
// of a segment is cut off, with a warning, and a missing or unreadable cursor
// means starting again from the oldest record kept. Delivery is at least once:
// a crash may redeliver, never lose, what was acknowledged since the cursor
// last reached the disk.
package spool

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/sys/unix"

	"github.com/satellite-hq/satellite/sinks"
)

// SyncPolicy says when the spool asks the kernel to put its files on the
// disk (fsync). Every Push reaches the kernel whatever the policy, so a
// process crash or kill -9 loses nothing; the policy is about power loss and
// kernel crashes.
type SyncPolicy int

const (
	// SyncInterval fsyncs what was written every Options.SyncInterval, from
	// a goroutine of the spool's own: a power loss loses at most that much.
	// It is the default.
	SyncInterval SyncPolicy = iota
	// SyncNone never fsyncs: the kernel writes back when it likes
	// (typically within 30 s).
	SyncNone
	// SyncAlways fsyncs the segment in every Push, before it returns: a power
	// loss loses nothing acknowledged by Push, at the cost of a disk flush
	// per record on the scheduler's goroutine.
	SyncAlways
)

// String names the policy.
func (p SyncPolicy) String() string {
	switch p {
	case SyncInterval:
		return "interval"
	case SyncNone:
		return "none"
	case SyncAlways:
		return "always"
	}
	return "SyncPolicy(" + strconv.Itoa(int(p)) + ")"
}

// Defaults of Options.
const (
	DefaultMaxBytes     = 256 << 20
	DefaultSegmentBytes = 4 << 20
	DefaultSyncInterval = time.Second
	// MinMaxBytes is the smallest MaxBytes; a smaller one is raised to it.
	MinMaxBytes = 16 << 10
)

// Options configure a spool. Zero values take the defaults.
type Options struct {
	// Dir is the spool's folder, created (mode 0750) when missing. One
	// process at a time may have it open.
	Dir string
	// MaxBytes bounds the segment files' total size (spool_max). Default
	// DefaultMaxBytes; at least MinMaxBytes.
	MaxBytes int64
	// SegmentBytes is the size at which a new segment is started, and so the
	// unit in which the oldest records are dropped at the bound. Default
	// DefaultSegmentBytes, at most MaxBytes/4.
	SegmentBytes int64
	// Sync says when to fsync. Default SyncInterval.
	Sync SyncPolicy
	// SyncInterval is the period of SyncInterval. Default DefaultSyncInterval.
	SyncInterval time.Duration
	// Logger receives drops, recoveries and I/O errors. Default: none.
	Logger hclog.Logger
}

var (
	// ErrClosed is returned by a Spool's methods after Close.
	ErrClosed = errors.New("spool is closed")
	// ErrTooLarge is returned by Push for a record larger than half the
	// spool's bound (or 16 MiB), which the spool could not keep.
	ErrTooLarge = errors.New("record too large for the spool")
)

const (
	segSuffix = ".seg"
	lockFile  = "LOCK"
	// readChunk is how much Peek reads at a time.
	readChunk = 256 << 10
)

// DeadLetterFile is the name, in a sink's spool folder, of its dead-letter
// file (sinks.WriterOptions.DeadLetter): the spool ignores it, and it sits
// next to the records it was taken from.
const DeadLetterFile = "dead-letter.jsonl"

// Dir is the folder of a sink's spool under agent.data_dir.
func Dir(dataDir, sinkType, sinkName string) string {
	return filepath.Join(dataDir, "spool", sinkType+"."+sinkName)
}

// segment is what the spool knows of one segment file.
type segment struct {
	seq   uint64
	first uint64 // the index of its first record
	count uint64 // records in it
	size  int64  // bytes written, header included
}

func (g *segment) end() uint64 { return g.first + g.count }

// peekCache remembers where the records of the last Peek end, so that Ack
// moves the cursor without reading them again, and acknowledges exactly
// those records even if older ones were dropped in between.
type peekCache struct {
	valid bool
	start uint64     // index of the first record returned
	ends  []position // ends[i] is where record start+i ends
}

// Spool is an on-disk FIFO of T, a sinks.Queue for T = sinks.Record
// (Open); OpenCodec spools anything its Codec encodes (the notifiers'
// alerts). Push may run concurrently with Peek and Ack; it never waits for
// their reads.
type Spool[T any] struct {
	codec    Codec[T]
	dir      string
	maxBytes int64
	segBytes int64
	policy   SyncPolicy
	log      hclog.Logger
	lock     *os.File

	closed atomic.Bool // set with wmu and rmu held

	// wmu serializes Push: the active segment's file and the encode buffer.
	wmu    sync.Mutex
	active *os.File
	act    *segment // the last of segs; its fields change under wmu and mu
	buf    []byte

	// rmu serializes Peek and Ack: the read handle, the cursor, the cache.
	rmu   sync.Mutex
	rf    *os.File
	rfSeq uint64
	rbuf  []byte
	cur   *cursor
	peek  peekCache

	// mu guards the segment list and the counters. It is held only briefly
	// and never across a read or write of a segment.
	mu      sync.Mutex
	segs    []*segment // oldest first; the head is in segs[0], the last is act
	headOff int64      // the head's offset in segs[0]
	head    uint64     // index of the oldest record not acknowledged
	tail    uint64     // index of the next record pushed
	bytes   int64      // total size of the segment files
	dropped uint64
	// flight is the index range the last Peek returned, not yet
	// acknowledged; flightDropped counts those of its records (a prefix)
	// that the bound dropped since. They are counted as dropped only if the
	// Ack does not cover them: a sink may have them already, and a record
	// must not count as both delivered and dropped.
	flightStart, flightEnd uint64
	flightDropped          uint64

	// The syncer's state (SyncInterval and SyncAlways).
	smu         sync.Mutex
	toSync      []*os.File // rolled segments, to fsync and close
	syncActive  *os.File   // the active segment, to fsync when dirty
	dirDirty    bool       // a segment was created or deleted
	activeDirty atomic.Bool
	cursorDirty atomic.Bool
	stop        chan struct{}
	done        chan struct{}
}

var (
	_ sinks.Queue                 = (*Spool[sinks.Record])(nil)
	_ interface{ Durable() bool } = (*Spool[sinks.Record])(nil)
)

// Open opens the record spool in opts.Dir, creating it when missing, and
// recovers what a crash left: see the package documentation. The caller
// must Close it.
func Open(opts Options) (*Spool[sinks.Record], error) {
	return OpenCodec[sinks.Record](opts, RecordCodec{})
}

// OpenCodec is Open for items of any type, encoded by codec.
func OpenCodec[T any](opts Options, codec Codec[T]) (*Spool[T], error) {
	if opts.Dir == "" {
		return nil, errors.New("spool: no folder given")
	}
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = DefaultMaxBytes
	}
	opts.MaxBytes = max(opts.MaxBytes, MinMaxBytes)
	if opts.SegmentBytes <= 0 {
		opts.SegmentBytes = DefaultSegmentBytes
	}
	opts.SegmentBytes = min(opts.SegmentBytes, opts.MaxBytes/4)
	if opts.SyncInterval <= 0 {
		opts.SyncInterval = DefaultSyncInterval
	}
	if opts.Logger == nil {
		opts.Logger = hclog.NewNullLogger()
	}
	if err := os.MkdirAll(opts.Dir, 0o750); err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	s := &Spool[T]{
		codec:    codec,
		dir:      opts.Dir,
		maxBytes: opts.MaxBytes,
		segBytes: opts.SegmentBytes,
		policy:   opts.Sync,
		log:      opts.Logger.With("spool", opts.Dir),
	}
	if err := s.lockDir(); err != nil {
		return nil, err
	}
	if err := s.load(); err != nil {
		s.closeFiles()
		return nil, fmt.Errorf("spool %s: %w", s.dir, err)
	}
	if s.policy != SyncNone {
		s.stop = make(chan struct{})
		s.done = make(chan struct{})
		go s.syncLoop(opts.SyncInterval)
	}
	return s, nil
}

// lockDir takes the folder's lock: two processes appending to the same
// segment would interleave their frames.
func (s *Spool[T]) lockDir() error {
	f, err := os.OpenFile(filepath.Join(s.dir, lockFile), os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return fmt.Errorf("spool %s is in use by another process (or was not closed)", s.dir)
		}
		return fmt.Errorf("spool: locking %s: %w", s.dir, err)
	}
	s.lock = f
	return nil
}

func (s *Spool[T]) segPath(seq uint64) string {
	return filepath.Join(s.dir, fmt.Sprintf("%020d%s", seq, segSuffix))
}

// load reads the folder as a crash may have left it.
func (s *Spool[T]) load() error {
	cur, cpos, cok, err := openCursor(s.dir)
	if err != nil {
		return err
	}
	s.cur = cur
	if !cok {
		if fi, err := cur.f.Stat(); err == nil && fi.Size() > 0 {
			s.log.Warn("the spool's cursor is unreadable; redelivering from the oldest record kept")
		}
	}

	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return err
	}
	var seqs []uint64
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), segSuffix)
		if !ok || !e.Type().IsRegular() {
			continue
		}
		if seq, err := strconv.ParseUint(name, 10, 64); err == nil && seq > 0 {
			seqs = append(seqs, seq)
		}
	}
	slices.Sort(seqs)

	var next uint64 // index of the next record
	headIdx, headOff, headSeq := uint64(0), int64(-1), uint64(0)
	for i, seq := range seqs {
		atCursor := int64(-1)
		if cok && cpos.seq == seq {
			atCursor = cpos.off
		}
		g, before, err := s.scan(seq, i == len(seqs)-1, atCursor)
		if err != nil {
			return err
		}
		if g == nil {
			continue
		}
		g.first = next
		next += g.count
		if atCursor >= 0 {
			headSeq = seq
			switch {
			case before >= 0:
				headIdx, headOff = g.first+uint64(before), atCursor
			case atCursor >= g.size:
				// Acknowledged past what survived the crash: nothing of it
				// is left to deliver.
				headIdx, headOff = g.end(), g.size
			default:
				s.log.Warn("the spool's cursor is not at a record; redelivering its segment", "segment", seq, "offset", atCursor)
				headIdx, headOff = g.first, segHeader
			}
		}
		s.segs = append(s.segs, g)
	}
	s.tail = next

	// Segments before the cursor's were acknowledged; a crash kept them from
	// being deleted.
	if cok && len(s.segs) > 0 && cpos.seq > s.segs[len(s.segs)-1].seq {
		s.log.Warn("the spool's cursor is past every segment; redelivering from the oldest record kept", "segment", cpos.seq)
		cok = false
	}
	var acked []uint64
	if cok {
		for len(s.segs) > 0 && s.segs[0].seq < cpos.seq {
			acked = append(acked, s.segs[0].seq)
			s.segs = s.segs[1:]
		}
	}
	for _, seq := range acked {
		if err := os.Remove(s.segPath(seq)); err != nil {
			return err
		}
	}
	switch {
	case len(s.segs) == 0:
	case headOff >= 0 && headSeq == s.segs[0].seq:
		s.head, s.headOff = headIdx, headOff
	default:
		s.head, s.headOff = s.segs[0].first, segHeader
	}
	for _, g := range s.segs {
		s.bytes += g.size
	}

	// Append to the last segment unless it is full.
	if n := len(s.segs); n > 0 && s.segs[n-1].size < s.segBytes {
		g := s.segs[n-1]
		f, err := os.OpenFile(s.segPath(g.seq), os.O_WRONLY, 0)
		if err != nil {
			return err
		}
		s.active, s.act = f, g
	} else {
		seq := uint64(1)
		if n > 0 {
			seq = s.segs[n-1].seq + 1
		}
		if cok {
			seq = max(seq, cpos.seq+1)
		}
		if err := s.newSegment(seq); err != nil {
			return err
		}
	}
	s.syncActive = s.active
	victims := s.trimHead()
	dropped, lost := s.makeRoom(0)
	s.logDropped(lost)
	if err := s.cur.write(position{s.segs[0].seq, s.headOff}); err != nil {
		return err
	}
	s.removeSegments(append(victims, dropped...))
	if l := s.tail - s.head; l > 0 {
		s.log.Info("spool opened with records to deliver", "records", l, "bytes", s.bytes)
	}
	return nil
}

// scan reads segment seq and returns what it holds, cutting off a torn or
// garbled tail. before is the number of records before offset atCursor, or
// -1 when atCursor is not at a record's start. A nil segment is one that was
// removed: a header torn by a crash, or a file that is not a segment.
func (s *Spool[T]) scan(seq uint64, last bool, atCursor int64) (g *segment, before int64, err error) {
	path := s.segPath(seq)
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, -1, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, -1, err
	}
	var magic [segHeader]byte
	if _, err := io.ReadFull(f, magic[:]); err != nil || string(magic[:]) != segMagic {
		if fi.Size() < segHeader && string(magic[:fi.Size()]) == segMagic[:fi.Size()] {
			// A segment whose creation a crash interrupted: nothing in it.
			return nil, -1, os.Remove(path)
		}
		s.log.Error("not a spool segment; moved aside", "file", path)
		return nil, -1, os.Rename(path, path+".corrupt")
	}

	g = &segment{seq: seq, size: segHeader}
	before = -1
	if atCursor == segHeader {
		before = 0
	}
	r := newFrameReader(f, segHeader)
	var cut error
	for {
		n, err := r.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			cut = err
			break
		}
		g.size += n
		g.count++
		if g.size == atCursor {
			before = int64(g.count)
		}
	}
	if cut != nil {
		lost := fi.Size() - g.size
		if last {
			s.log.Warn("cut off a record torn by a crash at the end of the spool", "segment", path, "offset", g.size, "bytes", lost, "reason", cut)
		} else {
			s.log.Error("spool segment damaged: the records after the damage are lost", "segment", path, "offset", g.size, "bytes", lost, "reason", cut)
		}
		if err := f.Truncate(g.size); err != nil {
			return nil, -1, err
		}
	}
	if g.count == 0 && !last {
		return nil, -1, os.Remove(path)
	}
	return g, before, nil
}

// frameReader checks the frames of a segment without decoding them.
type frameReader struct {
	r   io.Reader
	hdr [frameHeader]byte
	buf []byte
}

func newFrameReader(f *os.File, off int64) *frameReader {
	return &frameReader{r: bufio.NewReaderSize(io.NewSectionReader(f, off, 1<<62), 1<<20)}
}

// next checks the next frame and returns its size; io.EOF at a clean end.
func (fr *frameReader) next() (int64, error) {
	if _, err := io.ReadFull(fr.r, fr.hdr[:]); err != nil {
		if err == io.EOF {
			return 0, io.EOF
		}
		return 0, errTorn
	}
	n, err := checkHeader(fr.hdr[:])
	if err != nil {
		return 0, err
	}
	if cap(fr.buf) < n {
		fr.buf = make([]byte, n)
	}
	if _, err := io.ReadFull(fr.r, fr.buf[:n]); err != nil {
		return 0, errTorn
	}
	if err := checkFrame(fr.hdr[:], fr.buf[:n]); err != nil {
		return 0, err
	}
	return int64(frameHeader + n), nil
}

// newSegment creates segment seq and makes it the active one. The caller
// holds wmu, or is Open.
func (s *Spool[T]) newSegment(seq uint64) error {
	f, err := os.OpenFile(s.segPath(seq), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		return fmt.Errorf("creating a segment: %w", err)
	}
	if _, err := f.Write([]byte(segMagic)); err != nil {
		f.Close()
		_ = os.Remove(s.segPath(seq))
		return fmt.Errorf("creating a segment: %w", err)
	}
	g := &segment{seq: seq, first: s.tail, size: segHeader}
	s.mu.Lock()
	s.segs = append(s.segs, g)
	s.bytes += segHeader
	if len(s.segs) == 1 {
		s.head, s.headOff = g.first, segHeader
	}
	s.mu.Unlock()
	s.active, s.act = f, g
	s.smu.Lock()
	s.dirDirty = true
	s.smu.Unlock()
	return nil
}

// roll starts a new segment after the active one. The caller holds wmu.
func (s *Spool[T]) roll() error {
	old := s.active
	if err := s.newSegment(s.act.seq + 1); err != nil {
		return err
	}
	s.smu.Lock()
	s.syncActive = s.active
	if s.policy == SyncInterval {
		// The syncer fsyncs and closes it, off the scheduler's goroutine
		// (it may be syncing it right now).
		s.toSync = append(s.toSync, old)
		s.smu.Unlock()
		return nil
	}
	s.smu.Unlock()
	// SyncAlways has synced every record already; SyncNone never does.
	if err := old.Close(); err != nil {
		s.log.Warn("closing a spool segment", "error", err)
	}
	return nil
}

// trimHead removes the segments the head has passed, except the active one,
// and returns their numbers for removeSegments. The caller holds mu, or is
// Open.
func (s *Spool[T]) trimHead() []uint64 {
	var victims []uint64
	for len(s.segs) > 1 && s.head >= s.segs[0].end() && s.headOff >= s.segs[0].size {
		g := s.segs[0]
		s.segs = slices.Delete(s.segs, 0, 1)
		s.bytes -= g.size
		s.head, s.headOff = s.segs[0].first, segHeader
		victims = append(victims, g.seq)
	}
	return victims
}

// makeRoom drops the oldest segments until need more bytes fit in the bound,
// and returns their numbers for removeSegments and the records lost, for
// logDropped (not logged here, under mu). The active segment is never
// dropped: Push keeps it below the bound. The caller holds mu, or is Open.
func (s *Spool[T]) makeRoom(need int64) (victims []uint64, lost uint64) {
	for s.bytes+need > s.maxBytes && len(s.segs) > 1 {
		g := s.segs[0]
		var inFlight uint64
		if lo, hi := max(s.head, s.flightStart), min(g.end(), s.flightEnd); hi > lo {
			inFlight = hi - lo
		}
		s.flightDropped += inFlight
		lost += g.end() - s.head - inFlight
		s.segs = slices.Delete(s.segs, 0, 1)
		s.bytes -= g.size
		s.head, s.headOff = s.segs[0].first, segHeader
		victims = append(victims, g.seq)
	}
	s.dropped += lost
	return victims, lost
}

// logDropped logs the records makeRoom dropped.
func (s *Spool[T]) logDropped(lost uint64) {
	if lost > 0 {
		s.log.Warn("spool full: dropped the oldest records", "dropped", lost, "dropped_total", s.Dropped(), "max_bytes", s.maxBytes)
	}
}

// removeSegments deletes segment files no longer in the list. Done outside
// mu: an unlink may take a while, and nothing refers to the files any more.
func (s *Spool[T]) removeSegments(seqs []uint64) {
	for _, seq := range seqs {
		if err := os.Remove(s.segPath(seq)); err != nil && !errors.Is(err, os.ErrNotExist) {
			s.log.Warn("removing a spool segment", "segment", seq, "error", err)
		}
	}
	if len(seqs) > 0 {
		s.smu.Lock()
		s.dirDirty = true
		s.smu.Unlock()
	}
}

// Push appends r. The record is in the kernel when Push returns (on the disk
// too under SyncAlways). At the bound it drops the oldest records to make
// room. ErrTooLarge for a record the spool cannot hold.
func (s *Spool[T]) Push(r T) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.closed.Load() {
		return ErrClosed
	}
	s.buf = appendFrameWith(s.buf[:0], s.codec, &r)
	n := int64(len(s.buf))
	if n-frameHeader > maxPayload || n > s.maxBytes/2 {
		return ErrTooLarge
	}
	// The size is read without mu: only Push, under wmu, changes it.
	if s.act.size+n > s.segBytes && s.act.count > 0 {
		if err := s.roll(); err != nil {
			s.log.Error("spool: cannot start a segment", "error", err)
			return fmt.Errorf("spool: %w", err)
		}
	}
	s.mu.Lock()
	victims, lost := s.makeRoom(n)
	s.mu.Unlock()
	s.removeSegments(victims)
	s.logDropped(lost)

	// WriteAt, at the offset the spool keeps, so that a failed write (a
	// full disk) leaves nothing in the way of the next one.
	if _, err := s.active.WriteAt(s.buf, s.act.size); err != nil {
		return fmt.Errorf("spool: writing a record: %w", err)
	}
	if s.policy == SyncAlways {
		if err := s.active.Sync(); err != nil {
			return fmt.Errorf("spool: syncing a record: %w", err)
		}
	}
	s.mu.Lock()
	s.act.size += n
	s.act.count++
	s.tail++
	s.bytes += n
	s.mu.Unlock()
	if s.policy == SyncInterval {
		s.activeDirty.Store(true)
	}
	// Keep the encode buffer from holding on to one huge record.
	if cap(s.buf) > 64<<10 {
		s.buf = nil
	}
	return nil
}

// Peek returns up to n of the oldest records not acknowledged, in order.
func (s *Spool[T]) Peek(n int) ([]T, error) {
	s.rmu.Lock()
	defer s.rmu.Unlock()
	if s.closed.Load() {
		return nil, ErrClosed
	}
	return s.read(n, true)
}

// read reads up to n records from the head and fills the peek cache; with
// decode false it only checks the frames and returns no records. The caller
// holds rmu.
func (s *Spool[T]) read(n int, decode bool) ([]T, error) {
	s.peek.valid = false
	s.mu.Lock()
	s.settleFlight(0)
	start, seq, off := s.head, s.segs[0].seq, s.headOff
	want := int(min(uint64(max(n, 0)), s.tail-s.head))
	s.mu.Unlock()
	if want == 0 {
		return nil, nil
	}
	var out []T
	if decode {
		out = make([]T, 0, want)
	}
	ends := s.peek.ends[:0]
	for len(ends) < want {
		s.mu.Lock()
		var size int64
		found, nextSeq := false, uint64(0)
		for i, g := range s.segs {
			if g.seq == seq {
				found, size = true, g.size
				if i+1 < len(s.segs) {
					nextSeq = s.segs[i+1].seq
				}
				break
			}
		}
		s.mu.Unlock()
		if !found {
			break // dropped while we read: the trim below sorts it out
		}
		if off >= size {
			if nextSeq == 0 {
				break
			}
			seq, off = nextSeq, segHeader
			continue
		}
		f, err := s.readFile(seq)
		if errors.Is(err, os.ErrNotExist) {
			break // dropped
		}
		if err != nil {
			return nil, fmt.Errorf("spool: %w", err)
		}
		chunk := min(size-off, int64(max(readChunk, cap(s.rbuf))))
		if int64(cap(s.rbuf)) < chunk {
			s.rbuf = make([]byte, chunk)
		}
		buf := s.rbuf[:chunk]
		if _, err := f.ReadAt(buf, off); err != nil {
			return nil, fmt.Errorf("spool: reading segment %d: %w", seq, err)
		}
		p, grow := 0, 0
		for p < len(buf) && len(ends) < want {
			var (
				rec T
				m   int
				err error
			)
			if decode {
				rec, m, err = decodeFrameWith(buf[p:], s.codec)
			} else {
				m, err = checkOnly(buf[p:])
			}
			if errors.Is(err, errTorn) {
				if p > 0 {
					break // the frame goes on past this chunk: read on from it
				}
				// A frame larger than the chunk: read it whole. One that
				// goes past what was written is damage.
				if l, herr := checkHeader(buf); herr == nil && int64(frameHeader+l) > chunk && int64(frameHeader+l) <= size-off {
					grow = frameHeader + l
					break
				}
				err = fmt.Errorf("%w: frame runs past the end of the segment", errCorrupt)
			}
			if err != nil {
				if len(ends) > 0 {
					// Deliver what comes before the damage first; the next
					// read starts at it. Nothing was dropped meanwhile:
					// only Ack and read move the head past the damage.
					s.mu.Lock()
					if s.head == start {
						s.flightStart, s.flightEnd = start, start+uint64(len(ends))
						s.mu.Unlock()
						s.setPeek(start, ends)
						return out, nil
					}
					s.mu.Unlock()
					return s.read(n, decode)
				}
				if err := s.skipDamaged(seq, off+int64(p), err); err != nil {
					return nil, err
				}
				return s.read(n, decode)
			}
			p += m
			ends = append(ends, position{seq, off + int64(p)})
			if decode {
				out = append(out, rec)
			}
		}
		if grow > 0 {
			s.rbuf = make([]byte, grow)
			continue
		}
		off += int64(p)
	}
	// Records dropped at the bound while we read are no longer queued.
	s.mu.Lock()
	if s.head > start {
		k := int(min(s.head-start, uint64(len(ends))))
		ends = ends[k:]
		if decode {
			out = out[k:]
		}
		start += uint64(k)
	}
	s.flightStart, s.flightEnd = start, start+uint64(len(ends))
	s.mu.Unlock()
	s.setPeek(start, ends)
	if decode && len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

// settleFlight ends the last Peek's flight: of its records the bound
// dropped, those from acked on were not delivered, and count as dropped.
// The caller holds mu.
func (s *Spool[T]) settleFlight(acked uint64) {
	if end := s.flightStart + s.flightDropped; end > acked {
		s.dropped += end - max(acked, s.flightStart)
	}
	s.flightStart, s.flightEnd, s.flightDropped = 0, 0, 0
}

func (s *Spool[T]) setPeek(start uint64, ends []position) {
	s.peek = peekCache{valid: true, start: start, ends: ends}
}

// checkOnly checks the frame at the start of b without decoding it.
func checkOnly(b []byte) (int, error) {
	n, err := checkHeader(b)
	if err != nil {
		return 0, err
	}
	if len(b) < frameHeader+n {
		return 0, errTorn
	}
	if err := checkFrame(b[:frameHeader], b[frameHeader:frameHeader+n]); err != nil {
		return 0, err
	}
	return frameHeader + n, nil
}

// skipDamaged drops the rest of segment seq, damaged at off since Open
// checked it (the disk, or someone editing the file): the records cannot be
// read, and retrying would stop the queue for good. The caller holds rmu.
func (s *Spool[T]) skipDamaged(seq uint64, off int64, cause error) error {
	s.mu.Lock()
	if s.segs[0].seq != seq {
		s.mu.Unlock()
		return nil // dropped meanwhile
	}
	g := s.segs[0]
	lost := g.end() - s.head
	s.dropped += lost
	s.head, s.headOff = g.end(), g.size
	victims := s.trimHead()
	pos := position{s.segs[0].seq, s.headOff}
	s.mu.Unlock()
	s.log.Error("spool segment damaged: skipping the rest of it", "segment", s.segPath(seq), "offset", off, "dropped", lost, "reason", cause)
	err := s.cur.write(pos)
	s.cursorDirty.Store(true)
	s.removeSegments(victims)
	return err
}

// readFile returns a read handle on segment seq, keeping one open between
// calls. The caller holds rmu.
func (s *Spool[T]) readFile(seq uint64) (*os.File, error) {
	if s.rf != nil && s.rfSeq == seq {
		return s.rf, nil
	}
	if s.rf != nil {
		s.rf.Close()
		s.rf = nil
	}
	f, err := os.Open(s.segPath(seq))
	if err != nil {
		return nil, err
	}
	s.rf, s.rfSeq = f, seq
	return f, nil
}

// Ack removes the n oldest records. After a Peek, these are the first n it
// returned: records dropped at the bound in between are not counted twice.
func (s *Spool[T]) Ack(n int) error {
	s.rmu.Lock()
	defer s.rmu.Unlock()
	if s.closed.Load() {
		return ErrClosed
	}
	if n <= 0 {
		return nil
	}
	s.mu.Lock()
	head := s.head
	s.mu.Unlock()
	start := head
	if s.peek.valid {
		start = s.peek.start
	}
	target := start + uint64(n)
	if target <= head {
		s.peek.valid = false
		s.mu.Lock()
		s.settleFlight(target)
		s.mu.Unlock()
		return nil
	}
	if !s.peek.valid || target-s.peek.start > uint64(len(s.peek.ends)) {
		// Acknowledged without a Peek of them: find where they end.
		if _, err := s.read(int(target-head), false); err != nil {
			return err
		}
		if !s.peek.valid || len(s.peek.ends) == 0 {
			return nil
		}
		target = min(target, s.peek.start+uint64(len(s.peek.ends)))
	}
	end := s.peek.ends[target-s.peek.start-1]
	s.peek.valid = false

	s.mu.Lock()
	s.settleFlight(target)
	if target <= s.head {
		s.mu.Unlock()
		return nil // dropped at the bound meanwhile
	}
	var victims []uint64
	for len(s.segs) > 1 && s.segs[0].seq < end.seq {
		g := s.segs[0]
		s.segs = slices.Delete(s.segs, 0, 1)
		s.bytes -= g.size
		victims = append(victims, g.seq)
	}
	s.head, s.headOff = target, end.off
	victims = append(victims, s.trimHead()...)
	pos := position{s.segs[0].seq, s.headOff}
	s.mu.Unlock()

	// The cursor first, then the files: a crash in between redelivers
	// rather than loses.
	err := s.cur.write(pos)
	s.cursorDirty.Store(true)
	if s.rf != nil && slices.Contains(victims, s.rfSeq) {
		s.rf.Close()
		s.rf = nil
	}
	s.removeSegments(victims)
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	return nil
}

// Len returns the number of records not acknowledged.
func (s *Spool[T]) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return int(s.tail - s.head)
}

// Bytes returns the size of the segment files, acknowledged records not yet
// deleted included.
func (s *Spool[T]) Bytes() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.bytes
}

// Dropped returns how many records the bound (or damage) has cost since
// Open.
func (s *Spool[T]) Dropped() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dropped
}

// Durable reports that the records survive Close and a crash: a Writer
// does not count those left at Close as dropped.
func (s *Spool[T]) Durable() bool { return true }

// syncLoop fsyncs what was written every interval until Close.
func (s *Spool[T]) syncLoop(interval time.Duration) {
	defer close(s.done)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			if err := s.syncNow(); err != nil {
				s.log.Warn("spool: fsync failed", "error", err)
			}
		}
	}
}

// syncNow fsyncs the segments and cursor written since the last call, and
// the folder when segments came or went. Only the syncer calls it, or Close
// once the syncer has stopped.
func (s *Spool[T]) syncNow() error {
	s.smu.Lock()
	files, act, dir := s.toSync, s.syncActive, s.dirDirty
	s.toSync, s.dirDirty = nil, false
	s.smu.Unlock()
	var errs []error
	for _, f := range files {
		errs = append(errs, f.Sync(), f.Close())
	}
	if act != nil && s.activeDirty.Swap(false) {
		errs = append(errs, act.Sync())
	}
	if s.cursorDirty.Swap(false) {
		errs = append(errs, s.cur.f.Sync())
	}
	if dir {
		if d, err := os.Open(s.dir); err != nil {
			errs = append(errs, err)
		} else {
			errs = append(errs, d.Sync(), d.Close())
		}
	}
	return errors.Join(errs...)
}

// Close syncs (unless SyncNone) and closes the spool; what is not
// acknowledged stays for the next Open. Calling it again does nothing.
func (s *Spool[T]) Close() error {
	s.wmu.Lock()
	s.rmu.Lock()
	defer s.rmu.Unlock()
	defer s.wmu.Unlock()
	if s.closed.Load() {
		return nil
	}
	s.closed.Store(true)
	s.mu.Lock()
	s.settleFlight(0) // peeked, dropped and never acknowledged: not delivered
	s.mu.Unlock()
	var err error
	if s.stop != nil {
		close(s.stop)
		<-s.done
		s.activeDirty.Store(true)
		s.cursorDirty.Store(true)
		err = s.syncNow()
	}
	return errors.Join(err, s.closeFiles())
}

// closeFiles closes every handle, the lock last.
func (s *Spool[T]) closeFiles() error {
	var errs []error
	if s.active != nil {
		errs = append(errs, s.active.Close())
	}
	if s.rf != nil {
		errs = append(errs, s.rf.Close())
	}
	if s.cur != nil {
		errs = append(errs, s.cur.f.Close())
	}
	if s.lock != nil {
		errs = append(errs, s.lock.Close())
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("spool: closing: %w", err)
	}
	return nil
}
