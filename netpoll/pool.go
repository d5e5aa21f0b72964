package netpoll

import (
	"bytes"
	"runtime/debug"
	"sync"

	"github.com/gobwas/ws"
	enetpoll "github.com/mailru/easygo/netpoll"
)

// Task bits in Conn.sched. A connection is in the run queue at most once
// (bQueued), so the queue is bounded by the number of connections and a
// push never blocks: neither the epoll loop nor a broadcaster can stall on
// it. While a worker runs a connection, bQueued stays set, so the
// connection's work is serialized: one read task in flight, OnMessage never
// concurrent with itself, OnClose after the last OnMessage.
const (
	bQueued uint32 = 1 << iota
	bEvent         // an epoll event fired: the one-shot registration is disarmed
	bRead
	bFlush
	bDrop
	bHup // EPOLLHUP or EPOLLERR: the peer is gone (reported even while input is paused)

	workBits = bEvent | bRead | bFlush | bDrop | bHup
)

// epollClosed is easygo's private _EPOLLCLOSED: callbacks get it once when
// the epoll instance closes.
const epollClosed = 0x20

// Registration masks: input interest unless the input is paused, EPOLLOUT
// only while a write is blocked; one-shot so at most one event per arming.
// The kernel adds EPOLLERR|EPOLLHUP to every arming, so even a mask with
// neither input nor output interest reports a peer that resets or hangs
// up; EPOLLRDHUP (a half-close) is asked for only with input, as it could
// not be acted on while paused and would fire again at every re-arm.
const (
	evIn    = enetpoll.EPOLLIN | enetpoll.EPOLLRDHUP
	evRead  = evIn | enetpoll.EPOLLONESHOT
	evOut   = enetpoll.EPOLLOUT
	evNoneO = enetpoll.EPOLLONESHOT
)

// pool is a fixed set of workers draining an intrusive FIFO of connections.
type pool struct {
	mu         sync.Mutex
	cond       sync.Cond
	head, tail *Conn
	stopped    bool
	wg         sync.WaitGroup
}

func (p *pool) start(s *Server, n int) {
	p.cond.L = &p.mu
	p.wg.Add(n)
	for range n {
		w := newWorker(s)
		go w.loop(p)
	}
}

// push appends c; after stop it is a no-op (the connection is dead by then).
func (p *pool) push(c *Conn) {
	p.mu.Lock()
	if p.stopped {
		p.mu.Unlock()
		return
	}
	c.runNext = nil
	if p.tail == nil {
		p.head = c
	} else {
		p.tail.runNext = c
	}
	p.tail = c
	p.mu.Unlock()
	p.cond.Signal()
}

// pop waits for a connection; nil once stopped and empty.
func (p *pool) pop() *Conn {
	p.mu.Lock()
	defer p.mu.Unlock()
	for p.head == nil && !p.stopped {
		p.cond.Wait()
	}
	c := p.head
	if c != nil {
		p.head = c.runNext
		if p.head == nil {
			p.tail = nil
		}
		c.runNext = nil
	}
	return c
}

func (p *pool) stop() {
	p.mu.Lock()
	p.stopped = true
	p.mu.Unlock()
	p.cond.Broadcast()
	p.wg.Wait()
}

// schedule adds task bits to c and queues it unless it is queued already.
// Safe from any goroutine, never blocks.
func (s *Server) schedule(c *Conn, bits uint32) {
	for {
		old := c.sched.Load()
		nw := old | bits | bQueued
		if nw == old {
			return
		}
		if c.sched.CompareAndSwap(old, nw) {
			if old&bQueued == 0 {
				s.pool.push(c)
			}
			return
		}
	}
}

// takeBits claims the pending work bits, leaving c marked queued (only the
// worker running c calls it, and bQueued stays set until its release).
func (c *Conn) takeBits() uint32 {
	return c.sched.Swap(bQueued) & workBits
}

// release ends a run: requeue at the tail (fairness) if work arrived
// meanwhile, else unmark.
func (s *Server) release(c *Conn) {
	for {
		old := c.sched.Load()
		if old&workBits != 0 {
			s.pool.push(c)
			return
		}
		if c.sched.CompareAndSwap(old, 0) {
			return
		}
	}
}

// onEvent is the epoll callback. It does no I/O: it turns the event into
// task bits for the pool.
func (c *Conn) onEvent(ev enetpoll.EpollEvent) {
	if ev&epollClosed != 0 {
		return
	}
	if countEvents {
		c.s.stats.events.Add(1)
	}
	bits := bEvent
	if ev&(enetpoll.EPOLLIN|enetpoll.EPOLLRDHUP|enetpoll.EPOLLHUP|enetpoll.EPOLLERR|enetpoll.EPOLLPRI) != 0 {
		bits |= bRead
	}
	if ev&(enetpoll.EPOLLHUP|enetpoll.EPOLLERR) != 0 {
		bits |= bHup
	}
	if ev&enetpoll.EPOLLOUT != 0 {
		bits |= bFlush
	}
	c.s.schedule(c, bits)
}

// worker owns the scratch memory every connection borrows while it runs,
// so idle connections own none.
type worker struct {
	s   *Server
	buf []byte                 // read buffer
	hdr hdrBuf                 // frame headers of one writev
	wr  vecWriter              // iovecs of one writev
	hb  [ws.MaxHeaderSize]byte // header parse scratch
	hr  bytes.Reader           // header parse input

	// Read syscall trampoline: a method value made once, so rawConn.Read
	// does not allocate a closure per call.
	rdBuf []byte
	rdN   int
	rdErr error
	rdFn  func(uintptr) bool
}

func newWorker(s *Server) *worker {
	w := &worker{s: s, buf: make([]byte, readChunk),
		hdr: hdrBuf{b: make([]byte, 0, maxIovFrames*ws.MaxHeaderSize)},
		wr:  newVecWriter(2 * maxIovFrames)}
	w.rdFn = w.doRead
	return w
}

func (w *worker) loop(p *pool) {
	defer p.wg.Done()
	for c := p.pop(); c != nil; c = p.pop() {
		w.run(c)
		w.s.release(c)
	}
}

// run does the connection's pending work, a few rounds so that frames the
// handler queued while reading go out in the same run.
func (w *worker) run(c *Conn) {
	defer w.recoverPanic(c)
	for range 4 {
		bits := c.takeBits()
		if bits == 0 {
			return
		}
		w.process(c, bits)
	}
}

// recoverPanic keeps a panicking handler from killing the process: the
// stack is logged and the connection closed with 1011. Input is discarded
// from then on, since the panic may have cut a read buffer short.
func (w *worker) recoverPanic(c *Conn) {
	r := recover()
	if r == nil {
		return
	}
	w.s.log.Error("netpoll: panic in connection task", "remote", c.RemoteAddr(),
		"panic", r, "stack", string(debug.Stack()))
	c.rx.discard = true
	if c.state.Load() == stOpen {
		c.closeLinger(CloseInternalError, "internal error")
	} else {
		c.drop(CloseInternalError, "internal error")
	}
}

func (w *worker) process(c *Conn, bits uint32) {
	if bits&bEvent != 0 {
		c.armed = false
	}
	switch st := c.state.Load(); {
	case st == stHandedOff:
		return
	case st == stDead || bits&bDrop != 0:
		c.finalize()
		return
	case !c.opened && (st == stOpen || st == stClosing) && c.h != nil:
		w.open(c)
	}
	if bits&bRead != 0 {
		w.read(c)
	}
	if bits&bHup != 0 && c.inHeld && c.state.Load() != stDead {
		// Paused: the read did not run, and the hang-up would be
		// reported again at every re-arm.
		c.dropNow(CloseAbnormal, "")
	}
	if bits&bFlush != 0 {
		w.flush(c)
	}
	if c.state.Load() == stDead {
		c.finalize()
		return
	}
	if c.inHeld && !c.pauseWanted() {
		// The output drained or the connection is closing: read what
		// waited (the next round of this run, or a requeue).
		c.s.schedule(c, bRead)
	}
	w.rearm(c)
}

// open writes the 101 (queued by the handshake) and runs OnOpen, before
// any frame is read.
func (w *worker) open(c *Conn) {
	w.flush(c)
	if c.state.Load() == stDead {
		return // never opened: no OnOpen, no OnClose
	}
	c.opened = true
	c.s.openConns.Add(1)
	c.h.OnOpen(c)
}

// rearm re-enables the one-shot registration after a task: for input
// unless the input is held (paused), for output while a write is blocked.
// Only the connection's task calls Mod, so the mask is never computed
// concurrently, and a ResumeRead (which clears its flag before it
// schedules this task) is never lost.
func (w *worker) rearm(c *Conn) {
	switch c.state.Load() {
	case stHandshake, stOpen, stClosing, stLinger:
	default:
		return
	}
	in, out := !c.inHeld, c.blocked // both written only by this task
	if c.armed && c.armedIn == in && c.armedOut == out {
		return
	}
	ev := enetpoll.EpollEvent(evNoneO)
	if in {
		ev |= evIn
	}
	if out {
		ev |= evOut
	}
	if err := c.s.ep.Mod(int(c.fd), ev); err != nil {
		c.s.log.Debug("netpoll: epoll mod", "remote", c.RemoteAddr(), "err", err)
		c.dropNow(CloseAbnormal, "")
		return
	}
	c.armed, c.armedIn, c.armedOut = true, in, out
}
