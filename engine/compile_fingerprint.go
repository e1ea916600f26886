package engine

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"sort"
	"strconv"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	ctyjson "github.com/zclconf/go-cty/cty/json"
)

func (c *compiler) fingerprints() {
	for _, ch := range c.plan.Checks {
		if ch.body != cty.NilVal {
			ch.Fingerprint = c.fingerprint(ch, ch.body)
		}
	}
}

// fingerprinter writes the fields of a fingerprint, each ended by a NUL.
type fingerprinter struct {
	h   hash.Hash
	buf []byte
}

func (fp *fingerprinter) field(s string) {
	fp.buf = append(fp.buf[:0], s...)
	fp.buf = append(fp.buf, 0)
	fp.h.Write(fp.buf)
}

func (fp *fingerprinter) int(n int) { fp.field(strconv.Itoa(n)) }

// sortedMap writes a map's keys and values in key order, then an empty field.
func (fp *fingerprinter) sortedMap(m map[string]string) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fp.field(k)
		fp.field(m[k])
	}
	fp.field("")
}

// fingerprint identifies what a check does, so a reload can tell an
// unchanged check (which keeps its state) from a changed one: every
// evaluated setting (each meta-argument writes its own) and the source of its
// asserts, not where it sits.
func (c *compiler) fingerprint(ch *Check, body cty.Value) string {
	fp := &fingerprinter{h: sha256.New()}
	h := fp.h
	fp.field(ch.Address)
	fp.field(ch.Type)
	for i := range checkMetaArgs {
		checkMetaArgs[i].fingerprint(fp, ch)
	}
	for _, t := range ch.Thresholds {
		fmt.Fprintf(h, "t|%s|%v|%s|%s\n", t.Metric, t.Below, fmtPtr(t.Warn), fmtPtr(t.Crit))
	}
	for _, a := range ch.Asserts {
		fmt.Fprintf(h, "a|%s|%s\n", c.source(a.Condition), c.source(a.ErrorMessage))
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
	return hex.EncodeToString(h.Sum(nil))[:16]
}

func fmtPtr(f *float64) string {
	if f == nil {
		return "-"
	}
	return strconv.FormatFloat(*f, 'g', -1, 64)
}

// source is the text of an expression, "" for none.
func (c *compiler) source(e hcl.Expression) string {
	if e == nil {
		return ""
	}
	rng := e.Range()
	if f := c.cfg.Files[rng.Filename]; f != nil && rng.End.Byte <= len(f.Bytes) && rng.Start.Byte <= rng.End.Byte {
		return string(rng.SliceBytes(f.Bytes))
	}
	return ""
}
