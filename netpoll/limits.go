package netpoll

// Connection slots and read pausing: the hooks that keep every socket's
// memory bounded (see "Limits" in the package doc).

// takeSlot counts one connection toward MaxConns, or reports false. The
// counter may overshoot for an instant under contention, which can only
// refuse a connection, never admit one over the limit.
func (s *Server) takeSlot() bool {
	if s.used.Add(1) > int64(s.cfg.MaxConns) {
		s.used.Add(-1)
		s.stats.refused.Add(1)
		return false
	}
	return true
}

// putSlot gives back a slot taken by takeSlot.
func (s *Server) putSlot() { s.used.Add(-1) }

// AcquireSlot counts one connection that lives outside the event loop (a
// LongPoll session, say) toward MaxConns, so every client the process
// serves shares one limit. It reports false, counting nothing, when
// MaxConns is reached or the server is shutting down. Each successful
// AcquireSlot needs exactly one ReleaseSlot. Slots do not delay Shutdown:
// their owner ends them.
func (s *Server) AcquireSlot() bool {
	if s.isStopping() {
		return false
	}
	return s.takeSlot()
}

// ReleaseSlot gives back a slot taken by AcquireSlot.
func (s *Server) ReleaseSlot() { s.putSlot() }

// PauseRead stops reading c's input until ResumeRead: once the frames of
// the read in progress (at most 64 KiB) are delivered, its socket is not
// read, so the kernel's receive buffer fills and TCP
// pushes back on the peer. The layer above calls it when the work c's
// input queued is over its cap. A connection paused longer than
// PauseTimeout is closed with 1008 "input backlog". Safe from any
// goroutine; pausing a closing connection has no effect (its input is
// read and discarded until the close handshake ends).
func (c *Conn) PauseRead() {
	c.setFlag(fPauseRead, true)
	c.pausedSince.CompareAndSwap(0, c.s.since())
}

// ResumeRead undoes PauseRead and reads what arrived meanwhile. Safe from
// any goroutine. The flag is cleared before the read task is scheduled,
// and that task reads what waited (no new edge would announce it), so a
// resume is never lost.
func (c *Conn) ResumeRead() {
	if c.setFlag(fPauseRead, false) {
		c.s.schedule(c, bRead)
	}
}

// pauseWanted reports whether c's input must not be read now: it is open
// and paused by PauseRead or by an output backlog over ReadPauseBytes.
func (c *Conn) pauseWanted() bool {
	if c.state.Load() != stOpen {
		return false
	}
	return c.has(fPauseRead | fOutOver)
}

// queuedLocked records that wqBytes changed (Conn.mu held): it keeps the
// fOutOver flag, which the read path checks without the lock, and the
// server's queue high-water mark.
func (c *Conn) queuedLocked() {
	if over := c.wqBytes > c.s.cfg.ReadPauseBytes; over != c.has(fOutOver) {
		c.setFlag(fOutOver, over)
	}
	c.s.noteQueued(c.wqBytes)
}

// holdInput records that the read task withheld c's input (actor only):
// its input events are ignored and the pause clock runs.
func (c *Conn) holdInput() {
	if !c.inHeld {
		c.inHeld = true
		c.pausedSince.CompareAndSwap(0, c.s.since())
		c.s.stats.paused.Add(1)
	}
}

// releaseInput ends a pause (actor only, before reading again). The end
// of a real pause restarts the idle clock: the time spent paused was the
// server's doing, not the peer's silence.
func (c *Conn) releaseInput() {
	if c.inHeld {
		c.inHeld = false
		c.s.stats.paused.Add(-1)
	}
	if c.pausedSince.Load() != 0 {
		c.pausedSince.Store(0)
		c.lastRead.Store(c.s.clock())
	}
}

// pauseTimeout closes a connection paused longer than PauseTimeout (from
// the sweep): a PauseRead pause with 1008 "input backlog" after its queued
// output; an output backlog as a slow consumer (queue discarded, 1008).
// The sweep saw pausedSince, which only the read task clears: the pause
// may have ended since (ResumeRead, or the queue drained under
// ReadPauseBytes), so it is checked again under Conn.mu, and a connection
// no longer paused is neither closed nor counted.
func (c *Conn) pauseTimeout() {
	c.mu.Lock()
	if c.state.Load() != stOpen {
		c.mu.Unlock()
		return
	}
	input := c.has(fPauseRead)
	if !input && c.wqBytes <= c.s.cfg.ReadPauseBytes {
		c.mu.Unlock()
		return
	}
	c.s.stats.pauseTimeouts.Add(1)
	if input {
		c.mu.Unlock()
		c.s.log.Info("netpoll: input paused too long, closing", "remote", c.RemoteAddr())
		c.Close(ClosePolicyViolation, "input backlog")
		return
	}
	queued := c.closeSlowLocked()
	c.mu.Unlock()
	c.logSlow(queued)
	c.s.schedule(c, bFlush)
}
