package netpoll

import (
	"testing"
	"time"

	"github.com/gobwas/ws"
	"golang.org/x/sys/unix"
)

// TestAcceptedConnNoDelay: every accepted socket has Nagle's algorithm off,
// as net.TCPConn would. With it on, a push that follows an unacknowledged
// one waits for the client's delayed ACK: back-to-back pushes to a client
// that only reads took about 40 ms each.
func TestAcceptedConnNoDelay(t *testing.T) {
	rec := newRecorder(false)
	_, addr := startServer(t, Config{}, acceptAll(rec), nil)
	cl := dial(t, addr)
	c := rec.waitOpen(t)
	v, err := unix.GetsockoptInt(int(c.fd), unix.IPPROTO_TCP, unix.TCP_NODELAY)
	if err != nil || v == 0 {
		t.Fatalf("TCP_NODELAY = %d, %v; want on", v, err)
	}
	// The behaviour it buys: 20 pushes, each read before the next is
	// sent, take nowhere near 20 delayed ACKs (800 ms).
	start := time.Now()
	for range 20 {
		if err := c.Send(OpText, []byte("push")); err != nil {
			t.Fatal(err)
		}
		cl.expectFrame(ws.OpText)
	}
	if d := time.Since(start); d > 600*time.Millisecond {
		t.Fatalf("20 pushes took %v: writes wait for ACKs", d)
	}
}
