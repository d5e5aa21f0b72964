package netpoll

import (
	"testing"

	"github.com/gobwas/ws"
)

// TestRxStateOnlyWhilePartial: a connection holds a parser of its own
// only while a read left a frame in progress; a whole frame leaves it
// none, and the worker's parser it used stays its own.
func TestRxStateOnlyWhilePartial(t *testing.T) {
	s, _ := startServer(t, Config{}, acceptAll(newRecorder(false)), nil)
	w := newWorker(s) // a worker of the loop's shape, not running
	c, other := &Conn{s: s}, &Conn{s: s}
	c.state.Store(stOpen)
	other.state.Store(stOpen)
	pong := func() []byte { // a masked pong, 6 header bytes and 4 of payload
		f := ws.MaskFrameInPlace(ws.NewPongFrame([]byte("abcd")))
		return ws.MustCompileFrame(f)
	}
	feed := func(p []byte) {
		t.Helper()
		if !w.consume(c, p) {
			t.Fatal("the connection died")
		}
	}
	feed(pong())
	if c.rx != nil {
		t.Fatal("a whole frame left the connection a parser")
	}
	for _, cut := range []int{3, 8} { // inside the header, inside the payload
		b := pong()
		feed(b[:cut])
		if c.rx == nil || c.rx == &w.rx {
			t.Fatalf("cut at %d: parser %p (worker's %p); want one of its own", cut, c.rx, &w.rx)
		}
		// Another connection's whole frame meanwhile leaves c's alone.
		if !w.consume(other, pong()) || other.rx != nil {
			t.Fatalf("cut at %d: the other connection keeps a parser", cut)
		}
		feed(b[cut:])
		if c.rx != nil {
			t.Fatalf("cut at %d: the completed frame left the connection a parser", cut)
		}
	}
	if c.frameStart.Load() != 0 {
		t.Fatal("no frame in progress, yet frameStart is set")
	}
}
