package pubsub_test

import (
	"sync"
	"testing"

	"github.com/phxgo/phxgo/phx/pubsub"
)

type countSub struct {
	id uint64
	mu sync.Mutex
	n  int
}

func (s *countSub) SubscriberID() uint64 { return s.id }
func (s *countSub) Deliver(*pubsub.Broadcast) {
	s.mu.Lock()
	s.n++
	s.mu.Unlock()
}

// Skip leaves out the subscribers it names, From too; the others get it.
func TestMemorySkip(t *testing.T) {
	ps := pubsub.NewMemory()
	subs := make([]*countSub, 5)
	for i := range subs {
		subs[i] = &countSub{id: pubsub.NewSubscriberID()}
		ps.Subscribe("room:s", subs[i])
	}
	b := &pubsub.Broadcast{Topic: "room:s", Event: "e", Payload: []byte(`{}`), From: subs[0].id,
		Skip: func(id uint64) bool { return id == subs[1].id || id == subs[3].id }}
	if err := ps.Broadcast(b); err != nil {
		t.Fatal(err)
	}
	for i, want := range []int{0, 0, 1, 0, 1} {
		if subs[i].n != want {
			t.Errorf("subscriber %d got %d broadcasts, want %d", i, subs[i].n, want)
		}
	}
}
