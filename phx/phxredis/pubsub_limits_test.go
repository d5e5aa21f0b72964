package phxredis

import (
	"strings"
	"testing"

	"github.com/phxgo/phxgo/phx/phxredis/redistest"
	"github.com/phxgo/phxgo/phx/pubsub"
)

// A topic or event longer than the envelope allows (maxNameLen), which
// every other node would drop as malformed, is refused on publish with
// ErrTooLarge; one at the limit goes out.
func TestPublishNameBound(t *testing.T) {
	s := redistest.NewServer(t)
	p := node(t, s.URL(), false, PubSubOptions{})
	long := strings.Repeat("t", maxNameLen+1)
	for _, b := range []*pubsub.Broadcast{
		{Topic: long, Event: "e", Payload: []byte(`{}`)},
		{Topic: "room:a", Event: long, Payload: []byte(`{}`)},
	} {
		if err := p.Broadcast(b); err != ErrTooLarge {
			t.Errorf("topic %d bytes, event %d bytes: %v, want ErrTooLarge", len(b.Topic), len(b.Event), err)
		}
	}
	if err := p.Broadcast(&pubsub.Broadcast{Topic: long[:maxNameLen], Event: "e", Payload: []byte(`{}`)}); err != nil {
		t.Errorf("a topic at the limit: %v", err)
	}
}

// A message from another node costs one allocation on the receiving node
// before its subscribers: the *Broadcast. Its topic, event and payload are
// views of the message go-redis read, and the channel name is checked
// without being rebuilt. (Skipped under -race, which distorts allocation
// counts; the test command runs it again without.)
func TestReceiveAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts need a build without -race (the test command runs this test again without it)")
	}
	for _, sharded := range []bool{false, true} {
		p := &PubSub{node: "b", prefix: "phx:", maxMsg: defaultMaxMessage, mem: pubsub.NewMemory(),
			sharded: sharded, buckets: 32, tags: bucketTags("phx", 32)}
		b := &pubsub.Broadcast{Topic: "room:lobby", Event: "new_msg", Payload: []byte(`{"body":"hi"}`)}
		msg := string(appendEnvelope(nil, "a", b))
		channel := p.channel(b.Topic)
		before := p.stats.received.Load()
		if n := testing.AllocsPerRun(200, func() { p.receive(channel, msg) }); n > 1 {
			t.Errorf("sharded %v: %v allocations per received message, want 1", sharded, n)
		}
		if p.stats.received.Load() == before || p.stats.dropped.Load() != 0 {
			t.Fatalf("sharded %v: the message was not received (dropped %d)", sharded, p.stats.dropped.Load())
		}
	}
}
