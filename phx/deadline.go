package phx

import (
	"sync"
	"time"
)

// deadlines closes sockets that have joined no channel within the join
// deadline: a set of waiting sockets scanned by one sweeper, no timer per
// socket.
type deadlines struct {
	limit   time.Duration
	onLapse func(*Socket)
	sweep   *sweeper

	mu      sync.Mutex
	waiting map[*Socket]time.Time
}

func newDeadlines(limit time.Duration, onLapse func(*Socket)) *deadlines {
	d := &deadlines{limit: limit, onLapse: onLapse, waiting: make(map[*Socket]time.Time)}
	// fine enough for short deadlines in tests, coarse for the default 30 s
	d.sweep = newSweeper(min(max(limit/8, 50*time.Millisecond), time.Second), d.lapse)
	return d
}

func (d *deadlines) add(s *Socket, now time.Time) {
	if d.limit <= 0 {
		return
	}
	d.mu.Lock()
	d.waiting[s] = now.Add(d.limit)
	d.mu.Unlock()
	d.sweep.wake()
}

func (d *deadlines) remove(s *Socket) {
	if d.limit <= 0 {
		return
	}
	d.mu.Lock()
	delete(d.waiting, s)
	d.mu.Unlock()
}

// lapse fires lapsed deadlines; false once nobody waits.
func (d *deadlines) lapse(now time.Time) bool {
	var lapsed []*Socket
	d.mu.Lock()
	for s, at := range d.waiting {
		if !now.Before(at) {
			lapsed = append(lapsed, s)
			delete(d.waiting, s)
		}
	}
	more := len(d.waiting) > 0
	d.mu.Unlock()
	for _, s := range lapsed {
		d.onLapse(s)
	}
	return more
}

// close stops the sweeper.
func (d *deadlines) close() { d.sweep.close() }
