package netpoll

import (
	"net"
	"testing"
	"time"

	"github.com/gobwas/ws"
)

// TestHalfCloseWhilePausedThenResume: the peer sends, then half-closes,
// while its input is paused. The EPOLLRDHUP edge comes once, while the
// input is held; the resume must still read what waited, deliver every
// message, then see EOF and call OnClose, after the last OnMessage.
func TestHalfCloseWhilePausedThenResume(t *testing.T) {
	rec := newRecorder(false)
	rec.onOpen = func(c *Conn) { c.PauseRead() }
	s, addr := startServer(t, Config{PauseTimeout: time.Hour}, acceptAll(rec), nil)
	c := dial(t, addr)
	sc := rec.waitOpen(t)
	c.send(ws.OpText, []byte("a"))
	c.send(ws.OpText, []byte("b"))
	eventually(t, "input paused", func() bool { return s.Stats().ReadPaused == 1 })
	_ = c.conn.(*net.TCPConn).CloseWrite()
	time.Sleep(20 * time.Millisecond) // the RDHUP edge arrives, and is held
	select {
	case m := <-rec.msgs:
		t.Fatalf("delivered while paused: %q", m.payload)
	case ev := <-rec.closed:
		t.Fatalf("closed while paused: %d", ev.code)
	default:
	}
	sc.ResumeRead()
	for _, want := range []string{"a", "b"} {
		if m := rec.waitMsg(t); string(m.payload) != want {
			t.Fatalf("got %q, want %q", m.payload, want)
		}
	}
	if ev := rec.waitClose(t); ev.code != CloseAbnormal {
		t.Fatalf("OnClose(%d)", ev.code)
	}
	if rec.overlap.Load() {
		t.Fatal("handler calls overlapped")
	}
}

// TestHalfCloseRightAfterData: a frame and the FIN that follows at once
// usually arrive before the worker reads, as one edge (EPOLLIN with
// EPOLLRDHUP). The read that takes the frame is short; the EOF behind it
// raises no new edge, so the read task must look for it, or the
// half-closed connection lingers until its idle timeout.
func TestHalfCloseRightAfterData(t *testing.T) {
	rec := newRecorder(false)
	_, addr := startServer(t, Config{IdleTimeout: time.Hour}, acceptAll(rec), nil)
	for i := range 20 {
		c := dial(t, addr)
		rec.waitOpen(t)
		c.write(append(frame(ws.OpText, true, []byte("x")), frame(ws.OpText, true, []byte("y"))...))
		_ = c.conn.(*net.TCPConn).CloseWrite()
		for _, want := range []string{"x", "y"} {
			if m := rec.waitMsg(t); string(m.payload) != want {
				t.Fatalf("conn %d: got %q, want %q", i, m.payload, want)
			}
		}
		if ev := rec.waitClose(t); ev.code != CloseAbnormal {
			t.Fatalf("conn %d: OnClose(%d)", i, ev.code)
		}
	}
}

// TestHalfClosedPartialHead: a partial request head followed at once by
// the FIN is dropped at the EOF, not at HandshakeTimeout.
func TestHalfClosedPartialHead(t *testing.T) {
	s, addr := startServer(t, Config{HandshakeTimeout: time.Hour}, acceptAll(newRecorder(false)), nil)
	for range 10 {
		c := rawClient(t, addr)
		c.write([]byte("GET /socket HTTP/1.1\r\nHost: x\r\n"))
		_ = c.conn.(*net.TCPConn).CloseWrite()
		c.expectEOF()
	}
	eventually(t, "every slot freed", func() bool { return s.Stats().Slots == 0 })
}
