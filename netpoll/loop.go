package netpoll

import (
	"errors"
	"os"
	"sync"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"
)

// Registration mask of every connection: edge-triggered, set once at
// register and never modified (see "Event loop" in the package doc).
const evConn = unix.EPOLLIN | unix.EPOLLOUT | unix.EPOLLRDHUP | unix.EPOLLET

// maxEvents is the batch one epoll_wait returns at most. Small, so that
// a batch a stuck worker has not started is short (and handed over).
const maxEvents = 32

// runqBurst is how many run-queue connections a worker runs before it
// polls epoll again (without waiting), so neither source starves the other.
const runqBurst = 32

// loop is the event loop: one epoll instance, the fd → Conn table its
// events are resolved through, the run queue of work scheduled from
// outside a worker (Send from a broadcaster, a resume, a requeue), and
// the workers. One worker at a time holds the poll role (polling): it
// takes a batch of events with epoll_wait(0), or, when there are none,
// parks in Go's own poller on the epoll fd (which is readable while
// events are ready), so no worker ever blocks a thread in epoll_wait.
// The others run their batches or wait, parked, as idle workers.
type loop struct {
	s    *Server
	ep   int      // epoll fd
	epf  *os.File // ep, non-blocking, in Go's poller: the poller parks on it
	eprc syscall.RawConn
	efd  int // eventfd, in ep (edge-triggered, data Pad 0): wakes a parked poller
	tab  fdTable
	acc  acceptors // listeners in ep (data Pad padListener, Fd their index; acceptloop.go)

	rq        runq
	polling   atomic.Bool // the poll role is taken
	pollSleep atomic.Bool // the poller may be parked in Go's poller
	wakeSent  atomic.Bool // an eventfd wake-up is on its way
	stopped   atomic.Bool
	wg        sync.WaitGroup

	idleMu sync.Mutex
	idle   []*worker // parked idle workers, woken through their wake channel
	idleN  atomic.Int32

	want  int        // workers serving at once (Config.Workers)
	maxW  int        // most workers at once, stuck ones included (maxWorkers)
	mu    sync.Mutex // guards ws, stuck
	ws    []*worker  // every live worker
	spare []*worker  // retired workers whose memory the next spawn reuses (at most maxSpare)
	stuck int        // workers the watchdog found stuck in one task
	wd    watchdog
}

func (l *loop) init(s *Server, n int) error {
	ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return err
	}
	efd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		_ = unix.Close(ep)
		return err
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLET, Fd: int32(efd)}
	if err = unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, efd, &ev); err == nil {
		err = unix.SetNonblock(ep, true)
	}
	if err != nil {
		_ = unix.Close(ep)
		_ = unix.Close(efd)
		return err
	}
	l.epf = os.NewFile(uintptr(ep), "epoll")
	if l.eprc, err = l.epf.SyscallConn(); err != nil {
		_ = l.epf.Close()
		_ = unix.Close(efd)
		return err
	}
	l.s, l.ep, l.efd, l.want, l.maxW = s, ep, efd, n, max(n, maxWorkers)
	l.wd.init()
	l.mu.Lock()
	for range n {
		l.spawnLocked()
	}
	l.mu.Unlock()
	l.wg.Add(1)
	go l.watch()
	return nil
}

// spawnLocked starts one more worker (l.mu held), reusing the memory of
// a retired one if there is one: a worker's buffers are about 90 KB.
func (l *loop) spawnLocked() {
	var w *worker
	if n := len(l.spare); n > 0 {
		w = l.spare[n-1]
		l.spare[n-1] = nil
		l.spare = l.spare[:n-1]
	} else {
		w = newWorker(l.s)
	}
	l.ws = append(l.ws, w)
	l.wg.Add(1)
	go w.loop(l)
}

// stop ends every worker and the watchdog, then closes the fds. The
// registry is empty by then.
func (l *loop) stop() {
	l.stopped.Store(true)
	l.wd.stop()
	l.poke()
	l.idleMu.Lock()
	for _, w := range l.idle {
		w.wakeUp()
	}
	l.idle = l.idle[:0]
	l.idleN.Store(0)
	l.idleMu.Unlock()
	l.wg.Wait()
	_ = l.epf.Close()
	_ = unix.Close(l.efd)
}

// add registers c's fd (once, for good: edge-triggered, never modified).
func (l *loop) add(c *Conn) error {
	if err := l.tab.set(c); err != nil {
		return err
	}
	ev := unix.EpollEvent{Events: evConn, Fd: c.fd, Pad: int32(c.gen)}
	if err := rawEpollCtl(l.ep, unix.EPOLL_CTL_ADD, int(c.fd), &ev); err != nil {
		l.tab.clear(c)
		return err
	}
	return nil
}

// del removes c's registration before its fd is closed or handed off.
func (l *loop) del(c *Conn) {
	_ = rawEpollCtl(l.ep, unix.EPOLL_CTL_DEL, int(c.fd), nil)
	l.tab.clear(c)
}

// push queues c (claimed by the caller: bQueued was set by it) and makes
// sure a worker will run it: an idle worker is woken, else a parked
// poller (through the eventfd); busy workers look at the queue after
// their task anyway.
func (l *loop) push(c *Conn) {
	if !l.rq.push(c) {
		return
	}
	l.wake()
}

func (l *loop) wake() {
	if l.idleN.Load() > 0 && l.wakeIdle() {
		return
	}
	if l.pollSleep.Load() && !l.wakeSent.Load() && l.wakeSent.CompareAndSwap(false, true) {
		l.poke()
	}
}

// wakeIdle wakes one idle worker, if there is one.
func (l *loop) wakeIdle() bool {
	l.idleMu.Lock()
	n := len(l.idle)
	if n == 0 {
		l.idleMu.Unlock()
		return false
	}
	w := l.idle[n-1]
	l.idle[n-1] = nil
	l.idle = l.idle[:n-1]
	l.idleN.Add(-1)
	l.idleMu.Unlock()
	w.wakeUp()
	return true
}

// park waits as an idle worker until woken, unless work is found after
// it registered as idle (work queued, the poll role vacant, a stop).
func (w *worker) park(l *loop) {
	l.idleMu.Lock()
	l.idle = append(l.idle, w)
	l.idleN.Add(1)
	l.idleMu.Unlock()
	if l.rq.n.Load() == 0 && l.polling.Load() && !l.stopped.Load() {
		<-w.wake
		return
	}
	l.idleMu.Lock()
	for i, x := range l.idle {
		if x == w { // still registered: leave, nobody will wake us
			l.idle = append(l.idle[:i], l.idle[i+1:]...)
			l.idle = l.idle[:len(l.idle):cap(l.idle)]
			l.idleN.Add(-1)
			l.idleMu.Unlock()
			return
		}
	}
	l.idleMu.Unlock()
	<-w.wake // taken off the list by a waker, whose token is on its way
}

// poll takes a batch of events into w.evs. With block, when none is
// ready and nothing is queued, it parks in Go's poller until the epoll
// fd is readable (an event is ready, or the eventfd was written).
func (l *loop) poll(w *worker, block bool) int {
	if !block {
		return rawEpollPoll(l.ep, w.evs)
	}
	l.pollSleep.Store(true)
	w.pollN = 0
	err := l.eprc.Read(w.pollFn)
	l.pollSleep.Store(false)
	if err != nil {
		return 0
	}
	return w.pollN
}

// pollOnce is the poller's callback in Go's poller: done once events are
// taken, work is queued or the loop stops; else park until readable.
//
// Its first call must poll even when the previous poll emptied epoll's
// ready list: RawConn.Read clears the readiness Go's poller recorded
// before the call (tried: skipping that epoll_wait lost wake-ups).
func (w *worker) pollOnce(fd uintptr) bool {
	l := &w.s.lp
	n := rawEpollPoll(int(fd), w.evs)
	w.pollN = n
	return n > 0 || l.rq.n.Load() > 0 || l.stopped.Load()
}

// poke writes the eventfd: one edge, which makes the epoll fd readable.
// The counter is never read back: edges come from writes, not from the
// value, and 2^64 writes do not happen.
func (l *loop) poke() {
	one := [8]byte{1}
	_, _ = rawWrite(l.efd, one[:])
}

// eventBits turns epoll event flags into task bits.
func eventBits(e uint32) uint32 {
	var bits uint32
	if e&(unix.EPOLLIN|unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR|unix.EPOLLPRI) != 0 {
		bits |= bRead
	}
	if e&(unix.EPOLLHUP|unix.EPOLLERR) != 0 {
		bits |= bHup
	}
	if e&unix.EPOLLRDHUP != 0 {
		bits |= bRdHup
	}
	if e&unix.EPOLLOUT != 0 {
		bits |= bFlush
	}
	return bits
}

// runq is an intrusive FIFO of claimed connections: a connection is in it
// at most once (bQueued), so it is bounded by the number of connections
// and a push never blocks.
type runq struct {
	mu         sync.Mutex
	head, tail *Conn
	n          atomic.Int64
	closed     bool
}

func (q *runq) push(c *Conn) bool {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return false
	}
	c.runNext = nil
	if q.tail == nil {
		q.head = c
	} else {
		q.tail.runNext = c
	}
	q.tail = c
	q.n.Add(1)
	q.mu.Unlock()
	return true
}

func (q *runq) pop() *Conn {
	if q.n.Load() == 0 {
		return nil
	}
	q.mu.Lock()
	c := q.head
	if c != nil {
		q.head = c.runNext
		if q.head == nil {
			q.tail = nil
		}
		c.runNext = nil
		q.n.Add(-1)
	}
	q.mu.Unlock()
	return c
}

func (q *runq) close() {
	q.mu.Lock()
	q.closed = true
	q.head, q.tail = nil, nil
	q.n.Store(0)
	q.mu.Unlock()
}

// fdTable maps fds to their connections for the event loop, lock-free
// for readers: two levels of fixed arrays, chunks allocated on first use,
// so no entry ever moves.
type fdTable struct {
	mu     sync.Mutex
	chunks [tabChunks]atomic.Pointer[[tabChunk]atomic.Pointer[Conn]]
}

const (
	tabChunk  = 1 << 12
	tabChunks = 1 << 12 // fds below 16M
)

var errFDTooBig = errors.New("netpoll: fd number out of range")

func (t *fdTable) set(c *Conn) error {
	fd := int(c.fd)
	if fd < 0 || fd >= tabChunk*tabChunks {
		return errFDTooBig
	}
	ch := t.chunks[fd/tabChunk].Load()
	if ch == nil {
		t.mu.Lock()
		if ch = t.chunks[fd/tabChunk].Load(); ch == nil {
			ch = new([tabChunk]atomic.Pointer[Conn])
			t.chunks[fd/tabChunk].Store(ch)
		}
		t.mu.Unlock()
	}
	ch[fd%tabChunk].Store(c)
	return nil
}

func (t *fdTable) get(fd int32) *Conn {
	if fd < 0 || int(fd) >= tabChunk*tabChunks {
		return nil
	}
	if ch := t.chunks[fd/tabChunk].Load(); ch != nil {
		return ch[fd%tabChunk].Load()
	}
	return nil
}

func (t *fdTable) clear(c *Conn) {
	if c.fd < 0 || int(c.fd) >= tabChunk*tabChunks {
		return
	}
	if ch := t.chunks[int(c.fd)/tabChunk].Load(); ch != nil {
		ch[int(c.fd)%tabChunk].CompareAndSwap(c, nil)
	}
}
