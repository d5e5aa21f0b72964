package phx

import (
	"sync"
	"testing"

	"github.com/phxgo/phxgo/phx/pubsub"
	"github.com/phxgo/phxgo/serializer"
)

// noWaitPubSub records which topics were subscribed without waiting.
type noWaitPubSub struct {
	*pubsub.Memory
	mu     sync.Mutex
	noWait []string
}

func (p *noWaitPubSub) SubscribeNoWait(topic string, s pubsub.Subscriber) {
	p.mu.Lock()
	p.noWait = append(p.noWait, topic)
	p.mu.Unlock()
	p.Memory.Subscribe(topic, s)
}

// TestSocketIDSubscribedWithoutWait: the socket id topic is subscribed as
// the connection opens, on an event-loop worker, so phx asks a PubSub that
// can wait for other nodes (pubsub.NoWaitSubscriber) not to; channel
// topics, joined on the channel's own goroutine, use Subscribe.
func TestSocketIDSubscribedWithoutWait(t *testing.T) {
	ps := &noWaitPubSub{Memory: pubsub.NewMemory()}
	srv := newServerForTest(t, Config{PubSub: ps, ID: func(*Socket) string { return "users_socket:7" }})
	srv.Channel("room:*", &testChannel{})
	h := srv.connectForTest(t, serializer.V2, Assigns{})
	h.in(`["1","1","room:a","phx_join",{}]`)
	h.next() // the join's reply
	ps.mu.Lock()
	got := append([]string(nil), ps.noWait...)
	ps.mu.Unlock()
	if len(got) != 1 || got[0] != "users_socket:7" {
		t.Fatalf("subscribed without waiting: %q, want only the socket id topic", got)
	}
	if n := ps.Subscribers("room:a"); n != 1 {
		t.Fatalf("room:a has %d subscribers, want 1", n)
	}
}
