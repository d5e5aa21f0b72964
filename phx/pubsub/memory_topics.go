package pubsub

// TopicInfo describes one topic of a Memory's table (see Memory.Topics).
type TopicInfo struct {
	Topic string
	// Subscribers are the topic's local subscribers. The slice is the
	// table's own: read it only inside the Topics callback, never keep or
	// modify it.
	Subscribers []Subscriber
	// Broadcasts counts the LocalBroadcast calls (Broadcast included) that
	// found the topic with subscribers, since its first subscriber came.
	// A topic whose last subscriber leaves is forgotten: its count starts
	// again from 0.
	Broadcasts uint64
}

// TopicLister is a PubSub that can list its local topics (Memory does);
// dashboards use it for top topics and per-topic rates.
type TopicLister interface {
	Topics(f func(TopicInfo))
}

// Topics calls f for every topic that has local subscribers, one shard at
// a time with the shard's read lock held, as LocalBroadcast holds it: f
// must be quick and must not call into the Memory (Subscribe,
// Unsubscribe, Broadcast). The per-topic broadcast counts are kept by an
// atomic add per LocalBroadcast, not per delivery, so the fan-out pays
// nothing more for them.
func (ps *Memory) Topics(f func(TopicInfo)) {
	for i := range ps.shards {
		sh := &ps.shards[i]
		sh.mu.RLock()
		for topic, ts := range sh.topics {
			f(TopicInfo{Topic: topic, Subscribers: ts.list, Broadcasts: ts.broadcasts.Load()})
		}
		sh.mu.RUnlock()
	}
}

var _ TopicLister = (*Memory)(nil)
