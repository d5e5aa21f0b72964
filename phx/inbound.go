package phx

import (
	"context"
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// Inbound backpressure. Every client frame that asks for work (a join, a
// leave, an event) is one unit of its socket's inbound work from the moment
// it is queued in a channel's mailbox until its handler has returned, and
// so is every Channel.After timer from its arming until it has fired or
// been released. When a socket reaches Config.MaxInbound units (or
// Config.MaxInboundBytes queued frame bytes) its transport stops taking
// input: a WebSocket is no longer read, so the kernel's buffers fill and
// TCP pushes back on the client; a LongPoll POST waits before handing on
// its next message. Input resumes once the socket is back down to
// Config.InboundResume units and half the byte cap (hysteresis, so that a
// socket at the cap is not paused and resumed on every message). Without
// it, a client that sends faster than its handlers run makes the server
// queue without bound.

// inboundGate is a socket's count of outstanding inbound work. The
// counts are atomic so that the common case, a socket far from its caps,
// takes no lock per message: only an acquire that reaches a cap, or a
// release while paused, takes mu and decides under it, from the counts as
// they are then, whether to pause or resume. paused is written only under
// mu, and an acquire that may pause announces it (paused = true) before it
// reads the counts, while a release lowers the counts before it reads
// paused: so either the pausing acquire sees the release's lower counts,
// or the release sees paused and re-checks under mu after it. No resume
// is missed; no pause is taken on stale counts.
type inboundGate struct {
	n     atomic.Int64 // units outstanding
	bytes atomic.Int64 // frame bytes of the queued events
	peak  atomic.Int64 // highest n seen (tests assert the bound with it)

	resumed chan struct{} // closed when input resumes (LongPoll POSTs wait on it)
	mu      sync.Mutex    // serializes pause/resume decisions
	paused  atomic.Bool   // the transport's input is paused (written under mu)
	decided int32         // units the last pause or resume was decided on (mu; tests read it)
}

// inboundAcquire counts one unit of inbound work of size frame bytes and
// pauses the transport's input when a cap is reached.
func (s *Socket) inboundAcquire(size int) {
	cfg := &s.srv.cfg
	g := &s.in
	n := g.n.Add(1)
	b := g.bytes.Add(int64(size))
	for p := g.peak.Load(); n > p && !g.peak.CompareAndSwap(p, n); p = g.peak.Load() {
	}
	if n >= int64(cfg.MaxInbound) || b >= int64(cfg.MaxInboundBytes) {
		s.inboundSettle()
	}
}

// inboundRelease gives back a unit counted by inboundAcquire and resumes
// the transport's input once the socket is under the low-water marks.
func (s *Socket) inboundRelease(size int) {
	g := &s.in
	g.n.Add(-1)
	g.bytes.Add(-int64(size))
	if g.paused.Load() {
		s.inboundSettle()
	}
}

// inboundSettle pauses or resumes the transport's input as the counts
// now require: pause at a cap, resume at the low-water marks (InboundResume
// units and half the byte cap; the gap is hysteresis, so that a socket at
// the cap is not paused and resumed on every message).
func (s *Socket) inboundSettle() {
	cfg := &s.srv.cfg
	g := &s.in
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.paused.Load() {
		g.paused.Store(true) // before reading the counts: see inboundGate
		n := g.n.Load()
		if n < int64(cfg.MaxInbound) && g.bytes.Load() < int64(cfg.MaxInboundBytes) {
			g.paused.Store(false) // a release got in first
			return
		}
		g.decided = int32(min(n, math.MaxInt32))
		g.resumed = make(chan struct{})
		s.tr.pauseRead()
		return
	}
	if n := g.n.Load(); n <= int64(cfg.InboundResume) && g.bytes.Load() <= int64(cfg.MaxInboundBytes/2) {
		g.decided = int32(min(n, math.MaxInt32))
		g.paused.Store(false)
		close(g.resumed)
		g.resumed = nil
		s.tr.resumeRead()
	}
}

// waitInbound blocks a LongPoll POST while its socket's input is paused,
// until it resumes (true), ctx ends, done closes (the session ended: kicked
// or shut down) or Config.InboundStall passes (false).
func (s *Socket) waitInbound(ctx context.Context, done <-chan struct{}) bool {
	g := &s.in
	g.mu.Lock()
	wait := g.resumed
	g.mu.Unlock()
	if wait == nil {
		return true
	}
	t := time.NewTimer(s.srv.cfg.InboundStall)
	defer t.Stop()
	select {
	case <-wait:
		return true
	case <-ctx.Done():
	case <-done:
	case <-t.C:
	}
	return false
}

// InboundWork reports the socket's outstanding inbound work: client
// frames queued or running in its channels' mailboxes plus armed
// Channel.After timers (see Config.MaxInbound), and whether its input is
// paused for being over a cap.
func (s *Socket) InboundWork() (units int, paused bool) {
	s.in.mu.Lock()
	defer s.in.mu.Unlock()
	return int(s.in.n.Load()), s.in.paused.Load()
}

// pauseRead implements transport: a LongPoll session takes input only
// from POSTs, which wait in waitInbound while the gate is closed.
func (ss *lpSession) pauseRead() {}

// resumeRead implements transport: the gate wakes the waiting POSTs.
func (ss *lpSession) resumeRead() {}

// afterTimer is one Channel.After.
type afterTimer struct {
	t *time.Timer
}

// After runs f in the channel's mailbox once d has passed, as Phoenix's
// Process.send_after to a channel process does, unless the instance has
// ended by then (f then never runs). Until f has run, or the instance has
// ended, or stop was called, the timer is one unit of the socket's
// inbound work (Config.MaxInbound): work that client events defer this way
// throttles that client instead of piling up, which time.AfterFunc would
// let it do. stop cancels f and reports whether it did so before f
// started. f's closure is kept until then: capture only what it needs (a
// later reply needs only the message's ref, not its payload).
func (c *Channel) After(d time.Duration, f func()) (stop func() bool) {
	s := c.socket
	s.inboundAcquire(0)
	at := &afterTimer{}
	c.mu.Lock()
	if chanState(c.state.Load()) == stateClosed {
		c.mu.Unlock()
		s.inboundRelease(0)
		return func() bool { return false }
	}
	x := c.extra()
	if x.timers == nil {
		x.timers = make(map[*afterTimer]struct{})
		// Released when the instance ends (refuseJoin, which drops the
		// hooks of an instance that never joined, releases them itself).
		x.onFinish = append(x.onFinish, func(error) { c.stopTimers() })
	}
	x.timers[at] = struct{}{}
	at.t = time.AfterFunc(d, func() { c.runOrPost(mail{f: func() { c.fire(at, f) }, size: uncounted}) })
	c.mu.Unlock()
	return func() bool { return c.dropTimer(at) }
}

// fire runs f for at in the mailbox unless at was released meanwhile.
func (c *Channel) fire(at *afterTimer, f func()) {
	if !c.takeTimer(at) {
		return
	}
	defer c.socket.inboundRelease(0)
	if chanState(c.state.Load()) == stateJoined {
		c.protect(f)
	}
}

// takeTimer removes at from the armed timers; false if it was gone. Who
// removes a timer releases its unit.
func (c *Channel) takeTimer(at *afterTimer) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.x == nil {
		return false
	}
	if _, ok := c.x.timers[at]; !ok {
		return false
	}
	delete(c.x.timers, at)
	return true
}

// dropTimer is After's stop. Once it has taken at, f never runs (fire
// finds at gone), even when the timer had fired and its fire was already
// queued in the mailbox: that is a cancellation too, so it reports true.
func (c *Channel) dropTimer(at *afterTimer) bool {
	if !c.takeTimer(at) {
		return false
	}
	at.t.Stop()
	c.socket.inboundRelease(0)
	return true
}

// stopTimers releases every armed timer of an instance that ended.
func (c *Channel) stopTimers() {
	c.mu.Lock()
	var timers map[*afterTimer]struct{}
	if c.x != nil {
		timers = c.x.timers
		c.x.timers = nil
	}
	c.mu.Unlock()
	for at := range timers {
		at.t.Stop()
		c.socket.inboundRelease(0)
	}
}
