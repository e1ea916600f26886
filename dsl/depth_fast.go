package dsl

// fastDepth is a byte scan that bounds, from above, the depth hclDepth
// measures, without hclsyntax's lexer: lexing a file twice (once to
// measure, once to parse) cost 12% of validate. It follows what the lexer
// tells apart (code, quoted strings with their escapes and interpolations,
// comments) and counts every operator character where the lexer counts an
// operator token, and never ends an operator chain that hclDepth would not;
// so its count is at least hclDepth's. Whatever it is not sure to read as
// the lexer does (heredocs, template directives, comments inside an
// interpolation, a new line or an unknown escape in a string, unbalanced
// input) makes it give up (ok false), and hclDepth decides.
func fastDepth(src []byte) (max int64, ok bool) {
	type level struct {
		base, extra int64
		kind        byte // 'b' body, 'o' object, 'p' paren/bracket, 's' quoted string, 'i' interpolation
		exprMode    bool
	}
	stack := make([]level, 1, 32)
	stack[0] = level{kind: 'b'}
	var prev byte // previous significant byte in code
	reach := func(d int64) {
		if d > max {
			max = d
		}
	}
	cur := func() int64 { t := &stack[len(stack)-1]; return t.base + t.extra }
	push := func(kind byte) {
		d := cur() + 1
		stack = append(stack, level{base: d, kind: kind})
		reach(d)
	}
	n := len(src)
	for i := 0; i < n; i++ {
		c := src[i]
		top := &stack[len(stack)-1]
		if top.kind == 's' {
			switch c {
			case '"':
				stack = stack[:len(stack)-1]
				prev = '"'
			case '\\':
				if i+1 >= n {
					return 0, false
				}
				switch src[i+1] {
				case '"', '\\', 'n', 'r', 't', 'u', 'U':
					i++
				default:
					return 0, false
				}
			case '\n', '\r':
				return 0, false
			case '$', '%':
				if i+2 < n && src[i+1] == c && src[i+2] == '{' {
					i += 2 // $${ and %%{ are literal
				} else if i+1 < n && src[i+1] == '{' {
					if c == '%' {
						return 0, false // a directive
					}
					i++
					push('i')
					prev = '{'
				}
			}
			continue
		}
		// Code: the body, brackets, objects, interpolations.
		switch c {
		case ' ', '\t':
			continue
		case '\r':
			continue
		case '\n':
			if top.kind == 'b' {
				top.extra = 0
				top.exprMode = false
			}
			continue
		case '#':
			if top.kind == 'i' {
				return 0, false
			}
			for i < n && src[i] != '\n' {
				i++
			}
			i-- // the new line is read next
			continue
		case '/':
			if i+1 < n && (src[i+1] == '/' || src[i+1] == '*') {
				if top.kind == 'i' {
					return 0, false
				}
				if src[i+1] == '/' {
					for i < n && src[i] != '\n' {
						i++
					}
					i--
					continue
				}
				end := -1
				for j := i + 2; j+1 < n; j++ {
					if src[j] == '*' && src[j+1] == '/' {
						end = j + 1
						break
					}
				}
				if end < 0 {
					return 0, false
				}
				i = end
				continue
			}
			top.extra++
			reach(cur())
		case '"':
			push('s')
		case '(', '[':
			push('p')
		case '{':
			kind := byte('o')
			if top.kind == 'b' && !top.exprMode {
				kind = 'b'
			}
			push(kind)
		case ')', ']', '}':
			if len(stack) == 1 {
				return 0, false
			}
			stack = stack[:len(stack)-1]
		case ',':
			top.extra = 0
		case '<':
			if i+1 < n && src[i+1] == '<' {
				return 0, false // a heredoc
			}
			top.extra++
			reach(cur())
		case '=':
			top.exprMode = true
			top.extra++
			reach(cur())
		case '*':
			if prev == '[' && len(stack) > 1 {
				below := &stack[len(stack)-2]
				below.extra++
				reach(below.base + below.extra + 1)
			} else {
				top.extra++
				reach(cur())
			}
		case '+', '-', '%', '!', '>', '&', '|', '?':
			top.extra++
			reach(cur())
		}
		prev = c
	}
	if len(stack) != 1 {
		return 0, false
	}
	return max, true
}
