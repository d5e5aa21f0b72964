package phx

import (
	"sync"
	"time"
)

// sweeper runs check every period on one goroutine, and only while there is
// something to watch: check reports whether anything is left, and the
// goroutine exits when nothing is, until the next wake. It replaces a timer
// per socket or session with one coarse scan.
type sweeper struct {
	period time.Duration
	check  func(now time.Time) (more bool)

	mu      sync.Mutex
	running bool
	woken   bool // a wake arrived since the last check
	closed  bool
	stop    chan struct{}
	stopped chan struct{}
}

func newSweeper(period time.Duration, check func(time.Time) bool) *sweeper {
	return &sweeper{period: period, check: check, stop: make(chan struct{})}
}

// wake makes sure the goroutine runs; call it after adding something to
// watch.
func (sw *sweeper) wake() {
	sw.mu.Lock()
	defer sw.mu.Unlock()
	sw.woken = true
	if sw.running || sw.closed {
		return
	}
	sw.running = true
	sw.stopped = make(chan struct{})
	go sw.loop(sw.stopped)
}

func (sw *sweeper) loop(stopped chan<- struct{}) {
	defer close(stopped)
	t := time.NewTicker(sw.period)
	defer t.Stop()
	for {
		select {
		case <-sw.stop:
			return
		case now := <-t.C:
			sw.mu.Lock()
			sw.woken = false
			sw.mu.Unlock()
			if sw.check(now) {
				continue
			}
			sw.mu.Lock()
			if !sw.woken { // nothing added since the check: park
				sw.running = false
				sw.mu.Unlock()
				return
			}
			sw.mu.Unlock()
		}
	}
}

// close stops the goroutine for good and waits for it.
func (sw *sweeper) close() {
	sw.mu.Lock()
	if sw.closed {
		sw.mu.Unlock()
		return
	}
	sw.closed = true
	running, stopped := sw.running, sw.stopped
	sw.running = false
	close(sw.stop)
	sw.mu.Unlock()
	if running {
		<-stopped
	}
}
