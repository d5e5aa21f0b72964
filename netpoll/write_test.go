package netpoll

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"net"
	"sync/atomic"
	"syscall"
	"testing"

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

// TestSlowConsumer attacks the write queue limit: one client never
// reads while frames keep being sent to it. The queue must never hold
// more than WriteQueueBytes (explicit, and the documented 4 MiB default),
// it must be discarded (the client then gets little more than what the
// kernel buffers held before the close frame), and the close frame on the
// wire must be 1008 "slow consumer". A client that reads is unaffected.
func TestSlowConsumer(t *testing.T) {
	for _, tc := range []struct {
		name  string
		cfg   Config
		limit int
	}{
		{"explicit", Config{WriteQueueBytes: 1 << 20}, 1 << 20},
		{"default", Config{}, 4 << 20},
	} {
		t.Run(tc.name, func(t *testing.T) { testSlowConsumer(t, tc.cfg, tc.limit) })
	}
}

func testSlowConsumer(t *testing.T, cfg Config, limit int) {
	rec := newRecorder(true)
	rec.onOpen = func(c *Conn) { setSndBuf(c, 4096) }
	cfg.CloseTimeout = testWait
	s, addr := startServer(t, cfg, acceptAll(rec), nil)
	slow := dialWith(t, smallBufDialer(), "ws://"+addr+"/slow")
	slowConn := rec.waitOpen(t)
	fast := dial(t, addr)
	fastConn := rec.waitOpen(t)

	var got atomic.Int64
	received := make(chan int64, 1)
	go func() { // the fast client keeps reading
		for {
			h, _, err := fast.readFrame()
			if err != nil || h.OpCode != ws.OpBinary {
				received <- got.Load()
				return
			}
			got.Add(1)
		}
	}()
	payload := bytes.Repeat([]byte{1}, 16<<10)
	const window = 32 // frames in flight to the fast client: far below the limit
	sent, slowErr := int64(0), error(nil)
	for i := 0; i < 5000 && slowErr == nil; i++ {
		slowErr = slowConn.Send(OpBinary, payload)
		eventually(t, "fast client reading", func() bool { return sent-got.Load() < window })
		if err := fastConn.Send(OpBinary, payload); err != nil {
			t.Fatalf("fast consumer: %v after %d", err, i)
		}
		sent++
	}
	if !errors.Is(slowErr, ErrSlowConsumer) {
		t.Fatalf("slow consumer never detected (%d sends, err %v)", sent, slowErr)
	}
	if q := s.Stats().MaxQueuedBytes; q > int64(limit) || q < int64(limit)/2 {
		t.Fatalf("max queued %d bytes, limit %d", q, limit)
	}
	if err := slowConn.Send(OpBinary, payload); !errors.Is(err, ErrClosed) {
		t.Fatalf("Send after slow consumer: %v", err)
	}
	// What reaches the client before the close frame is what the kernel
	// held (a few KiB each way) plus the frame being written: the queue,
	// hundreds of KiB, was discarded.
	if n := slow.readUntilClose(ClosePolicyViolation, "slow consumer"); n > 256<<10 {
		t.Fatalf("%d data bytes arrived before the close frame: queue not discarded", n)
	}
	slow.send(ws.OpClose, closeBody(ClosePolicyViolation, ""))
	slow.expectEOF()
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
	eventually(t, "the socket to fill up", func() bool {
		sc.mu.Lock()
		defer sc.mu.Unlock()
		return sc.blocked
	})
	for i := range n {
		p := c.expectFrame(ws.OpBinary)
		if len(p) != 32<<10 || p[0] != byte(i) || p[len(p)-1] != byte(i) {
			t.Fatalf("frame %d corrupt", i)
		}
	}
}
