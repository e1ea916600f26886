package spool

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"testing"
	"time"

	"github.com/satellite-hq/satellite/sinks"
)

func TestCodecRoundTrip(t *testing.T) {
	var b []byte
	for i := range 20 {
		b = appendFrame(b, ptr(rec(i)))
	}
	// Times far from now, and one with no location, keep their instant.
	far := []sinks.Record{{Time: time.Unix(-1<<40, 999_999_999)}, {Time: time.Unix(1<<40, 1).UTC()}, {}}
	for i := range far {
		b = appendFrame(b, &far[i])
	}
	for i := range 20 + len(far) {
		r, n, err := decodeFrame(b)
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		want := sinks.Record{}
		if i < 20 {
			want = rec(i)
		} else {
			want = far[i-20]
		}
		if !sameRecord(r, want) {
			t.Fatalf("frame %d = %+v, want %+v", i, r, want)
		}
		b = b[n:]
	}
	if len(b) != 0 {
		t.Fatalf("%d bytes left", len(b))
	}
}

func TestDecodeRefusesDamage(t *testing.T) {
	frame := appendFrame(nil, ptr(rec(1)))
	for i := range frame {
		bad := append([]byte(nil), frame...)
		bad[i] ^= 0x10
		if _, _, err := decodeFrame(bad); err == nil {
			t.Errorf("a flipped bit in byte %d went unnoticed", i)
		}
	}
	for n := range len(frame) {
		if _, _, err := decodeFrame(frame[:n]); !errors.Is(err, errTorn) && !errors.Is(err, errCorrupt) {
			t.Errorf("a frame cut at %d: %v", n, err)
		}
	}
}

func ptr[T any](v T) *T { return &v }

// FuzzDecode feeds arbitrary bytes to the frame decoder as a segment's body:
// it must never panic, never allocate by a garbled length, and return only
// frames whose checksum holds; what it returns must encode to a frame that
// decodes to the same record.
func FuzzDecode(f *testing.F) {
	var seg []byte
	for i := range 4 {
		seg = appendFrame(seg, ptr(rec(i)))
	}
	f.Add(seg)
	f.Add(seg[:len(seg)-3])
	f.Add(appendFrame(nil, &sinks.Record{}))
	// A frame with a valid checksum over a payload that is not a record.
	junk := []byte{recVersion, 0xff, 0xff, 0xff}
	hdr := binary.LittleEndian.AppendUint32(nil, uint32(len(junk)))
	crc := crc32.Update(crc32.Update(0, castagnoli, hdr), castagnoli, junk)
	f.Add(append(binary.LittleEndian.AppendUint32(hdr, crc), junk...))
	f.Add([]byte{})
	f.Add(junk)
	f.Add(appendFrame(nil, ptr(rec(1)))[frameHeader:])
	f.Fuzz(func(t *testing.T, b []byte) {
		// The payload decoder on its own: a fuzzer seldom gets a checksum
		// right, so this is what reaches the payload's corners.
		if r, err := decodePayload(b); err == nil {
			again, _, err := decodeFrame(appendFrame(nil, &r))
			if err != nil || !sameRecord(again, r) {
				t.Fatalf("re-encoded payload differs: %v", err)
			}
		} else if !errors.Is(err, errCorrupt) {
			t.Fatalf("unexpected error %v", err)
		}
		for len(b) > 0 {
			r, n, err := decodeFrame(b)
			if err != nil {
				if !errors.Is(err, errTorn) && !errors.Is(err, errCorrupt) {
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			if n < frameHeader || n > len(b) || int(binary.LittleEndian.Uint32(b)) != n-frameHeader {
				t.Fatalf("frame size %d of %d bytes", n, len(b))
			}
			if err := checkFrame(b[:frameHeader], b[frameHeader:n]); err != nil {
				t.Fatalf("returned a record from a frame with a bad checksum: %v", err)
			}
			again, _, err := decodeFrame(appendFrame(nil, &r))
			if err != nil || !sameRecord(again, r) {
				t.Fatalf("re-encoded record differs: %v", err)
			}
			b = b[n:]
		}
	})
}
