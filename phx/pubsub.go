package phx

import (
	"hash/maphash"
	"sync"
	"sync/atomic"

	"github.com/phxgo/phxgo/serializer"
)

// Broadcast is one message published on a PubSub topic. It is immutable once
// published: every local subscriber shares it, and its wire encodings are
// computed at most once per serializer version (Phoenix's "fastlane").
type Broadcast struct {
	Topic   string
	Event   string
	Payload []byte // JSON object text, or bytes when Binary
	Binary  bool
	// From is the subscriber id that must not receive it (broadcast_from),
	// 0 for none.
	From uint64

	once  sync.Once
	cache *serializer.Cache
}

// NewBroadcast builds a Broadcast from an app value (see RawJSON and
// Binary); a JSON payload must be an object.
func NewBroadcast(topic, event string, payload any) (*Broadcast, error) {
	data, binary, err := encodeObject(payload)
	if err != nil {
		return nil, err
	}
	return &Broadcast{Topic: topic, Event: event, Payload: data, Binary: binary}, nil
}

// encoded returns the frame payload for serializer version v, encoding it
// on first use.
func (b *Broadcast) encoded(v serializer.Version) ([]byte, bool, error) {
	b.once.Do(func() {
		b.cache = serializer.NewCache(serializer.Message{
			Kind: serializer.KindBroadcast, Topic: b.Topic, Event: b.Event,
			Payload: b.Payload, Binary: b.Binary,
		})
	})
	return b.cache.Encoded(v)
}

// Subscriber receives broadcasts. Deliver must not block and must not call
// back into the PubSub (it runs under the topic's read lock).
type Subscriber interface {
	// SubscriberID is unique within the process and never 0.
	SubscriberID() uint64
	Deliver(b *Broadcast)
}

// PubSub fans broadcasts out to subscribers, on this node and, for
// clustered implementations, on every other node.
type PubSub interface {
	Subscribe(topic string, s Subscriber)
	Unsubscribe(topic string, s Subscriber)
	// Broadcast delivers b to every subscriber of b.Topic on every node,
	// except the one whose id is b.From.
	Broadcast(b *Broadcast) error
	// LocalBroadcast delivers b to this node's subscribers only.
	LocalBroadcast(b *Broadcast)
	// Subscribers counts this node's subscribers of topic.
	Subscribers(topic string) int
}

var subscriberIDs atomic.Uint64

// NewSubscriberID returns a fresh process-unique subscriber id.
func NewSubscriberID() uint64 { return subscriberIDs.Add(1) }

const pubsubShards = 64

// MemoryPubSub is the single-node PubSub: a sharded topic table.
type MemoryPubSub struct {
	seed   maphash.Seed
	shards [pubsubShards]pubsubShard
}

type pubsubShard struct {
	mu     sync.RWMutex
	topics map[string]*topicSubs
}

// topicSubs keeps subscribers in a slice for fast iteration, with an index
// for O(1) removal once the topic is large. Most topics have one subscriber
// (every socket subscribes to its own id topic), so small topics are
// scanned instead: a map per topic would cost hundreds of bytes per socket.
type topicSubs struct {
	list  []Subscriber
	index map[uint64]int // nil while len(list) <= indexFrom
}

// indexFrom is the topic size above which subscribers are indexed.
const indexFrom = 16

// find returns the position of subscriber id in list, or -1.
func (ts *topicSubs) find(id uint64) int {
	if ts.index != nil {
		if i, ok := ts.index[id]; ok {
			return i
		}
		return -1
	}
	for i, s := range ts.list {
		if s.SubscriberID() == id {
			return i
		}
	}
	return -1
}

// NewMemoryPubSub returns an empty in-memory PubSub.
func NewMemoryPubSub() *MemoryPubSub {
	ps := &MemoryPubSub{seed: maphash.MakeSeed()}
	for i := range ps.shards {
		ps.shards[i].topics = make(map[string]*topicSubs)
	}
	return ps
}

func (ps *MemoryPubSub) shard(topic string) *pubsubShard {
	return &ps.shards[maphash.String(ps.seed, topic)%pubsubShards]
}

// Subscribe adds s to topic; subscribing twice is a no-op.
func (ps *MemoryPubSub) Subscribe(topic string, s Subscriber) {
	sh := ps.shard(topic)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	ts := sh.topics[topic]
	if ts == nil {
		ts = &topicSubs{}
		sh.topics[topic] = ts
	}
	id := s.SubscriberID()
	if ts.find(id) >= 0 {
		return
	}
	if ts.index != nil {
		ts.index[id] = len(ts.list)
	}
	ts.list = append(ts.list, s)
	if ts.index == nil && len(ts.list) > indexFrom {
		ts.index = make(map[uint64]int, len(ts.list))
		for i, sub := range ts.list {
			ts.index[sub.SubscriberID()] = i
		}
	}
}

// Unsubscribe removes s from topic.
func (ps *MemoryPubSub) Unsubscribe(topic string, s Subscriber) {
	sh := ps.shard(topic)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	ts := sh.topics[topic]
	if ts == nil {
		return
	}
	id := s.SubscriberID()
	i := ts.find(id)
	if i < 0 {
		return
	}
	last := len(ts.list) - 1
	if i != last {
		moved := ts.list[last]
		ts.list[i] = moved
		if ts.index != nil {
			ts.index[moved.SubscriberID()] = i
		}
	}
	ts.list[last] = nil
	ts.list = ts.list[:last]
	if ts.index != nil {
		delete(ts.index, id)
		if len(ts.list) <= indexFrom/2 {
			ts.index = nil // maps never shrink: drop a big topic's index once it is small
		}
	}
	if len(ts.list) == 0 {
		delete(sh.topics, topic)
	}
}

// Broadcast delivers b locally (a single node has no one else to tell).
func (ps *MemoryPubSub) Broadcast(b *Broadcast) error {
	ps.LocalBroadcast(b)
	return nil
}

// LocalBroadcast delivers b to every local subscriber of b.Topic except
// b.From.
func (ps *MemoryPubSub) LocalBroadcast(b *Broadcast) {
	sh := ps.shard(b.Topic)
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	ts := sh.topics[b.Topic]
	if ts == nil {
		return
	}
	for _, s := range ts.list {
		if b.From != 0 && s.SubscriberID() == b.From {
			continue
		}
		s.Deliver(b)
	}
}

// Subscribers counts local subscribers of topic.
func (ps *MemoryPubSub) Subscribers(topic string) int {
	sh := ps.shard(topic)
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	if ts := sh.topics[topic]; ts != nil {
		return len(ts.list)
	}
	return 0
}
