package engine

import (
	"crypto/sha256"
	"encoding/hex"
	"hash"
	"runtime"
	"sort"
	"strconv"
	"sync"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	ctyjson "github.com/zclconf/go-cty/cty/json"
)

// parallelFingerprints is how many checks a plan needs for fingerprints
// to be computed by several goroutines.
const parallelFingerprints = 512

// fingerprints sets every check's fingerprint. Each reads only its check,
// and the sources and values it holds, which nothing changes any more: with
// many checks, they are computed in parallel, each worker taking a share.
func (c *compiler) fingerprints() {
	checks := c.plan.Checks
	workers := 1
	if len(checks) >= parallelFingerprints {
		workers = runtime.GOMAXPROCS(0)
	}
	var wg sync.WaitGroup
	for w := range workers {
		share := checks[len(checks)*w/workers : len(checks)*(w+1)/workers]
		run := func() {
			fp := &fingerprinter{h: sha256.New()}
			for _, ch := range share {
				if ch.body != cty.NilVal {
					ch.Fingerprint = c.fingerprint(fp, ch, ch.body)
					// Nothing reads the decoded body after this: a plan
					// that runs for weeks does not keep it (with its
					// types, about a third of a compiled check's memory).
					ch.body = cty.NilVal
				}
			}
		}
		if w == workers-1 {
			run()
		} else {
			wg.Go(run)
		}
	}
	wg.Wait()
}

// fingerprinter writes the fields of a fingerprint, each ended by a NUL.
// One serves every check of a compile: fingerprint resets it.
type fingerprinter struct {
	h    hash.Hash
	buf  []byte
	keys []string
	sum  [sha256.Size]byte
}

func (fp *fingerprinter) field(s string) {
	fp.buf = append(fp.buf[:0], s...)
	fp.buf = append(fp.buf, 0)
	fp.h.Write(fp.buf)
}

func (fp *fingerprinter) int(n int) {
	fp.buf = strconv.AppendInt(fp.buf[:0], int64(n), 10)
	fp.buf = append(fp.buf, 0)
	fp.h.Write(fp.buf)
}

// sortedMap writes a map's keys and values in key order, then an empty field.
func (fp *fingerprinter) sortedMap(m map[string]string) {
	keys := fp.keys[:0]
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fp.field(k)
		fp.field(m[k])
	}
	fp.field("")
	fp.keys = keys[:0]
}

// fingerprint identifies what a check does, so a reload can tell an
// unchanged check (which keeps its state) from a changed one: every
// evaluated setting (each meta-argument writes its own) and the source of its
// asserts, not where it sits.
func (c *compiler) fingerprint(fp *fingerprinter, ch *Check, body cty.Value) string {
	fp.h.Reset()
	h := fp.h
	fp.field(ch.Address)
	fp.field(ch.Type)
	for i := range checkMetaArgs {
		checkMetaArgs[i].fingerprint(fp, ch)
	}
	// The lines of thresholds and asserts are "t|%s|%v|%s|%s\n" and
	// "a|%s|%s\n" of what they hold, written without fmt.
	for _, t := range ch.Thresholds {
		b := append(fp.buf[:0], "t|"...)
		b = append(b, t.Metric...)
		b = append(b, '|')
		b = strconv.AppendBool(b, t.Below)
		b = append(b, '|')
		b = appendPtr(b, t.Warn)
		b = append(b, '|')
		b = appendPtr(b, t.Crit)
		fp.buf = append(b, '\n')
		h.Write(fp.buf)
	}
	for _, a := range ch.Asserts {
		b := append(fp.buf[:0], "a|"...)
		b = append(b, c.sourceBytes(a.Condition)...)
		b = append(b, '|')
		b = append(b, c.sourceBytes(a.ErrorMessage)...)
		fp.buf = append(b, '\n')
		h.Write(fp.buf)
	}
	if body.IsWhollyKnown() {
		if b, err := ctyjson.Marshal(body, body.Type()); err == nil {
			h.Write(b)
		}
	}
	if ch.evalCtx != nil {
		if each, ok := ch.evalCtx.Variables["each"]; ok && each.IsWhollyKnown() {
			if b, err := ctyjson.Marshal(each, each.Type()); err == nil {
				h.Write(b)
			}
		}
	}
	sum := h.Sum(fp.sum[:0])
	return hex.EncodeToString(sum[:8])
}

// appendPtr appends a threshold bound: "-" for none.
func appendPtr(b []byte, f *float64) []byte {
	if f == nil {
		return append(b, '-')
	}
	return strconv.AppendFloat(b, *f, 'g', -1, 64)
}

// sourceBytes is the text of an expression, nil for none: the file's
// bytes themselves, not to be changed.
func (c *compiler) sourceBytes(e hcl.Expression) []byte {
	if e == nil {
		return nil
	}
	rng := e.Range()
	if f := c.cfg.Files[rng.Filename]; f != nil && rng.End.Byte <= len(f.Bytes) && rng.Start.Byte <= rng.End.Byte {
		return rng.SliceBytes(f.Bytes)
	}
	return nil
}
