package dsl

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"sort"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	ctyjson "github.com/zclconf/go-cty/cty/json"
)

// nodeLocal are the blocks left out of the config hash: they differ per node.
var nodeLocal = map[string]bool{"agent": true, "mesh": true, "api": true}

// configHash hashes the normalised source of the shared blocks and the
// variable values. Blocks are sorted, so splitting or reordering files, white
// space and comments do not change it.
func configHash(files []*hcl.File, cfg *Config) string {
	var parts []string
	for _, f := range files {
		if body, ok := f.Body.(*hclsyntax.Body); ok {
			for _, b := range body.Blocks {
				if nodeLocal[b.Type] {
					continue
				}
				rng := b.Range()
				if rng.End.Byte > len(f.Bytes) || rng.Start.Byte > rng.End.Byte {
					continue
				}
				parts = append(parts, normalise(f.Bytes[rng.Start.Byte:rng.End.Byte]))
			}
			continue
		}
		// JSON: hash the document without the node-local keys.
		var doc map[string]json.RawMessage
		if err := json.Unmarshal(f.Bytes, &doc); err != nil {
			parts = append(parts, string(f.Bytes))
			continue
		}
		for k := range nodeLocal {
			delete(doc, k)
		}
		for k, v := range doc {
			var compact bytes.Buffer
			if json.Compact(&compact, v) == nil {
				parts = append(parts, k+"="+compact.String())
			}
		}
	}
	sort.Strings(parts)
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	names := make([]string, 0, len(cfg.vars))
	for n := range cfg.vars {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		val := cfg.vars[n]
		h.Write([]byte(n))
		if val.IsWhollyKnown() {
			if b, err := ctyjson.Marshal(val, val.Type()); err == nil {
				h.Write(b)
			}
		}
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))[:8]
}

// normalise turns a block's source into its tokens without comments and
// newlines, one space apart, so layout changes do not change the hash.
func normalise(src []byte) string {
	toks, diags := hclsyntax.LexConfig(src, "", hcl.InitialPos)
	if diags.HasErrors() {
		return string(src)
	}
	var b bytes.Buffer
	for _, t := range toks {
		switch t.Type {
		case hclsyntax.TokenComment, hclsyntax.TokenNewline, hclsyntax.TokenEOF:
		default:
			b.Write(t.Bytes)
			b.WriteByte(' ')
		}
	}
	return b.String()
}
