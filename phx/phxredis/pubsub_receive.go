package phxredis

import (
	"unsafe"

	"github.com/phxgo/phxgo/phx/pubsub"
)

// receive handles one message read from channel: another node's broadcast
// is delivered to this node's subscribers as a fresh *Broadcast (so it is
// encoded once per serializer version here), this node's own is skipped,
// and anything not trusted is dropped and counted.
func (p *PubSub) receive(channel, msg string) {
	if len(msg) > p.maxMsg {
		p.drop("oversized", channel, nil)
		return
	}
	e, err := decodeEnvelope(msg)
	if err != nil {
		p.drop("malformed", channel, err)
		return
	}
	if e.node == p.node {
		return // our own, back from Redis: delivered locally already
	}
	if topic, ok := p.topicOf(channel); !ok || topic != e.topic {
		p.drop("topic does not match its channel", channel, nil)
		return
	}
	p.stats.received.Add(1)
	// From names a subscriber of the publishing node: ignored here. The
	// topic, event and payload are views of msg, a string go-redis made
	// for this message alone and nobody modifies; a Broadcast is never
	// modified either (package pubsub), so none is copied.
	p.mem.LocalBroadcast(&pubsub.Broadcast{
		Topic: e.topic, Event: e.event, Payload: bytesView(e.payload), Binary: e.binary,
	})
}

// bytesView is s's bytes, not copied; they must not be modified.
func bytesView(s string) []byte {
	if s == "" {
		return []byte{}
	}
	return unsafe.Slice(unsafe.StringData(s), len(s))
}

// drop counts a rejected message; they are logged at debug level only (a
// flood of junk must not flood the log).
func (p *PubSub) drop(why, channel string, err error) {
	p.stats.dropped.Add(1)
	p.log.Debug("redis message dropped", "why", why, "channel", channel, "err", err)
}
