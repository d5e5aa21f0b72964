package phxredis

import (
	"testing"

	"github.com/phxgo/phxgo/phx/phxredis/redistest"
	"github.com/phxgo/phxgo/phx/pubsub"
	"github.com/phxgo/phxgo/phx/pubsubtest"
)

func asPubSubs(ns []*PubSub) []pubsub.PubSub {
	out := make([]pubsub.PubSub, len(ns))
	for i, n := range ns {
		out[i] = n
	}
	return out
}

// The conformance suite against one redis-server: New is a node on a
// fresh server, Cluster n nodes sharing one.
func TestConformanceServer(t *testing.T) {
	pubsubtest.Run(t, pubsubtest.Factory{
		New: func(t *testing.T) pubsub.PubSub {
			return node(t, redistest.NewServer(t).URL(), false, PubSubOptions{})
		},
		Cluster: func(t *testing.T, n int) []pubsub.PubSub {
			return asPubSubs(nodes(t, redistest.NewServer(t).URL(), false, n))
		},
	})
}

// The conformance suite against a three-master Redis Cluster (sharded
// Pub/Sub), the cluster started once for every case.
func TestConformanceCluster(t *testing.T) {
	c := redistest.NewCluster(t, 3)
	pubsubtest.Run(t, pubsubtest.Factory{
		New: func(t *testing.T) pubsub.PubSub {
			return node(t, c.URL(), true, PubSubOptions{Prefix: uniquePrefix()})
		},
		Cluster: func(t *testing.T, n int) []pubsub.PubSub {
			prefix := uniquePrefix()
			out := make([]pubsub.PubSub, n)
			for i := range out {
				out[i] = node(t, c.URL(), true, PubSubOptions{Prefix: prefix})
			}
			return out
		},
	})
}
