package phx

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
)

// A WebSocket client floods events whose handler is blocked: the server
// stops reading it at the cap (the rest waits in TCP buffers, so the
// client's own writes stall), its outstanding work never exceeds the cap
// plus the frames of the one read in progress (at most 64 KiB), and once
// the handler drains, reading resumes and every event is handled, in
// order.
func TestAttackInboundFloodWebSocket(t *testing.T) {
	const max, n, pad = 16, 600, 1000
	srv := newServerForTest(t, Config{MaxInbound: max})
	bc := &blockingChannel{release: make(chan struct{})}
	srv.Channel("block:*", bc)
	addr := startWire(t, srv)
	c := dialWire(t, addr)
	if err := c.send(`["1","1","block:a","phx_join",{}]`); err != nil {
		t.Fatal(err)
	}
	c.expectText(`["1","1","block:a","phx_reply",{"response":{},"status":"ok"}]`)
	bc.mu.Lock()
	sock := bc.joined
	bc.mu.Unlock()

	filler := strings.Repeat("x", pad)
	sent := make(chan error, 1)
	go func() {
		for i := range n {
			// Generous: the writes stall while the server holds off, and
			// go on once the handler drains.
			_ = c.conn.SetWriteDeadline(time.Now().Add(60 * time.Second))
			f := fmt.Sprintf(`["1","%d","block:a","work",{"i":%d,"pad":%q}]`, i+2, i, filler)
			if err := wsutil.WriteClientMessage(c.conn, ws.OpText, []byte(f)); err != nil {
				sent <- err
				return
			}
		}
		sent <- nil
	}()
	waitInboundPaused(t, sock)
	// Frames of one read (64 KiB) may still come after the pause.
	bound := max + (64<<10)/pad + 1
	for i := range n {
		if u, _ := sock.InboundWork(); u > bound {
			t.Fatalf("%d units outstanding before event %d ran, bound %d", u, i, bound)
		}
		bc.release <- struct{}{}
	}
	if err := <-sent; err != nil {
		t.Fatalf("client write: %v", err)
	}
	settleChannel(t, sock.lookup("block:a"))
	got := bc.handled()
	if len(got) != n {
		t.Fatalf("%d events handled, want %d", len(got), n)
	}
	for i, p := range got {
		if !strings.HasPrefix(p, fmt.Sprintf(`{"i":%d,`, i)) {
			t.Fatalf("event %d handled as %.20s: order lost", i, p)
		}
	}
	t.Logf("peak %d units outstanding (cap %d, bound %d)", sock.inboundPeak(), max, bound)
	if p := sock.inboundPeak(); p > bound {
		t.Fatalf("peak %d units outstanding, bound %d (cap %d)", p, bound, max)
	}
	if u, paused := sock.InboundWork(); u != 0 || paused {
		t.Fatalf("after draining: %d units, paused %v", u, paused)
	}
}
