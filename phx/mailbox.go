package phx

import (
	"math"
	"time"
)

// A channel's work (its join, leave and client events, its After
// callbacks, Send functions, intercepted broadcasts, its end) runs one
// item at a time, in order. Where it runs depends on the channel:
//
//   - Inline, on the goroutine that delivered the work, when nothing of
//     the channel is queued or running and the channel is not marked
//     slow. Client frames (join, leave, events) run inline on the
//     transport's goroutine: a netpoll worker for a WebSocket, so that
//     the frame is read, handled and answered in one pass with no
//     goroutine hand-off; the POST's net/http goroutine for LongPoll. A
//     fired After timer runs its callback inline on the timer's own
//     goroutine.
//   - In the mailbox otherwise: appended to the channel's queue and run
//     by the channel's mailbox goroutine, which exists only while the
//     queue has work. Send, Stop, intercepted broadcasts (delivered under
//     the PubSub's fan-out lock), the teardown of a socket's channels and
//     the join that replaces an instance (it waits for the old one to
//     end) always go through the mailbox: their callers may hold locks
//     or must not wait.
//
// Either way nothing of a channel runs while an earlier item of it is
// queued or running (Channel.running covers both), so per-channel order
// is exact.
//
// Work run inline that takes longer than inlineBudget marks its channel
// slow: all of its later work goes through the mailbox, so a handler
// that blocks holds up a transport goroutine once, not at every message.
// A slow channel becomes fast again after slowRecovery consecutive
// mailbox items under the budget, doubled at each relapse (up to
// maxSlowStrikes doublings), so a handler that is slow now and then
// settles in the mailbox.

// inlineBudget is how long inline work may run before its channel is
// moved to its mailbox. 1 ms is far above a handler that computes and
// replies (a few µs) and under one that waits for a disk, a database or
// another service; it is also about the delay after which netpoll starts
// a spare worker for the other connections of a stuck one.
const inlineBudget = time.Millisecond

// slowRecovery is how many mailbox items in a row must run under
// inlineBudget before a slow channel runs inline again (after its first
// strike; each later strike doubles it).
const slowRecovery = 16

// maxSlowStrikes caps the doublings of slowRecovery (the longest wait is
// 16 << 9 = 8,192 fast items).
const maxSlowStrikes = 10

// pinnedSlow, as Channel.strikes, keeps a channel slow for good (tests pin
// channels whose handlers block by design).
const pinnedSlow = math.MaxUint8

// mail is one mailbox item (16 bytes: the mailbox of a busy channel is
// copied as it grows). size >= 0 marks client work, an inbound frame of
// size bytes counted toward the socket's inbound caps until it has run;
// other work has size uncounted.
type mail struct {
	f    func()
	size int32
}

// uncounted is the size of mail that is not client work.
const uncounted = -1

// frameSize is the inbound count of a frame of size bytes: a size beyond
// int32 (no frame limit allows one) counts as the largest int32.
func frameSize(size int) int32 { return int32(min(size, math.MaxInt32)) }

// enqueue appends f to the mailbox and starts its goroutine if idle.
func (c *Channel) enqueue(f func()) { c.post(mail{f: f, size: uncounted}) }

// enqueueIn is enqueue for work a client frame of size bytes asked for (a
// join, leave or event): it counts toward the socket's inbound caps, and
// may pause the socket's input, until it has run.
func (c *Channel) enqueueIn(size int, f func()) {
	sz := frameSize(size)
	c.socket.inboundAcquire(int(sz))
	c.post(mail{f: f, size: sz})
}

// dispatchIn is enqueueIn that runs f inline when the channel allows it.
func (c *Channel) dispatchIn(size int, f func()) {
	sz := frameSize(size)
	c.socket.inboundAcquire(int(sz))
	c.runOrPost(mail{f: f, size: sz})
}

// runOrPost runs m inline when nothing of the channel is queued or
// running and it is not slow; else it posts m.
func (c *Channel) runOrPost(m mail) {
	if !c.inlineBegin() {
		c.post(m)
		return
	}
	start := time.Now()
	defer c.inlineEnd(start, m.size)
	m.f()
}

// dispatchEvent is dispatchIn for a client event, without the closure
// (the common path of an echo allocates none here when it runs inline).
func (c *Channel) dispatchEvent(in *InMessage, size int) {
	sz := frameSize(size)
	c.socket.inboundAcquire(int(sz))
	if !c.inlineBegin() {
		c.post(mail{f: func() { c.runIn(in) }, size: sz})
		return
	}
	start := time.Now()
	defer c.inlineEnd(start, sz)
	c.runIn(in)
}

// inlineBegin claims the channel for work on the calling goroutine: true
// when nothing of it is queued or running and it is not slow.
func (c *Channel) inlineBegin() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.running || c.slow {
		return false
	}
	c.running = true
	return true
}

// inlineEnd ends work that ran inline since start: it releases the
// work's inbound count, marks the channel slow if the work took longer
// than inlineBudget, and hands whatever was queued meanwhile (the
// handler's own Send or Stop, a broadcast, a timer) to the mailbox
// goroutine rather than running it here.
func (c *Channel) inlineEnd(start time.Time, size int32) {
	took := time.Since(start)
	if size != uncounted {
		c.socket.inboundRelease(int(size))
	}
	c.mu.Lock()
	if took > c.socket.srv.inlineBudget && !c.slow {
		c.slow, c.fastRuns = true, 0
		if c.strikes < maxSlowStrikes {
			c.strikes++
		}
	}
	if c.x == nil || len(c.x.queue) == 0 {
		c.running = false
		c.mu.Unlock()
		return
	}
	c.mu.Unlock()
	go c.run()
}

// post appends m to the mailbox and starts its goroutine if idle.
func (c *Channel) post(m mail) {
	c.mu.Lock()
	x := c.extra()
	x.queue = append(x.queue, m)
	start := !c.running
	c.running = true
	c.mu.Unlock()
	if start {
		go c.run()
	}
}

// run is the mailbox goroutine: it runs the queue until it is empty.
// While the channel is slow it times each item toward its recovery.
func (c *Channel) run() {
	for {
		c.mu.Lock()
		x := c.x // post made it
		if len(x.queue) == 0 {
			c.running = false
			x.queue = nil
			if x.empty() { // an idle channel gives its chanExtra back
				c.x = nil
			}
			c.mu.Unlock()
			return
		}
		m := x.queue[0]
		x.queue[0] = mail{}
		x.queue = x.queue[1:]
		timed := c.slow
		c.mu.Unlock()
		var start time.Time
		if timed {
			start = time.Now()
		}
		if m.size != uncounted {
			c.runCounted(m)
		} else {
			m.f()
		}
		if timed {
			c.timedRun(time.Since(start))
		}
	}
}

// timedRun counts one mailbox item of a slow channel that took took: a
// run of fast ones long enough lets the channel run inline again.
func (c *Channel) timedRun(took time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.slow || c.strikes == pinnedSlow {
		return
	}
	if took > c.socket.srv.inlineBudget {
		c.fastRuns = 0
		return
	}
	c.fastRuns++
	if c.fastRuns >= slowRecovery<<(c.strikes-1) {
		c.slow, c.fastRuns = false, 0
	}
}

// runCounted runs client work and then releases its inbound count, even
// if it panics through (which only a bug in this package can make it do).
func (c *Channel) runCounted(m mail) {
	defer c.socket.inboundRelease(int(m.size))
	m.f()
}

// empty reports whether x holds nothing (its mailbox drained).
func (x *chanExtra) empty() bool {
	return x.queue == nil && x.onFinish == nil && x.pending == nil && x.timers == nil &&
		x.done == nil && x.reason == nil
}
