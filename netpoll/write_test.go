package netpoll

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/gobwas/ws"
)

// smallBufDialer dials with a tiny receive buffer so that a client that
// does not read stops the server's writes quickly.
func smallBufDialer() ws.Dialer {
	nd := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		return rc.Control(func(fd uintptr) {
			_ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
		})
	}}
	return ws.Dialer{NetDial: func(ctx context.Context, network, addr string) (net.Conn, error) {
		return nd.DialContext(ctx, network, addr)
	}}
}

func TestSlowConsumer(t *testing.T) {
	rec := newRecorder(true)
	s, addr := startServer(t, Config{WriteQueueBytes: 256 << 10, CloseTimeout: 300 * time.Millisecond},
		acceptAll(rec), nil)
	slow := dialWith(t, smallBufDialer(), "ws://"+addr+"/slow")
	slowConn := rec.waitOpen(t)
	fast := dial(t, addr)
	fastConn := rec.waitOpen(t)

	received := make(chan int, 1)
	go func() { // the fast client keeps reading
		n := 0
		for {
			h, _, err := fast.readFrame()
			if err != nil || h.OpCode != ws.OpBinary {
				received <- n
				return
			}
			n++
		}
	}()
	payload := bytes.Repeat([]byte{1}, 16<<10)
	sent, slowErr := 0, error(nil)
	for i := 0; i < 20000 && slowErr == nil; i++ {
		slowErr = slowConn.Send(OpBinary, payload)
		if err := fastConn.Send(OpBinary, payload); err != nil {
			t.Fatalf("fast consumer: %v after %d", err, i)
		}
		sent++
		if i%4 == 3 {
			time.Sleep(time.Millisecond)
		}
	}
	if !errors.Is(slowErr, ErrSlowConsumer) {
		t.Fatalf("slow consumer never detected (%d sends, err %v)", sent, slowErr)
	}
	if err := slowConn.Send(OpBinary, payload); !errors.Is(err, ErrClosed) {
		t.Fatalf("Send after slow consumer: %v", err)
	}
	ev := rec.waitClose(t)
	if ev.c != slowConn || ev.code != ClosePolicyViolation || ev.reason != "slow consumer" {
		t.Fatalf("OnClose(%d, %q) for slow=%v", ev.code, ev.reason, ev.c == slowConn)
	}
	_ = fastConn.Send(OpText, []byte("end"))
	if n := <-received; n != sent {
		t.Fatalf("fast client got %d of %d frames", n, sent)
	}
	if s.Stats().SlowConsumers != 1 || s.NumConns() != 1 {
		t.Fatalf("stats %+v", s.Stats())
	}
	slow.expectEOF()
}

// TestCoalesceInTask: frames a handler sends while its connection's task
// runs go out together, in one writev.
func TestCoalesceInTask(t *testing.T) {
	const n = 500
	rec := newRecorder(false)
	h := &burstHandler{recorder: rec, n: n}
	s, addr := startServer(t, Config{}, acceptAll(h), nil)
	c := dial(t, addr)
	rec.waitOpen(t)
	before := s.Stats()
	c.send(ws.OpText, []byte("burst"))
	for i := range n {
		p := c.expectFrame(ws.OpBinary)
		if len(p) != 4+i%300 || binary.BigEndian.Uint32(p) != uint32(i) {
			t.Fatalf("frame %d corrupt: %d bytes", i, len(p))
		}
	}
	after := s.Stats()
	if w := after.Writes - before.Writes; w > 2 {
		t.Fatalf("%d frames took %d writev calls", n, w)
	}
}

type burstHandler struct {
	*recorder
	n int
}

func (h *burstHandler) OnMessage(c *Conn, _ OpCode, _ []byte) {
	for i := range h.n {
		p := make([]byte, 4+i%300)
		binary.BigEndian.PutUint32(p, uint32(i))
		_ = c.Send(OpBinary, p)
	}
}

// TestCoalesceConcurrent: Sends from another goroutine while flushes are
// pending arrive as separate, intact frames, in order, with fewer writev
// calls than frames.
func TestCoalesceConcurrent(t *testing.T) {
	const n = 5000
	rec := newRecorder(false)
	s, addr := startServer(t, Config{}, acceptAll(rec), nil)
	c := dial(t, addr)
	sc := rec.waitOpen(t)
	before := s.Stats()
	go func() {
		for i := range n {
			p := binary.BigEndian.AppendUint32(nil, uint32(i))
			if err := sc.Send(OpBinary, append(p, make([]byte, i%50)...)); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	for i := range n {
		p := c.expectFrame(ws.OpBinary)
		if len(p) != 4+i%50 || binary.BigEndian.Uint32(p) != uint32(i) {
			t.Fatalf("frame %d corrupt", i)
		}
	}
	w := s.Stats().Writes - before.Writes
	t.Logf("%d frames in %d writev calls", n, w)
	if w >= n {
		t.Fatalf("no coalescing: %d writev calls for %d frames", w, n)
	}
}

// TestBlockedWriteResumes: a peer that reads late gets every byte (partial
// writes and EAGAIN resume through EPOLLOUT).
func TestBlockedWriteResumes(t *testing.T) {
	rec := newRecorder(false)
	_, addr := startServer(t, Config{WriteQueueBytes: 64 << 20}, acceptAll(rec), nil)
	c := dialWith(t, smallBufDialer(), "ws://"+addr+"/x")
	sc := rec.waitOpen(t)
	const n = 400
	for i := range n {
		p := bytes.Repeat([]byte{byte(i)}, 32<<10)
		if err := sc.Send(OpBinary, p); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(100 * time.Millisecond) // let the socket fill up
	for i := range n {
		p := c.expectFrame(ws.OpBinary)
		if len(p) != 32<<10 || p[0] != byte(i) || p[len(p)-1] != byte(i) {
			t.Fatalf("frame %d corrupt", i)
		}
	}
}
