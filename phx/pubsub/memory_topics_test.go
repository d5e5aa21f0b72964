package pubsub_test

import (
	"testing"

	"github.com/phxgo/phxgo/phx/pubsub"
)

// topics collects Memory.Topics into a map by topic.
func topics(ps *pubsub.Memory) map[string]pubsub.TopicInfo {
	out := map[string]pubsub.TopicInfo{}
	ps.Topics(func(ti pubsub.TopicInfo) {
		ti.Subscribers = append([]pubsub.Subscriber(nil), ti.Subscribers...)
		out[ti.Topic] = ti
	})
	return out
}

// Topics lists every topic with its subscribers and counts the broadcasts
// each received; a topic whose last subscriber left is gone, and comes
// back with a fresh count.
func TestMemoryTopics(t *testing.T) {
	ps := pubsub.NewMemory()
	subs := make([]counter, 3)
	for i := range subs {
		subs[i].id = pubsub.NewSubscriberID()
	}
	ps.Subscribe("room:a", &subs[0])
	ps.Subscribe("room:a", &subs[1])
	ps.Subscribe("room:b", &subs[2])
	for range 5 {
		_ = ps.Broadcast(&pubsub.Broadcast{Topic: "room:a", Event: "e", Payload: []byte(`{}`)})
	}
	_ = ps.Broadcast(&pubsub.Broadcast{Topic: "room:b", Event: "e", Payload: []byte(`{}`)})
	_ = ps.Broadcast(&pubsub.Broadcast{Topic: "room:none", Event: "e", Payload: []byte(`{}`)})

	got := topics(ps)
	if len(got) != 2 {
		t.Fatalf("topics = %v, want room:a and room:b", got)
	}
	if a := got["room:a"]; len(a.Subscribers) != 2 || a.Broadcasts != 5 {
		t.Errorf("room:a: %d subscribers, %d broadcasts; want 2, 5", len(a.Subscribers), a.Broadcasts)
	}
	if b := got["room:b"]; len(b.Subscribers) != 1 || b.Broadcasts != 1 || b.Subscribers[0] != &subs[2] {
		t.Errorf("room:b: %+v; want subscriber 2 and 1 broadcast", b)
	}

	ps.Unsubscribe("room:b", &subs[2])
	if _, ok := topics(ps)["room:b"]; ok {
		t.Error("room:b is listed after its last subscriber left")
	}
	ps.Subscribe("room:b", &subs[2])
	if b := topics(ps)["room:b"]; b.Broadcasts != 0 {
		t.Errorf("room:b subscribed again has %d broadcasts, want 0", b.Broadcasts)
	}
}

// The per-topic count costs the fan-out no allocation: a broadcast to
// 100 subscribers allocates nothing, as before the count existed.
func TestMemoryFanoutAllocs(t *testing.T) {
	ps := pubsub.NewMemory()
	subs := make([]counter, 100)
	for i := range subs {
		subs[i].id = pubsub.NewSubscriberID()
		ps.Subscribe("room:bench", &subs[i])
	}
	msg := &pubsub.Broadcast{Topic: "room:bench", Event: "e", Payload: []byte(`{}`)}
	if n := testing.AllocsPerRun(200, func() { ps.LocalBroadcast(msg) }); n != 0 {
		t.Fatalf("LocalBroadcast allocates %v times per call, want 0", n)
	}
	if subs[99].n == 0 {
		t.Fatal("nothing delivered")
	}
}
