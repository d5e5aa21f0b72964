// Package pubsub is the seam between the phx runtime and the PubSub that
// carries its broadcasts. Apps rarely import it: phx.Server.Broadcast and
// Channel.Broadcast publish, and phx.Config.PubSub (default: Memory) picks
// the implementation. It is for those who write an adapter (Redis, NATS,
// ...) and for tests that need to see broadcasts as the runtime does.
//
// # Contract
//
// A PubSub fans each Broadcast out to the Subscribers of its topic:
//
//   - Subscribers are told apart by SubscriberID (from NewSubscriberID).
//     Subscribing twice is a no-op; Unsubscribe removes by id.
//   - A Subscribe is in effect, on every node, for the broadcasts published
//     after it returns (phx writes a join's reply after subscribing: the
//     client may count on every broadcast sent after that reply).
//   - Broadcast reaches every subscriber of the topic on every node except
//     the one whose id is From. Ids are unique within one process only, so
//     From names a subscriber of the publishing node (the channel calling
//     BroadcastFrom): other nodes ignore it. LocalBroadcast delivers on
//     this node only. Subscribers counts this node's subscribers only.
//   - All subscribers on one node share one *Broadcast per message, which
//     nobody modifies once it is published; its encodings (Encoded) are
//     computed once per serializer version and shared too.
//   - Broadcasts one goroutine publishes on one topic reach each
//     subscriber in publish order.
//   - Once Unsubscribe(topic, s) has returned, s.Deliver is neither
//     running nor called again for that topic (until s subscribes again).
//     The runtime relies on this to tear a channel down.
//   - Deliver never blocks and never calls back into the PubSub.
//
// The conformance suite in package pubsubtest checks these for an
// implementation, on one node and across the nodes of a cluster.
//
// # Memory
//
// Memory, the single-node implementation, keeps its topic table in 64
// shards chosen by a hash of the topic. Each shard has one sync.RWMutex,
// the outermost lock of the runtime:
//
//   - Subscribe and Unsubscribe take the shard's write lock;
//   - LocalBroadcast (and Broadcast) take its read lock and call every
//     subscriber's Deliver while holding it, so fan-outs on one shard run
//     in parallel, and an Unsubscribe waits for the fan-outs already under
//     way on that shard: that wait is what makes the Unsubscribe promise
//     above hold;
//   - Subscribers takes the read lock.
//
// Deliver therefore runs with a shard read lock held: it must not call
// Subscribe, Unsubscribe or Broadcast (a read lock taken again behind a
// waiting writer deadlocks), and it must not block. It may take the
// subscriber's own locks, which come after the shard lock in lock order.
// Memory starts no goroutine: every delivery runs on the publisher's
// goroutine.
package pubsub

import (
	"sync"
	"sync/atomic"

	"github.com/phxgo/phxgo/serializer"
)

// Broadcast is one message published on a topic. It is immutable once
// published: every subscriber on a node shares it, and its wire encodings
// are computed at most once per serializer version (Phoenix's "fastlane").
type Broadcast struct {
	Topic   string
	Event   string
	Payload []byte // JSON object text, or bytes when Binary
	Binary  bool
	// From is the subscriber id that must not receive it (broadcast_from),
	// 0 for none.
	From uint64
	// Skip, when set, names further subscribers of this node that must
	// not receive it (other nodes ignore it: it is not sent to them).
	Skip func(subscriberID uint64) bool

	once  sync.Once
	cache *serializer.Cache
	zip   atomic.Pointer[compressedFrames] // compressed frames (compress.go)
}

// Encoded returns b as a broadcast frame for serializer version v, whether
// that frame is binary, and any encoding error. The first call for a
// version encodes; later calls, from any goroutine, return the same frame,
// which must not be modified.
func (b *Broadcast) Encoded(v serializer.Version) (frame []byte, binary bool, err error) {
	b.once.Do(func() {
		b.cache = serializer.NewCache(serializer.Message{
			Kind: serializer.KindBroadcast, Topic: b.Topic, Event: b.Event,
			Payload: b.Payload, Binary: b.Binary,
		})
	})
	return b.cache.Encoded(v)
}

// Subscriber receives broadcasts. Deliver must not block and must not call
// back into the PubSub (see the package doc).
type Subscriber interface {
	// SubscriberID is unique within the process and never 0: use
	// NewSubscriberID. It must not change while subscribed.
	SubscriberID() uint64
	// Deliver hands over one broadcast; b is shared and must not be
	// modified.
	Deliver(b *Broadcast)
}

// PubSub fans broadcasts out to subscribers, on this node and, for
// clustered implementations, on every other node. Its methods are safe for
// concurrent use.
type PubSub interface {
	// Subscribe adds s to topic; subscribing twice is a no-op.
	Subscribe(topic string, s Subscriber)
	// Unsubscribe removes s from topic. Once it returns, s.Deliver is not
	// running for topic and will not be called for it.
	Unsubscribe(topic string, s Subscriber)
	// Broadcast delivers b to every subscriber of b.Topic on every node,
	// except this node's subscriber whose id is b.From. A non-nil error
	// means b could not be handed to the other nodes.
	Broadcast(b *Broadcast) error
	// LocalBroadcast delivers b to this node's subscribers of b.Topic
	// only, except the one whose id is b.From.
	LocalBroadcast(b *Broadcast)
	// Subscribers counts this node's subscribers of topic.
	Subscribers(topic string) int
}

// NoWaitSubscriber is implemented by PubSubs whose Subscribe may wait for
// other nodes to confirm a subscription (a Redis PubSub waits for its
// SUBSCRIBE when a topic is new to the node). phx subscribes a socket's id
// topic (the target of the "disconnect" broadcast) while the connection
// opens, on an event-loop worker that must not block: it calls
// SubscribeNoWait there when the PubSub has it. The subscription is in
// effect on this node at once and on other nodes shortly after, so a
// broadcast another node publishes in that interval may be missed.
type NoWaitSubscriber interface {
	SubscribeNoWait(topic string, s Subscriber)
}

// Health is implemented by PubSubs that reach other nodes through
// something that can fail (a Redis PubSub): Connected reports whether
// broadcasts currently reach the other nodes. Broadcasts published while it
// is false are lost for them (at most once); Presence watches it to push
// presence_state again once the link is back, so that clients catch up on
// the presence_diffs they missed.
type Health interface {
	Connected() bool
}

var subscriberIDs atomic.Uint64

// NewSubscriberID returns a fresh process-unique subscriber id (never 0).
func NewSubscriberID() uint64 { return subscriberIDs.Add(1) }
