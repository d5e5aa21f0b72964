package phxredis

import (
	"context"
	"errors"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// link is one Pub/Sub connection: the only one with one server, one per
// bucket in use with a Redis Cluster (SSUBSCRIBE pins a connection to the
// master of its first channel's slot, and all of a bucket's channels share
// one slot).
type link struct {
	bucket  int
	ps      *redis.PubSub
	started bool           // its receive goroutine runs (p.mu)
	topics  int            // topics subscribed through it (p.mu)
	expect  map[string]int // subscribe replies awaited per channel (p.mu)
	// awaiting counts the (un)subscribe replies awaited (p.mu); a lost
	// connection resets it, as those replies will not come.
	awaiting  int
	closing   atomic.Bool // set once l is dropped: its replies no longer count
	closeOnce sync.Once
	done      chan struct{} // closed when the link is closed
}

func (p *PubSub) newLink(bucket int) *link {
	l := &link{bucket: bucket, expect: map[string]int{}, done: make(chan struct{})}
	if p.sharded {
		l.ps = p.client.SSubscribe(p.ctx) // no channel yet: connects on the first SSUBSCRIBE
	} else {
		l.ps = p.client.Subscribe(p.ctx)
	}
	return l
}

// startLink starts l's receive goroutine; p.mu is held or l is not yet
// shared.
func (p *PubSub) startLink(l *link) {
	l.started = true
	p.wg.Add(1)
	go p.receiveLoop(l)
}

// close stops l; closing may have been set already (under p.mu, when the
// interest goroutine dropped l from the table).
func (l *link) close() {
	l.closing.Store(true)
	l.closeOnce.Do(func() {
		close(l.done)
		_ = l.ps.Close()
	})
}

// interestLoop is the interest goroutine: it turns the topics marked dirty
// into batched (S)SUBSCRIBE and (S)UNSUBSCRIBE commands. After a batch it
// waits for Redis's replies (at most settleWait) before the next, so what
// changes meanwhile goes out together: the number of commands follows the
// round trips, not the joins.
func (p *PubSub) interestLoop() {
	defer p.wg.Done()
	for {
		select {
		case <-p.ctx.Done():
			return
		case <-p.kick:
		}
		if p.reconcile() {
			p.settle()
		}
	}
}

// settleWait bounds the wait for one batch's replies.
const settleWait = 100 * time.Millisecond

func (p *PubSub) settle() {
	t := time.NewTimer(settleWait)
	defer t.Stop()
	for {
		p.mu.Lock()
		n := 0
		for _, l := range p.links {
			n += l.awaiting
		}
		p.mu.Unlock()
		if n <= 0 || !p.health.up() {
			return
		}
		select {
		case <-p.settled:
		case <-t.C:
			return
		case <-p.ctx.Done():
			return
		}
	}
}

type linkChange struct {
	l         *link
	sub, uns  []string
	start     bool
	closeLink bool
}

// reconcile brings the Redis subscriptions in line with the local
// subscribers of the dirty topics; it reports whether it sent anything.
func (p *PubSub) reconcile() bool {
	p.mu.Lock()
	changes := map[*link]*linkChange{}
	change := func(l *link) *linkChange {
		c := changes[l]
		if c == nil {
			c = &linkChange{l: l}
			changes[l] = c
		}
		return c
	}
	for topic := range p.dirty {
		// Under p.mu, so a Subscribe that follows sees the outcome: it
		// adds to the Memory before it takes p.mu.
		want := p.mem.Subscribers(topic) > 0
		st := p.topics[topic]
		ch := p.channel(topic)
		switch {
		case want:
			if st == nil {
				st = &topicState{}
				p.topics[topic] = st
			}
			if st.sent {
				continue
			}
			st.sent = true
			l := p.links[p.bucket(topic)]
			if l == nil {
				l = p.newLink(p.bucket(topic))
				p.links[l.bucket] = l
			}
			l.topics++
			p.inRedis.Add(1)
			l.expect[ch]++
			l.awaiting++
			change(l).sub = append(change(l).sub, ch)
		case st != nil:
			delete(p.topics, topic)
			st.release()
			if !st.sent {
				continue
			}
			l := p.links[p.bucket(topic)]
			l.topics--
			p.inRedis.Add(-1)
			l.awaiting++
			change(l).uns = append(change(l).uns, ch)
		}
	}
	if len(p.dirty) > 64 {
		p.dirty = map[string]struct{}{} // a cleared map keeps its buckets
	} else {
		clear(p.dirty)
	}
	for l, c := range changes {
		if p.sharded && l.topics == 0 {
			// Its last topic left: close it rather than keep a
			// connection to no channel (it would reconnect anywhere).
			c.closeLink = true
			l.closing.Store(true)
			delete(p.links, l.bucket)
			l.awaiting = 0
			clear(l.expect)
			continue
		}
		if !l.started && len(c.sub) > 0 {
			c.start = true
			l.started = true
		}
	}
	p.mu.Unlock()
	for l, c := range changes {
		if c.closeLink {
			l.close()
			p.health.forget(compLink + l.bucket)
			continue
		}
		p.command(l, c.uns, false)
		p.command(l, c.sub, true)
		if c.start {
			p.wg.Add(1)
			go p.receiveLoop(l)
		}
	}
	return len(changes) > 0
}

// command sends channels to l as (S)SUBSCRIBE or (S)UNSUBSCRIBE, in
// commands of at most maxChannelsPerCommand channels. go-redis records the
// channels even when the write fails, and subscribes a new connection to
// all it has: after an outage the link follows the interest as it is then.
func (p *PubSub) command(l *link, channels []string, subscribe bool) {
	for len(channels) > 0 {
		n := min(len(channels), maxChannelsPerCommand)
		part := channels[:n]
		channels = channels[n:]
		var err error
		switch {
		case subscribe && p.sharded:
			err = l.ps.SSubscribe(p.ctx, part...)
		case subscribe:
			err = l.ps.Subscribe(p.ctx, part...)
		case p.sharded:
			err = l.ps.SUnsubscribe(p.ctx, part...)
		default:
			err = l.ps.Unsubscribe(p.ctx, part...)
		}
		p.stats.commands.Add(1)
		if err != nil {
			// No reply will come: nobody waits for this write.
			p.linkDown(l, err)
		}
	}
}

// linkDown records that l lost Redis: its replies will not come, so no
// one waits for them (waiters return, and new Subscribes do not wait
// until Redis is back).
func (p *PubSub) linkDown(l *link, err error) {
	if p.ctx.Err() != nil || l.closing.Load() {
		return
	}
	p.health.fail(compLink+l.bucket, err)
	p.mu.Lock()
	l.awaiting = 0
	clear(l.expect)
	for topic, st := range p.topics {
		if p.bucket(topic) == l.bucket {
			st.release()
		}
	}
	p.mu.Unlock()
	p.signalSettled()
}

func (p *PubSub) signalSettled() {
	select {
	case p.settled <- struct{}{}:
	default:
	}
}

// confirmed handles Redis's reply to a (S)SUBSCRIBE (subscribe true) or
// (S)UNSUBSCRIBE of channel on l.
func (p *PubSub) confirmed(l *link, channel string, subscribe bool) {
	p.mu.Lock()
	if l.closing.Load() {
		p.mu.Unlock()
		return
	}
	if l.awaiting > 0 {
		l.awaiting--
	}
	if subscribe {
		n := l.expect[channel] - 1
		if n > 0 {
			l.expect[channel] = n
		} else {
			// The last SUBSCRIBE sent for it is in effect (replies come
			// in order); a reconnect's resubscription lands here too.
			delete(l.expect, channel)
			if len(l.expect) == 0 {
				// Go maps keep their buckets: after a burst of joins the
				// drained map would hold ~50 B per topic of the burst.
				l.expect = map[string]int{}
			}
			if topic, ok := p.topicOf(channel); ok {
				if st := p.topics[topic]; st != nil && st.sent {
					st.release()
				}
			}
		}
	}
	zero := l.awaiting == 0
	p.mu.Unlock()
	if zero {
		p.signalSettled()
	}
}

// receiveLoop is a link's receive goroutine: it reads l's connection,
// delivers other nodes' messages to this node's subscribers, notes
// subscription replies, and pings a quiet connection. On a failure it
// retries with backoff; go-redis then reconnects and resubscribes to the
// channels the link has at that moment. A ping left unanswered for
// healthEvery counts as a failure: the read that waits for it has a
// deadline go-redis treats as fatal, so it drops the connection (one that
// died silently, say behind a NAT that forgot it, would never report an
// error otherwise).
func (p *PubSub) receiveLoop(l *link) {
	defer p.wg.Done()
	attempt := 0
	wasDown, pinged := false, false
	for !l.closing.Load() && p.ctx.Err() == nil {
		var msg any
		var err error
		if pinged {
			ctx, cancel := context.WithTimeout(p.ctx, healthEvery)
			msg, err = l.ps.Receive(ctx)
			cancel()
		} else {
			msg, err = l.ps.ReceiveTimeout(p.ctx, healthEvery)
		}
		if err != nil {
			if l.closing.Load() || p.ctx.Err() != nil {
				return
			}
			if !pinged && isTimeout(err) {
				_ = l.ps.Ping(p.ctx) // a write error makes go-redis reconnect
				pinged = true
				continue
			}
			if isReply(err) {
				continue // Redis answered a command with an error
			}
			pinged, wasDown = false, true
			p.linkDown(l, err)
			select {
			case <-time.After(backoff(attempt)):
			case <-l.done:
				return
			case <-p.ctx.Done():
				return
			}
			attempt++
			continue
		}
		pinged = false
		if wasDown {
			wasDown = false
			p.stats.reconnects.Add(1)
		}
		attempt = 0
		p.health.recover(compLink + l.bucket)
		switch m := msg.(type) {
		case *redis.Message:
			p.receive(m.Channel, m.Payload)
		case *redis.Subscription:
			switch m.Kind {
			case "subscribe", "ssubscribe":
				p.confirmed(l, m.Channel, true)
			case "unsubscribe", "sunsubscribe":
				p.confirmed(l, m.Channel, false)
			}
		}
	}
}

func isTimeout(err error) bool {
	if errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
