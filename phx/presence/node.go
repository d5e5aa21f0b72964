package presence

import (
	"time"

	"github.com/phxgo/phxgo/phx"
)

// Node liveness. Every node heartbeats in the store each
// HeartbeatInterval; each node also looks at the others' heartbeats and
// expires a node silent for more than NodeTimeout: ExpireNode removes its
// entries (a claim: exactly one expirer gets each entry) and the expirer
// broadcasts their leaves. A node that finds out it was expired (its
// heartbeat record was gone: another node expired it, or the store lost
// its data) announces its presences again under new refs.
//
// Timing: a node that dies without leaving last heartbeated at some t; the
// other nodes find it silent for more than NodeTimeout at their first check
// after t + NodeTimeout, at most one HeartbeatInterval later, so its
// presences leave every list by t + NodeTimeout + HeartbeatInterval (12s
// with the defaults), plus the store round trips and the clock skew
// between the nodes (heartbeat times are the beating node's clock, compared
// with the checking node's). A process that restarts under the same node id
// sooner removes them itself (New).

func (p *Presence) loop() {
	defer close(p.loopDone)
	tk := time.NewTicker(p.cfg.HeartbeatInterval)
	defer tk.Stop()
	for {
		select {
		case <-p.stop:
			return
		case now := <-tk.C:
			p.beat(now)
		}
	}
}

// beat heartbeats, re-announces after an expiry and expires dead nodes.
func (p *Presence) beat(now time.Time) {
	ctx, cancel := p.ctx()
	existed, err := p.store.Heartbeat(ctx, p.cfg.Node, now)
	cancel()
	if err != nil {
		p.log.Error("presence: heartbeat failed", "node", p.cfg.Node, "err", err)
		return
	}
	if !existed && p.beaten.Load() {
		p.log.Warn("presence: this node was expired by another node; announcing its presences again",
			"node", p.cfg.Node)
		p.reannounce()
	}
	p.beaten.Store(true)
	p.ExpireDeadNodes(now)
}

// ExpireDeadNodes removes the presences of every other node whose last
// heartbeat is older than NodeTimeout at now and broadcasts their leaves.
// The heartbeat loop calls it; it returns how many presences left.
func (p *Presence) ExpireDeadNodes(now time.Time) int {
	ctx, cancel := p.ctx()
	defer cancel()
	nodes, err := p.store.Nodes(ctx)
	if err != nil {
		p.log.Error("presence: listing nodes failed", "err", err)
		return 0
	}
	n := 0
	for _, node := range nodes {
		if node.ID == p.cfg.Node || now.Sub(node.LastSeen) <= p.cfg.NodeTimeout {
			continue
		}
		gone, err := p.store.ExpireNode(ctx, node.ID)
		if err != nil {
			p.log.Error("presence: expiring node failed", "node", node.ID, "err", err)
			continue
		}
		p.log.Warn("presence: expired dead node", "node", node.ID, "last_seen", node.LastSeen,
			"presences", len(gone))
		p.announceLeaves(gone)
		n += len(gone)
	}
	return n
}

// reannounce gives every local presence a new ref (same meta) after this
// node's entries were expired by another node: clients got their leaves.
func (p *Presence) reannounce() {
	type item struct {
		c    *phx.Channel
		slot slotKey
		e    Entry
	}
	var items []item
	p.ownersMu.Lock()
	for c, o := range p.owners {
		for slot, e := range o.entries {
			items = append(items, item{c, slot, e})
		}
	}
	p.ownersMu.Unlock()
	for _, it := range items {
		meta, err := decodeMeta(it.e.Meta)
		if err != nil {
			continue
		}
		// A concurrent update already gave it a new ref: nothing to do.
		_ = p.replace(it.c, it.slot, it.e, meta)
	}
}
