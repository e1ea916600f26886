package spool

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"os"
)

// The cursor file holds the read position: the first record not yet
// acknowledged, as a segment number and a byte offset in it. It is rewritten
// on every Ack, so it is two fixed slots written in turn with one pwrite
// each, not a new file renamed into place: a rename per delivered batch
// costs an inode and a journal commit. A write torn by a crash spoils only
// the slot being written; Open takes the valid slot with the higher
// generation, which is at worst one Ack old: a redelivery, never a loss.
const (
	cursorFile  = "cursor"
	cursorSlot  = 32
	cursorMagic = 0x53504c43 // "SPLC"
)

// position is a place in the spool: a segment and a byte offset in it.
type position struct {
	seq uint64
	off int64
}

type cursor struct {
	f   *os.File
	gen uint64
}

// openCursor opens or creates the cursor file and reads the position it
// holds; ok is false when neither slot is valid (a new spool, or both slots
// damaged).
func openCursor(dir string) (c *cursor, pos position, ok bool, err error) {
	f, err := os.OpenFile(dir+"/"+cursorFile, os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		return nil, position{}, false, fmt.Errorf("opening the cursor: %w", err)
	}
	var buf [2 * cursorSlot]byte
	n, _ := f.ReadAt(buf[:], 0) // a short or empty file leaves zeroed slots: invalid
	c = &cursor{f: f}
	for i := range 2 {
		if (i+1)*cursorSlot > n {
			break
		}
		gen, p, valid := decodeSlot(buf[i*cursorSlot : (i+1)*cursorSlot])
		if valid && (!ok || gen > c.gen) {
			c.gen, pos, ok = gen, p, true
		}
	}
	return c, pos, ok, nil
}

// decodeSlot is magic u32 | gen u64 | seq u64 | off u64 | crc u32 (CRC-32C
// of the first 28 bytes), little-endian.
func decodeSlot(b []byte) (gen uint64, p position, ok bool) {
	le := binary.LittleEndian
	if le.Uint32(b[0:4]) != cursorMagic || crc32.Checksum(b[:28], castagnoli) != le.Uint32(b[28:32]) {
		return 0, position{}, false
	}
	off := le.Uint64(b[20:28])
	if off > 1<<62 {
		return 0, position{}, false
	}
	return le.Uint64(b[4:12]), position{seq: le.Uint64(b[12:20]), off: int64(off)}, true
}

// write stores p in the slot after the current one.
func (c *cursor) write(p position) error {
	c.gen++
	var b [cursorSlot]byte
	le := binary.LittleEndian
	le.PutUint32(b[0:4], cursorMagic)
	le.PutUint64(b[4:12], c.gen)
	le.PutUint64(b[12:20], p.seq)
	le.PutUint64(b[20:28], uint64(p.off))
	le.PutUint32(b[28:32], crc32.Checksum(b[:28], castagnoli))
	if _, err := c.f.WriteAt(b[:], int64(c.gen%2)*cursorSlot); err != nil {
		return fmt.Errorf("writing the cursor: %w", err)
	}
	return nil
}
