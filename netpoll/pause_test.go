package netpoll

import (
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gobwas/ws"
)

// flooder writes one batch of frames over and over to a connection that
// may stop reading, until stopped. A write that stalls (TCP pushing back)
// is reported once on stalled; a batch cut by a write deadline is finished
// before the next one starts, so the stream stays well-formed.
type flooder struct {
	conn    net.Conn
	batch   []byte
	stop    chan struct{}
	stalled chan struct{}
	done    chan struct{}
	written atomic.Int64
}

func startFlood(t *testing.T, conn net.Conn, batch []byte) *flooder {
	f := &flooder{conn: conn, batch: batch, stop: make(chan struct{}),
		stalled: make(chan struct{}), done: make(chan struct{})}
	go f.run()
	t.Cleanup(f.halt)
	return f
}

func (f *flooder) run() {
	defer close(f.done)
	var stallOnce sync.Once
	off := 0
	for {
		select {
		case <-f.stop:
			if off == 0 {
				return
			}
			_ = f.conn.SetWriteDeadline(time.Now().Add(testWait))
			_, _ = f.conn.Write(f.batch[off:])
			return
		default:
		}
		_ = f.conn.SetWriteDeadline(time.Now().Add(50 * time.Millisecond))
		n, err := f.conn.Write(f.batch[off:])
		f.written.Add(int64(n))
		off = (off + n) % len(f.batch)
		var ne net.Error
		switch {
		case errors.As(err, &ne) && ne.Timeout():
			stallOnce.Do(func() { close(f.stalled) })
		case err != nil:
			return
		}
	}
}

// halt stops the flood and waits for the writer to finish its batch.
func (f *flooder) halt() {
	select {
	case <-f.stop:
	default:
		close(f.stop)
	}
	<-f.done
	_ = f.conn.SetWriteDeadline(time.Time{})
}

func (f *flooder) waitStalled(t *testing.T) {
	t.Helper()
	select {
	case <-f.stalled:
	case <-time.After(testWait):
		t.Fatal("the flood never stalled: input is still being read")
	}
}

func repeatFrame(f []byte, n int) []byte {
	var b []byte
	for range n {
		b = append(b, f...)
	}
	return b
}

// TestPingFlood is hole 1: a client pings nonstop and never reads. Pongs
// count toward the queue: it stays bounded (by ReadPauseBytes plus one
// read's worth of pongs, or by WriteQueueBytes when that is lower), the
// heap does not grow with the flood, and the client is closed as a slow
// consumer (1008 on the wire).
func TestPingFlood(t *testing.T) {
	for _, tc := range []struct {
		name  string
		cfg   Config
		bound int64
	}{
		// The default relation: input pauses well before the cap, and the
		// pause times out.
		{"paused", Config{ReadPauseBytes: 64 << 10, WriteQueueBytes: 1 << 20,
			PauseTimeout: 300 * time.Millisecond}, 64<<10 + 2*readChunk},
		// The cap comes first: the pongs themselves overflow it.
		{"queue cap", Config{ReadPauseBytes: 256 << 10, WriteQueueBytes: 256 << 10}, 256 << 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := newRecorder(false)
			rec.onOpen = func(c *Conn) { setSndBuf(c, 4096) }
			tc.cfg.CloseTimeout = testWait
			s, addr := startServer(t, tc.cfg, acceptAll(rec), nil)
			c := dialWith(t, smallBufDialer(), "ws://"+addr+"/flood")
			rec.waitOpen(t)
			heap0 := heapInuse()
			f := startFlood(t, c.conn, repeatFrame(frame(ws.OpPing, true, make([]byte, 125)), 64))
			eventually(t, "slow consumer", func() bool { return s.Stats().SlowConsumers == 1 })
			if grew := heapInuse() - heap0; grew > 32<<20 {
				t.Fatalf("heap grew %d MiB under a ping flood", grew>>20)
			}
			st := s.Stats()
			if st.MaxQueuedBytes > tc.bound {
				t.Fatalf("queued %d bytes of pongs, bound %d", st.MaxQueuedBytes, tc.bound)
			}
			f.halt()
			c.readUntilClose(ClosePolicyViolation, "slow consumer")
			c.send(ws.OpClose, closeBody(ClosePolicyViolation, ""))
			c.expectEOF()
			if ev := rec.waitClose(t); ev.code != ClosePolicyViolation || ev.reason != "slow consumer" {
				t.Fatalf("OnClose(%d, %q)", ev.code, ev.reason)
			}
			t.Logf("client wrote %d KiB of pings; max queued %d KiB", f.written.Load()>>10, st.MaxQueuedBytes>>10)
		})
	}
}

// TestOutputBackpressure is hole 2's output side: a client floods
// requests (echoed here) and never reads the replies. Its input stops
// being read once ReadPauseBytes are queued (TCP pushes back: its writes
// stall), the queue stays bounded, and after PauseTimeout it is closed as a
// slow consumer.
func TestOutputBackpressure(t *testing.T) {
	rec := newRecorder(true)
	rec.onOpen = func(c *Conn) { setSndBuf(c, 4096) }
	cfg := Config{ReadPauseBytes: 64 << 10, PauseTimeout: 300 * time.Millisecond, CloseTimeout: testWait}
	s, addr := startServer(t, cfg, acceptAll(rec), nil)
	c := dialWith(t, smallBufDialer(), "ws://"+addr+"/flood")
	rec.waitOpen(t)
	heap0 := heapInuse()
	f := startFlood(t, c.conn, repeatFrame(frame(ws.OpText, true, make([]byte, 1000)), 32))
	f.waitStalled(t)
	if grew := heapInuse() - heap0; grew > 32<<20 {
		t.Fatalf("heap grew %d MiB", grew>>20)
	}
	eventually(t, "pause timeout", func() bool { return s.Stats().PauseTimeouts == 1 })
	if q := s.Stats().MaxQueuedBytes; q > 64<<10+2*readChunk {
		t.Fatalf("queued %d bytes, bound %d", q, 64<<10+2*readChunk)
	}
	f.halt()
	c.readUntilClose(ClosePolicyViolation, "slow consumer")
	c.send(ws.OpClose, closeBody(ClosePolicyViolation, ""))
	c.expectEOF()
	if ev := rec.waitClose(t); ev.code != ClosePolicyViolation || ev.reason != "slow consumer" {
		t.Fatalf("OnClose(%d, %q)", ev.code, ev.reason)
	}
	if st := s.Stats(); st.SlowConsumers != 1 || st.ReadPaused != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// pausingHandler pauses its connection's input at the pauseAt-th message.
type pausingHandler struct {
	*recorder
	pauseAt int64
	n       atomic.Int64
}

func (h *pausingHandler) OnMessage(c *Conn, op OpCode, p []byte) {
	if h.n.Add(1) == h.pauseAt {
		c.PauseRead()
	}
	h.recorder.OnMessage(c, op, p)
}

// TestPauseRead: once PauseRead is called no more than the rest of the
// read in progress (at most one read chunk) is delivered while the peer
// keeps sending; ResumeRead delivers everything that waited, in order.
func TestPauseRead(t *testing.T) {
	const total, pauseAt = 3000, 10
	rec := newRecorder(false)
	h := &pausingHandler{recorder: rec, pauseAt: pauseAt}
	s, addr := startServer(t, Config{}, acceptAll(h), nil)
	c := dial(t, addr)
	sc := rec.waitOpen(t)
	msg := frame(ws.OpText, true, make([]byte, 100))
	written := make(chan error, 1)
	go func() { // the server pushes back: do not block the test
		_ = c.conn.SetWriteDeadline(time.Now().Add(testWait))
		_, err := c.conn.Write(repeatFrame(msg, total))
		written <- err
	}()
	eventually(t, "input paused", func() bool { return s.Stats().ReadPaused == 1 })
	bound := int64(pauseAt + readChunk/len(msg) + 1)
	if n := h.n.Load(); n > bound || n >= total {
		t.Fatalf("%d messages delivered after PauseRead at %d (bound %d)", n, pauseAt, bound)
	}
	sc.ResumeRead()
	eventually(t, "every message", func() bool { return h.n.Load() == total })
	if err := wait(t, written, "the flood written"); err != nil {
		t.Fatal(err)
	}
	c.send(ws.OpPing, []byte("p"))
	if p := c.expectFrame(ws.OpPong); string(p) != "p" {
		t.Fatalf("pong %q", p)
	}
	if st := s.Stats(); st.ReadPaused != 0 || st.PauseTimeouts != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// TestPauseTimeout: a connection left paused is closed after PauseTimeout
// with 1008 "input backlog" (read from the wire); what it sent meanwhile is
// never delivered.
func TestPauseTimeout(t *testing.T) {
	rec := newRecorder(false)
	rec.onOpen = func(c *Conn) { c.PauseRead() }
	s, addr := startServer(t, Config{PauseTimeout: 200 * time.Millisecond}, acceptAll(rec), nil)
	c := dial(t, addr)
	rec.waitOpen(t)
	start := time.Now()
	c.send(ws.OpText, []byte("never delivered"))
	c.readUntilClose(ClosePolicyViolation, "input backlog")
	if d := time.Since(start); d < 150*time.Millisecond {
		t.Fatalf("closed after %v, before PauseTimeout", d)
	}
	c.send(ws.OpClose, closeBody(ClosePolicyViolation, ""))
	c.expectEOF()
	if ev := rec.waitClose(t); ev.code != ClosePolicyViolation || ev.reason != "input backlog" {
		t.Fatalf("OnClose(%d, %q)", ev.code, ev.reason)
	}
	select {
	case m := <-rec.msgs:
		t.Fatalf("delivered while paused: %q", m.payload)
	default:
	}
	if st := s.Stats(); st.PauseTimeouts != 1 || st.ReadPaused != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// TestHangupWhilePaused: a peer that resets while its input is paused is
// cleaned up at once (EPOLLHUP/EPOLLERR are reported without input
// interest); one that half-closes causes no event storm (EPOLLRDHUP is
// not armed while paused) and goes at the pause timeout.
func TestHangupWhilePaused(t *testing.T) {
	t.Run("reset", func(t *testing.T) {
		rec := newRecorder(false)
		rec.onOpen = func(c *Conn) { c.PauseRead() }
		s, addr := startServer(t, Config{PauseTimeout: time.Hour}, acceptAll(rec), nil)
		c := dial(t, addr)
		rec.waitOpen(t)
		c.send(ws.OpText, []byte("unread"))
		eventually(t, "input paused", func() bool { return s.Stats().ReadPaused == 1 })
		_ = c.conn.(*net.TCPConn).SetLinger(0)
		_ = c.conn.Close()
		if ev := rec.waitClose(t); ev.code != CloseAbnormal {
			t.Fatalf("OnClose code %d", ev.code)
		}
		eventually(t, "slot freed", func() bool { return s.Stats().Slots == 0 })
	})
	t.Run("half-close", func(t *testing.T) {
		rec := newRecorder(false)
		rec.onOpen = func(c *Conn) { c.PauseRead() }
		s, addr := startServer(t, Config{PauseTimeout: 500 * time.Millisecond}, acceptAll(rec), nil)
		c := dial(t, addr)
		rec.waitOpen(t)
		c.send(ws.OpText, []byte("unread"))
		eventually(t, "input paused", func() bool { return s.Stats().ReadPaused == 1 })
		ev0 := s.stats.events.Load()
		_ = c.conn.(*net.TCPConn).CloseWrite()
		c.readUntilClose(ClosePolicyViolation, "input backlog")
		if ev := rec.waitClose(t); ev.code != ClosePolicyViolation {
			t.Fatalf("OnClose code %d", ev.code)
		}
		if n := s.stats.events.Load() - ev0; n > 20 {
			t.Fatalf("%d epoll events for one paused, half-closed connection", n)
		}
	})
}
