package netpoll

import (
	"sync"
	"sync/atomic"
	"time"
)

// nShards spreads registry locking (accept, finalize, sweep) over shards.
const nShards = 64

// registry holds every connection we own (handshakes included), in
// intrusive lists: no map entry or allocation per connection.
type registry struct {
	n      atomic.Int64
	shards [nShards]shard
	onZero func() // called when n drops to zero
}

type shard struct {
	mu   sync.Mutex
	head *Conn
	_    [48]byte // keep shard locks on separate cache lines
}

func (r *registry) shardOf(c *Conn) *shard { return &r.shards[uint32(c.fd)%nShards] }

// add adds c (its MaxConns slot is taken already).
func (r *registry) add(c *Conn) {
	r.n.Add(1)
	sh := r.shardOf(c)
	sh.mu.Lock()
	c.regPrev, c.regNext = nil, sh.head
	if sh.head != nil {
		sh.head.regPrev = c
	}
	sh.head = c
	sh.mu.Unlock()
}

func (r *registry) remove(c *Conn) {
	sh := r.shardOf(c)
	sh.mu.Lock()
	if c.regPrev != nil {
		c.regPrev.regNext = c.regNext
	} else {
		sh.head = c.regNext
	}
	if c.regNext != nil {
		c.regNext.regPrev = c.regPrev
	}
	c.regPrev, c.regNext = nil, nil
	sh.mu.Unlock()
	if r.n.Add(-1) == 0 && r.onZero != nil {
		r.onZero()
	}
}

func (r *registry) count() int64 { return r.n.Load() }

// collect appends the connections for which pick returns an action. The
// caller acts after the shard locks are released, so no lock is held while
// a connection's own lock is taken.
func (r *registry) collect(dst []connAction, pick func(*Conn) int) []connAction {
	for i := range r.shards {
		sh := &r.shards[i]
		sh.mu.Lock()
		for c := sh.head; c != nil; c = c.regNext {
			if a := pick(c); a != actNone {
				dst = append(dst, connAction{c: c, act: a})
			}
		}
		sh.mu.Unlock()
	}
	return dst
}

// Actions of the sweep and of Shutdown.
const (
	actNone = iota
	actDrop
	actFrameTimeout
	actIdle
	actPauseTimeout
	actClose // Shutdown: close with the drain code
)

type connAction struct {
	c   *Conn
	act int
}

// clock is the coarse monotonic clock (ns since New), advanced by the
// sweep: reads stamp it instead of calling time.Now each time. A stamp is
// at most one sweep interval old, so the sweep adds one interval to the
// timeouts it checks against stamps: they fire up to two intervals late,
// never early.
func (s *Server) clock() int64 { return s.now.Load() }

// since is the precise monotonic time, for the rare deadlines (handshake,
// close, pause) computed once per connection.
func (s *Server) since() int64 { return int64(time.Since(s.start)) }

// sweepLoop is the one goroutine that enforces every per-connection
// timeout: no timer or goroutine per connection. It wakes every
// SweepInterval to walk the registry (frame, idle and pause timeouts,
// coarse), and in between at the earliest handshake, close or linger
// deadline (precise, see deadline.go).
func (s *Server) sweepLoop() {
	defer s.bg.Done()
	t := time.NewTimer(s.cfg.SweepInterval)
	defer t.Stop()
	tick := s.since() + int64(s.cfg.SweepInterval)
	var acts []connAction
	var due []*Conn
	for {
		t.Reset(time.Duration(max(s.planWake(tick)-s.since(), 0)))
		select {
		case <-s.done:
			return
		case <-t.C:
		case <-s.dls.wake:
		}
		now := s.since()
		s.now.Store(now)
		due = s.expireDeadlines(now, due)
		if now < tick {
			continue
		}
		tick = now + int64(s.cfg.SweepInterval)
		acts = s.reg.collect(acts[:0], func(c *Conn) int { return s.due(c, now) })
		for _, a := range acts {
			s.apply(a)
		}
		clear(acts)
		if s.ipl != nil {
			s.ipl.prune(now)
		}
	}
}

// due says which coarse timeout, if any, an open connection has passed.
// A paused connection is not blamed for idle or unfinished frames: only
// PauseTimeout applies to it.
func (s *Server) due(c *Conn, now int64) int {
	if c.state.Load() != stOpen {
		return actNone
	}
	if ps := c.pausedSince.Load(); ps != 0 {
		if now-ps >= int64(s.cfg.PauseTimeout) {
			return actPauseTimeout
		}
		return actNone
	}
	slack := int64(s.cfg.SweepInterval) // stamps are up to one interval old
	if fs := c.frameStart.Load(); fs != 0 && now-fs >= int64(s.cfg.FrameTimeout)+slack {
		return actFrameTimeout
	}
	if s.cfg.IdleTimeout > 0 && now-c.lastRead.Load() >= int64(s.cfg.IdleTimeout)+slack {
		return actIdle
	}
	return actNone
}

// apply carries out a sweep action. A frame that does not complete in
// FrameTimeout closes with 1008 "frame timeout" and lingers (the peer is
// mid-frame, so its close frame cannot follow soon).
func (s *Server) apply(a connAction) {
	c := a.c
	switch a.act {
	case actFrameTimeout:
		s.log.Debug("netpoll: frame timeout, closing", "remote", c.RemoteAddr())
		c.closeLinger(ClosePolicyViolation, "frame timeout")
	case actIdle:
		s.log.Debug("netpoll: idle timeout, closing", "remote", c.RemoteAddr())
		c.Close(CloseGoingAway, "idle timeout")
	case actPauseTimeout:
		c.pauseTimeout()
	}
}
