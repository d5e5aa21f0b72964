package netpoll

import (
	"testing"
	"time"
)

// TestLookHandsOverAfterStaleReplace: a look may replace a worker just as
// the task it saw ends (comp is set after the worker checked it), so comp
// stays set through the worker's next task. If that task is stuck too,
// the connections the worker batched behind it must still be handed over
// to the others, not wait for the stuck handler.
func TestLookHandsOverAfterStaleReplace(t *testing.T) {
	s, _ := startServer(t, Config{Workers: 1}, acceptAll(newRecorder(false)), nil)
	l := &s.lp
	w := newWorker(s) // a worker of the loop's shape, not running
	l.replace(w)      // the stale replace: comp set, a worker spawned
	all, stuck := l.workers()

	// Its next task is stuck (seq odd, started a second ago) with two claimed connections batched behind it.
	a, b := &Conn{s: s}, &Conn{s: s}
	a.sched.Store(bQueued)
	b.sched.Store(bQueued)
	w.batch = append(w.batch, a, b)
	w.start.Store(l.wd.now() - int64(time.Second))
	w.seq.Store(3)
	w.seen = 3
	l.look(w, 3, l.wd.now())

	w.mu.Lock()
	left := len(w.batch) - w.next
	w.mu.Unlock()
	if left != 0 {
		t.Fatalf("%d batched connections left behind a stuck task", left)
	}
	if a2, s2 := l.workers(); a2 != all || s2 != stuck {
		t.Fatalf("workers %d (%d stuck) became %d (%d stuck): a second replacement", all, stuck, a2, s2)
	}
	w.comp.Store(false) // w never ran: take it off the books
	l.mu.Lock()
	l.stuck--
	l.mu.Unlock()
	eventually(t, "the handed-over connections ran", func() bool {
		return a.sched.Load() == 0 && b.sched.Load() == 0
	})
}
