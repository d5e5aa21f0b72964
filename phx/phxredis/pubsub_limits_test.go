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
