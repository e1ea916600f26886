package mesh

import (
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"
)

// countingTransport counts the bytes memberlist sends and receives, over
// UDP packets and TCP streams, framing and encryption included: the mesh's
// gossip traffic (Stats.GossipBytesIn and GossipBytesOut).
type countingTransport struct {
	memberlist.NodeAwareTransport
	in, out *atomic.Uint64

	packets chan *memberlist.Packet
	streams chan net.Conn
	stop    chan struct{}
	once    sync.Once
	wg      sync.WaitGroup
}

// newCountingTransport wraps t; its two forwarding goroutines stop at
// Shutdown, which memberlist calls when it shuts down.
func newCountingTransport(t memberlist.NodeAwareTransport, in, out *atomic.Uint64) *countingTransport {
	c := &countingTransport{NodeAwareTransport: t, in: in, out: out,
		packets: make(chan *memberlist.Packet), streams: make(chan net.Conn), stop: make(chan struct{})}
	c.wg.Add(2)
	go func() {
		defer c.wg.Done()
		for {
			select {
			case p := <-t.PacketCh():
				c.in.Add(uint64(len(p.Buf)))
				select {
				case c.packets <- p:
				case <-c.stop:
					return
				}
			case <-c.stop:
				return
			}
		}
	}()
	go func() {
		defer c.wg.Done()
		for {
			select {
			case conn := <-t.StreamCh():
				select {
				case c.streams <- &countingConn{Conn: conn, in: in, out: out}:
				case <-c.stop:
					_ = conn.Close()
					return
				}
			case <-c.stop:
				return
			}
		}
	}()
	return c
}

func (c *countingTransport) PacketCh() <-chan *memberlist.Packet { return c.packets }
func (c *countingTransport) StreamCh() <-chan net.Conn           { return c.streams }

func (c *countingTransport) WriteTo(b []byte, addr string) (time.Time, error) {
	c.out.Add(uint64(len(b)))
	return c.NodeAwareTransport.WriteTo(b, addr)
}

func (c *countingTransport) WriteToAddress(b []byte, addr memberlist.Address) (time.Time, error) {
	c.out.Add(uint64(len(b)))
	return c.NodeAwareTransport.WriteToAddress(b, addr)
}

func (c *countingTransport) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	conn, err := c.NodeAwareTransport.DialTimeout(addr, timeout)
	if err != nil {
		return nil, err
	}
	return &countingConn{Conn: conn, in: c.in, out: c.out}, nil
}

func (c *countingTransport) DialAddressTimeout(addr memberlist.Address, timeout time.Duration) (net.Conn, error) {
	conn, err := c.NodeAwareTransport.DialAddressTimeout(addr, timeout)
	if err != nil {
		return nil, err
	}
	return &countingConn{Conn: conn, in: c.in, out: c.out}, nil
}

func (c *countingTransport) Shutdown() error {
	err := c.NodeAwareTransport.Shutdown()
	c.once.Do(func() { close(c.stop) })
	c.wg.Wait()
	return err
}

// countingConn counts a stream's bytes.
type countingConn struct {
	net.Conn
	in, out *atomic.Uint64
}

func (c *countingConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	c.in.Add(uint64(n))
	return n, err
}

func (c *countingConn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	c.out.Add(uint64(n))
	return n, err
}
