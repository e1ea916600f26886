package dsl

import (
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/zclconf/go-cty/cty"
)

// precheck returns, for the functions whose result can be far larger than
// their arguments, a check of the arguments that refuses a call whose
// result would be over max_value_bytes before it is built: the check after
// the call would come after the allocation. The other functions' results are
// at most about their arguments' size, which is bounded already.
func (b *budget) precheck(name string) func(args []cty.Value) error {
	max := func() int64 { return b.limits.MaxValueBytes }
	tooBig := func(n int64) error {
		if n > max() {
			return b.sizeError(n)
		}
		return nil
	}
	str := func(v cty.Value) (string, bool) {
		v, _ = v.Unmark()
		if !v.IsKnown() || v.IsNull() || v.Type() != cty.String {
			return "", false
		}
		return v.AsString(), true
	}
	switch name {
	case "format", "formatlist":
		return func(args []cty.Value) error {
			if len(args) == 0 {
				return nil
			}
			if s, ok := str(args[0]); ok {
				return tooBig(formatWidth(s))
			}
			return nil
		}
	case "join":
		return func(args []cty.Value) error {
			sep, ok := str(args[0])
			if !ok {
				return nil
			}
			var n, total int64
			for _, l := range args[1:] {
				n += shallow(l)
				size, _, _ := measure(l, max(), b.limits.MaxDepth)
				total += size
			}
			return tooBig(total + n*int64(len(sep)))
		}
	case "replace":
		return func(args []cty.Value) error {
			s, ok1 := str(args[0])
			old, ok2 := str(args[1])
			repl, ok3 := str(args[2])
			if !ok1 || !ok2 || !ok3 || len(repl) <= len(old) {
				return nil
			}
			if strings.HasPrefix(old, "/") && strings.HasSuffix(old, "/") && len(old) > 1 {
				// A regular expression: as regex_replace.
				return tooBig(regexReplaceSize(s, old[1:len(old)-1], repl, max()))
			}
			var matches int64
			if old == "" {
				matches = int64(len(s)) + 1
			} else {
				matches = int64(strings.Count(s, old))
			}
			return tooBig(int64(len(s)) + matches*int64(len(repl)-len(old)))
		}
	case "regex_replace":
		return func(args []cty.Value) error {
			s, ok1 := str(args[0])
			re, ok2 := str(args[1])
			repl, ok3 := str(args[2])
			if !ok1 || !ok2 || !ok3 {
				return nil
			}
			return tooBig(regexReplaceSize(s, re, repl, max()))
		}
	case "indent":
		return func(args []cty.Value) error {
			s, ok := str(args[1])
			n, _ := args[0].Unmark()
			if !ok || !n.IsKnown() || n.IsNull() {
				return nil
			}
			spaces, _ := n.AsBigFloat().Int64()
			lines := int64(strings.Count(s, "\n"))
			if lines > 0 && max0(spaces) > max()/lines {
				return b.sizeError(max() + 1) // lines*spaces, which may overflow
			}
			return tooBig(int64(len(s)) + lines*max0(spaces))
		}
	case "setproduct":
		return func(args []cty.Value) error {
			elems := int64(1)
			for _, a := range args {
				n := max0(shallow(a))
				if n > 0 && elems > max()/8/n {
					return b.sizeError(max() + 1)
				}
				elems *= n
			}
			return nil
		}
	case "jsondecode":
		return func(args []cty.Value) error {
			s, ok := str(args[0])
			if !ok {
				return nil
			}
			if d := jsonDepth([]byte(s), "", b.limits.MaxDepth, false); d.max > b.limits.MaxDepth {
				return &LimitError{Name: "max_depth", Limit: b.limits.MaxDepth, What: "The JSON given to jsondecode nests too deep."}
			}
			return nil
		}
	case "jsonencode", "csvdecode":
		// jsonencode: the text is about the value's size (escapes aside).
		return func(args []cty.Value) error {
			size, cost, err := measure(args[0], max(), b.limits.MaxDepth)
			if err != nil {
				return err
			}
			if err := b.charge(cost); err != nil {
				return err
			}
			return tooBig(size)
		}
	}
	return nil
}

func max0(n int64) int64 {
	if n < 0 {
		return 0
	}
	return n
}

// formatWidth returns the largest width or precision written in a format
// string's verbs (format("%01000000000d", 1) pads to a gigabyte).
func formatWidth(s string) int64 {
	var widest int64
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			continue
		}
		i++
		for i < len(s) {
			c := s[i]
			if c >= '0' && c <= '9' {
				var n int64
				for i < len(s) && s[i] >= '0' && s[i] <= '9' {
					if n < 1<<40 {
						n = n*10 + int64(s[i]-'0')
					}
					i++
				}
				widest = max(widest, n)
				continue
			}
			if strings.IndexByte("+- #.[]*", c) >= 0 {
				i++
				continue
			}
			break
		}
	}
	return widest
}

// regexReplaceSize bounds regex_replace's result: each match is replaced
// by the replacement, whose every $ may expand to the whole match. It stops
// counting past limit.
func regexReplaceSize(s, pattern, repl string, limit int64) int64 {
	if repl == "" {
		return 0
	}
	re, err := regexp.Compile(pattern)
	if err != nil {
		return 0 // the function reports it
	}
	refs := int64(strings.Count(repl, "$"))
	total := int64(len(s))
	for off := 0; off <= len(s) && total <= limit; {
		m := re.FindStringIndex(s[off:])
		if m == nil {
			break
		}
		total += int64(len(repl)) + refs*int64(m[1]-m[0])
		next := off + m[1]
		if m[1] == m[0] {
			_, w := utf8.DecodeRuneInString(s[next:])
			next += max(w, 1)
		}
		off = next
	}
	return total
}
