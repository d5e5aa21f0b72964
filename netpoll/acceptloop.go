package netpoll

import (
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// Accepting runs on the event loop. Each listener Serve polls is one
// acceptor: a duplicate of the listener's fd, registered edge-triggered
// (EPOLLIN|EPOLLET) in the loop's own epoll. Its events carry
// Pad = padListener and, in the Fd field, the acceptor's index in
// loop.acc (not an fd number). The eventfd's events carry Pad 0 and a
// connection's events its generation, which newConn never makes 0 or
// genListener, so the three kinds cannot be mistaken for one another.
//
// The worker whose batch holds a listener's event claims the acceptor
// (one accept task at a time per listener; an event that comes while
// the task runs marks it to look again) and runs the task inline, before
// its connections: accept4 until EAGAIN, at most acceptBound connections,
// each admitted by Server.accept. A task that stops at the bound, or
// that an event came during, re-arms the registration (EPOLL_CTL_MOD),
// which queues a new event behind those already ready while the queue is
// not empty: being edge-triggered, nothing else would announce the
// connections still waiting. A passing accept error (fd exhaustion) is
// logged and the acceptor backs off: its events are ignored until a
// timer re-arms it (5 ms, doubling up to 1 s while the errors go on), so
// no worker ever sleeps. Any other error ends the listener's Serve with
// it.
//
// Close (stopAccepting, through Server.listeners) removes the
// registration before it closes the duplicate, under the mutex the task
// holds, so no accept4 ever reaches a closed or reused fd number.

// padListener is the Pad of a listener's epoll events: genListener as an
// int32.
const padListener = int32(-1)

// genListener is the generation no connection gets (newConn skips it),
// so that padListener cannot be a connection's event.
const genListener = ^uint32(0)

// acceptBound is the most connections one accept task accepts before it
// re-arms the listener and lets the connections' events run.
const acceptBound = 64

// Acceptor states (acceptor.st).
const (
	aRun   uint32 = 1 << iota // a worker runs (or is about to run) the accept task
	aAgain                    // an event came while the task ran
	aOff                      // backing off after an accept error (or failed): events are ignored
)

// acceptFault, when set (tests), is called before each accept4 with the
// number of accept4 calls the task made before; an error it returns is
// taken as accept4's.
var acceptFault atomic.Pointer[func(tries int) error]

// acceptor is one listener served by the event loop.
type acceptor struct {
	s    *Server
	sv   *serveCtx
	fd   int   // the listener's duplicate: ours, non-blocking, close-on-exec
	idx  int32 // index in loop.acc, the Fd of its epoll events
	st   atomic.Uint32
	stop chan struct{} // closed by Close
	fail chan error    // cap 1: the error that ends Serve

	mu     sync.Mutex // held by the accept task, the re-arm timer and Close
	closed bool
	armed  bool          // registered in epoll
	delay  time.Duration // current backoff, 0 after a successful accept
	timer  *time.Timer   // the backoff's re-arm
}

// acceptors is the loop's table of listeners, indexed by acceptor.idx:
// copy on write (listeners come and go rarely), read lock-free by dispatch.
type acceptors struct {
	mu  sync.Mutex
	tab atomic.Pointer[[]*acceptor]
}

func (t *acceptors) add(a *acceptor) {
	t.mu.Lock()
	var old []*acceptor
	if p := t.tab.Load(); p != nil {
		old = *p
	}
	nw := append(old[:len(old):len(old)], a)
	a.idx = int32(len(nw) - 1)
	t.tab.Store(&nw)
	t.mu.Unlock()
}

func (t *acceptors) remove(a *acceptor) {
	t.mu.Lock()
	if p := t.tab.Load(); p != nil && int(a.idx) < len(*p) && (*p)[a.idx] == a {
		nw := append([]*acceptor(nil), *p...)
		nw[a.idx] = nil
		t.tab.Store(&nw)
	}
	t.mu.Unlock()
}

func (t *acceptors) get(i int32) *acceptor {
	p := t.tab.Load()
	if p == nil || i < 0 || int(i) >= len(*p) {
		return nil
	}
	return (*p)[i]
}

// newAcceptor wraps the listener duplicate fd and enters it in the loop's
// table; arm registers it.
func (s *Server) newAcceptor(fd int, sv *serveCtx) *acceptor {
	a := &acceptor{s: s, sv: sv, fd: fd, stop: make(chan struct{}), fail: make(chan error, 1)}
	s.lp.acc.add(a)
	return a
}

// event is the listener's epoll registration: edge-triggered input,
// tagged as a listener's (Pad) with the acceptor's index (Fd).
func (a *acceptor) event() unix.EpollEvent {
	return unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLET, Fd: a.idx, Pad: padListener}
}

// arm registers the listener in epoll; its first event comes at once if
// connections are waiting.
func (a *acceptor) arm() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return ErrServerClosed
	}
	ev := a.event()
	if err := rawEpollCtl(a.s.lp.ep, unix.EPOLL_CTL_ADD, a.fd, &ev); err != nil {
		return err
	}
	a.armed = true
	return nil
}

// rearmLocked makes epoll look at the listener again (a.mu held): an
// event is queued if connections are waiting.
func (a *acceptor) rearmLocked() {
	if a.closed || !a.armed {
		return
	}
	ev := a.event()
	if err := rawEpollCtl(a.s.lp.ep, unix.EPOLL_CTL_MOD, a.fd, &ev); err != nil {
		a.s.log.Warn("netpoll: listener re-arm", "err", err)
	}
}

// wait blocks Serve until the server stops or the listener fails.
func (a *acceptor) wait() error {
	select {
	case <-a.stop:
		return ErrServerClosed
	case err := <-a.fail:
		if a.s.isStopping() {
			return ErrServerClosed
		}
		return err
	}
}

// Close removes the registration, then closes the duplicate (after any
// accept task in progress).
func (a *acceptor) Close() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return nil
	}
	a.closed = true
	if a.timer != nil {
		a.timer.Stop()
	}
	if a.armed {
		_ = rawEpollCtl(a.s.lp.ep, unix.EPOLL_CTL_DEL, a.fd, nil)
		a.armed = false
	}
	a.s.lp.acc.remove(a)
	close(a.stop)
	return unix.Close(a.fd)
}

// claim takes the accept task for the worker whose event this is; false
// when another worker runs it (it is told to look again) or the acceptor
// backs off.
func (a *acceptor) claim() bool {
	for {
		old := a.st.Load()
		if old&aOff != 0 {
			return false
		}
		nw := old | aRun
		if old&aRun != 0 {
			nw |= aAgain
		}
		if nw == old || a.st.CompareAndSwap(old, nw) {
			return old&aRun == 0
		}
	}
}

// acceptEvent is dispatch's part for a listener's event (Pad padListener,
// Fd the acceptor's index): w runs the task after dispatch if it claims it.
func (w *worker) acceptEvent(l *loop, i int32) {
	if a := l.acc.get(i); a != nil && a.claim() {
		w.accs = append(w.accs, a)
	}
}

// runAccepts runs the accept tasks w claimed, under the watchdog's eye
// like a connection's task, and reports whether the worker must retire.
// When the watchdog replaced w during one, the accept tasks w has not
// started are handed off (the others take them) and w retires, its batch
// handed over, as after a connection's task (runBatch).
func (w *worker) runAccepts() bool {
	for i := 0; i < len(w.accs); i++ {
		a := w.accs[i]
		w.accs[i] = nil
		if !w.watched(a.run) {
			continue
		}
		for _, b := range w.accs[i+1:] {
			b.handOff()
		}
		clear(w.accs)
		w.accs = w.accs[:0]
		if w.s.lp.retire(w) {
			w.handOver(&w.s.lp)
			return true
		}
	}
	w.accs = w.accs[:0]
	return false
}

// handOff gives a claimed accept task back unstarted: the claim is
// dropped and the listener re-armed, so that a worker polling epoll
// gets an event if connections are waiting.
func (a *acceptor) handOff() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.st.Store(0)
	a.rearmLocked()
}

// run is the accept task: accept4 until EAGAIN or acceptBound, then
// release (re-arming when it stopped early or an event came meanwhile),
// back off, or fail.
func (a *acceptor) run() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return
	}
	s, sv := a.s, a.sv
	sv.listenerNoDelay(a.fd)
	var err error
	drained := false
loop:
	for tries := 0; tries < acceptBound; tries++ {
		nfd, peer, e := a.accept4(tries)
		switch e {
		case nil:
			a.delay = 0
			s.accept(nfd, peer, sv)
		case unix.EAGAIN:
			sv.acceptDrained()
			drained = true
			break loop
		case unix.EINTR, unix.ECONNABORTED:
		default:
			err = e
			break loop
		}
	}
	switch {
	case err == nil:
		// Drained, the next arrival raises an edge; else come back.
		if old := a.st.Swap(0); old&aAgain != 0 || !drained {
			a.rearmLocked()
		}
	case retryable(err):
		a.st.Store(aOff)
		a.delay = s.nextBackoff(a.delay, err)
		if a.timer == nil {
			a.timer = time.AfterFunc(a.delay, a.backOn)
		} else {
			a.timer.Reset(a.delay)
		}
	default:
		a.st.Store(aOff)
		if a.armed {
			_ = rawEpollCtl(s.lp.ep, unix.EPOLL_CTL_DEL, a.fd, nil)
			a.armed = false
		}
		select {
		case a.fail <- err:
		default:
		}
	}
}

// backOn ends a backoff: events count again and the listener is looked
// at again.
func (a *acceptor) backOn() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed || !a.armed {
		return
	}
	a.st.Store(0)
	a.rearmLocked()
}

// accept4 is sv.accept4 on the listener, through acceptFault in tests.
func (a *acceptor) accept4(tries int) (int, peerAddr, error) {
	if f := acceptFault.Load(); f != nil {
		if err := (*f)(tries); err != nil {
			return -1, peerAddr{}, err
		}
	}
	return a.sv.accept4(a.fd)
}
