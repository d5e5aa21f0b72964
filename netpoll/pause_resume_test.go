package netpoll

import (
	"testing"
	"time"

	"github.com/gobwas/ws"
)

// A pause timeout that finds the pause already over does nothing. The
// sweep decides from pausedSince, which only the read task clears, so it
// can act on a connection that ResumeRead freed a moment before: that
// connection must be neither closed nor counted (before, it was closed as
// a slow consumer, with an empty queue).
func TestPauseTimeoutAfterResume(t *testing.T) {
	rec := newRecorder(true)
	rec.onOpen = func(c *Conn) { c.PauseRead() }
	s, addr := startServer(t, Config{PauseTimeout: time.Hour}, acceptAll(rec), nil)
	cl := dial(t, addr)
	c := rec.waitOpen(t)
	cl.send(ws.OpText, []byte("held"))
	eventually(t, "input paused", func() bool { return s.Stats().ReadPaused == 1 })
	if c.pausedSince.Load() == 0 {
		t.Fatal("paused connection without pausedSince")
	}
	// ResumeRead has cleared the flag; its read task has not run yet.
	c.setFlag(fPauseRead, false)
	c.pauseTimeout() // the sweep's action, decided on the stale stamp
	if st := s.Stats(); st.PauseTimeouts != 0 || st.SlowConsumers != 0 {
		t.Fatalf("a resumed connection was timed out: %d pause timeouts, %d slow consumers",
			st.PauseTimeouts, st.SlowConsumers)
	}
	if st := c.state.Load(); st != stOpen {
		t.Fatalf("resumed connection left open state: %d", st)
	}
	c.s.schedule(c, bRead) // the rest of ResumeRead
	if got := cl.expectFrame(ws.OpText); string(got) != "held" {
		t.Fatalf("echo %q after resume", got)
	}
	eventually(t, "pause ended", func() bool { return s.Stats().ReadPaused == 0 && c.pausedSince.Load() == 0 })
}

// A pause timeout still fires when the pause is in effect: PauseRead's
// pause closes with 1008 "input backlog" and is counted once.
func TestPauseTimeoutStillFires(t *testing.T) {
	rec := newRecorder(false)
	rec.onOpen = func(c *Conn) { c.PauseRead() }
	s, addr := startServer(t, Config{PauseTimeout: time.Hour}, acceptAll(rec), nil)
	cl := dial(t, addr)
	c := rec.waitOpen(t)
	eventually(t, "pause stamped", func() bool { return c.pausedSince.Load() != 0 })
	c.pauseTimeout()
	cl.readUntilClose(ClosePolicyViolation, "input backlog")
	if st := s.Stats(); st.PauseTimeouts != 1 || st.SlowConsumers != 0 {
		t.Fatalf("%d pause timeouts, %d slow consumers; want 1, 0", st.PauseTimeouts, st.SlowConsumers)
	}
}

// The end of a pause restarts the idle clock: a connection paused longer
// than IdleTimeout is not idle the moment it resumes (the silence was the
// server's doing).
func TestResumeRestartsIdleClock(t *testing.T) {
	const idle = time.Second
	s, _ := startServer(t, Config{IdleTimeout: idle, PauseTimeout: time.Hour}, acceptAll(newRecorder(false)), nil)
	c := &Conn{s: s}
	c.state.Store(stOpen)
	now := s.since()
	s.now.Store(now)
	c.lastRead.Store(now - int64(10*idle)) // last bytes long ago: the pause began then
	c.pausedSince.Store(now - int64(10*idle))
	c.inHeld = true
	s.stats.paused.Add(1)
	if a := s.due(c, now); a != actNone {
		t.Fatalf("paused connection due for action %d", a)
	}
	c.releaseInput()
	if a := s.due(c, now); a != actNone {
		t.Fatalf("connection due for action %d (idle) right after its pause ended", a)
	}
	if a := s.due(c, now+int64(idle)+int64(s.cfg.SweepInterval)); a != actIdle {
		t.Fatalf("action %d one IdleTimeout after the pause ended, want idle (%d)", a, actIdle)
	}
	// Without a pause, releaseInput leaves the clock alone.
	c.lastRead.Store(now - int64(10*idle))
	c.releaseInput()
	if a := s.due(c, now); a != actIdle {
		t.Fatalf("action %d for a silent connection that was never paused, want idle", a)
	}
}
