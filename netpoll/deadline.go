package netpoll

import (
	"math"
	"sync"
	"time"
)

// Deadline kinds. Every deadline of one kind has the same duration
// (HandshakeTimeout; CloseTimeout for closing and lingering connections),
// so a list per kind, appended in time order, is sorted: the earliest
// deadline is always a list head, and adding, clearing and expiring are
// O(1) with no heap and no timer per connection.
const (
	dlHandshake = iota
	dlClose
	nDeadlineKinds
)

// deadlineGrain is how late a deadline may fire (besides scheduling
// delays): the sweep wakes at deadlines rounded up to it, so deadlines
// that fall close together share one wake-up.
const deadlineGrain = 10 * time.Millisecond

// dlNode is one connection's pending deadline, held while the connection
// has one (during its handshake and its close). Nodes are recycled through
// deadlines.free, so connection churn allocates none in steady state,
// while an open connection without a deadline holds none.
type dlNode struct {
	prev, next *dlNode
	c          *Conn
	at         int64 // Server.since() time
	kind       uint8
}

type dlList struct{ head, tail *dlNode }

// deadlines holds the connections that have a deadline, for the sweep
// goroutine to fire on time. Lock order: Conn.mu → deadlines.mu → nothing.
type deadlines struct {
	mu     sync.Mutex
	lists  [nDeadlineKinds]dlList
	wakeAt int64         // when the sweep goroutine wakes next (mu); MinInt64 while it is awake
	wake   chan struct{} // cap 1: a deadline earlier than wakeAt was added
	free   *dlNode       // recycled nodes, linked by next (mu)
	nfree  int           // len(free), at most maxFreeNodes
}

// maxFreeNodes bounds the recycled nodes kept after a burst of handshakes
// or closes (48 bytes each).
const maxFreeNodes = 4096

func (d *deadlines) init() {
	d.wake = make(chan struct{}, 1)
	d.wakeAt = math.MinInt64 // the sweep goroutine plans before it sleeps
}

// set gives c a deadline of kind at time at, replacing any it had; it
// reports whether the sweep must wake earlier than planned.
func (d *deadlines) set(c *Conn, kind uint8, at int64) bool {
	n := c.dl
	switch {
	case n != nil:
		d.unlink(n)
	case d.free != nil:
		n, d.free = d.free, d.free.next
		d.nfree--
		n.c, n.next, c.dl = c, nil, n
	default:
		n = &dlNode{c: c}
		c.dl = n
	}
	n.at, n.kind = at, kind
	l := &d.lists[kind]
	n.prev, n.next = l.tail, nil
	if l.tail != nil {
		l.tail.next = n
	} else {
		l.head = n
	}
	l.tail = n
	c.setFlag(fDeadline, true)
	return at < d.wakeAt
}

// clear removes c's deadline, if any, and recycles its node.
func (d *deadlines) clear(c *Conn) {
	if n := c.dl; n != nil {
		d.unlink(n)
		n.c, c.dl = nil, nil
		c.setFlag(fDeadline, false)
		if d.nfree < maxFreeNodes {
			n.next, d.free = d.free, n
			d.nfree++
		}
	}
}

func (d *deadlines) unlink(n *dlNode) {
	l := &d.lists[n.kind]
	if n.prev != nil {
		n.prev.next = n.next
	} else {
		l.head = n.next
	}
	if n.next != nil {
		n.next.prev = n.prev
	} else {
		l.tail = n.prev
	}
	n.prev, n.next = nil, nil
}

// expire removes the connections whose deadline is at or before now and
// appends them to dst. A deadline never fires early.
func (d *deadlines) expire(now int64, dst []*Conn) []*Conn {
	for k := range d.lists {
		l := &d.lists[k]
		for n := l.head; n != nil && n.at <= now; n = l.head {
			c := n.c
			d.clear(c)
			dst = append(dst, c)
		}
	}
	return dst
}

// earliest is the first pending deadline (math.MaxInt64 if none).
func (d *deadlines) earliest() int64 {
	e := int64(math.MaxInt64)
	for k := range d.lists {
		if h := d.lists[k].head; h != nil {
			e = min(e, h.at)
		}
	}
	return e
}

// nextWake is when the sweep goroutine must wake: at its next tick, or at
// the earliest deadline rounded up to deadlineGrain if that comes first,
// so a deadline fires at most deadlineGrain after it falls.
func nextWake(tick, earliest int64) int64 {
	if earliest >= tick {
		return tick
	}
	g := int64(deadlineGrain)
	w := earliest
	if r := w % g; r != 0 {
		w += g - r
	}
	return min(w, tick)
}

// setDeadline gives c the deadline of kind, from now; any deadline it had
// is replaced.
func (s *Server) setDeadline(c *Conn, kind uint8) {
	dur := s.cfg.CloseTimeout
	if kind == dlHandshake {
		dur = s.cfg.HandshakeTimeout
	}
	s.dls.mu.Lock()
	// since() is read under the lock, so each list stays sorted.
	early := s.dls.set(c, kind, s.since()+int64(dur))
	s.dls.mu.Unlock()
	if early {
		select {
		case s.dls.wake <- struct{}{}:
		default:
		}
	}
}

// clearDeadline removes c's deadline, if any. A connection without one
// (most when they end: only a close we start sets one) skips the lock:
// every caller runs after the last setDeadline it could race with (the
// handshake deadline is set before the connection's task can run, a close
// deadline under Conn.mu while the state allows one, and the clears come
// after the state moved on), so a clear fDeadline is final for them.
func (s *Server) clearDeadline(c *Conn) {
	if !c.has(fDeadline) {
		return
	}
	s.dls.mu.Lock()
	s.dls.clear(c)
	s.dls.mu.Unlock()
}

// planWake records and returns when the sweep goroutine wakes next.
func (s *Server) planWake(tick int64) int64 {
	s.dls.mu.Lock()
	defer s.dls.mu.Unlock()
	s.dls.wakeAt = nextWake(tick, s.dls.earliest())
	return s.dls.wakeAt
}

// expireDeadlines drops the connections whose handshake, close or linger
// deadline has passed.
func (s *Server) expireDeadlines(now int64, buf []*Conn) []*Conn {
	s.dls.mu.Lock()
	s.dls.wakeAt = math.MinInt64 // awake: it plans again before sleeping, adders need not signal
	buf = s.dls.expire(now, buf[:0])
	s.dls.mu.Unlock()
	for _, c := range buf {
		c.drop(CloseAbnormal, "")
	}
	clear(buf)
	return buf
}
