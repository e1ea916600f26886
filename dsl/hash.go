package dsl

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	ctyjson "github.com/zclconf/go-cty/cty/json"
)

// nodeLocal are the blocks left out of the config hash: they differ per node.
var nodeLocal = map[string]bool{"agent": true, "mesh": true, "api": true}

// configHash hashes the normalised source of the shared blocks (parts, by
// file: hashParts) and the variable values. Blocks are sorted, so splitting
// or reordering files, white space and comments do not change it.
func configHash(files [][]string, cfg *Config) string {
	var parts []string
	for _, p := range files {
		parts = append(parts, p...)
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

// hashParts returns a file's parts of the config hash: the normalised
// source of each block but the node-local ones, or for JSON the document's
// keys but those, compacted. It reads only the file, so Load's workers
// compute it.
func hashParts(f *hcl.File) []string {
	var parts []string
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
		return parts
	}
	// JSON: hash the document without the node-local keys.
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(f.Bytes, &doc); err != nil {
		return append(parts, string(f.Bytes))
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
	return parts
}

// normalise returns a block's source without comments and without the
// white space that does not matter (layout), so that reformatting a file
// does not change the hash. Strings and heredocs are kept as written. It is
// a byte scanner, not HCL's lexer: hashing must not cost a second parse.
func normalise(src []byte) string {
	var b bytes.Buffer
	b.Grow(len(src))
	// stack holds what encloses the current byte: 'q' a quoted string,
	// 'i' a template interpolation in a string, 'b' a brace in code.
	var stack []byte
	top := func() byte {
		if len(stack) == 0 {
			return 0
		}
		return stack[len(stack)-1]
	}
	pendingSpace := false
	emit := func(c byte) {
		if pendingSpace && b.Len() > 0 && isWord(b.Bytes()[b.Len()-1]) && isWord(c) {
			b.WriteByte(' ')
		}
		pendingSpace = false
		b.WriteByte(c)
	}
	for i := 0; i < len(src); i++ {
		c := src[i]
		if top() == 'q' {
			switch {
			case c == '\\' && i+1 < len(src):
				b.WriteByte(c)
				b.WriteByte(src[i+1])
				i++
			case c == '"':
				stack = stack[:len(stack)-1]
				b.WriteByte(c)
			case (c == '$' || c == '%') && i+1 < len(src) && src[i+1] == '{':
				stack = append(stack, 'i')
				b.WriteByte(c)
				b.WriteByte('{')
				i++
			default:
				b.WriteByte(c)
			}
			continue
		}
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			pendingSpace = true
		case c == '#' || (c == '/' && i+1 < len(src) && src[i+1] == '/'):
			for i < len(src) && src[i] != '\n' {
				i++
			}
			pendingSpace = true
		case c == '/' && i+1 < len(src) && src[i+1] == '*':
			end := bytes.Index(src[i+2:], []byte("*/"))
			if end < 0 {
				i = len(src)
			} else {
				i += end + 3
			}
			pendingSpace = true
		case c == '"':
			emit(c)
			stack = append(stack, 'q')
		case c == '{':
			emit(c)
			stack = append(stack, 'b')
		case c == '}':
			emit(c)
			if len(stack) > 0 {
				stack = stack[:len(stack)-1]
			}
		case c == '<' && i+2 < len(src) && src[i+1] == '<' && (isWord(src[i+2]) || src[i+2] == '-'):
			// A heredoc: keep it whole, up to its closing marker line.
			j := i + 2
			if src[j] == '-' {
				j++
			}
			k := j
			for k < len(src) && isWord(src[k]) {
				k++
			}
			marker := string(src[j:k])
			end := len(src)
			for p := k; p < len(src); {
				nl := bytes.IndexByte(src[p:], '\n')
				if nl < 0 {
					break
				}
				lineStart := p + nl + 1
				lineEnd := bytes.IndexByte(src[lineStart:], '\n')
				if lineEnd < 0 {
					lineEnd = len(src) - lineStart
				}
				if strings.TrimSpace(string(src[lineStart:lineStart+lineEnd])) == marker {
					end = lineStart + lineEnd
					break
				}
				p = lineStart
			}
			emit('<')
			b.Write(src[i+1 : end])
			i = end - 1
		default:
			emit(c)
		}
	}
	return b.String()
}

// isWord reports whether c can be part of an identifier or a number, where
// the space between two of them matters.
func isWord(c byte) bool {
	return c == '_' || c == '-' || c == '.' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= 0x80
}
