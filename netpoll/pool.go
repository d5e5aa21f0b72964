package netpoll

import (
	"bytes"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"

	"github.com/gobwas/ws"
	"golang.org/x/sys/unix"
)

// Task bits in Conn.sched. A connection is claimed by whoever sets
// bQueued (a worker taking its event, or schedule, which then queues it),
// and stays claimed until its run ends (release), so the connection's
// work is serialized: one read task in flight, OnMessage never concurrent
// with itself, OnClose after the last OnMessage. Bits set while it is
// claimed are picked up by the run in progress or make release requeue it.
const (
	bQueued uint32 = 1 << iota
	bRead
	bFlush
	bDrop
	bHup   // EPOLLHUP or EPOLLERR: the peer is gone (reported even while input is paused)
	bRdHup // EPOLLRDHUP: the peer half-closed; its edge is the only notice of the EOF

	workBits = bRead | bFlush | bDrop | bHup | bRdHup
)

// claim adds task bits to c and reports whether the caller claimed it
// (it was not claimed before): the caller must then run or queue it.
func (c *Conn) claim(bits uint32) bool {
	for {
		old := c.sched.Load()
		nw := old | bits | bQueued
		if nw == old {
			return false
		}
		if c.sched.CompareAndSwap(old, nw) {
			return old&bQueued == 0
		}
	}
}

// schedule adds task bits to c and queues it unless it is claimed
// already (then the run in progress does the work). Safe from any
// goroutine, never blocks.
func (s *Server) schedule(c *Conn, bits uint32) {
	if c.claim(bits) {
		s.lp.push(c)
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
			s.lp.push(c)
			return
		}
		if c.sched.CompareAndSwap(old, 0) {
			return
		}
	}
}

// wakeBatch is the batch from which the worker that took it wakes an idle
// one to take the poll role meanwhile. Waking a parked goroutine costs a
// futex wake and a thread switch (10–20 µs of CPU here), several short
// tasks' worth: a batch of a few tasks is run through first.
const wakeBatch = 4

// worker is one goroutine of the event loop. It owns the scratch memory
// every connection borrows while it runs, so idle connections own none.
type worker struct {
	s    *Server
	buf  []byte                 // read buffer
	hdr  hdrBuf                 // frame headers of one writev
	wr   vecWriter              // iovecs of one writev
	hb   [ws.MaxHeaderSize]byte // header parse scratch
	hr   bytes.Reader           // header parse input
	rx   rxState                // the parser of a connection that had none, during one consume
	evs  []unix.EpollEvent      // one epoll_wait's events
	wake chan struct{}          // cap 1: wakes the worker parked as idle

	// The poll callback, a method value made once so that parking in
	// Go's poller allocates nothing, and its result.
	pollFn func(uintptr) bool
	pollN  int

	// The connections of one batch this worker claimed and has not run
	// yet; the watchdog takes them over when the worker is stuck.
	mu    sync.Mutex
	batch []*Conn
	next  int
	accs  []*acceptor // accept tasks claimed by dispatch, run before the batch (acceptloop.go)

	seq   atomic.Uint64 // odd while a task runs; bumped at each start and end
	start atomic.Int64  // when the current task started (watchdog clock), stored before seq goes odd
	seen  uint64        // seq at the watchdog's previous look (watchdog only)
	comp  atomic.Bool   // the watchdog started a worker in place of this one
}

func newWorker(s *Server) *worker {
	w := &worker{s: s, buf: make([]byte, readChunk),
		hdr: hdrBuf{b: make([]byte, 0, maxIovFrames*ws.MaxHeaderSize)},
		wr:  newVecWriter(2 * maxIovFrames), evs: make([]unix.EpollEvent, maxEvents),
		batch: make([]*Conn, 0, maxEvents), wake: make(chan struct{}, 1)}
	w.pollFn = w.pollOnce
	return w
}

// loop serves the run queue and the poll role until the loop stops or
// the worker retires (it was replaced while stuck, and is now spare).
func (w *worker) loop(l *loop) {
	defer l.wg.Done()
	for !l.stopped.Load() {
		if w.comp.Load() && l.retire(w) {
			return // replaced just as its task ended
		}
		ran := 0
		for ; ran < runqBurst; ran++ {
			c := l.rq.pop()
			if c == nil {
				break
			}
			if w.task(c) {
				return
			}
		}
		if ran == runqBurst {
			// A full burst: the run queue is long, typically flushes a
			// broadcaster (a mailbox goroutine, presence's tick) is
			// still scheduling. Let it run: the frames it queues
			// meanwhile join the pending ones of each connection and go
			// out in one writev. Without the yield the workers hold both
			// Ps and flush as fast as it schedules, one frame each:
			// measured at 10,000 subscribers, 6.5 deliveries per writev
			// instead of 22 and 2.5× the CPU per delivery (until then
			// the flushes' writev went through entersyscall, whose P
			// hand-offs let the broadcaster in by accident, at the cost
			// of thread switches that made presence at scale 25 %
			// dearer).
			runtime.Gosched()
		}
		if !l.polling.CompareAndSwap(false, true) {
			w.park(l) // another worker polls
			continue
		}
		n := l.poll(w, ran < runqBurst)
		l.polling.Store(false)
		w.dispatch(l, w.evs[:n])
		if w.moreThanItsShare(l) {
			l.wake() // an idle worker polls meanwhile
		}
		if w.runAccepts() || w.runBatch() {
			return
		}
	}
}

// moreThanItsShare tells, after dispatch, whether w has more work than
// it should hold with nobody polling: a big batch, a non-empty run queue,
// or an accept task (up to acceptBound accepts).
func (w *worker) moreThanItsShare(l *loop) bool {
	return len(w.accs) > 0 || len(w.batch) >= wakeBatch || l.rq.n.Load() > 0
}

func (w *worker) wakeUp() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// dispatch turns events into task bits and keeps the connections this
// worker claimed; events of a connection claimed elsewhere only add bits.
func (w *worker) dispatch(l *loop, evs []unix.EpollEvent) {
	w.mu.Lock()
	for i := range evs {
		ev := &evs[i]
		if ev.Pad == 0 { // the eventfd: work in the run queue
			l.wakeSent.Store(false)
			continue
		}
		if ev.Pad == padListener { // a listener: its accept task (acceptloop.go)
			w.acceptEvent(l, ev.Fd)
			continue
		}
		c := l.tab.get(ev.Fd)
		if c == nil || c.gen != uint32(ev.Pad) {
			continue // the connection is gone (its fd may be reused)
		}
		if countEvents {
			w.s.stats.events.Add(1)
		}
		if c.claim(eventBits(ev.Events)) {
			w.batch = append(w.batch, c)
		}
	}
	w.mu.Unlock()
}

// runBatch runs the claimed connections one by one. It reports whether
// the worker must retire.
func (w *worker) runBatch() bool {
	for {
		w.mu.Lock()
		if w.next >= len(w.batch) {
			clear(w.batch)
			w.batch, w.next = w.batch[:0], 0
			w.mu.Unlock()
			return false
		}
		c := w.batch[w.next]
		w.batch[w.next] = nil
		w.next++
		w.mu.Unlock()
		if w.task(c) {
			// Retiring: a replace that raced with the end of the task
			// it saw marked this worker after its batch was handed
			// over, so this batch was taken since. Its rest is claimed
			// (bQueued) and would never run: later events only add
			// bits to a claimed connection.
			w.handOver(&w.s.lp)
			return true
		}
	}
}

// handOver queues the claimed connections w has not started (watchdog).
func (w *worker) handOver(l *loop) {
	w.mu.Lock()
	rest := w.batch[w.next:]
	w.next = len(w.batch)
	for i, c := range rest {
		rest[i] = nil
		l.push(c)
	}
	w.mu.Unlock()
}

// task runs one claimed connection inline, under the watchdog's eye, and
// reports whether the worker must retire afterwards.
func (w *worker) task(c *Conn) bool {
	return w.watched(func() {
		w.run(c)
		w.s.release(c)
	}) && w.s.lp.retire(w)
}

// watched runs f as one task under the watchdog's eye (start stamped, seq
// odd while it runs) and reports whether the watchdog replaced w
// meanwhile; the caller then hands over what w holds and retires
// (loop.retire) if the workers are enough without it.
func (w *worker) watched(f func()) bool {
	w.start.Store(w.s.since())
	w.seq.Add(1) // odd: busy
	w.s.lp.wd.busy()
	f()
	w.seq.Add(1)
	return w.comp.Load()
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
	c.rxDiscard = true
	if c.state.Load() == stOpen {
		c.closeLinger(CloseInternalError, "internal error")
	} else {
		c.drop(CloseInternalError, "internal error")
	}
}

func (w *worker) process(c *Conn, bits uint32) {
	switch st := c.state.Load(); {
	case st == stHandedOff:
		return
	case st == stDead || bits&bDrop != 0:
		c.finalize()
		return
	case !c.opened && (st == stOpen || st == stClosing) && c.h != nil:
		w.open(c)
	}
	if bits&bRdHup != 0 {
		c.peerFIN = true // the read reads on to the EOF (see read)
	}
	if bits&bRead != 0 {
		w.read(c)
	}
	if bits&bHup != 0 && c.inHeld && c.state.Load() != stDead {
		// Paused: the read did not run, and the edge of the hang-up
		// will not come again.
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
