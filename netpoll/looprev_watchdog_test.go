package netpoll

import (
	"testing"
	"time"

	"github.com/gobwas/ws"
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
	w.start.Store(s.since() - int64(time.Second))
	w.seq.Store(3)
	w.seen = 3
	l.look(w, 3, s.since())

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

// TestWatchdogPacing: the pause between looks follows the earliest busy
// task's budget, falls back to the budget after a replacement, and
// doubles to 4 ms, no further, while the workers are between tasks (so a
// task that blocks after a quiet spell waits at most 4 ms + the budget).
func TestWatchdogPacing(t *testing.T) {
	cases := []struct {
		every, next time.Duration
		busy        bool
		want        time.Duration
	}{
		{time.Millisecond, 300 * time.Microsecond, true, 300 * time.Microsecond},
		{4 * time.Millisecond, 10 * time.Microsecond, true, 125 * time.Microsecond},
		{4 * time.Millisecond, -1, true, time.Millisecond},
		{time.Millisecond, -1, false, 2 * time.Millisecond},
		{2 * time.Millisecond, -1, false, 4 * time.Millisecond},
		{4 * time.Millisecond, -1, false, 4 * time.Millisecond},
	}
	for _, c := range cases {
		if got := nextLook(c.every, c.next, c.busy); got != c.want {
			t.Errorf("nextLook(%v, %v, %v) = %v, want %v", c.every, c.next, c.busy, got, c.want)
		}
	}
}

// TestWatchdogBacksOff: with a task starting every half millisecond (the
// watchdog never parks) but none running long, the watchdog looks at
// most every 1–4 ms: well under one look per millisecond over the run,
// where a fixed 1 ms tick made one per millisecond. Timers can only be
// late on a loaded machine, which lowers the count further.
func TestWatchdogBacksOff(t *testing.T) {
	s, addr := startServer(t, Config{Workers: 1}, acceptAll(newRecorder(true)), nil)
	c := dial(t, addr)
	c.send(ws.OpText, []byte("warm"))
	c.expectFrame(ws.OpText)
	start, t0 := s.lp.wd.looks.Load(), time.Now()
	for time.Since(t0) < 300*time.Millisecond {
		c.send(ws.OpText, []byte("x"))
		c.expectFrame(ws.OpText)
		time.Sleep(500 * time.Microsecond)
	}
	looks, ms := s.lp.wd.looks.Load()-start, time.Since(t0).Milliseconds()
	if s.lp.wd.parked.Load() {
		t.Fatalf("the watchdog parked although tasks kept starting")
	}
	// Steady state: one look per 4 ms (0.25 per ms); a loaded machine
	// catches tasks busy more often, and each such look brings the next
	// one forward: 0.75 per ms leaves room for that, while a fixed 1 ms
	// tick makes about one per millisecond.
	if looks*100 > ms*75 {
		t.Fatalf("%d looks in %d ms: the watchdog did not back off", looks, ms)
	}
}

// TestRetireHandsOverBatch: a replace that races with the end of the
// task it saw marks a worker that is between tasks; the worker then takes
// a new batch and retires after its first task. The rest of that batch
// is claimed, and would never run (new events only add bits to a claimed
// connection): it must be handed over as the worker retires.
func TestRetireHandsOverBatch(t *testing.T) {
	s, _ := startServer(t, Config{Workers: 1}, acceptAll(newRecorder(false)), nil)
	l := &s.lp
	w := newWorker(s) // a worker of the loop's shape, not running
	l.mu.Lock()
	l.ws = append(l.ws, w) // one worker too many once it is no longer stuck
	l.mu.Unlock()
	l.replace(w) // the stale replace, between tasks: nothing to hand over yet

	a, b, c := &Conn{s: s}, &Conn{s: s}, &Conn{s: s}
	for _, x := range []*Conn{a, b, c} {
		x.sched.Store(bQueued)
	}
	w.batch = append(w.batch, a, b, c) // the batch taken after the replace
	if !w.runBatch() {
		t.Fatal("the replaced worker did not retire after its task")
	}
	eventually(t, "the rest of the batch ran", func() bool {
		return a.sched.Load() == 0 && b.sched.Load() == 0 && c.sched.Load() == 0
	})
}
