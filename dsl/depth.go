package dsl

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// Nesting depth is measured on tokens, before hclsyntax or hcljson parse:
// both are recursive descent parsers, and HCL's evaluator and cty recurse
// over the tree they build, so a deep enough input overflows Go's stack,
// which is a fatal error that no recover() sees. No limit checked after
// parsing could help.
//
// A level is a bracket, brace or parenthesis, a block body, a quoted or
// heredoc template, a template interpolation or directive (%{if}/%{for} up
// to their end), and each operator of an expression: a + b + c is parsed as
// (a + b) + c, and -(-(-x)), a ? b : c ? d : e and x[*][*] also nest once
// per operator. An operator chain ends at a comma, and at a new line in a
// body or an object.

// depthInfo is the depth measured in one source.
type depthInfo struct {
	// max is the deepest level reached, at most ceiling+1 (the scan stops
	// there).
	max int64
	// first[d] is where depth d+1 was first reached.
	first []hcl.Range
	// In JSON: where a string's template has a for expression, or more
	// than maxJSONInterpolations interpolations.
	jsonFor, jsonInterps *hcl.Range
	// approx: max is fastDepth's bound, first is not filled; exact measures
	// it (from src) when the bound is over a limit.
	approx bool
	src    []byte
	name   string
}

// exact returns d measured by hclDepth when it is fastDepth's bound.
func (d depthInfo) exact() depthInfo {
	if !d.approx {
		return d
	}
	return hclDepth(d.src, d.name, MaxDepthCeiling)
}

// maxJSONInterpolations bounds the interpolations of one JSON string.
// Native syntax templates are instrumented (see budget.go) and JSON ones
// cannot be: hcljson parses them only when it evaluates them. A template
// builds at most its interpolations times max_value_bytes, so that is
// bounded here, and `for`, which could loop without limit, is refused.
const maxJSONInterpolations = 16

func (d depthInfo) jsonTemplateDiags() hcl.Diagnostics {
	var diags hcl.Diagnostics
	if d.jsonFor != nil {
		diags = append(diags, errDiag("for expression in JSON",
			"for expressions are not allowed in the templates of JSON config files: satellite bounds what a for costs by instrumenting it, which it can do in native syntax only. Write the expression in a local of a .hcl file and refer to the local here.",
			d.jsonFor))
	}
	if d.jsonInterps != nil {
		diags = append(diags, errDiag("Too many interpolations in a JSON string",
			fmt.Sprintf("A string of a JSON config file may hold at most %d interpolations (${...}); write longer templates in a .hcl file, where they are bounded as they are evaluated.", maxJSONInterpolations),
			d.jsonInterps))
	}
	return diags
}

type depthLevel struct {
	base, extra int64
	kind        byte // 'b' body, 'o' object or bracket, 'i' interpolation/template, 'c' control, 'd' directive
	exprMode    bool // body levels: after "=", until the end of the line
}

type depthScanner struct {
	stack []depthLevel
	info  depthInfo
	limit int64
	// directive is the keyword of the %{ ... } being read.
	directive string
	afterCtl  bool
	// prev is the previous token's type; fors and interps count what JSON
	// templates may not hold.
	prev    hclsyntax.TokenType
	forAt   *hcl.Range
	interps int
}

func newDepthScanner(limit int64, base int64) *depthScanner {
	s := &depthScanner{limit: limit}
	s.stack = []depthLevel{{base: base, kind: 'b'}}
	return s
}

func (s *depthScanner) cur() int64 {
	t := &s.stack[len(s.stack)-1]
	return t.base + t.extra
}

// reach records depth d at rng; false when it is over the limit.
func (s *depthScanner) reach(d int64, rng hcl.Range) bool {
	for s.info.max < d {
		s.info.max++
		s.info.first = append(s.info.first, rng)
	}
	return d <= s.limit
}

func (s *depthScanner) push(kind byte, rng hcl.Range) bool {
	d := s.cur() + 1
	s.stack = append(s.stack, depthLevel{base: d, kind: kind})
	return s.reach(d, rng)
}

func (s *depthScanner) pop() {
	if len(s.stack) > 1 {
		s.stack = s.stack[:len(s.stack)-1]
	}
}

func (s *depthScanner) popKind(kind byte) {
	if len(s.stack) > 1 && s.stack[len(s.stack)-1].kind == kind {
		s.stack = s.stack[:len(s.stack)-1]
	}
}

func (s *depthScanner) operator(rng hcl.Range) bool {
	t := &s.stack[len(s.stack)-1]
	t.extra++
	return s.reach(s.cur(), rng)
}

// tokens scans HCL native syntax tokens; false when the limit is passed.
func (s *depthScanner) tokens(toks hclsyntax.Tokens) bool {
	for i := range toks {
		tok := &toks[i]
		if tok.Type == hclsyntax.TokenComment {
			// A line comment takes the new line that ends it.
			if !bytes.HasSuffix(tok.Bytes, []byte("\n")) {
				continue
			}
			nl := *tok
			nl.Type = hclsyntax.TokenNewline
			tok = &nl
		}
		top := &s.stack[len(s.stack)-1]
		if s.afterCtl {
			switch tok.Type {
			case hclsyntax.TokenIdent:
				s.directive = string(tok.Bytes)
				if s.directive == "for" && s.forAt == nil {
					s.forAt = tok.Range.Ptr()
				}
			}
			s.afterCtl = false
		}
		if tok.Type == hclsyntax.TokenIdent && s.forAt == nil && (s.prev == hclsyntax.TokenOBrack || s.prev == hclsyntax.TokenOBrace) && string(tok.Bytes) == "for" {
			s.forAt = tok.Range.Ptr()
		}
		if tok.Type == hclsyntax.TokenTemplateInterp {
			s.interps++
		}
		prev := s.prev
		if tok.Type != hclsyntax.TokenNewline {
			s.prev = tok.Type
		}
		ok := true
		switch tok.Type {
		case hclsyntax.TokenOBrace:
			kind := byte('o')
			if top.kind == 'b' && !top.exprMode {
				kind = 'b'
			}
			ok = s.push(kind, tok.Range)
		case hclsyntax.TokenOBrack, hclsyntax.TokenOParen:
			// The parser ignores new lines inside these: a chain of
			// operators may go on over many lines.
			ok = s.push('p', tok.Range)
		case hclsyntax.TokenOQuote, hclsyntax.TokenOHeredoc, hclsyntax.TokenTemplateInterp:
			ok = s.push('i', tok.Range)
		case hclsyntax.TokenTemplateControl:
			s.afterCtl, s.directive = true, ""
			ok = s.push('c', tok.Range)
		case hclsyntax.TokenTemplateSeqEnd:
			if top.kind == 'c' {
				s.pop()
				switch s.directive {
				case "if", "for":
					ok = s.push('d', tok.Range)
				case "endif", "endfor":
					s.popKind('d')
				}
				s.directive = ""
			} else {
				s.pop()
			}
		case hclsyntax.TokenCBrace, hclsyntax.TokenCBrack, hclsyntax.TokenCParen,
			hclsyntax.TokenCQuote, hclsyntax.TokenCHeredoc:
			s.pop()
		case hclsyntax.TokenComma:
			top.extra = 0
		case hclsyntax.TokenNewline:
			switch top.kind {
			case 'b':
				// In a body a new line ends the attribute.
				top.extra = 0
				top.exprMode = false
			case 'o':
				// In an object a new line separates items, unless the
				// parser ignores it there ({for ...}): the chain ends only
				// when neither side of the new line is an operator.
				if !isOperator(s.prev) && !(i+1 < len(toks) && isOperator(nextSignificant(toks[i+1:]))) {
					top.extra = 0
				}
			}
		case hclsyntax.TokenEqual:
			top.exprMode = true
		case hclsyntax.TokenStar:
			if prev == hclsyntax.TokenOBrack && len(s.stack) > 1 {
				// x[*][*]: each splat nests the rest of the traversal, in
				// the level the bracket is in.
				below := &s.stack[len(s.stack)-2]
				below.extra++
				ok = s.reach(below.base+below.extra+1, tok.Range)
			} else {
				ok = s.operator(tok.Range)
			}
		case hclsyntax.TokenPlus, hclsyntax.TokenMinus, hclsyntax.TokenSlash,
			hclsyntax.TokenPercent, hclsyntax.TokenEqualOp, hclsyntax.TokenNotEqual,
			hclsyntax.TokenLessThan, hclsyntax.TokenLessThanEq, hclsyntax.TokenGreaterThan,
			hclsyntax.TokenGreaterThanEq, hclsyntax.TokenAnd, hclsyntax.TokenOr, hclsyntax.TokenBang,
			hclsyntax.TokenQuestion:
			ok = s.operator(tok.Range)
		}
		if !ok {
			return false
		}
	}
	return true
}

func isOperator(t hclsyntax.TokenType) bool {
	switch t {
	case hclsyntax.TokenPlus, hclsyntax.TokenMinus, hclsyntax.TokenStar, hclsyntax.TokenSlash,
		hclsyntax.TokenPercent, hclsyntax.TokenEqualOp, hclsyntax.TokenNotEqual,
		hclsyntax.TokenLessThan, hclsyntax.TokenLessThanEq, hclsyntax.TokenGreaterThan,
		hclsyntax.TokenGreaterThanEq, hclsyntax.TokenAnd, hclsyntax.TokenOr, hclsyntax.TokenBang,
		hclsyntax.TokenQuestion, hclsyntax.TokenColon, hclsyntax.TokenFatArrow:
		return true
	}
	return false
}

func nextSignificant(toks hclsyntax.Tokens) hclsyntax.TokenType {
	for _, t := range toks {
		if t.Type != hclsyntax.TokenNewline && t.Type != hclsyntax.TokenComment {
			return t.Type
		}
	}
	return hclsyntax.TokenEOF
}

// measureHCL measures a native syntax config file: with fastDepth's bound
// when that is under limit, with hclDepth otherwise.
func measureHCL(src []byte, filename string, limit int64) depthInfo {
	if ub, ok := fastDepth(src); ok && ub <= limit {
		return depthInfo{max: ub, approx: true, src: src, name: filename}
	}
	return hclDepth(src, filename, limit)
}

// hclDepth measures a native syntax config file, stopping past limit.
func hclDepth(src []byte, filename string, limit int64) depthInfo {
	toks, _ := hclsyntax.LexConfig(src, filename, hcl.InitialPos)
	s := newDepthScanner(limit, 0)
	s.tokens(toks)
	return s.info
}

// exprDepth measures an expression (--var and environment values).
func exprDepth(src []byte, filename string, limit int64) depthInfo {
	toks, _ := hclsyntax.LexExpression(src, filename, hcl.InitialPos)
	s := newDepthScanner(limit, 0)
	s.stack[0].kind = 'o'
	s.tokens(toks)
	return s.info
}

// jsonDepth measures a JSON document: arrays and objects, and the templates
// of its strings, which hcljson parses as HCL templates when it evaluates
// them. With templates false (jsondecode), strings are skipped.
func jsonDepth(src []byte, filename string, limit int64, templates bool) depthInfo {
	var info depthInfo
	pos := hcl.Pos{Line: 1, Column: 1}
	var depth int64
	rangeAt := func(p hcl.Pos) hcl.Range {
		end := p
		end.Column++
		end.Byte++
		return hcl.Range{Filename: filename, Start: p, End: end}
	}
	reach := func(d int64, p hcl.Pos) bool {
		for info.max < d {
			info.max++
			info.first = append(info.first, rangeAt(p))
		}
		return d <= limit
	}
	advance := func(b byte) {
		pos.Byte++
		if b == '\n' {
			pos.Line++
			pos.Column = 1
		} else if b < 0x80 || b >= 0xC0 {
			pos.Column++
		}
	}
	for i := 0; i < len(src); {
		c := src[i]
		switch c {
		case '[', '{':
			depth++
			if !reach(depth, pos) {
				return info
			}
		case ']', '}':
			if depth > 0 {
				depth--
			}
		case '"':
			start, startPos := i, pos
			advance(c)
			i++
			for i < len(src) && src[i] != '"' {
				if src[i] == '\\' && i+1 < len(src) {
					advance(src[i])
					i++
				}
				advance(src[i])
				i++
			}
			if i < len(src) {
				advance(src[i])
				i++
			}
			str := src[start:i]
			if templates && (bytes.Contains(str, []byte("${")) || bytes.Contains(str, []byte("%{"))) {
				var s string
				if json.Unmarshal(str, &s) == nil {
					toks, _ := hclsyntax.LexTemplate([]byte(s), filename, startPos)
					sc := newDepthScanner(limit, depth)
					sc.stack[0].kind = 'i'
					sc.info.max = info.max
					sc.info.first = info.first
					okScan := sc.tokens(toks)
					jf, ji := info.jsonFor, info.jsonInterps
					info = sc.info
					info.jsonFor, info.jsonInterps = jf, ji
					if info.jsonFor == nil && sc.forAt != nil {
						r := *sc.forAt
						info.jsonFor = &r
					}
					if info.jsonInterps == nil && sc.interps > maxJSONInterpolations {
						r := rangeAt(startPos)
						info.jsonInterps = &r
					}
					if !okScan {
						return info
					}
				}
			}
			continue
		}
		advance(c)
		i++
	}
	return info
}
