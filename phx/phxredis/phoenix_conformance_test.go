package phxredis

import (
	"fmt"
	"testing"

	"github.com/phxgo/phxgo/phx/phxredis/redistest"
	"github.com/phxgo/phxgo/phx/pubsub"
	"github.com/phxgo/phxgo/phx/pubsubtest"
)

// The conformance suite against nodes speaking the Phoenix format on one
// redis-server: what phx relies on holds when every broadcast travels on
// the Phoenix channel.
func TestPhoenixConformance(t *testing.T) {
	pubsubtest.Run(t, pubsubtest.Factory{
		New: func(t *testing.T) pubsub.PubSub {
			return phoenixNode(t, redistest.NewServer(t).URL(), "n", PhoenixOptions{})
		},
		Cluster: func(t *testing.T, n int) []pubsub.PubSub {
			url := redistest.NewServer(t).URL()
			out := make([]pubsub.PubSub, n)
			for i := range out {
				out[i] = phoenixNode(t, url, fmt.Sprintf("n%d", i), PhoenixOptions{})
			}
			return out
		},
	})
}
