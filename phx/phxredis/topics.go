package phxredis

import "github.com/phxgo/phxgo/phx/pubsub"

// Topics lists this node's topics with their local subscribers and
// broadcast counts (pubsub.TopicLister, for dashboards): those of the
// embedded Memory, which every local subscription and delivery goes
// through. Phoenix has it too, by embedding.
func (p *PubSub) Topics(f func(pubsub.TopicInfo)) { p.mem.Topics(f) }

var (
	_ pubsub.TopicLister = (*PubSub)(nil)
	_ pubsub.TopicLister = (*Phoenix)(nil)
)
