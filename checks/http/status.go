package httpcheck

import (
	"math/big"
	"strconv"
	"strings"

	"github.com/satellite-hq/satellite/dsl"
	"github.com/zclconf/go-cty/cty"
)

// statusRange is one element of expect_status: the codes lo..hi, as written.
type statusRange struct {
	lo, hi int
	text   string
}

// statusSet is the parsed expect_status.
type statusSet []statusRange

var defaultExpect = statusSet{{lo: 200, hi: 399, text: "200-399"}}

// Contains reports whether the status code is expected.
func (s statusSet) Contains(code int) bool {
	for _, r := range s {
		if r.lo <= code && code <= r.hi {
			return true
		}
	}
	return false
}

// String lists the expected codes as written, for error messages.
func (s statusSet) String() string {
	parts := make([]string, len(s))
	for i, r := range s {
		parts[i] = r.text
	}
	return strings.Join(parts, ", ")
}

const expectStatusHelp = "Write expect_status as a list of status codes (200), classes (\"2xx\") or ranges (\"200-299\"), such as [200, 204] or [\"2xx\", 301]."

// parseExpectStatus reads expect_status: a list (or tuple, or set) of numbers
// and strings, or one number or string. It reports what is wrong and returns
// ok=false, also when an element is not known yet.
func parseExpectStatus(a *dsl.Attrs) (statusSet, bool) {
	v := a.Value("expect_status")
	if !v.IsWhollyKnown() {
		return nil, false
	}
	v, _ = v.UnmarkDeep()
	var elems []cty.Value
	switch ty := v.Type(); {
	case ty.IsListType() || ty.IsTupleType() || ty.IsSetType():
		for it := v.ElementIterator(); it.Next(); {
			_, e := it.Element()
			elems = append(elems, e)
		}
	case ty == cty.Number || ty == cty.String:
		elems = []cty.Value{v}
	default:
		a.Errorf("expect_status", "Invalid expect_status", "expect_status is %s. %s", ty.FriendlyName(), expectStatusHelp)
		return nil, false
	}
	if len(elems) == 0 {
		a.Errorf("expect_status", "Invalid expect_status", "expect_status is empty, so no response could pass. %s", expectStatusHelp)
		return nil, false
	}
	out := make(statusSet, 0, len(elems))
	for _, e := range elems {
		r, msg := parseStatusElem(e)
		if msg != "" {
			a.Errorf("expect_status", "Invalid expect_status", "%s. %s", msg, expectStatusHelp)
			return nil, false
		}
		out = append(out, r)
	}
	return out, true
}

func parseStatusElem(e cty.Value) (statusRange, string) {
	if e.IsNull() {
		return statusRange{}, "expect_status contains null"
	}
	switch e.Type() {
	case cty.Number:
		bf := e.AsBigFloat()
		n, acc := bf.Int64()
		if !bf.IsInt() || acc != big.Exact || !validCode(n) {
			return statusRange{}, bf.Text('g', -1) + " is not an HTTP status code (100 to 599)"
		}
		return statusRange{lo: int(n), hi: int(n), text: strconv.FormatInt(n, 10)}, ""
	case cty.String:
		return parseStatusString(e.AsString())
	default:
		return statusRange{}, "expect_status contains " + e.Type().FriendlyName()
	}
}

func parseStatusString(s string) (statusRange, string) {
	bad := strconv.Quote(s) + " is not a status code, class or range"
	t := strings.TrimSpace(s)
	if len(t) == 3 && (strings.HasSuffix(t, "xx") || strings.HasSuffix(t, "XX")) {
		d := int(t[0] - '0')
		if d < 1 || d > 5 {
			return statusRange{}, bad + " (classes are 1xx to 5xx)"
		}
		return statusRange{lo: d * 100, hi: d*100 + 99, text: strings.ToLower(t)}, ""
	}
	loS, hiS, isRange := strings.Cut(t, "-")
	lo, err1 := strconv.Atoi(strings.TrimSpace(loS))
	hi, err2 := lo, error(nil)
	if isRange {
		hi, err2 = strconv.Atoi(strings.TrimSpace(hiS))
	}
	switch {
	case err1 != nil || err2 != nil:
		return statusRange{}, bad
	case !validCode(int64(lo)) || !validCode(int64(hi)):
		return statusRange{}, bad + " (codes are 100 to 599)"
	case lo > hi:
		return statusRange{}, strconv.Quote(s) + " is an empty range: write the lower code first"
	}
	text := strconv.Itoa(lo)
	if isRange {
		text += "-" + strconv.Itoa(hi)
	}
	return statusRange{lo: lo, hi: hi, text: text}, ""
}

func validCode(n int64) bool { return n >= 100 && n <= 599 }
