package netpoll

import (
	"sync/atomic"
	"time"
)

// taskBudget is how long one task (a read with its OnMessage calls, a
// handshake with the Upgrader's decision, a flush) may hold a worker
// before the watchdog starts another worker in its place.
const taskBudget = time.Millisecond

// wdMaxLook is the longest the watchdog sleeps between two looks. It
// looks every taskBudget while it finds a worker busy, and backs off,
// doubling, to wdMaxLook while every look finds them between tasks: a
// look costs a timer, a goroutine and a thread wake-up (about 15 µs of
// CPU here), which at 1,000 looks a second was an eighth of the CPU of
// an idle-ish server echoing 2,000 messages a second. A stuck task is
// replaced once it has run for taskBudget, at the first look after
// that: within wdMaxLook + taskBudget of its start at worst.
const wdMaxLook = 4 * time.Millisecond

// maxWorkers bounds the workers the watchdog may start (loop.maxW, which
// tests lower): past it, blocked handlers stall the rest (as they would a
// fixed pool), and it is logged. A worker's scratch memory (read buffer,
// iovecs, frame headers) is about 90 KB, so the bound is also one on
// memory: about 90 MB with every worker blocked.
const maxWorkers = 1024

// wdParkAfter is how many looks without any task started make the
// watchdog park until the next task starts.
const wdParkAfter = 64

// watchdog keeps Config.Workers workers serving epoll and the run queue
// while handlers block: a worker found inside a task that started
// taskBudget ago or earlier is replaced by a new worker, and the
// connections of its batch that it had not started are queued for the
// others. The replaced worker finishes its task (its connection stays
// with it, so that connection's order holds) and then retires if the
// workers are enough without it. The watchdog parks when no task has
// started for wdParkAfter looks; the first task after that wakes it (one
// atomic load per task otherwise).
type watchdog struct {
	parked atomic.Bool
	kick   chan struct{} // cap 1
	done   chan struct{}
	looks  atomic.Int64
}

func (d *watchdog) init() {
	d.kick = make(chan struct{}, 1)
	d.done = make(chan struct{})
}

func (d *watchdog) stop() { close(d.done) }

// busy is called by a worker as a task starts (after its seq went odd).
func (d *watchdog) busy() {
	if d.parked.Load() && d.parked.CompareAndSwap(true, false) {
		select {
		case d.kick <- struct{}{}:
		default:
		}
	}
}

// watch is the watchdog goroutine.
func (l *loop) watch() {
	defer l.wg.Done()
	d := &l.wd
	every := taskBudget
	t := time.NewTimer(every)
	defer t.Stop()
	var ws []*worker
	quiet := 0
	for {
		select {
		case <-d.done:
			return
		case <-t.C:
		}
		l.mu.Lock()
		ws = append(ws[:0], l.ws...)
		l.mu.Unlock()
		now := l.s.since() // the clock tasks' starts are stamped by
		busy, moved := false, false
		next := time.Duration(-1) // until the earliest busy task reaches the budget
		for _, w := range ws {
			seq := w.seq.Load()
			if seq&1 == 1 {
				busy = true
				if left := l.look(w, seq, now); left > 0 && (next < 0 || left < next) {
					next = left
				}
			}
			moved = moved || seq != w.seen
			w.seen = seq
		}
		clear(ws)
		every = nextLook(every, next, busy)
		d.looks.Add(1)
		if busy || moved {
			quiet = 0
			t.Reset(every)
			continue
		}
		if quiet++; quiet < wdParkAfter {
			t.Reset(every)
			continue
		}
		// Park. A task that starts after the store sees parked and kicks;
		// one that started before it shows in the look that follows.
		d.parked.Store(true)
		if l.anyBusy() {
			if !d.parked.CompareAndSwap(true, false) {
				<-d.kick // a kick was sent meanwhile
			}
			t.Reset(taskBudget)
			continue
		}
		select {
		case <-d.done:
			return
		case <-d.kick:
		}
		quiet = 0
		every = taskBudget
		t.Reset(every)
	}
}

// nextLook is the pause before the next look, after one that paused
// every: until the earliest busy task reaches the budget (next, or -1)
// but at least an eighth of it; the budget when a busy worker was just
// replaced; doubled up to wdMaxLook when no worker was busy.
func nextLook(every, next time.Duration, busy bool) time.Duration {
	switch {
	case next >= 0:
		return max(next, taskBudget/8)
	case busy:
		return taskBudget
	default:
		return min(2*every, wdMaxLook)
	}
}

// look acts on a worker found busy (seq odd, just loaded) at now. A task
// that has run for taskBudget is stuck: its worker is replaced. One
// already marked replaced only has its unstarted batch handed over: the
// look that replaced it may have raced with the end of the task it saw
// (seq loaded odd, the task ended and checked comp, then comp was set),
// which leaves comp set through the worker's next task, and a stuck task
// there must not hold the connections batched behind it. It returns how
// long the task has left before it counts as stuck (0 once it does).
func (l *loop) look(w *worker, seq uint64, now int64) time.Duration {
	start := w.start.Load()
	if w.seq.Load() != seq {
		return 0 // the task ended meanwhile: start may be the next one's
	}
	if left := time.Duration(start + int64(taskBudget) - now); left > 0 {
		return left
	}
	if !w.comp.Load() {
		l.replace(w)
		return 0
	}
	w.handOver(l)
	return 0
}

func (l *loop) anyBusy() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, w := range l.ws {
		if w.seq.Load()&1 == 1 {
			return true
		}
	}
	return false
}

// replace starts a worker in place of w, stuck in one task, unless the
// loop is stopping or at maxWorkers, and hands w's unstarted batch over.
func (l *loop) replace(w *worker) {
	l.mu.Lock()
	if l.stopped.Load() {
		l.mu.Unlock()
		return
	}
	w.comp.Store(true)
	l.stuck++
	if len(l.ws)-l.stuck < l.want {
		if len(l.ws) >= l.maxW {
			l.mu.Unlock()
			l.s.log.Warn("netpoll: every worker is blocked in a handler", "workers", len(l.ws))
			w.handOver(l)
			return
		}
		l.spawnLocked()
	}
	l.mu.Unlock()
	w.handOver(l)
}

// retire is called by a replaced worker whose task ended: it is no
// longer stuck; it exits (true) if the other workers are enough.
func (l *loop) retire(w *worker) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	w.comp.Store(false)
	l.stuck--
	if len(l.ws)-l.stuck <= l.want {
		return false
	}
	for i, x := range l.ws {
		if x == w {
			l.ws[i] = l.ws[len(l.ws)-1]
			l.ws[len(l.ws)-1] = nil
			l.ws = l.ws[:len(l.ws)-1]
			break
		}
	}
	if len(l.spare) < maxSpare {
		// Its goroutine is about to return; nothing else refers to w:
		// it is out of l.ws, not idle, and its batch was handed over.
		l.spare = append(l.spare, w)
	}
	return true
}

// maxSpare bounds the retired workers kept for reuse.
const maxSpare = 8
