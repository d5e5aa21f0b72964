package phxredis_test

import (
	"log"
	"strings"

	"github.com/phxgo/phxgo/phx"
	"github.com/phxgo/phxgo/phx/phxredis"
)

// ExampleNewPubSub makes a phx.Server one node of a cluster on Redis:
// broadcasts reach the sockets of every node using the same Redis.
func ExampleNewPubSub() {
	rdb, err := phxredis.NewClient("redis://127.0.0.1:6379/0", false)
	if err != nil {
		log.Fatal(err)
	}
	defer rdb.Close()
	ps, err := phxredis.NewPubSub(rdb, phxredis.PubSubOptions{
		// Socket id topics are subscribed on the event loop as a WebSocket
		// opens: let them not wait for Redis.
		NoWait: func(topic string) bool { return strings.HasPrefix(topic, "user_socket:") },
	})
	if err != nil {
		log.Fatal(err)
	}
	defer ps.Close()
	srv := phx.NewServer(phx.Config{PubSub: ps})
	defer srv.Close()
	// Register channel routes and serve srv as usual.
}
