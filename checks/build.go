package checks

import (
	"errors"
	"fmt"
	"net"
	"regexp/syntax"
	"strconv"

	"github.com/satellite-hq/satellite/dsl"
)

// What Build functions share, for their diagnostics.

// RegexpError words a regexp compile error for a diagnostic: what is wrong
// and where, such as "missing closing ) in `(-jar`", without Go's "error
// parsing regexp:" prefix, and with a hint when the pattern reaches for a
// lookaround, which RE2 does not have.
func RegexpError(err error) string {
	var se *syntax.Error
	if errors.As(err, &se) {
		msg := fmt.Sprintf("%s in `%s`", se.Code, se.Expr)
		if se.Code == syntax.ErrInvalidPerlOp || se.Code == syntax.ErrInvalidNamedCapture {
			msg += " (RE2 has no lookarounds such as (?=...) or (?<=...))"
		}
		return msg
	}
	return err.Error()
}

// ValidateHostPort checks that the attribute name, addr, is a host:port
// address with a host and a port from 1 to 65535, and records an error on the
// attribute when it is not. like lists good addresses for the message, such
// as `"127.0.0.1:2379" or "[::1]:2379"`. It does no I/O: a host name is not
// resolved.
func ValidateHostPort(a *dsl.Attrs, name, addr, like string) bool {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		var ae *net.AddrError
		msg := err.Error()
		if errors.As(err, &ae) {
			msg = ae.Err
		}
		a.Errorf(name, "Invalid address", "%q is not a host:port address (%s); write it like %s.", addr, msg, like)
		return false
	}
	if host == "" {
		a.Errorf(name, "Address without a host", "%q has no host; write the host to connect to, such as \"127.0.0.1%s\".", addr, addr)
		return false
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		a.Errorf(name, "Invalid port", "%q has port %q; a port is a number from 1 to 65535.", addr, port)
		return false
	}
	return true
}
