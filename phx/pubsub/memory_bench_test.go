package pubsub_test

import (
	"fmt"
	"testing"

	"github.com/phxgo/phxgo/phx/pubsub"
)

// counter is a Subscriber that only counts.
type counter struct {
	id uint64
	n  int
}

func (c *counter) SubscriberID() uint64      { return c.id }
func (c *counter) Deliver(*pubsub.Broadcast) { c.n++ }

// BenchmarkMemoryFanout measures Memory's own cost of one broadcast to n
// subscribers that do nothing, per delivery; From names no subscriber, so
// every delivery pays the From check (phx's BenchmarkBroadcastFanout adds
// the runtime's work on top).
func BenchmarkMemoryFanout(b *testing.B) {
	for _, n := range []int{1, 100, 10_000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			ps := pubsub.NewMemory()
			subs := make([]counter, n)
			for i := range subs {
				subs[i].id = pubsub.NewSubscriberID()
				ps.Subscribe("room:bench", &subs[i])
			}
			msg := &pubsub.Broadcast{Topic: "room:bench", Event: "e", Payload: []byte(`{}`), From: pubsub.NewSubscriberID()}
			b.ReportAllocs()
			for b.Loop() {
				ps.LocalBroadcast(msg)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/delivery")
			if subs[n-1].n == 0 {
				b.Fatal("nothing delivered")
			}
		})
	}
}
