package mesh

import (
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
)

// memNet wraps memberlist's in-memory network for benchmarks. Its own
// MockTransport hands packets over an unbuffered channel, so a busy
// receiver blocks its senders, and with 200 agents on 2 cores the whole
// mesh ends up waiting on itself. Here each agent gets a buffered packet
// queue that drops when full, as a UDP socket buffer does; streams (push-
// pull) still go through MockTransport's in-memory pipes.
type memNet struct {
	mu     sync.RWMutex
	byAddr map[string]*memTransport
}

type memTransport struct {
	*memberlist.MockTransport
	net     *memNet
	addr    string
	from    *net.UDPAddr
	packets chan *memberlist.Packet
}

// newMemNet makes n transports, named name(i), before any agent starts.
func newMemNet(n int, name func(int) string) []*memTransport {
	mock := &memberlist.MockNetwork{}
	mn := &memNet{byAddr: map[string]*memTransport{}}
	out := make([]*memTransport, n)
	for i := range n {
		mt := mock.NewTransport(name(i))
		ip, port, _ := mt.FinalAdvertiseAddr("", 0)
		t := &memTransport{MockTransport: mt, net: mn, addr: joinHostPort(ip.String(), port), from: &net.UDPAddr{IP: ip, Port: port},
			packets: make(chan *memberlist.Packet, 4096)}
		mn.byAddr[t.addr] = t
		out[i] = t
	}
	return out
}

// WriteTo sends a packet, dropping it when the receiver's queue is full.
func (t *memTransport) WriteTo(b []byte, addr string) (time.Time, error) {
	return t.WriteToAddress(b, memberlist.Address{Addr: addr})
}

// WriteToAddress sends a packet, dropping it when the receiver's queue is full.
func (t *memTransport) WriteToAddress(b []byte, a memberlist.Address) (time.Time, error) {
	now := time.Now()
	t.net.mu.RLock()
	dest := t.net.byAddr[a.Addr]
	t.net.mu.RUnlock()
	if dest == nil {
		return now, nil // like UDP to nobody
	}
	buf := append([]byte(nil), b...)
	select {
	case dest.packets <- &memberlist.Packet{Buf: buf, From: t.from, Timestamp: now}:
	default:
	}
	return now, nil
}

// PacketCh is this agent's packet queue.
func (t *memTransport) PacketCh() <-chan *memberlist.Packet { return t.packets }

func joinHostPort(host string, port int) string {
	return net.JoinHostPort(host, strconv.Itoa(port))
}
