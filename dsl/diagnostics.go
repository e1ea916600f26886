package dsl

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/hashicorp/hcl/v2"
)

// Colors for terminal output; empty strings when colour is off.
type palette struct{ err, warn, bold, dim, reset string }

func newPalette(color bool) palette {
	if !color {
		return palette{}
	}
	return palette{err: "\x1b[1;31m", warn: "\x1b[1;33m", bold: "\x1b[1m", dim: "\x1b[2m", reset: "\x1b[0m"}
}

// WriteDiagnostics prints diagnostics for people: a FILE:LINE:COL header, the
// source line with the range underlined, then the detail. secrets are
// redacted from every line.
func WriteDiagnostics(w io.Writer, diags hcl.Diagnostics, files map[string]*hcl.File, color bool, secrets []string) error {
	p := newPalette(color)
	bw := bufio.NewWriter(w)
	for i, d := range diags {
		if i > 0 {
			bw.WriteString("\n")
		}
		sev, c := "Error", p.err
		if d.Severity == hcl.DiagWarning {
			sev, c = "Warning", p.warn
		}
		loc := ""
		if d.Subject != nil && d.Subject.Filename != "" {
			loc = fmt.Sprintf("%s:%d:%d: ", d.Subject.Filename, d.Subject.Start.Line, d.Subject.Start.Column)
		}
		fmt.Fprintf(bw, "%s%s%s%s: %s%s%s\n", p.bold, visible(loc), c, sev, p.bold, visible(Redact(d.Summary, secrets)), p.reset)
		if d.Subject != nil {
			writeSnippet(bw, d.Subject, d.Context, files, p, secrets)
		}
		if d.Detail != "" {
			for _, line := range strings.Split(Redact(d.Detail, secrets), "\n") {
				fmt.Fprintf(bw, "  %s\n", visible(line))
			}
		}
	}
	return bw.Flush()
}

func writeSnippet(w *bufio.Writer, subj, ctxRng *hcl.Range, files map[string]*hcl.File, p palette, secrets []string) {
	f := files[subj.Filename]
	if f == nil || f.Bytes == nil {
		return
	}
	lines := bytes.Split(f.Bytes, []byte("\n"))
	first, last := subj.Start.Line, subj.End.Line
	if ctxRng != nil && ctxRng.Filename == subj.Filename {
		first, last = min(first, ctxRng.Start.Line), max(last, ctxRng.End.Line)
	}
	if last-first > 6 {
		last = first + 6
	}
	if first < 1 || first > len(lines) {
		return
	}
	last = min(last, len(lines))
	width := len(fmt.Sprint(last))
	for n := first; n <= last; n++ {
		text := strings.TrimRight(string(lines[n-1]), "\r")
		text = strings.ReplaceAll(text, "\t", " ")
		text = visible(text)
		fmt.Fprintf(w, "  %s%*d │%s %s\n", p.dim, width, n, p.reset, Redact(text, secrets))
		// Underline the part of this line inside the subject.
		if n < subj.Start.Line || n > subj.End.Line {
			continue
		}
		startCol, endCol := 1, len([]rune(text))+1
		if n == subj.Start.Line {
			startCol = subj.Start.Column
		}
		if n == subj.End.Line {
			endCol = subj.End.Column
		}
		if endCol <= startCol {
			endCol = startCol + 1
		}
		fmt.Fprintf(w, "  %*s │ %s%s%s%s\n", width, "", strings.Repeat(" ", max(0, startCol-1)), p.err, strings.Repeat("^", endCol-startCol), p.reset)
	}
}

// visible replaces control characters (an escape sequence in a config
// could drive the terminal that prints it) with U+FFFD, one column each as
// the characters they replace, so the underline stays aligned.
func visible(s string) string {
	clean := true
	for _, r := range s {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return '\uFFFD'
		}
		return r
	}, s)
}

// JSONPos is a position in a JSON diagnostic.
type JSONPos struct {
	Line   int `json:"line"`
	Column int `json:"column"`
	Byte   int `json:"byte"`
}

// JSONDiagnostic is the `--format json` form of a diagnostic.
type JSONDiagnostic struct {
	Severity string   `json:"severity"`
	Summary  string   `json:"summary"`
	Detail   string   `json:"detail"`
	Filename string   `json:"filename,omitempty"`
	Start    *JSONPos `json:"start,omitempty"`
	End      *JSONPos `json:"end,omitempty"`
}

// JSONDiagnostics converts diagnostics for --format json, redacting secrets.
func JSONDiagnostics(diags hcl.Diagnostics, secrets []string) []JSONDiagnostic {
	out := make([]JSONDiagnostic, 0, len(diags))
	for _, d := range diags {
		jd := JSONDiagnostic{Severity: "error", Summary: Redact(d.Summary, secrets), Detail: Redact(d.Detail, secrets)}
		if d.Severity == hcl.DiagWarning {
			jd.Severity = "warning"
		}
		if s := d.Subject; s != nil {
			jd.Filename = s.Filename
			jd.Start = &JSONPos{Line: s.Start.Line, Column: s.Start.Column, Byte: s.Start.Byte}
			jd.End = &JSONPos{Line: s.End.Line, Column: s.End.Column, Byte: s.End.Byte}
		}
		out = append(out, jd)
	}
	return out
}

// WriteJSONDiagnostics prints diagnostics as a JSON array.
func WriteJSONDiagnostics(w io.Writer, diags hcl.Diagnostics, secrets []string) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(JSONDiagnostics(diags, secrets))
}
