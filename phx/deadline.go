package phx

import (
	"sync"
	"time"
)

// deadlines closes sockets that have joined no channel within the join
// deadline. One goroutine sweeps a set of waiting sockets: no timer per
// socket. It runs only while some socket is waiting.
type deadlines struct {
	limit   time.Duration
	onLapse func(*Socket)

	mu      sync.Mutex
	waiting map[*Socket]time.Time
	running bool
	stop    chan struct{}
	stopped chan struct{}
}

func newDeadlines(limit time.Duration, onLapse func(*Socket)) *deadlines {
	return &deadlines{limit: limit, onLapse: onLapse, waiting: make(map[*Socket]time.Time)}
}

// tick is the sweep period: fine enough for short deadlines in tests,
// coarse for the default 30 s.
func (d *deadlines) tick() time.Duration {
	return min(max(d.limit/8, 50*time.Millisecond), time.Second)
}

func (d *deadlines) add(s *Socket, now time.Time) {
	if d.limit <= 0 {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.stop == nil {
		d.stop = make(chan struct{})
	}
	d.waiting[s] = now.Add(d.limit)
	if !d.running {
		d.running = true
		d.stopped = make(chan struct{})
		go d.loop(d.stop, d.stopped)
	}
}

func (d *deadlines) remove(s *Socket) {
	if d.limit <= 0 {
		return
	}
	d.mu.Lock()
	delete(d.waiting, s)
	d.mu.Unlock()
}

func (d *deadlines) loop(stop <-chan struct{}, stopped chan<- struct{}) {
	defer close(stopped)
	t := time.NewTicker(d.tick())
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case now := <-t.C:
			if !d.sweep(now) {
				return
			}
		}
	}
}

// sweep fires lapsed deadlines; false once nobody waits (the loop exits).
func (d *deadlines) sweep(now time.Time) bool {
	var lapsed []*Socket
	d.mu.Lock()
	for s, at := range d.waiting {
		if !now.Before(at) {
			lapsed = append(lapsed, s)
			delete(d.waiting, s)
		}
	}
	idle := len(d.waiting) == 0
	if idle {
		d.running = false
	}
	d.mu.Unlock()
	for _, s := range lapsed {
		d.onLapse(s)
	}
	return !idle
}

// close stops the sweeper and waits for it.
func (d *deadlines) close() {
	d.mu.Lock()
	stop, stopped, running := d.stop, d.stopped, d.running
	d.running = false
	d.stop = nil
	d.mu.Unlock()
	if stop != nil {
		close(stop)
	}
	if running && stopped != nil {
		<-stopped
	}
}
