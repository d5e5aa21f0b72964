package phx

import (
	"sync"
	"sync/atomic"

	"github.com/phxgo/phxgo/phx/pubsub"
)

// The counters below feed live dashboards (package phx/dashboard); the
// hot paths bump them with one uncontended atomic add at most.

// inStripes spreads the inbound frame count over cache lines, so sockets
// on different workers do not fight over one counter.
const inStripes = 16

// maxReasons bounds the distinct refusal reasons counted; later ones are
// counted under otherReason. maxReasonBytes cuts a long reason.
const (
	maxReasons     = 32
	maxReasonBytes = 64
	otherReason    = "(other)"
)

type dashStats struct {
	in        [inStripes]paddedCount
	websocket atomic.Int64 // open sockets by transport
	longPoll  atomic.Int64

	mu      sync.Mutex
	reasons map[string]int64
}

type paddedCount struct {
	n atomic.Int64
	_ [56]byte
}

// frameIn counts one client frame of the socket with subscriber id id.
func (d *dashStats) frameIn(id uint64) { d.in[id%inStripes].n.Add(1) }

// opened counts a socket of transport name opening (delta 1) or closing
// (delta -1).
func (d *dashStats) opened(name string, delta int64) {
	if name == "longpoll" {
		d.longPoll.Add(delta)
	} else {
		d.websocket.Add(delta)
	}
}

// rejectedFor counts a connect refused by the Connect handler with reason.
func (d *dashStats) rejectedFor(reason string) {
	if len(reason) > maxReasonBytes {
		reason = reason[:maxReasonBytes]
	}
	if reason == "" {
		reason = "(none)"
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.reasons == nil {
		d.reasons = make(map[string]int64)
	}
	if _, ok := d.reasons[reason]; !ok && len(d.reasons) >= maxReasons-1 {
		reason = otherReason
	}
	d.reasons[reason]++
}

// LiveStats is what a dashboard shows beside Stats and NetStats.
type LiveStats struct {
	WebSockets int64 // open sockets on the WebSocket transport
	LongPolls  int64 // open sockets on the LongPoll transport
	FramesIn   int64 // client frames handled since start (both transports, heartbeats included)
	// Rejected counts the connects Config.Connect refused, by their
	// ConnectError.Reason: at most 32 reasons (cut to 64 bytes), later
	// ones under "(other)".
	Rejected map[string]int64
}

// LiveStats returns the dashboard counters.
func (s *Server) LiveStats() LiveStats {
	d := &s.stats.dash
	ls := LiveStats{WebSockets: d.websocket.Load(), LongPolls: d.longPoll.Load()}
	for i := range d.in {
		ls.FramesIn += d.in[i].n.Load()
	}
	d.mu.Lock()
	ls.Rejected = make(map[string]int64, len(d.reasons))
	for k, v := range d.reasons {
		ls.Rejected[k] = v
	}
	d.mu.Unlock()
	return ls
}

// TopicStat is one topic with joined channels on this node.
type TopicStat struct {
	Topic      string
	Channels   int    // channel instances joined to it on this node
	Broadcasts uint64 // broadcasts it received since its first subscriber came
}

// ChannelTopics calls f for every topic with channels joined on this node
// (socket id topics are left out). It walks the PubSub's topic table, a
// shard at a time under the shard's read lock, so f must be quick and must
// not call into the Server. It returns false, calling f never, when the
// PubSub cannot list its topics (it is not a pubsub.TopicLister).
func (s *Server) ChannelTopics(f func(TopicStat)) bool {
	tl, ok := s.pubsub.(pubsub.TopicLister)
	if !ok {
		return false
	}
	tl.Topics(func(ti pubsub.TopicInfo) {
		n := 0
		for _, sub := range ti.Subscribers {
			if _, ok := sub.(*chanSub); ok {
				n++
			}
		}
		if n > 0 {
			f(TopicStat{Topic: ti.Topic, Channels: n, Broadcasts: ti.Broadcasts})
		}
	})
	return true
}
