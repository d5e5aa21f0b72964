package netpoll

import (
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The checks that close the lost-wake-up windows of the run queue, pinned
// one by one (the stress tests hit these windows only by chance): a push
// that saw no idle worker and no sleeping poller relies on them.

// TestPollOnceSeesQueuedWork: a push that loaded pollSleep just before
// the poller stored it pokes nobody; the poller's callback must then see
// the queued work itself and not park (nor on a stop).
func TestPollOnceSeesQueuedWork(t *testing.T) {
	ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(ep)
	s := &Server{}
	w := &worker{s: s, evs: make([]unix.EpollEvent, maxEvents)}
	if w.pollOnce(uintptr(ep)) {
		t.Fatal("nothing ready, nothing queued: the poller must park")
	}
	s.lp.rq.n.Store(1)
	if !w.pollOnce(uintptr(ep)) {
		t.Fatal("work queued: the poller parked on it")
	}
	s.lp.rq.n.Store(0)
	s.lp.stopped.Store(true)
	if !w.pollOnce(uintptr(ep)) {
		t.Fatal("loop stopped: the poller parked")
	}
}

// TestParkSeesQueuedWork: a push that loaded idleN just before a worker
// registered as idle wakes nobody through the idle list; the worker must
// see the queued work after registering and stay up (off the list). With
// nothing queued it parks until woken.
func TestParkSeesQueuedWork(t *testing.T) {
	s := &Server{}
	l := &s.lp
	w := &worker{s: s, wake: make(chan struct{}, 1)}
	l.polling.Store(true)
	l.rq.n.Store(1)
	done := make(chan struct{})
	go func() { w.park(l); close(done) }()
	select {
	case <-done:
	case <-time.After(testWait):
		l.wakeIdle()
		<-done
		t.Fatal("work queued: the worker parked on it")
	}
	if l.idleN.Load() != 0 || len(l.idle) != 0 {
		t.Fatal("the worker left itself on the idle list")
	}

	l.rq.n.Store(0)
	done = make(chan struct{})
	go func() { w.park(l); close(done) }()
	for l.idleN.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	select {
	case <-done:
		t.Fatal("nothing queued, the poll role taken: the worker did not park")
	case <-time.After(20 * time.Millisecond):
	}
	if !l.wakeIdle() {
		t.Fatal("the parked worker is not on the idle list")
	}
	<-done
}
