package presence

import (
	"github.com/phxgo/phxgo/phx"
	"github.com/phxgo/phxgo/phx/pubsub"
)

// Catching up after a PubSub outage. presence_diffs cross nodes through
// the PubSub, at most once: a diff published while the link to the other
// nodes is down (or while a node is still resubscribing after it) is lost
// for that node's clients, whose lists then drift from the store's. The
// store still holds the truth (each node re-announces its presences when
// it finds them gone), so when a PubSub that reports its health
// (pubsub.Health) is connected again, Presence pushes presence_state again
// to every channel it tracks for on this node, and phoenix.js's Presence
// turns the difference into the joins and leaves it missed (syncState).
// It does so at the first heartbeat that finds the PubSub connected again
// and once more two heartbeats later, by when every live node has
// heartbeated, found out what the store lost and announced its presences
// again. The heartbeat loop runs the watch (none when HeartbeatInterval is
// negative: call Resync yourself then).

// watchPubSub is run by the heartbeat loop at every beat (loop goroutine
// only: its state needs no lock).
func (p *Presence) watchPubSub() {
	h, ok := p.srv.PubSub().(pubsub.Health)
	if !ok {
		return
	}
	up := h.Connected()
	switch {
	case up && !p.psUp:
		n := p.Resync()
		p.log.Info("presence: PubSub connected again; pushed presence_state to this node's tracked channels", "channels", n)
		p.psAgain = 2 // beats: once more two heartbeats later
	case p.psAgain > 0:
		if p.psAgain--; p.psAgain == 0 && up {
			p.Resync()
		}
	}
	p.psUp = up
}

// Resync pushes presence_state again to every channel this Presence tracks
// presences for on this node, each in its own mailbox (after any reply or
// push already under way there), and returns how many. Presence calls it
// itself after a PubSub outage (see above); call it when you know clients
// missed presence_diffs some other way.
func (p *Presence) Resync() int {
	p.ownersMu.Lock()
	list := make([]*phx.Channel, 0, len(p.owners))
	for c := range p.owners {
		list = append(list, c)
	}
	p.ownersMu.Unlock()
	for _, c := range list {
		c.Send(func() {
			if err := p.PushState(c); err != nil && c.State() != phx.ChannelClosed {
				p.log.Warn("presence: presence_state resync failed", "topic", c.Topic(), "err", err)
			}
		})
	}
	return len(list)
}
