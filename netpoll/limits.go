package netpoll

// Connection slots held outside the event loop and read pausing: the two
// hooks the layer above needs to keep every socket's memory bounded.

// AcquireSlot counts one connection that lives outside the event loop (a
// LongPoll session, say) toward MaxConns, so every client the process
// serves shares one limit. It reports false, counting nothing, when
// MaxConns is reached or the server is shutting down. Each successful
// AcquireSlot needs exactly one ReleaseSlot.
func (s *Server) AcquireSlot() bool {
	if s.isStopping() {
		return false
	}
	if s.reg.n.Add(1)+s.slots.Load() > int64(s.cfg.MaxConns) {
		s.reg.n.Add(-1)
		s.stats.refused.Add(1)
		return false
	}
	s.slots.Add(1)
	s.reg.n.Add(-1)
	return true
}

// ReleaseSlot gives back a slot taken by AcquireSlot.
func (s *Server) ReleaseSlot() { s.slots.Add(-1) }

// PauseRead stops reading c's input until ResumeRead: its registration is
// not re-armed for input, so the kernel's receive buffer fills and TCP
// pushes back on the peer. The layer above calls it when the work c's
// input queued is over its cap. Safe from any goroutine.
func (c *Conn) PauseRead() {
	c.readPaused.Store(true)
}

// ResumeRead undoes PauseRead and reads what arrived meanwhile. Safe from
// any goroutine.
func (c *Conn) ResumeRead() {
	if c.readPaused.Swap(false) {
		c.s.schedule(c, bRead)
	}
}
