package netpoll

import (
	"testing"

	"golang.org/x/sys/unix"
)

// TestAcceptedConnNoDelay: every accepted socket has Nagle's algorithm off,
// as net.TCPConn would. With it on, a push that follows an unacknowledged
// one waits for the client's delayed ACK: back-to-back pushes to a client
// that only reads took about 40 ms each.
func TestAcceptedConnNoDelay(t *testing.T) {
	rec := newRecorder(false)
	_, addr := startServer(t, Config{}, acceptAll(rec), nil)
	_ = dial(t, addr)
	c := rec.waitOpen(t)
	v, err := unix.GetsockoptInt(int(c.fd), unix.IPPROTO_TCP, unix.TCP_NODELAY)
	if err != nil || v == 0 {
		t.Fatalf("TCP_NODELAY = %d, %v; want on", v, err)
	}
}
