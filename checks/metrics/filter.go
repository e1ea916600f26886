package metrics

import (
	"bufio"
	"bytes"
	"errors"
	"io"
)

// The filter reads the body line by line before the parser sees it. It
// keeps the lines of the metrics the check's values name and blanks the
// others (so that the parser's line numbers stay those of the body): a busy
// exporter's 5 MB exposition holds hundreds of families, and expfmt's
// parser, which builds a protobuf message for every sample, takes ~200 ms
// for all of them and a few ms for the one a value reads (BENCHMARKS in
// the package's tests). Lines it cannot place, such as the quoted UTF-8
// names of `{"my.metric"} 1`, are kept for the parser to judge.
//
// For OpenMetrics it also makes the body what the text parser reads: it
// stops at `# EOF`, drops exemplars and timestamps (OpenMetrics writes
// them as seconds with a fraction; the check dates samples by its own
// clock), and reads the types the text format does not have (unknown,
// info, stateset) as untyped.

// wanted is what the filter keeps.
type wanted struct {
	// all keeps every line (a check without values validates the exposition).
	all bool
	// families are the names whose # TYPE and # HELP lines are kept.
	families map[string]bool
	// samples are the sample names whose lines are kept.
	samples map[string]bool
}

// filtered is what the filter made of a body.
type filtered struct {
	// kept is the body to parse: the kept lines, and an empty line for
	// each other line.
	kept []byte
	// bytes is the size of the body read.
	bytes int64
	// samples counts the sample lines of the whole body.
	samples int
	// types are the types the kept # TYPE lines declare, by family name.
	types map[string]string
}

// errBodyTooLarge is returned by filterBody for a body over the limit.
var errBodyTooLarge = errors.New("body too large")

// readBuffer is the size of the filter's read buffer; longer lines are
// assembled in a separate buffer.
const readBuffer = 64 << 10

// filterBody reads r, at most limit bytes (a longer body is
// errBodyTooLarge), and filters it for w. openMetrics says r is OpenMetrics.
func filterBody(r io.Reader, limit int64, w *wanted, openMetrics bool) (*filtered, error) {
	lr := &io.LimitedReader{R: r, N: limit + 1}
	br := bufio.NewReaderSize(lr, readBuffer)
	f := &filtered{types: map[string]string{}}
	var long []byte
	for {
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			long = append(long[:0], line...)
			for errors.Is(err, bufio.ErrBufferFull) {
				line, err = br.ReadSlice('\n')
				long = append(long, line...)
			}
			line = long
		}
		f.bytes += int64(len(line))
		if f.bytes > limit {
			return f, errBodyTooLarge
		}
		if len(line) > 0 && !f.line(line, w, openMetrics) {
			// OpenMetrics' # EOF: the exposition ends there.
			return f, drain(br, limit, f)
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				return f, nil
			}
			return f, err
		}
	}
}

// drain reads what follows an OpenMetrics # EOF, so that the body's size is
// counted and bounded as without it; the bytes are not parsed.
func drain(r io.Reader, limit int64, f *filtered) error {
	n, err := io.Copy(io.Discard, r)
	f.bytes += n
	if f.bytes > limit {
		return errBodyTooLarge
	}
	return err
}

// line files one line (with its '\n', unless it is the last one and has
// none). It returns false at OpenMetrics' # EOF.
func (f *filtered) line(line []byte, w *wanted, openMetrics bool) bool {
	i := skipBlank(line, 0)
	if i == len(line) || line[i] == '\n' {
		f.kept = append(f.kept, '\n')
		return true
	}
	if line[i] == '#' {
		return f.comment(line, i+1, w, openMetrics)
	}
	f.samples++
	keep := w.all
	if !keep {
		name, ok := plainName(line, i)
		keep = !ok || w.samples[string(name)]
	}
	if !keep {
		f.kept = append(f.kept, '\n')
		return true
	}
	if openMetrics {
		line = omSample(line, i)
	}
	f.kept = append(f.kept, line...)
	return true
}

// comment files a line starting with '#' (i is after it).
func (f *filtered) comment(line []byte, i int, w *wanted, openMetrics bool) bool {
	i = skipBlank(line, i)
	kw, i := token(line, i)
	switch string(kw) {
	case "EOF":
		if openMetrics {
			return false
		}
	case "HELP", "TYPE":
		name, ok := plainName(line, skipBlank(line, i))
		if !ok {
			// A quoted name, or none: the parser judges it.
			f.kept = append(f.kept, line...)
			return true
		}
		if !w.all && !w.families[string(name)] {
			break
		}
		if string(kw) == "TYPE" {
			j := skipBlank(line, skipBlank(line, i)+len(name))
			typ, _ := token(line, j)
			f.types[string(name)] = string(typ)
			if openMetrics {
				switch string(typ) {
				case "unknown", "info", "stateset":
					// Types of OpenMetrics only: their samples are plain values.
					f.kept = append(append(append(f.kept, line[:j]...), "untyped"...), '\n')
					return true
				}
			}
		}
		f.kept = append(f.kept, line...)
		return true
	}
	// Any other comment (# UNIT ...) is a comment for the parser too.
	f.kept = append(f.kept, '\n')
	return true
}

// omSample cuts an OpenMetrics sample line after its value: the text parser
// reads neither an exemplar (`# {trace_id="x"} 0.5`) nor a timestamp in
// seconds. A line it cannot read is returned as it is, for the parser.
func omSample(line []byte, i int) []byte {
	// The name, plain or quoted.
	if line[i] == '"' {
		end, ok := quoted(line, i)
		if !ok {
			return line
		}
		i = end
	} else {
		for i < len(line) && isNameByte(line[i]) {
			i++
		}
	}
	// The labels.
	if i < len(line) && line[i] == '{' {
		for i++; i < len(line) && line[i] != '}'; i++ {
			if line[i] == '"' {
				end, ok := quoted(line, i)
				if !ok {
					return line
				}
				i = end - 1
			}
		}
		if i == len(line) {
			return line
		}
		i++
	}
	v := skipBlank(line, i)
	value, _ := token(line, v)
	if len(value) == 0 || v+len(value) == len(line) || line[v+len(value)] == '\n' {
		return line // nothing to cut
	}
	out := make([]byte, 0, v+len(value)+1)
	out = append(append(append(out, line[:v]...), value...), '\n')
	return out
}

// quoted returns the index after the quoted string starting at line[i]
// (a '"'), with backslash escapes.
func quoted(line []byte, i int) (int, bool) {
	for j := i + 1; j < len(line); j++ {
		switch line[j] {
		case '\\':
			j++
		case '"':
			return j + 1, true
		case '\n':
			return 0, false
		}
	}
	return 0, false
}

// plainName returns the unquoted metric name starting at line[i]; ok is
// false when there is none there (a quoted name, a label set first, junk).
func plainName(line []byte, i int) ([]byte, bool) {
	j := i
	for j < len(line) && isNameByte(line[j]) {
		j++
	}
	if j == i || ('0' <= line[i] && line[i] <= '9') {
		return nil, false
	}
	if j < len(line) && line[j] == '"' {
		return nil, false
	}
	return line[i:j], true
}

func isNameByte(b byte) bool {
	return ('a' <= b && b <= 'z') || ('A' <= b && b <= 'Z') || ('0' <= b && b <= '9') || b == '_' || b == ':'
}

func skipBlank(line []byte, i int) int {
	for i < len(line) && (line[i] == ' ' || line[i] == '\t') {
		i++
	}
	return i
}

// token returns the run of bytes from line[i] to the next blank, tab or
// newline, and the index after it.
func token(line []byte, i int) ([]byte, int) {
	j := i
	for j < len(line) && line[j] != ' ' && line[j] != '\t' && line[j] != '\n' {
		j++
	}
	return line[i:j], j
}

// lineAt returns line n (from 1) of b, without its newline.
func lineAt(b []byte, n int) []byte {
	for n > 1 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			return nil
		}
		b, n = b[i+1:], n-1
	}
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		b = b[:i]
	}
	return b
}
