package pubsub_test

import (
	"testing"

	"github.com/phxgo/phxgo/phx/pubsub"
	"github.com/phxgo/phxgo/phx/pubsubtest"
)

// Memory passes the conformance suite; it is single-node, so the cluster
// cases are reported as skipped.
func TestMemory(t *testing.T) {
	pubsubtest.Run(t, pubsubtest.Factory{
		New: func(*testing.T) pubsub.PubSub { return pubsub.NewMemory() },
	})
}
