package netpoll

import (
	"errors"
	"sync"
	"syscall"

	"github.com/gobwas/ws"
	"golang.org/x/sys/unix"
)

// rxState is the incremental frame parser of one connection. Between reads
// it holds only what a partial frame needs (≤14 header bytes, the message
// assembled so far), so a frame arriving slowly never holds a worker. A
// connection holds one only while a frame or a fragmented message is in
// progress: consume parses into the worker's, takes one from rxStates
// when a read ends inside a frame or message, and gives it back when a
// later read ends between messages, so an idle connection's parser costs a nil
// pointer instead of 80 bytes.
type rxState struct {
	hdr     [ws.MaxHeaderSize]byte // partial header bytes
	hlen    uint8
	inFrame bool // f parsed, payload pending
	frag    bool // a fragmented data message is in progress
	rsv1    bool // the data message in progress is compressed (deflate_read.go)
	msgOp   OpCode
	f       ws.Header
	fpos    int64   // payload bytes of f received
	msg     []byte  // data message being assembled (nil when ignored)
	ctl     *ctlBuf // control frame payload being assembled; nil between them
}

// ctlBuf holds a control frame's payload (at most 125 bytes, checked
// with its header) while it arrives: 8 bytes in every connection instead
// of a slice's 24, allocated only per control frame.
type ctlBuf struct {
	n uint8
	b [125]byte
}

// read is the read task: the HTTP head before the upgrade, frames after.
func (w *worker) read(c *Conn) {
	switch c.state.Load() {
	case stHandshake:
		w.readHead(c)
		return
	case stOpen, stClosing, stLinger:
	default:
		return
	}
	if hs := c.hs; hs != nil { // bytes that followed the request head
		c.hs = nil
		if len(hs.pending) > 0 && !w.consume(c, hs.pending) {
			return
		}
	}
	for total := 0; ; {
		if total >= maxReadPerTask {
			// More may wait, and edge-triggered epoll will not say so
			// again: read on in a later run, after other connections.
			c.s.schedule(c, bRead)
			return
		}
		// Paused (PauseRead, or more output queued than ReadPauseBytes):
		// leave the input in the kernel until the task after the pause.
		if c.pauseWanted() {
			c.holdInput()
			return
		}
		c.releaseInput()
		n, p, short, err := w.input(c) // p: n bytes read, or their TLS plaintext
		if n > 0 {
			total += n
			c.lastRead.Store(c.s.clock())
		}
		if (len(p) > 0 || c.tls != nil) && !w.consume(c, p) { // TLS: a partial record stamps frameStart
			return
		}
		switch {
		case err == unix.EAGAIN:
			return
		case err != nil || n == 0:
			w.eof(c, err)
			return
		case short && !c.peerFIN:
			// Drained when it was read: bytes arriving since then raise
			// a new edge (a socket's epoll wake-up fires per arrival).
			// Not so the EOF of a half-close whose edge came with the
			// data (or while the input was held): then read on to it.
			return
		}
	}
}

// eof ends a connection whose peer went away (or that finished lingering).
func (w *worker) eof(c *Conn, err error) {
	if err != nil && !errors.Is(err, syscall.ECONNRESET) {
		c.s.log.Debug("netpoll: read", "remote", c.RemoteAddr(), "err", err)
	}
	c.dropNow(CloseAbnormal, "")
}

// sysRead is one non-blocking read(2) on c's own fd.
func (w *worker) sysRead(c *Conn, p []byte) (int, error) {
	for {
		n, err := rawRead(int(c.fd), p)
		if err != unix.EINTR {
			return max(n, 0), err
		}
	}
}

// consume parses data (owned by the caller, unmasked in place) into frames.
// It reports false once the connection is dead.
func (w *worker) consume(c *Conn, data []byte) bool {
	if len(data) == 0 { // a TLS read that completed no record
		c.stampFrame(false)
		return c.state.Load() != stDead
	}
	// Between messages the connection has no parser: it parses into the
	// worker's, and takes one of its own (rxStates) only when this read
	// leaves a frame or a fragmented message in progress.
	rx := c.rx
	if rx == nil {
		rx = &w.rx
		c.rx = rx
	}
	completed, dead := false, false
	for len(data) > 0 && !c.rxDiscard && c.state.Load() != stLinger {
		if !rx.inFrame {
			data = w.takeHeader(c, data)
			if !rx.inFrame {
				continue // header incomplete (data used up) or failed (discard)
			}
		}
		n := int(min(int64(len(data)), rx.f.Length-rx.fpos))
		w.takePayload(c, data[:n])
		data = data[n:]
		if rx.fpos == rx.f.Length {
			w.frameDone(c)
			completed = true
		}
		if c.state.Load() == stDead {
			dead = true
			break
		}
	}
	if !dead {
		c.stampFrame(completed)
	}
	switch {
	case rx == &w.rx: // c.rx is rx, or nil if the connection was finalized
		if c.rx == rx {
			c.rx = nil
			if !rx.idle() {
				own := rxStates.Get().(*rxState)
				*own = *rx
				c.rx = own
			}
		}
		*rx = rxState{}
	case c.rx == rx && rx.idle():
		c.rx = nil
		*rx = rxState{}
		rxStates.Put(rx)
	}
	return c.state.Load() != stDead
}

// rxStates keeps the parsers of connections between messages.
var rxStates = sync.Pool{New: func() any { return new(rxState) }}

// idle reports a parser between messages: nothing it holds is needed by
// the next byte.
func (rx *rxState) idle() bool {
	return !rx.inFrame && rx.hlen == 0 && !rx.frag && rx.msg == nil && rx.ctl == nil
}

// stampFrame keeps frameStart for the sweep: when the frame in progress
// started (coarsely), 0 when there is none.
func (c *Conn) stampFrame(completed bool) {
	partial := c.rx != nil && (c.rx.inFrame || c.rx.hlen > 0) || c.tlsPartial()
	switch {
	case partial && (completed || c.frameStart.Load() == 0):
		c.frameStart.Store(c.s.clock())
	case !partial && c.frameStart.Load() != 0:
		c.frameStart.Store(0)
	}
}

// takeHeader consumes header bytes from data; once complete it parses them.
func (w *worker) takeHeader(c *Conn, data []byte) []byte {
	rx := c.rx
	if rx.hlen == 0 { // common case: the whole header is in data
		if need := headerLen(data); need > 0 && len(data) >= need {
			w.parseHeader(c, data[:need])
			return data[need:]
		}
	}
	take := func(want int) {
		k := copy(rx.hdr[rx.hlen:want], data)
		rx.hlen += uint8(k)
		data = data[k:]
	}
	if rx.hlen < 2 {
		take(2)
		if rx.hlen < 2 {
			return data
		}
	}
	need := headerLen(rx.hdr[:2])
	take(need)
	if int(rx.hlen) == need {
		rx.hlen = 0
		w.parseHeader(c, rx.hdr[:need])
	}
	return data
}

// headerLen is the size of the header starting b, from its first two bytes
// (0 if b is shorter).
func headerLen(b []byte) int {
	if len(b) < 2 {
		return 0
	}
	n := 2
	if b[1]&0x80 != 0 {
		n += 4
	}
	switch b[1] & 0x7f {
	case 126:
		n += 2
	case 127:
		n += 8
	}
	return n
}

// parseHeader decodes and checks a complete header (RFC 6455 §5.2: masked,
// no RSV bits, no reserved opcodes, control frames final and ≤125 bytes,
// continuation only inside a fragmented message) and the size limit.
func (w *worker) parseHeader(c *Conn, b []byte) {
	rx := c.rx
	w.hr.Reset(b)
	h, err := ws.ReadHeaderBuffer(&w.hr, w.hb[:])
	if err == nil {
		state := ws.StateServerSide
		if rx.frag {
			state |= ws.StateFragmented
		}
		err = ws.CheckHeader(h, state|c.rxHeaderState())
	}
	if err == nil {
		err = rx.deflateHeader(h)
	}
	if err != nil {
		w.fail(c, CloseProtocolError, err.Error())
		return
	}
	rx.f, rx.fpos, rx.inFrame = h, 0, true
	if h.OpCode.IsControl() {
		rx.ctl = new(ctlBuf)
		return
	}
	rx.frag = !h.Fin
	if c.state.Load() != stOpen {
		rx.msg = nil // closing: data is skipped
		return
	}
	size := h.Length
	if h.OpCode == ws.OpContinuation {
		size += int64(len(rx.msg))
	}
	if size > c.s.cfg.MaxFrameSize {
		w.fail(c, CloseTooBig, "message too big")
		return
	}
	if h.OpCode != ws.OpContinuation {
		rx.msgOp = OpCode(h.OpCode)
		// The declared length is trusted for allocation only up to
		// eagerMsgAlloc; bigger messages grow as bytes actually arrive.
		rx.msg = make([]byte, 0, min(h.Length, eagerMsgAlloc))
	}
}

// takePayload unmasks p in place and appends it where the frame goes.
func (w *worker) takePayload(c *Conn, p []byte) {
	rx := c.rx
	if len(p) == 0 {
		return
	}
	ws.Cipher(p, rx.f.Mask, int(rx.fpos))
	rx.fpos += int64(len(p))
	switch {
	case rx.f.OpCode.IsControl():
		rx.ctl.n += uint8(copy(rx.ctl.b[rx.ctl.n:], p))
	case rx.msg != nil && c.state.Load() == stOpen:
		rx.msg = append(rx.msg, p...)
	default:
		rx.msg = nil
	}
}

// frameDone acts on a complete frame.
func (w *worker) frameDone(c *Conn) {
	rx := c.rx
	rx.inFrame = false
	var ctl []byte
	if cb := rx.ctl; cb != nil {
		ctl = cb.b[:cb.n:cb.n]
		rx.ctl = nil
	}
	switch rx.f.OpCode {
	case ws.OpPing:
		c.queueControl(opPong, ctl)
	case ws.OpPong:
	case ws.OpClose:
		w.peerClose(c, ctl)
	default:
		if !rx.f.Fin || rx.msg == nil {
			return
		}
		msg := rx.msg
		rx.msg = nil
		if rx.rsv1 && c.state.Load() == stOpen {
			if msg = w.inflateMsg(c, msg); msg == nil {
				return
			}
		}
		if c.state.Load() == stOpen {
			c.h.OnMessage(c, rx.msgOp, exact(msg))
		}
	}
}

// exact returns msg without spare capacity worth keeping: the handler may
// hold the payload for long, so a message that grew by appending (bigger
// than eagerMsgAlloc or fragmented) is copied to its exact size.
func exact(msg []byte) []byte {
	if cap(msg)-len(msg) <= len(msg)/8 {
		return msg
	}
	return append(make([]byte, 0, len(msg)), msg...)
}

// queueControl queues a pong. Pongs count toward WriteQueueBytes like
// data frames: a peer that pings without reading the pongs is a slow
// consumer like any other (and is paused at ReadPauseBytes before that).
// Nothing may follow our close frame.
func (c *Conn) queueControl(op uint8, p []byte) {
	c.mu.Lock()
	if c.state.Load() != stOpen {
		c.mu.Unlock()
		return
	}
	size := frameLen(len(p))
	if c.wqBytes+size > c.s.cfg.WriteQueueBytes {
		queued := c.closeSlowLocked()
		c.mu.Unlock()
		c.logSlow(queued)
		c.s.schedule(c, bFlush)
		return
	}
	run := c.enqueueLocked(op, p, size)
	c.mu.Unlock()
	if run {
		c.s.schedule(c, bFlush)
	}
}

// peerClose handles the peer's close frame: echo its code (1000 when it
// had none) and drop TCP once the echo is out; if we started the closing
// handshake, drop as soon as our own close frame is out.
func (w *worker) peerClose(c *Conn, p []byte) {
	code, reason := ws.ParseCloseFrameData(p)
	report, echo := int(code), int(code)
	switch {
	case len(p) == 0:
		report, echo = CloseNoStatus, CloseNormal
	case len(p) == 1:
		w.fail(c, CloseProtocolError, "invalid close payload")
		return
	default:
		if err := checkCloseData(code, reason); err != nil {
			w.fail(c, CloseProtocolError, err.Error())
			return
		}
	}
	c.rxDiscard = true
	c.mu.Lock()
	switch {
	case c.state.Load() == stOpen:
		c.startClosingLocked(report, reason)
		c.closeAfterFlush = true
		body := ws.NewCloseFrameBody(ws.StatusCode(echo), "")
		run := c.enqueueLocked(opClose, body, frameLen(len(body)))
		c.mu.Unlock()
		if run {
			c.s.schedule(c, bFlush)
		}
	case c.closeSent:
		c.mu.Unlock()
		c.dropNow(CloseAbnormal, "")
	default:
		c.closeAfterFlush = true
		c.mu.Unlock()
	}
}

// checkCloseData is ws.CheckCloseFrameData that also accepts the IANA
// registered 1012–1014 (sent by servers restarting or overloaded).
func checkCloseData(code ws.StatusCode, reason string) error {
	if code >= 1012 && code <= 1014 {
		code = ws.StatusNormalClosure
	}
	return ws.CheckCloseFrameData(code, reason)
}

// fail fails the WebSocket connection (RFC 6455 §7.1.7): a close frame
// with code, then FIN, then input is discarded until the peer closes or
// CloseTimeout. Lingering instead of closing at once avoids a TCP reset
// that could destroy the close frame before the peer reads it.
func (w *worker) fail(c *Conn, code int, reason string) {
	c.s.stats.protoErr.Add(1)
	c.s.log.Debug("netpoll: protocol violation, closing", "remote", c.RemoteAddr(),
		"code", code, "reason", reason)
	c.rxDiscard = true
	if rx := c.rx; rx != nil {
		rx.msg, rx.inFrame = nil, false
	}
	c.closeLinger(code, reason)
}

// closeLinger is Close followed by FIN and discarding input; safe from any
// goroutine (the sweep uses it for frame timeouts).
func (c *Conn) closeLinger(code int, reason string) {
	c.mu.Lock()
	run := false
	switch c.state.Load() {
	case stOpen:
		c.startClosingLocked(code, reason)
		body := ws.NewCloseFrameBody(ws.StatusCode(code), reason)
		run = c.enqueueLocked(opClose, body, frameLen(len(body)))
		c.lingerAfterFlush = true
	case stClosing:
		c.lingerAfterFlush = true
		run = !c.flushPending
		c.flushPending = true
	}
	c.mu.Unlock()
	if run {
		c.s.schedule(c, bFlush)
	}
}
