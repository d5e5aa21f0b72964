package netpoll

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/gobwas/ws"
)

// blockingHandler blocks every OnMessage until release is closed and
// counts the calls that started.
type blockingHandler struct {
	*recorder
	release chan struct{}
	started atomic.Int32
}

func (h *blockingHandler) OnMessage(c *Conn, op OpCode, p []byte) {
	h.started.Add(1)
	<-h.release
	h.recorder.OnMessage(c, op, p)
}

func (l *loop) workers() (all, stuck int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.ws), l.stuck
}

// TestWorkerCap: the watchdog starts no more than maxW workers however
// many handlers block; the blocked ones then hold the rest back until
// they return, and the spare workers retire afterwards.
func TestWorkerCap(t *testing.T) {
	const conns, maxW = 5, 3
	h := &blockingHandler{recorder: newRecorder(true), release: make(chan struct{})}
	s, addr := startServer(t, Config{Workers: 1}, acceptAll(h), nil)
	s.lp.mu.Lock()
	s.lp.maxW = maxW
	s.lp.mu.Unlock()
	cs := make([]*client, conns)
	for i := range cs {
		cs[i] = dial(t, addr)
		h.waitOpen(t)
	}
	for _, c := range cs {
		c.send(ws.OpText, []byte("x"))
	}
	eventually(t, "maxW handlers blocked", func() bool { return h.started.Load() == maxW })
	time.Sleep(50 * time.Millisecond) // room for a worker too many
	all, stuck := s.lp.workers()
	if n := h.started.Load(); n != maxW || all != maxW || stuck != maxW {
		t.Errorf("%d handlers blocked on %d workers (%d stuck), want %d on %d", n, all, stuck, maxW, maxW)
	}
	close(h.release)
	for _, c := range cs {
		c.expectFrame(ws.OpText)
	}
	eventually(t, "spare workers retired", func() bool {
		all, stuck := s.lp.workers()
		return all == 1 && stuck == 0
	})
}

// TestWatchdogParks: with no task running for a while the watchdog parks
// (no timer runs on an idle server); the next task wakes it, so a handler
// that then blocks is still replaced: another connection's echo comes
// back while it sleeps. Afterwards the watchdog parks again.
func TestWatchdogParks(t *testing.T) {
	rec := newRecorder(true)
	h := &sleeper{recorder: rec, asleep: make(chan struct{})}
	s, addr := startServer(t, Config{Workers: 1}, acceptAll(h), nil)
	sl, other := dial(t, addr), dial(t, addr)
	eventually(t, "watchdog parked", s.lp.wd.parked.Load)
	sl.send(ws.OpText, []byte("sleep"))
	<-h.asleep
	t0 := time.Now()
	other.send(ws.OpText, []byte("hi"))
	other.expectFrame(ws.OpText)
	if d := time.Since(t0); d >= stallBound {
		t.Errorf("echo took %v while a handler slept after the watchdog parked", d)
	}
	sl.expectFrame(ws.OpText)
	eventually(t, "watchdog parked again", s.lp.wd.parked.Load)
}
