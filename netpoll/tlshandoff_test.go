package netpoll

import (
	"net"
	"net/http"
	"syscall"
	"testing"
	"time"
)

// onlyConn is the one connection s has registered.
func onlyConn(t *testing.T, s *Server) *Conn {
	t.Helper()
	var c *Conn
	eventually(t, "the connection registered", func() bool {
		s.reg.collect(nil, func(x *Conn) int { c = x; return actNone })
		return c != nil
	})
	return c
}

// KeyUpdate answers the socket did not take when the request head is
// handed to net/http are written by net/http's goroutine, first, not by
// the worker: a client that does not read would block the worker for
// good (and one such client per worker the whole loop).
func TestTLSHandOffPendingNotOnWorker(t *testing.T) {
	called := make(chan struct{}, 1)
	fallback := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		called <- struct{}{}
		_, _ = w.Write([]byte("ok"))
	})
	s, addr := startTLSServer(t, Config{Workers: 1}, acceptAll(newRecorder(true)), fallback)
	// The client reads nothing, and its receive buffer is small (set
	// before connecting, so that its window is too).
	d := net.Dialer{Timeout: testWait, Control: func(_, _ string, rc syscall.RawConn) error {
		return rc.Control(func(fd uintptr) {
			_ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 16<<10)
		})
	}}
	raw, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	m := manualOver(t, raw)
	c := onlyConn(t, s)
	_ = syscall.SetsockoptInt(int(c.fd), syscall.SOL_SOCKET, syscall.SO_SNDBUF, 4096)
	blocked := func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.blocked
	}
	// KeyUpdates that ask for ours, unread, until an answer is stuck.
	deadline := time.Now().Add(testWait)
	for n := 0; !blocked(); n++ {
		if time.Now().After(deadline) {
			t.Fatalf("answers to %d KeyUpdates never blocked", n)
		}
		m.send(recHandshake, []byte{hsKeyUpdate, 0, 0, 1, 1})
		if err := m.wr.update(); err != nil {
			t.Fatal(err)
		}
		if n%16 == 15 {
			time.Sleep(time.Millisecond)
		}
	}
	m.send(recAppData, []byte("GET /x HTTP/1.1\r\nHost: x\r\n\r\n"))
	select {
	case <-called:
	case <-time.After(testWait):
		t.Fatal("the request never reached net/http: the hand-off waits on a client that does not read")
	}
	// The worker is free: another client is served meanwhile.
	other := dialTLS(t, addr)
	other.send(1, []byte("free"))
	if got := other.expectFrame(1); string(got) != "free" {
		t.Fatalf("echo %q", got)
	}
}
