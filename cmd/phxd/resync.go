package main

import (
	"sync"
	"time"

	"github.com/phxgo/phxgo/phx"
	"github.com/phxgo/phxgo/phx/presence"
)

// Presence after a Redis outage. presence_diffs cross nodes through the
// PubSub, at most once: a diff published while Redis is unreachable, or
// while a node is still resubscribing after it, is lost for that node's
// clients. The store in Redis still holds the truth (each node re-announces
// its presences when it finds them gone), so after an outage each node
// pushes presence_state again to its room members, and phoenix.js's
// Presence turns the difference into the joins and leaves it missed
// (syncState). It does so when its PubSub is connected again and once
// more two heartbeats later, by when every live node has heartbeated,
// found out what Redis lost and announced its presences again.

// members are this node's joined room channels.
type members struct {
	mu  sync.Mutex
	set map[*phx.Channel]struct{}
}

func newMembers() *members { return &members{set: make(map[*phx.Channel]struct{})} }

// add registers c until it ends.
func (m *members) add(c *phx.Channel) {
	m.mu.Lock()
	m.set[c] = struct{}{}
	m.mu.Unlock()
	c.OnTerminate(func(error) {
		m.mu.Lock()
		delete(m.set, c)
		m.mu.Unlock()
	})
}

// resync pushes presence_state to every member, each in its own mailbox
// (so after any reply or push already under way there).
func (m *members) resync(p *presence.Presence) int {
	m.mu.Lock()
	list := make([]*phx.Channel, 0, len(m.set))
	for c := range m.set {
		list = append(list, c)
	}
	m.mu.Unlock()
	for _, c := range list {
		c.Send(func() {
			if err := p.PushState(c); err != nil {
				c.Socket().Server().Logger().Warn("presence_state resync failed", "topic", c.Topic(), "err", err)
			}
		})
	}
	return len(list)
}

// watchOutages resyncs the members after each outage that connected()
// reports, checking every interval, until stop is closed.
func watchOutages(connected func() bool, interval time.Duration, resync func(), stop <-chan struct{}) {
	tk := time.NewTicker(interval)
	defer tk.Stop()
	up, again := connected(), 0
	for {
		select {
		case <-stop:
			return
		case <-tk.C:
		}
		now := connected()
		switch {
		case now && !up:
			resync()
			again = 2 // ticks: resync once more two heartbeats later
		case again > 0:
			if again--; again == 0 && now {
				resync()
			}
		}
		up = now
	}
}
