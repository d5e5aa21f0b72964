package netpoll

import (
	"encoding/binary"
	"errors"
	"sync"
	"syscall"

	"github.com/gobwas/ws"
	"golang.org/x/sys/unix"
)

// hdrBuf collects the frame headers of one writev; its capacity is fixed
// (maxIovFrames headers) so the iovecs pointing into it stay valid.
type hdrBuf struct{ b []byte }

func (h *hdrBuf) Write(p []byte) (int, error) {
	h.b = append(h.b, p...)
	return len(p), nil
}

// Outcomes of draining the write queue.
const (
	drainNone = iota
	drainDrop // close handshake complete: drop TCP
	drainFIN  // failed connection or HTTP response: FIN, then read to EOF
)

// flush is the write task: it writes the queued frames, as many per
// writev as IOV_MAX allows, until the queue is empty, the socket would
// block (then EPOLLOUT is armed by rearm) or the fairness budget is spent.
// Frames queued while a writev is in flight join the next one.
func (w *worker) flush(c *Conn) {
	for budget := maxFlushBytes; ; {
		c.mu.Lock()
		if c.state.Load() == stDead {
			c.mu.Unlock()
			return
		}
		if c.inline {
			// A SendNow is writing: it hands the rest back with bFlush.
			c.mu.Unlock()
			return
		}
		if c.slow {
			c.discardSlowLocked()
		}
		q, woff := c.wq, c.woff
		if len(q) == 0 {
			c.flushPending, c.blocked = false, false
			act := c.drainedLocked()
			c.mu.Unlock()
			w.afterDrain(c, act)
			return
		}
		c.flushPending, c.blocked = true, false
		c.mu.Unlock()

		written, total, err := w.writeFrames(c, q[:min(len(q), maxIovFrames)], woff)
		c.mu.Lock()
		c.advanceLocked(written)
		blocked := err == unix.EAGAIN || (err == nil && written < total)
		if blocked {
			c.blocked, c.flushPending = true, false
		}
		c.mu.Unlock()
		switch {
		case err != nil && !blocked:
			if !errors.Is(err, syscall.EPIPE) && !errors.Is(err, syscall.ECONNRESET) {
				c.s.log.Debug("netpoll: write", "remote", c.RemoteAddr(), "err", err)
			}
			c.dropNow(CloseAbnormal, "")
			return
		case blocked:
			return
		}
		if budget -= written; budget <= 0 {
			c.s.schedule(c, bFlush) // flushPending stays set: Sends keep coalescing
			return
		}
	}
}

// writeFrames builds the iovecs (header, payload per frame; the first
// frame minus the woff bytes already written) and writes them in one
// writev.
func (w *worker) writeFrames(c *Conn, q []outFrame, woff int) (written, total int, err error) {
	w.hdr.b = w.hdr.b[:0]
	w.iov = w.iov[:0]
	var hdr []byte
	for _, f := range q {
		hdr = nil
		if f.op != opRaw {
			start := len(w.hdr.b)
			h := ws.Header{Fin: true, OpCode: ws.OpCode(f.op), Length: int64(len(f.p))}
			_ = ws.WriteHeaderBuffer(&w.hdr, h, w.hb[:]) // cannot fail: Length ≥ 0
			hdr = w.hdr.b[start:]
		}
		for _, seg := range [2][]byte{hdr, f.p} {
			if woff >= len(seg) {
				woff -= len(seg)
				continue
			}
			seg, woff = seg[woff:], 0
			w.iov = append(w.iov, seg)
			total += len(seg)
		}
	}
	err = c.raw.Write(w.wrFn)
	if err == nil {
		err = w.wrErr
	}
	written = max(w.wrN, 0)
	w.wrErr = nil
	clear(w.iov) // do not keep payloads alive from the worker
	c.s.stats.writes.Add(1)
	return written, total, err
}

func (w *worker) doWritev(fd uintptr) bool {
	w.wrN, w.wrErr = unix.Writev(int(fd), w.iov)
	return true
}

// advanceLocked drops the n written bytes from the head of the queue.
func (c *Conn) advanceLocked(n int) {
	if c.state.Load() == stDead || n == 0 {
		return
	}
	c.wqBytes -= n
	off, k := c.woff+n, 0
	for ; k < len(c.wq); k++ {
		sz := wireLen(c.wq[k])
		if off < sz {
			break
		}
		off -= sz
		if c.wq[k].op == opClose {
			c.closeSent = true
		}
	}
	c.s.stats.framesOut.Add(int64(k))
	c.woff = off
	clear(c.wq[:k])
	c.wq = c.wq[k:]
	if len(c.wq) == 0 {
		c.wq, c.woff = nil, 0 // an idle connection keeps no queue memory
	}
}

// discardSlowLocked empties the queue of a slow consumer, keeping only a
// partly written frame (the stream must stay well-formed), and queues the
// 1008 close frame: the peer was not reading, so the rest would never
// arrive anyway.
func (c *Conn) discardSlowLocked() {
	c.slow = false
	keep := 0
	if c.woff > 0 {
		keep = 1
	}
	clear(c.wq[keep:])
	c.wq = c.wq[:keep]
	c.wqBytes = 0
	if keep == 1 {
		c.wqBytes = wireLen(c.wq[0]) - c.woff
	}
	body := ws.NewCloseFrameBody(ws.StatusPolicyViolation, c.closeReason)
	c.wq = append(c.wq, outFrame{p: body, op: opClose})
	c.wqBytes += frameLen(len(body))
}

// drainedLocked says what an empty queue means in the current state.
func (c *Conn) drainedLocked() int {
	switch {
	case c.closeAfterFlush:
		return drainDrop
	case c.lingerAfterFlush:
		c.lingerAfterFlush = false
		return drainFIN
	}
	return drainNone
}

func (w *worker) afterDrain(c *Conn, act int) {
	switch act {
	case drainDrop:
		c.dropNow(CloseAbnormal, "")
	case drainFIN:
		c.rx.discard = true
		if cw, ok := c.nc.(interface{ CloseWrite() error }); ok {
			_ = cw.CloseWrite()
		}
	}
}

// wireLen is the number of bytes f takes on the wire.
func wireLen(f outFrame) int {
	if f.op == opRaw {
		return len(f.p)
	}
	return frameLen(len(f.p))
}

// SendNow is Send for frames that answer the peer (Phoenix replies): when
// the connection is idle (nothing queued, no write in flight, not blocked)
// the frame is written at once from the caller's goroutine with one
// writev, which saves the hand-off to a worker (a futex wake-up and a
// second scheduling of the connection) per reply. Otherwise, and for
// whatever the write leaves (a short write, frames queued meanwhile, a
// close), it behaves exactly like Send: the worker's flush takes over.
//
// Fan-out should keep using Send: frames queued for one connection while a
// flush is pending coalesce into one writev, which inline writes from a
// broadcaster would defeat.
func (c *Conn) SendNow(op OpCode, payload []byte) error {
	if op != OpText && op != OpBinary {
		return ErrBadOpCode
	}
	size := frameLen(len(payload))
	c.mu.Lock()
	if c.state.Load() != stOpen || len(c.wq) > 0 || c.flushPending || c.blocked ||
		c.inline || size > c.s.cfg.WriteQueueBytes {
		c.mu.Unlock()
		return c.Send(op, payload)
	}
	// Claim the write side: flushPending makes concurrent Sends queue
	// behind this frame without scheduling a flush, inline keeps a worker's
	// flush (scheduled by a slow-consumer Send, say) from writing meanwhile.
	c.flushPending, c.inline = true, true
	c.wq = append(c.wq, outFrame{p: payload, op: uint8(op)})
	c.wqBytes += size
	c.mu.Unlock()

	iw := inlineWriters.Get().(*inlineWriter)
	written, total, err := iw.write(c, uint8(op), payload)
	inlineWriters.Put(iw)
	c.s.stats.writes.Add(1)

	c.mu.Lock()
	c.inline = false
	c.advanceLocked(written)
	blocked := err == unix.EAGAIN || (err == nil && written < total)
	handOff := c.state.Load() != stDead && (blocked || len(c.wq) > 0 || c.slow ||
		c.closeAfterFlush || c.lingerAfterFlush)
	if !handOff && err == nil {
		c.flushPending = false
	}
	c.mu.Unlock()
	switch {
	case err != nil && !blocked:
		if !errors.Is(err, syscall.EPIPE) && !errors.Is(err, syscall.ECONNRESET) {
			c.s.log.Debug("netpoll: write", "remote", c.RemoteAddr(), "err", err)
		}
		c.drop(CloseAbnormal, "")
	case handOff:
		// flushPending stays set; the worker writes the rest (arming
		// EPOLLOUT if the socket is full) and runs the drain actions.
		c.s.schedule(c, bFlush)
	}
	return nil
}

// inlineWriter is the scratch of one SendNow: the frame header and the
// iovecs, and a method value made once so the syscall trampoline does not
// allocate a closure per call.
type inlineWriter struct {
	hdr [ws.MaxHeaderSize]byte
	iov [2][]byte
	n   int
	err error
	fn  func(uintptr) bool
}

var inlineWriters = sync.Pool{New: func() any {
	iw := &inlineWriter{}
	iw.fn = iw.doWritev
	return iw
}}

// write sends one unmasked, final frame: header and payload in one writev.
func (iw *inlineWriter) write(c *Conn, op uint8, p []byte) (written, total int, err error) {
	h := iw.hdr[:2]
	h[0] = 0x80 | op // FIN + opcode
	switch n := len(p); {
	case n < 126:
		h[1] = byte(n)
	case n <= 0xffff:
		h[1] = 126
		h = binary.BigEndian.AppendUint16(h, uint16(n))
	default:
		h[1] = 127
		h = binary.BigEndian.AppendUint64(h, uint64(n))
	}
	iw.iov[0], iw.iov[1] = h, p
	iw.n, iw.err = 0, nil
	err = c.raw.Write(iw.fn)
	if err == nil {
		err = iw.err
	}
	written, total = max(iw.n, 0), len(h)+len(p)
	iw.iov, iw.err = [2][]byte{}, nil // do not keep the payload alive from the pool
	return written, total, err
}

func (iw *inlineWriter) doWritev(fd uintptr) bool {
	iw.n, iw.err = unix.Writev(int(fd), iw.iov[:])
	return true
}
