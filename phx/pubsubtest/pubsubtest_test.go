package pubsubtest_test

import (
	"bytes"
	"sync"
	"testing"

	"github.com/phxgo/phxgo/phx/pubsub"
	"github.com/phxgo/phxgo/phx/pubsubtest"
)

// node is one node of a toy cluster: a Memory for its own subscribers,
// and an inbox fed by the other nodes, drained by a goroutine, so remote
// deliveries are asynchronous and carry copies, as over a network.
type node struct {
	*pubsub.Memory
	peers []*node
	inbox chan *pubsub.Broadcast
}

// Broadcast delivers here, then hands a copy to every other node. From
// is dropped on the way: it names a subscriber of this node only.
func (n *node) Broadcast(b *pubsub.Broadcast) error {
	n.LocalBroadcast(b)
	for _, p := range n.peers {
		p.inbox <- &pubsub.Broadcast{Topic: b.Topic, Event: b.Event, Payload: bytes.Clone(b.Payload), Binary: b.Binary}
	}
	return nil
}

func cluster(t *testing.T, size int) []pubsub.PubSub {
	nodes := make([]*node, size)
	for i := range nodes {
		nodes[i] = &node{Memory: pubsub.NewMemory(), inbox: make(chan *pubsub.Broadcast, 1024)}
	}
	var wg sync.WaitGroup
	out := make([]pubsub.PubSub, size)
	for i, n := range nodes {
		for j, p := range nodes {
			if j != i {
				n.peers = append(n.peers, p)
			}
		}
		wg.Go(func() {
			for b := range n.inbox {
				n.LocalBroadcast(b)
			}
		})
		out[i] = n
	}
	t.Cleanup(func() {
		for _, n := range nodes {
			close(n.inbox)
		}
		wg.Wait()
	})
	return out
}

// The suite's cluster cases pass against a toy asynchronous cluster (and
// its node cases against one of its nodes alone).
func TestToyCluster(t *testing.T) {
	pubsubtest.Run(t, pubsubtest.Factory{
		New:     func(t *testing.T) pubsub.PubSub { return cluster(t, 1)[0] },
		Cluster: cluster,
	})
}
