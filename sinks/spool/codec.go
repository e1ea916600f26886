package spool

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"time"

	"github.com/satellite-hq/satellite/health"
	"github.com/satellite-hq/satellite/sinks"
)

// A segment file is segMagic followed by frames. A frame is
//
//	length uint32 LE | crc uint32 LE | payload (length bytes)
//
// where crc is CRC-32C of the length bytes and the payload, so that a torn
// or garbled length is caught as surely as a garbled payload.
const (
	segMagic    = "SATSPL\x00\x01"
	segHeader   = int64(len(segMagic))
	frameHeader = 8
	// maxPayload refuses a garbled length before it allocates: a record is a
	// few hundred bytes, and Push refuses anything larger than this.
	maxPayload = 16 << 20
	// recVersion is the payload's first byte, for a future encoding.
	recVersion = 1
)

var (
	castagnoli = crc32.MakeTable(crc32.Castagnoli)

	// errTorn is a frame cut short by the end of the data.
	errTorn = errors.New("torn frame")
	// errCorrupt is a frame whose length or checksum is wrong.
	errCorrupt = errors.New("corrupt frame")
)

// Codec encodes the items of a spool: Append appends v's payload to dst,
// Decode reads a payload back (its errors wrap errCorrupt or not: either
// way the frame is counted as damage). A payload should start with a
// version byte, for a future encoding.
type Codec[T any] interface {
	Append(dst []byte, v *T) []byte
	Decode(payload []byte) (T, error)
}

// RecordCodec is the Codec of sinks.Record. The payload is a compact binary
// encoding rather than JSON: metrics may be NaN or ±Inf, which
// encoding/json refuses, and Push runs on the scheduler's goroutine, where
// JSON's reflection costs several times more.
type RecordCodec struct{}

// appendFrameWith appends v as a frame to dst.
func appendFrameWith[T any](dst []byte, c Codec[T], v *T) []byte {
	start := len(dst)
	dst = append(dst, make([]byte, frameHeader)...)
	dst = c.Append(dst, v)
	hdr := dst[start : start+frameHeader]
	binary.LittleEndian.PutUint32(hdr[0:4], uint32(len(dst)-start-frameHeader))
	crc := crc32.Update(0, castagnoli, hdr[0:4])
	crc = crc32.Update(crc, castagnoli, dst[start+frameHeader:])
	binary.LittleEndian.PutUint32(hdr[4:8], crc)
	return dst
}

// appendFrame appends r as a frame to dst.
func appendFrame(dst []byte, r *sinks.Record) []byte {
	return appendFrameWith[sinks.Record](dst, RecordCodec{}, r)
}

// Append appends r's payload to dst.
func (RecordCodec) Append(dst []byte, r *sinks.Record) []byte {
	dst = append(dst, recVersion)
	dst = binary.AppendVarint(dst, r.Time.Unix())
	dst = binary.AppendUvarint(dst, uint64(r.Time.Nanosecond()))
	for _, s := range [...]string{r.Node, r.Check, r.Type, string(r.Status), string(r.RunStatus), string(r.Previous), r.Error} {
		dst = appendString(dst, s)
	}
	changed := byte(0)
	if r.Changed {
		changed = 1
	}
	dst = append(dst, changed)
	dst = binary.AppendVarint(dst, int64(r.Duration))
	dst = binary.AppendUvarint(dst, uint64(len(r.Metrics)))
	for k, v := range r.Metrics {
		dst = appendString(dst, k)
		dst = binary.LittleEndian.AppendUint64(dst, math.Float64bits(v))
	}
	dst = binary.AppendUvarint(dst, uint64(len(r.Labels)))
	for k, v := range r.Labels {
		dst = appendString(dst, k)
		dst = appendString(dst, v)
	}
	return dst
}

func appendString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

// checkHeader reads a frame header's length, refusing an impossible one. It
// returns errTorn when hdr is short.
func checkHeader(hdr []byte) (int, error) {
	if len(hdr) < frameHeader {
		return 0, errTorn
	}
	n := binary.LittleEndian.Uint32(hdr[0:4])
	if n == 0 || n > maxPayload {
		return 0, fmt.Errorf("%w: length %d", errCorrupt, n)
	}
	return int(n), nil
}

// checkFrame verifies the checksum of a frame whose header and payload are
// given.
func checkFrame(hdr, payload []byte) error {
	crc := crc32.Update(0, castagnoli, hdr[0:4])
	crc = crc32.Update(crc, castagnoli, payload)
	if crc != binary.LittleEndian.Uint32(hdr[4:8]) {
		return fmt.Errorf("%w: checksum mismatch", errCorrupt)
	}
	return nil
}

// decodeFrameWith decodes the frame at the start of b and returns the item
// and the frame's size. errTorn means b ends inside the frame.
func decodeFrameWith[T any](b []byte, c Codec[T]) (T, int, error) {
	var zero T
	n, err := checkHeader(b)
	if err != nil {
		return zero, 0, err
	}
	if len(b) < frameHeader+n {
		return zero, 0, errTorn
	}
	hdr, payload := b[:frameHeader], b[frameHeader:frameHeader+n]
	if err := checkFrame(hdr, payload); err != nil {
		return zero, 0, err
	}
	v, err := c.Decode(payload)
	if err != nil {
		return zero, 0, err
	}
	return v, frameHeader + n, nil
}

// decodeFrame is decodeFrameWith for records.
func decodeFrame(b []byte) (sinks.Record, int, error) {
	return decodeFrameWith[sinks.Record](b, RecordCodec{})
}

// Decode reads a record's payload.
func (RecordCodec) Decode(p []byte) (sinks.Record, error) { return decodePayload(p) }

// decoder reads a payload. Its strings are slices of one string made of the
// whole payload: one allocation per record instead of one per field.
type decoder struct {
	b   []byte // the payload, for numbers
	s   string // the same bytes, for strings
	off int
	err error
}

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: bad %s at byte %d", errCorrupt, what, d.off)
	}
}

func (d *decoder) uvarint(what string) uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b[d.off:])
	if n <= 0 {
		d.fail(what)
		return 0
	}
	d.off += n
	return v
}

func (d *decoder) varint(what string) int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b[d.off:])
	if n <= 0 {
		d.fail(what)
		return 0
	}
	d.off += n
	return v
}

func (d *decoder) str(what string) string {
	n := d.uvarint(what)
	if d.err != nil {
		return ""
	}
	if n > uint64(len(d.s)-d.off) {
		d.fail(what)
		return ""
	}
	s := d.s[d.off : d.off+int(n)]
	d.off += int(n)
	return s
}

func (d *decoder) byte(what string) byte {
	if d.err != nil {
		return 0
	}
	if d.off >= len(d.s) {
		d.fail(what)
		return 0
	}
	b := d.s[d.off]
	d.off++
	return b
}

func (d *decoder) float(what string) float64 {
	if d.err != nil {
		return 0
	}
	if len(d.s)-d.off < 8 {
		d.fail(what)
		return 0
	}
	v := binary.LittleEndian.Uint64(d.b[d.off:])
	d.off += 8
	return math.Float64frombits(v)
}

// count reads a map's length, refusing one that the rest of the payload
// cannot hold (each entry takes at least that many bytes), so that a garbled count
// never allocates a huge map.
func (d *decoder) count(what string, least int) int {
	n := d.uvarint(what)
	if d.err == nil && n > uint64((len(d.s)-d.off)/least) {
		d.fail(what)
		return 0
	}
	return int(n)
}

func decodePayload(p []byte) (sinks.Record, error) {
	d := &decoder{b: p, s: string(p)}
	if v := d.byte("version"); d.err == nil && v != recVersion {
		return sinks.Record{}, fmt.Errorf("%w: unknown record version %d", errCorrupt, v)
	}
	var r sinks.Record
	sec := d.varint("time")
	nsec := d.uvarint("time")
	if d.err == nil && nsec >= uint64(time.Second) {
		d.fail("time")
	}
	// The instant is what Record.ID hashes; the location is not kept, and
	// time.Unix gives the local one, as time.Now does.
	r.Time = time.Unix(sec, int64(nsec))
	r.Node = d.str("node")
	r.Check = d.str("check")
	r.Type = d.str("type")
	r.Status = health.Status(d.str("status"))
	r.RunStatus = health.Status(d.str("run_status"))
	r.Previous = health.Status(d.str("previous"))
	r.Error = d.str("error")
	switch d.byte("changed") {
	case 0:
	case 1:
		r.Changed = true
	default:
		d.fail("changed")
	}
	r.Duration = time.Duration(d.varint("duration"))
	if n := d.count("metrics", 9); n > 0 {
		r.Metrics = make(map[string]float64, n)
		for range n {
			k := d.str("metric name")
			r.Metrics[k] = d.float("metric value")
		}
	}
	if n := d.count("labels", 2); n > 0 {
		r.Labels = make(map[string]string, n)
		for range n {
			k := d.str("label name")
			r.Labels[k] = d.str("label value")
		}
	}
	if d.err == nil && d.off != len(d.s) {
		d.fail("trailing bytes")
	}
	if d.err != nil {
		return sinks.Record{}, d.err
	}
	return r, nil
}
