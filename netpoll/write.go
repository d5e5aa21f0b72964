package netpoll

import (
	"errors"
	"iter"
	"sync"
	"syscall"
	"unsafe"

	"github.com/gobwas/ws"
	"golang.org/x/sys/unix"
)

// hdrBuf collects frame headers, encoded by ws.WriteHeaderBuffer; its
// capacity is fixed so the iovecs pointing into it stay valid.
type hdrBuf struct {
	b       []byte
	scratch [ws.MaxHeaderSize]byte
}

func (h *hdrBuf) Write(p []byte) (int, error) {
	h.b = append(h.b, p...)
	return len(p), nil
}

// add appends the header of an unmasked, final frame and returns it.
func (h *hdrBuf) add(op uint8, n int) []byte {
	start := len(h.b)
	hd := ws.Header{Fin: true, OpCode: ws.OpCode(op), Length: int64(n)}
	_ = ws.WriteHeaderBuffer(h, hd, h.scratch[:]) // cannot fail: Length ≥ 0
	return h.b[start:]
}

// vecWriter writes buffers to a connection with one writev(2). The iovec
// array is reused (unix.Writev allocates one per call above 8 buffers).
type vecWriter struct {
	iov   []unix.Iovec
	total int
}

func newVecWriter(n int) vecWriter {
	return vecWriter{iov: make([]unix.Iovec, 0, n)}
}

// add queues b (nothing if empty) for the next write.
func (v *vecWriter) add(b []byte) {
	if len(b) == 0 {
		return
	}
	iov := unix.Iovec{Base: &b[0]}
	iov.SetLen(len(b))
	v.iov = append(v.iov, iov)
	v.total += len(b)
}

// write writes the added buffers to c in one writev and resets v. blocked
// reports a short write or EAGAIN (the rest must wait for EPOLLOUT); err
// is any other failure.
func (v *vecWriter) write(c *Conn) (written int, blocked bool, err error) {
	for {
		// Raw: c.fd is non-blocking (see rawsys.go, and the run queue's
		// yield in worker.loop, which raw flushes need for fan-out).
		r, _, e := unix.RawSyscall(unix.SYS_WRITEV, uintptr(c.fd),
			uintptr(unsafe.Pointer(unsafe.SliceData(v.iov))), uintptr(len(v.iov)))
		if e == unix.EINTR {
			continue
		}
		if e != 0 {
			err = e
		} else {
			written = int(r)
		}
		break
	}
	blocked = err == unix.EAGAIN || (err == nil && written < v.total)
	if blocked {
		err = nil
	}
	clear(v.iov) // do not keep payloads alive from the worker or pool
	v.iov, v.total = v.iov[:0], 0
	c.s.stats.writes.Add(1)
	return written, blocked, err
}

// logWriteErr logs a failed write unless the peer simply went away.
func (c *Conn) logWriteErr(err error) {
	if !errors.Is(err, syscall.EPIPE) && !errors.Is(err, syscall.ECONNRESET) {
		c.s.log.Debug("netpoll: write", "remote", c.RemoteAddr(), "err", err)
	}
}

// Outcomes of draining the write queue.
const (
	drainNone = iota
	drainDrop // close handshake complete: drop TCP
	drainFIN  // failed connection or HTTP response: FIN, then read to EOF
)

// flush is the write task: it writes the queued frames, as many per
// writev as IOV_MAX allows, until the queue is empty, the socket would
// block (then the EPOLLOUT edge schedules the next flush) or the fairness
// budget is spent.
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
		if len(q) == 0 && !c.tlsOutPending() {
			c.flushPending, c.blocked = false, false
			act := c.drainedLocked()
			c.mu.Unlock()
			w.afterDrain(c, act)
			return
		}
		c.flushPending, c.blocked = true, false
		c.mu.Unlock()

		written, blocked, err := w.writeFrames(c, q[:min(len(q), maxIovFrames)], woff)
		c.mu.Lock()
		c.advanceLocked(written)
		if blocked {
			c.blocked, c.flushPending = true, false
		}
		c.mu.Unlock()
		switch {
		case err != nil:
			c.logWriteErr(err)
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
func (w *worker) writeFrames(c *Conn, q []outFrame, woff int) (written int, blocked bool, err error) {
	if c.tls != nil {
		return w.writeTLS(c, q, woff)
	}
	for seg := range w.queuedSegs(q, woff) {
		w.wr.add(seg)
	}
	return w.wr.write(c)
}

// queuedSegs yields the wire bytes of the frames in q in order, header
// (built in w.hdr) then payload of each, minus the woff bytes at the
// head already written; empty segments are left out.
func (w *worker) queuedSegs(q []outFrame, woff int) iter.Seq[[]byte] {
	return func(yield func([]byte) bool) {
		w.hdr.b = w.hdr.b[:0]
		for _, f := range q {
			var hdr []byte
			if f.op != opRaw {
				hdr = w.hdr.add(f.op, len(f.p))
			}
			for _, seg := range [2][]byte{hdr, f.p} {
				if woff >= len(seg) {
					woff -= len(seg)
					continue
				}
				if !yield(seg[woff:]) {
					return
				}
				woff = 0
			}
		}
	}
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
	if c.wqBytes <= c.s.cfg.ReadPauseBytes && c.has(fOutOver) {
		c.setFlag(fOutOver, false)
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
	c.queuedLocked()
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
		c.rxDiscard = true
		w.tlsCloseNotify(c)
		_ = unix.Shutdown(int(c.fd), unix.SHUT_WR)
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
	wop, payload := c.deflateOut(op, payload)
	size := frameLen(len(payload))
	c.mu.Lock()
	if c.state.Load() != stOpen || len(c.wq) > 0 || c.flushPending || c.blocked ||
		c.inline || size > c.s.cfg.WriteQueueBytes || c.tls != nil { // TLS: only the flush seals
		c.mu.Unlock()
		return c.enqueue(wop, payload)
	}
	// Claim the write side: flushPending makes concurrent Sends queue
	// behind this frame without scheduling a flush, inline keeps a worker's
	// flush (scheduled by a slow-consumer Send, say) from writing meanwhile.
	c.flushPending, c.inline = true, true
	c.wq = append(c.wq, outFrame{p: payload, op: wop})
	c.wqBytes += size
	c.queuedLocked()
	c.mu.Unlock()

	iw := inlineWriters.Get().(*inlineWriter)
	iw.hdr.b = iw.hdr.b[:0]
	iw.add(iw.hdr.add(wop, len(payload)))
	iw.add(payload)
	written, blocked, err := iw.write(c)
	inlineWriters.Put(iw)

	c.mu.Lock()
	c.inline = false
	if c.closeFD { // finalized meanwhile: the fd waited for this write
		c.mu.Unlock()
		_ = unix.Close(int(c.fd))
		return nil
	}
	over := c.has(fOutOver)
	c.advanceLocked(written)
	handOff := c.state.Load() != stDead && (blocked || len(c.wq) > 0 || c.slow ||
		c.closeAfterFlush || c.lingerAfterFlush)
	if !handOff && err == nil {
		c.flushPending = false
	}
	// This write ended an output-backlog pause (a frame over
	// ReadPauseBytes): a read task may have withheld the input meanwhile,
	// and only a task of the connection resumes it (see process).
	resume := over && !c.has(fOutOver) && c.state.Load() == stOpen
	c.mu.Unlock()
	switch {
	case err != nil:
		c.logWriteErr(err)
		c.drop(CloseAbnormal, "")
	case handOff:
		// flushPending stays set; the worker writes the rest (arming
		// EPOLLOUT if the socket is full) and runs the drain actions.
		c.s.schedule(c, bFlush)
	case resume:
		c.s.schedule(c, bRead)
	}
	return nil
}

// inlineWriter is the scratch of one SendNow: the frame header and its
// two iovecs (header, payload).
type inlineWriter struct {
	vecWriter
	hdr hdrBuf
}

var inlineWriters = sync.Pool{New: func() any {
	iw := &inlineWriter{vecWriter: newVecWriter(2)}
	iw.hdr.b = make([]byte, 0, ws.MaxHeaderSize)
	return iw
}}
