// Package httpurl checks the url attribute of the check types that make
// HTTP requests (http, metrics), with one set of messages.
package httpurl

import (
	"errors"
	"net/url"
	"strings"

	"github.com/satellite-hq/satellite/dsl"
)

// Hints make the messages the type's own.
type Hints struct {
	// Needs completes "The url X has scheme Y; ...": "an http check needs".
	Needs string
	// Example is a URL of the type, such as "https://127.0.0.1:6443/healthz".
	Example string
	// Host is said of a URL without a host: `write it like "..."`.
	Host string
}

// Validate parses raw, the url attribute. It reports what is wrong on a
// (at the attribute) and then returns nil: no scheme, not a URL, a scheme
// other than http or https, no host, a port that is not 1 to 65535.
func Validate(a *dsl.Attrs, raw string, h Hints) *url.URL {
	if !strings.Contains(raw, "://") {
		a.Errorf("url", "Missing URL scheme", "The url %q has no scheme; write it with http:// or https://, such as %q.", raw, "http://"+raw)
		return nil
	}
	u, err := url.Parse(raw)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		a.Errorf("url", "Invalid URL", "%q is not a URL: %s.", raw, err)
		return nil
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		a.Errorf("url", "Unsupported URL scheme", "The url %q has scheme %q; %s an http:// or https:// URL, such as %q.", u.Redacted(), u.Scheme, h.Needs, h.Example)
		return nil
	}
	if u.Host == "" {
		a.Errorf("url", "URL without a host", "The url %q has no host; %s.", u.Redacted(), h.Host)
		return nil
	}
	if p := u.Port(); p != "" && !ValidPort(p) {
		a.Errorf("url", "Invalid port", "The url %q has port %q; a port is a number from 1 to 65535.", u.Redacted(), p)
		return nil
	}
	return u
}

// ValidPort reports whether p is a port number from 1 to 65535, in at most
// five digits.
func ValidPort(p string) bool {
	n := 0
	for i := 0; i < len(p); i++ {
		if p[i] < '0' || p[i] > '9' || i >= 5 {
			return false
		}
		n = n*10 + int(p[i]-'0')
	}
	return n >= 1 && n <= 65535
}
