package notify

import (
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/satellite-hq/satellite/dsl"
)

// SecretAttr reads attribute name, or the file named by fileAttr (relative
// to baseDir, trailing newline dropped): exactly one of them may be set.
// It reports whether one was; *ok turns false on an error (reported on a,
// the value never echoed).
func SecretAttr(a *dsl.Attrs, name, fileAttr, baseDir string, ok *bool) (string, bool) {
	v, inline := a.String(name)
	p, file := a.String(fileAttr)
	switch {
	case inline && file:
		a.Errorf(fileAttr, "Conflicting attributes", "Set %s or %s, not both.", name, fileAttr)
		*ok = false
		return "", false
	case inline:
		return v, true
	case file:
		if !filepath.IsAbs(p) {
			p = filepath.Join(baseDir, p)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			a.Errorf(fileAttr, "Unreadable "+fileAttr, "Reading %s: %v.", p, err)
			*ok = false
			return "", false
		}
		return strings.TrimRight(string(b), "\r\n"), true
	}
	return "", false
}

// FirstSet is the first of names that is set, for an error's range.
func FirstSet(a *dsl.Attrs, names ...string) string {
	for _, n := range names {
		if a.IsSet(n) {
			return n
		}
	}
	return ""
}

// TimeoutAttr reads the "timeout" attribute every notifier type has: a
// positive duration; def when unset. *ok turns false on an error.
func TimeoutAttr(a *dsl.Attrs, def time.Duration, ok *bool) time.Duration {
	d, set := a.Duration("timeout")
	switch {
	case !set:
		return def
	case d <= 0:
		a.Errorf("timeout", "Invalid timeout", "Attribute \"timeout\" must be a positive duration, such as \"10s\".")
		*ok = false
	}
	return d
}
