package systemdcheck

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"sync"
	"time"

	sdbus "github.com/coreos/go-systemd/v22/dbus"
	"github.com/godbus/dbus/v5"
)

// busIdle is how long a D-Bus connection is kept open without a run.
// Opening one costs two handshakes with the bus, more than the call itself,
// so a checker keeps its connection from one run to the next.
const busIdle = 5 * time.Minute

// dbusSource asks systemd's manager over the system bus. It keeps one
// connection open between runs and closes it after idle without a run, or
// at Close: checkers have no other end of life, and go-systemd's
// connection owns goroutines.
type dbusSource struct {
	socket string        // the bus's Unix socket
	idle   time.Duration // busIdle; shorter in tests

	mu     sync.Mutex
	conn   *busConn    // nil: none open
	users  int         // runs using conn now
	timer  *time.Timer // closes conn after idle; nil while in use
	closed bool
}

func newDBusSource(socket string) *dbusSource {
	return &dbusSource{socket: socket, idle: busIdle}
}

func (s *dbusSource) String() string { return "D-Bus" }

func (s *dbusSource) named(ctx context.Context, names []string) ([]unit, error) {
	var units []unit
	err := s.with(ctx, "ListUnitsByNames", func(conn *sdbus.Conn) error {
		st, err := conn.ListUnitsByNamesContext(ctx, names)
		if err != nil {
			return err
		}
		units, err = fromUnitStatus(names, st)
		if err != nil {
			return err
		}
		// ListUnitsByNames has no Result; ask for it where it explains a problem.
		for i, u := range units {
			if u.ActiveState == "active" || u.LoadState != "loaded" {
				continue
			}
			iface := resultType(u.ID)
			if iface == "" {
				continue
			}
			p, err := conn.GetUnitTypePropertyContext(ctx, u.ID, iface, "Result")
			if err != nil {
				if ctx.Err() != nil {
					return err
				}
				continue // the message is only less precise without it
			}
			if r, ok := p.Value.Value().(string); ok {
				units[i].Result = r
			}
		}
		return nil
	})
	return units, err
}

func (s *dbusSource) failed(ctx context.Context) ([]unit, error) {
	var units []unit
	err := s.with(ctx, "ListUnitsFiltered", func(conn *sdbus.Conn) error {
		st, err := conn.ListUnitsFilteredContext(ctx, []string{"failed"})
		units = failedFromUnitStatus(st)
		return err
	})
	return units, err
}

// with runs call on the kept connection, or on a new one. A call that
// fails on a kept connection because the connection broke (the bus
// restarted) is tried once more on a new one.
func (s *dbusSource) with(ctx context.Context, op string, call func(*sdbus.Conn) error) error {
	for attempt := 0; ; attempt++ {
		conn, kept, err := s.acquire(ctx)
		if err != nil {
			return err
		}
		err = call(conn.Conn)
		broken := err != nil && ctx.Err() == nil && !isReply(err)
		s.release(conn, broken)
		switch {
		case err == nil:
			return nil
		case broken && kept && attempt == 0:
			continue
		default:
			return s.wrap(op, err)
		}
	}
}

// isReply reports whether err is an error answered over the bus (the
// connection itself is fine).
func isReply(err error) bool {
	var e dbus.Error
	var pe *dbus.Error
	return errors.As(err, &e) || errors.As(err, &pe)
}

// acquire returns the kept connection, or opens one; kept says which.
func (s *dbusSource) acquire(ctx context.Context) (*busConn, bool, error) {
	s.mu.Lock()
	if s.conn != nil {
		s.users++
		if s.timer != nil {
			s.timer.Stop()
			s.timer = nil
		}
		conn := s.conn
		s.mu.Unlock()
		return conn, true, nil
	}
	s.mu.Unlock()

	conn, err := s.connect(ctx)
	if err != nil {
		return nil, false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.conn != nil: // another run connected meanwhile
		conn.close()
		conn = s.conn
	case s.closed:
		conn.close()
		return nil, false, errors.New("checker closed")
	default:
		s.conn = conn
	}
	s.users++
	if s.timer != nil {
		s.timer.Stop()
		s.timer = nil
	}
	return conn, false, nil
}

// release ends a run's use of conn; a broken one is closed at once.
func (s *dbusSource) release(conn *busConn, broken bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.users--
	if broken && s.conn == conn {
		s.conn = nil
		conn.close()
	}
	if s.users == 0 && s.conn != nil && s.timer == nil {
		s.timer = time.AfterFunc(s.idle, s.closeIdle)
	}
}

func (s *dbusSource) closeIdle() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.users == 0 && s.conn != nil {
		s.conn.close()
		s.conn = nil
	}
	s.timer = nil
}

// Close closes the kept connection; later runs go without D-Bus.
func (s *dbusSource) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	if s.timer != nil {
		s.timer.Stop()
		s.timer = nil
	}
	if s.conn != nil {
		s.conn.close()
		s.conn = nil
	}
	return nil
}

// connect opens a connection to the bus: two, in fact, as go-systemd wants
// one for calls and one for signals. The connection outlives ctx, but the
// handshake ends with it.
func (s *dbusSource) connect(ctx context.Context) (*busConn, error) {
	if _, err := os.Stat(s.socket); errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w at %s", errNoBus, s.socket)
	}
	// Closing connCtx closes the connection (godbus's WithContext): at the
	// run's end while connecting, or when go-systemd's Close is done with it.
	connCtx, cancel := context.WithCancel(context.Background())
	stop := context.AfterFunc(ctx, cancel)
	conn, err := sdbus.NewConnection(func() (*dbus.Conn, error) {
		c, err := dbus.Dial("unix:path="+dbus.EscapeBusAddressValue(s.socket), dbus.WithContext(connCtx))
		if err != nil {
			return nil, err
		}
		// EXTERNAL with the numeric uid, as systemctl does: no user lookup.
		if err := c.Auth([]dbus.Auth{dbus.AuthExternal(strconv.Itoa(os.Getuid()))}); err != nil {
			_ = c.Close()
			return nil, err
		}
		if err := c.Hello(); err != nil {
			_ = c.Close()
			return nil, err
		}
		return c, nil
	})
	if !stop() { // ctx ended while connecting
		if conn != nil {
			conn.Close()
		}
		cancel()
		return nil, s.wrap("connect", ctx.Err())
	}
	if err != nil {
		cancel()
		return nil, s.wrap("connect", err)
	}
	return &busConn{Conn: conn, cancel: cancel}, nil
}

// busConn is a connection and the cancel of the context it was dialled with.
type busConn struct {
	*sdbus.Conn
	cancel context.CancelFunc
}

func (c *busConn) close() {
	c.Conn.Close()
	c.cancel()
}

func (s *dbusSource) wrap(op string, err error) error {
	return fmt.Errorf("D-Bus system bus at %s: %s: %w", s.socket, op, err)
}

// fromUnitStatus maps ListUnitsByNames's answer to the names asked for.
// systemd answers one status per name, in order, under the unit's primary
// name (an alias is answered under the name it stands for).
func fromUnitStatus(names []string, st []sdbus.UnitStatus) ([]unit, error) {
	if len(st) != len(names) {
		return nil, fmt.Errorf("%d units in the answer for %d names", len(st), len(names))
	}
	out := make([]unit, len(names))
	for i, s := range st {
		out[i] = unit{
			Name:        names[i],
			ID:          s.Name,
			LoadState:   s.LoadState,
			ActiveState: s.ActiveState,
			SubState:    s.SubState,
		}
	}
	return out, nil
}

// failedFromUnitStatus keeps the failed units of a listing.
func failedFromUnitStatus(st []sdbus.UnitStatus) []unit {
	out := make([]unit, 0, len(st))
	for _, s := range st {
		out = append(out, unit{Name: s.Name, ID: s.Name, LoadState: s.LoadState, ActiveState: s.ActiveState, SubState: s.SubState})
	}
	return failedOnly(out)
}
