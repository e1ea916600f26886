package tcpcheck

import (
	"net"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// fullBacklog returns a loopback address whose listener never accepts and
// whose accept queue is full: Linux then drops new SYNs, so a connect hangs
// until the caller gives up. No traffic leaves the machine.
func fullBacklog(t *testing.T) string {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(sa.(*syscall.SockaddrInet4).Port))

	// Fill the queue: connect until a connect no longer completes.
	for range 16 {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err != nil {
			return addr
		}
		t.Cleanup(func() { _ = c.Close() })
	}
	t.Skip("the kernel kept accepting connections into a backlog of 0; cannot make a hanging connect here")
	return ""
}

func TestTimeout(t *testing.T) {
	addr := fullBacklog(t)
	c := mustBuild(t, addr)
	start := time.Now()
	res := run(c, 300*time.Millisecond)
	took := time.Since(start)
	wantCritical(t, res, "timed out after 300ms", addr)
	if took > 2*time.Second {
		t.Errorf("check returned %s after a 300ms deadline", took)
	}
}
