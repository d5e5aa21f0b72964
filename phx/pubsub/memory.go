package pubsub

import (
	"hash/maphash"
	"sync"
	"sync/atomic"
)

const shards = 64

// Memory is the single-node PubSub: a sharded topic table (see the
// package doc for its locks).
type Memory struct {
	seed   maphash.Seed
	shards [shards]shard
}

type shard struct {
	mu     sync.RWMutex
	topics map[string]*topicSubs
}

// topicSubs keeps subscribers in a slice for fast iteration, with an index
// for O(1) removal once the topic is large. Most topics have one subscriber
// (every socket subscribes to its own id topic), so small topics are
// scanned instead: a map per topic would cost hundreds of bytes per socket.
type topicSubs struct {
	list       []Subscriber
	index      map[uint64]int // nil while len(list) <= indexFrom
	broadcasts atomic.Uint64  // LocalBroadcast calls on the topic (memory_topics.go)
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

// NewMemory returns an empty in-memory PubSub.
func NewMemory() *Memory {
	ps := &Memory{seed: maphash.MakeSeed()}
	for i := range ps.shards {
		ps.shards[i].topics = make(map[string]*topicSubs)
	}
	return ps
}

func (ps *Memory) shardOf(topic string) *shard {
	return &ps.shards[maphash.String(ps.seed, topic)%shards]
}

// Subscribe adds s to topic; subscribing twice is a no-op.
func (ps *Memory) Subscribe(topic string, s Subscriber) {
	sh := ps.shardOf(topic)
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
func (ps *Memory) Unsubscribe(topic string, s Subscriber) {
	sh := ps.shardOf(topic)
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
func (ps *Memory) Broadcast(b *Broadcast) error {
	ps.LocalBroadcast(b)
	return nil
}

// LocalBroadcast delivers b to every local subscriber of b.Topic except
// b.From and those b.Skip names.
func (ps *Memory) LocalBroadcast(b *Broadcast) {
	sh := ps.shardOf(b.Topic)
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	ts := sh.topics[b.Topic]
	if ts == nil {
		return
	}
	ts.broadcasts.Add(1)
	for _, s := range ts.list {
		if b.From != 0 && s.SubscriberID() == b.From || b.Skip != nil && b.Skip(s.SubscriberID()) {
			continue
		}
		s.Deliver(b)
	}
}

// Subscribers counts local subscribers of topic.
func (ps *Memory) Subscribers(topic string) int {
	sh := ps.shardOf(topic)
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	if ts := sh.topics[topic]; ts != nil {
		return len(ts.list)
	}
	return 0
}

var _ PubSub = (*Memory)(nil)
