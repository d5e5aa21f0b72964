package phxredis

import (
	"fmt"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/phxgo/phxgo/phx/phxredis/redistest"
	"github.com/phxgo/phxgo/phx/pubsub"
)

// counter counts deliveries and signals the one it waits for.
type counter struct {
	id   uint64
	n    atomic.Int64
	want atomic.Int64
	done chan struct{}
}

func (c *counter) SubscriberID() uint64 { return c.id }

func (c *counter) Deliver(*pubsub.Broadcast) {
	if c.n.Add(1) == c.want.Load() {
		c.done <- struct{}{}
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchCross publishes b.N broadcasts on node 0 to one subscriber on node
// 1 through a real redis-server, window at a time (window 1: each waits
// for the previous one's delivery, so ns/op is the cross-node latency).
// It reports this process's CPU (both nodes: publish and receive) per
// message.
func benchCross(b *testing.B, window int) {
	s := redistest.NewServer(b)
	ns := nodes(b, s.URL(), false, 2)
	c := &counter{id: pubsub.NewSubscriberID(), done: make(chan struct{}, 1)}
	ns[1].Subscribe("room:bench", c)
	msg := &pubsub.Broadcast{Topic: "room:bench", Event: "new_msg", Payload: []byte(`{"body":"hello, this is a chat message of a typical size","user":"someone"}`)}
	b.ReportAllocs()
	b.ResetTimer()
	cpu := cpuTime()
	for sent := 0; sent < b.N; {
		n := min(window, b.N-sent)
		c.want.Store(int64(sent + n))
		for range n {
			if err := ns[0].Broadcast(msg); err != nil {
				b.Fatal(err)
			}
		}
		sent += n
		select {
		case <-c.done:
		case <-time.After(10 * time.Second):
			b.Fatalf("delivered %d of %d", c.n.Load(), sent)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N), "cpu-ns/msg")
}

func BenchmarkCrossNodeLatency(b *testing.B) { benchCross(b, 1) }

func BenchmarkCrossNodeThroughput(b *testing.B) {
	for _, w := range []int{64, 1024} {
		b.Run(fmt.Sprint("window", w), func(b *testing.B) { benchCross(b, w) })
	}
}

// The latency of a Subscribe that adds a topic new to the node (it waits
// for Redis's confirmation), and of one to a topic the node follows.
func BenchmarkSubscribe(b *testing.B) {
	s := redistest.NewServer(b)
	p := node(b, s.URL(), false, PubSubOptions{})
	b.Run("new topic", func(b *testing.B) {
		for i := range b.N {
			p.Subscribe(fmt.Sprint("room:new", i), newRec())
		}
	})
	p.Subscribe("room:known", newRec())
	b.Run("known topic", func(b *testing.B) {
		for range b.N {
			p.Subscribe("room:known", newRec())
		}
	})
}
