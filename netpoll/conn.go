package netpoll

import (
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"unicode/utf8"

	"github.com/gobwas/ws"
	"golang.org/x/sys/unix"
)

// Connection states. Transitions happen under Conn.mu; the value is also
// read lock-free (the sweep, the read path).
const (
	stHandshake uint32 = iota // reading the HTTP request head
	stUpgrading               // head complete, the upgrade decision runs; not armed
	stOpen                    // upgraded: frames flow both ways
	stClosing                 // a close frame was queued or received: inbound data is ignored
	stLinger                  // an HTTP response is queued: then FIN, discard input until EOF
	stHandedOff               // given to net/http: no longer ours
	stDead                    // dropped: the fd is (being) closed
)

// Internal opcodes of queued output besides OpText/OpBinary.
const (
	opClose = uint8(ws.OpClose)
	opPing  = uint8(ws.OpPing)
	opPong  = uint8(ws.OpPong)
	opRaw   = uint8(0xff) // bytes written as they are (HTTP responses)
)

// maxReasonBytes is the control frame payload limit (125) minus the code.
const maxReasonBytes = 123

// Conn.flags bits, set and cleared with atomic Or/And so that the read
// path tests them with one load and no lock.
const (
	fPauseRead uint32 = 1 << iota // PauseRead: input is not read until ResumeRead
	fOutOver                      // wqBytes > ReadPauseBytes (changed under Conn.mu): input waits
	fDeadline                     // c has a deadline: dl != nil (changed under Server.dls.mu)
)

// has reports whether flag f is set.
func (c *Conn) has(f uint32) bool { return c.flags.Load()&f != 0 }

// setFlag sets or clears flag f and reports whether it was set before.
func (c *Conn) setFlag(f uint32, on bool) bool {
	if on {
		return c.flags.Or(f)&f != 0
	}
	return c.flags.And(^f)&f != 0
}

// outFrame is one queued frame: its header is built at flush time, the
// payload is referenced, never copied (it may be shared by many conns).
type outFrame struct {
	p  []byte
	op uint8
}

// Conn is one upgraded WebSocket connection.
//
// It is kept small on purpose: an idle connection owns its fd, this
// struct and nothing else (no buffer, goroutine, timer or net.Conn). Its
// work runs as a serialized task on a worker (see pool.go), so the fields
// marked "actor" need no lock. Fields are ordered to leave no padding.
type Conn struct {
	s   *Server
	h   Handler    // set before stOpen, then read-only
	hs  *handshake // handshake-only state; nil once open
	tls *tlsConn   // TLS record state (tls*.go); nil without TLS
	dl  *dlNode    // handshake, close or linger deadline (Server.dls.mu); nil: none

	runNext          *Conn // run queue link (runq.mu)
	regPrev, regNext *Conn // registry links (shard.mu)

	// Coarse clock stamps (Server.now) read by the sweep.
	lastRead    atomic.Int64 // last inbound bytes
	frameStart  atomic.Int64 // first byte of the frame in progress; 0: none
	pausedSince atomic.Int64 // input paused since (Server.since); 0: not paused

	fd    int32         // the socket, ours alone: closed exactly once (finalize or SendNow)
	gen   uint32        // registration number, in every epoll event of fd (≠ 0)
	state atomic.Uint32 // stHandshake…stDead
	sched atomic.Uint32 // pending task bits (pool.go)
	flags atomic.Uint32 // fPauseRead, fOutOver, fDeadline

	peer peerAddr // remote address from accept, formatted on demand

	mu               sync.Mutex // guards the fields below up to closeReason
	closeCode        uint16     // code reported to OnClose (0: none yet)
	flushPending     bool       // a flush task is scheduled or running
	inline           bool       // a SendNow is writing from its caller's goroutine
	blocked          bool       // the socket said EAGAIN: wait for EPOLLOUT
	slow             bool       // slow consumer: the flush discards wq and queues the close
	closeSent        bool       // our close frame was written
	closeAfterFlush  bool       // drop once wq is empty
	lingerAfterFlush bool       // FIN once wq is empty, then read until EOF
	closeFD          bool       // finalize ran during a SendNow: SendNow closes fd

	// Actor-only state (the task that runs this conn).
	inHeld    bool // input withheld (paused): its events are not acted on
	opened    bool // OnOpen ran: OnClose is owed
	finalized bool
	ipCounted bool // counted in the per-address table (set before register)
	peerFIN   bool // EPOLLRDHUP seen: after the bytes waiting comes EOF, with no new edge
	rxDiscard bool // ignore all further input (failed, or peer's close received)

	wq          []outFrame // unwritten frames; wq[0] may be partly written
	wqBytes     int        // wire bytes in wq not yet written
	woff        int        // bytes of wq[0] already written
	closeReason string

	// The frame parser's state while a frame or a fragmented message is
	// in progress; nil between them, which is what an idle connection
	// is (actor-only; see consume).
	rx *rxState
}

// RemoteAddr is the peer address: a *net.TCPAddr (made on each call), or
// a *net.UnixAddr for a Unix socket.
func (c *Conn) RemoteAddr() net.Addr {
	return c.peer.netAddr()
}

// AddrPort is the peer's IP address and port (an IPv4 peer of an IPv6
// listener as IPv4, not IPv4-mapped); invalid for a Unix socket. Unlike
// RemoteAddr it allocates nothing.
func (c *Conn) AddrPort() netip.AddrPort {
	return c.peer.addrPort()
}

// Send queues one data message. payload must not be modified afterwards (it
// may be shared by many connections). Send never blocks: when the queue is
// over WriteQueueBytes the connection is closed (1008 "slow consumer") and
// ErrSlowConsumer returned. Frames queued while a write is in flight go out
// together in one writev.
func (c *Conn) Send(op OpCode, payload []byte) error {
	if op != OpText && op != OpBinary {
		return ErrBadOpCode
	}
	return c.enqueue(c.deflateOut(op, payload))
}

// enqueue is Send after the opcode check; wop may carry rsv1Op.
func (c *Conn) enqueue(wop uint8, payload []byte) error {
	size := frameLen(len(payload))
	c.mu.Lock()
	if c.state.Load() != stOpen {
		c.mu.Unlock()
		return ErrClosed
	}
	if c.wqBytes+size > c.s.cfg.WriteQueueBytes {
		queued := c.closeSlowLocked()
		c.mu.Unlock()
		c.logSlow(queued)
		c.s.schedule(c, bFlush)
		return ErrSlowConsumer
	}
	run := c.enqueueLocked(wop, payload, size)
	c.mu.Unlock()
	if run {
		c.s.schedule(c, bFlush)
	}
	return nil
}

// Close sends a close frame with code and reason (after every queued
// message), ignores further data frames, and drops the TCP connection when
// the peer answers or after CloseTimeout. Safe to call many times.
// A code that may not be sent (1005, 1006, 1015, <1000, ≥5000 …) becomes
// 1011; reason is cut to 123 bytes on a UTF-8 boundary.
func (c *Conn) Close(code int, reason string) {
	code, reason = sendableCode(code), truncateReason(reason)
	c.mu.Lock()
	if c.state.Load() != stOpen {
		c.mu.Unlock()
		return
	}
	c.startClosingLocked(code, reason)
	body := ws.NewCloseFrameBody(ws.StatusCode(code), reason)
	run := c.enqueueLocked(opClose, body, frameLen(len(body)))
	c.mu.Unlock()
	if run {
		c.s.schedule(c, bFlush)
	}
}

// closeSlowLocked makes c a slow consumer: the flush (which the caller
// schedules) discards the queue and sends 1008 "slow consumer". It returns
// the bytes that were queued.
func (c *Conn) closeSlowLocked() int {
	queued := c.wqBytes
	c.slow = true
	c.flushPending = true
	c.startClosingLocked(ClosePolicyViolation, "slow consumer")
	c.s.stats.slow.Add(1)
	return queued
}

func (c *Conn) logSlow(queued int) {
	c.s.log.Info("netpoll: slow consumer, closing", "remote", c.RemoteAddr(),
		"queued", queued, "limit", c.s.cfg.WriteQueueBytes)
}

// enqueueLocked appends a frame and reports whether the caller must
// schedule a flush (none pending and the socket not blocked: a blocked
// socket resumes on EPOLLOUT).
func (c *Conn) enqueueLocked(op uint8, p []byte, size int) bool {
	c.wq = append(c.wq, outFrame{p: p, op: op})
	c.wqBytes += size
	c.queuedLocked()
	if c.flushPending || c.blocked {
		return false
	}
	c.flushPending = true
	return true
}

// startClosingLocked enters stClosing with the code OnClose will report.
func (c *Conn) startClosingLocked(code int, reason string) {
	c.state.Store(stClosing)
	c.closeCode, c.closeReason = uint16(code), reason
	c.s.setDeadline(c, dlClose)
}

// markDead moves c to stDead once and fixes the code OnClose reports: the
// close code already sent or received, else code. It reports whether this
// call did it.
func (c *Conn) markDead(code int, reason string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch c.state.Load() {
	case stDead, stHandedOff:
		return false
	}
	c.state.Store(stDead)
	if c.closeCode == 0 {
		c.closeCode, c.closeReason = uint16(code), reason
	}
	clear(c.wq)
	c.wq, c.wqBytes = nil, 0
	c.setFlag(fOutOver, false)
	return true
}

// drop ends the connection from any goroutine: the fd is closed and
// OnClose called by the connection's own task.
func (c *Conn) drop(code int, reason string) {
	if c.markDead(code, reason) {
		c.s.schedule(c, bDrop)
	}
}

// dropNow is drop for the connection's own task.
func (c *Conn) dropNow(code int, reason string) {
	c.markDead(code, reason)
	c.finalize()
}

// finalize releases the connection (actor only): leave epoll before the fd
// is closed (so a reused fd number never meets our registration), close it
// exactly once, then OnClose and the registry slot (Shutdown waits for the
// registry to empty, so OnClose has returned by then).
func (c *Conn) finalize() {
	if c.finalized || c.state.Load() != stDead {
		return
	}
	c.finalized = true
	c.s.lp.del(c)
	c.mu.Lock()
	byInline := c.inline
	c.closeFD = byInline
	c.mu.Unlock()
	if !byInline {
		_ = unix.Close(int(c.fd))
	}
	c.rx = nil // a consume in progress keeps its own pointer
	c.hs = nil
	c.s.clearDeadline(c)
	c.releaseInput()
	defer c.s.unregister(c) // registry, slot, address: even if OnClose panics
	if c.opened {
		c.mu.Lock()
		code, reason := int(c.closeCode), c.closeReason
		c.mu.Unlock()
		c.s.openConns.Add(-1)
		c.h.OnClose(c, code, reason)
	}
}

// frameLen is the wire size of a server (unmasked) frame with n payload bytes.
func frameLen(n int) int {
	return n + ws.HeaderSize(ws.Header{Length: int64(n)})
}

// sendableCode maps codes an endpoint must not send (RFC 6455 §7.4) to 1011.
func sendableCode(code int) int {
	switch {
	case code >= 1000 && code <= 1003, code >= 1007 && code <= 1014, code >= 3000 && code <= 4999:
		return code
	}
	return CloseInternalError
}

// truncateReason makes reason valid UTF-8 of at most 123 bytes, cutting on
// a character boundary (browsers fail the connection on a broken reason).
func truncateReason(r string) string {
	if !utf8.ValidString(r) {
		r = strings.ToValidUTF8(r, "\uFFFD")
	}
	if len(r) <= maxReasonBytes {
		return r
	}
	i := maxReasonBytes
	for i > 0 && !utf8.RuneStart(r[i]) {
		i--
	}
	return r[:i]
}
