// Package pubsubtest is the conformance suite of pubsub.PubSub
// implementations: what package pubsub's doc promises, checked on one node
// and, for clustered adapters, across the nodes of one cluster. Every
// implementation (pubsub.Memory, a Redis or NATS adapter, ...) should pass
// it:
//
//	func TestMyPubSub(t *testing.T) {
//		pubsubtest.Run(t, pubsubtest.Factory{
//			New:     func(t *testing.T) pubsub.PubSub { return newNode(t) },
//			Cluster: func(t *testing.T, n int) []pubsub.PubSub { return newCluster(t, n) },
//		})
//	}
//
// Single-node implementations leave Factory.Cluster nil: the cross-node
// cases then still appear as subtests, each skipped with t.Skip saying
// why, so a report shows what was not checked.
//
// Every wait for a delivery is driven by the deliveries themselves, bounded
// by a generous timeout (Timeout): remote adapters deliver asynchronously.
// That something was not delivered is checked with a fence: after the
// broadcast that must not arrive, the same goroutine publishes a marker
// that must, and once the marker is in, the unwanted broadcast would have
// been too. A fence on the same topic relies on per-topic order, which
// the contract promises; a fence on another topic relies on one node's
// broadcasts reaching another in publish order, which a correct adapter
// need not provide: without it that check passes without proving much,
// it never fails a correct adapter.
package pubsubtest

import (
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/phxgo/phxgo/phx/pubsub"
)

// Timeout bounds every wait for a delivery (set it before Run when an
// adapter needs longer).
var Timeout = 10 * time.Second

// Factory builds the PubSubs under test. Each call must return fresh,
// empty nodes, independent of those of other calls; release them with
// t.Cleanup.
type Factory struct {
	// New returns one node.
	New func(t *testing.T) pubsub.PubSub
	// Cluster returns n (at least 2) connected nodes of one cluster: a
	// Broadcast on any of them reaches the subscribers of all. Nil for a
	// single-node implementation.
	Cluster func(t *testing.T, n int) []pubsub.PubSub
}

// Run runs every conformance case as a subtest of t.
func Run(t *testing.T, f Factory) {
	if f.New == nil {
		t.Fatal("pubsubtest: Factory.New is nil")
	}
	for _, c := range nodeCases {
		t.Run(c.name, func(t *testing.T) { c.f(t, f.New(t)) })
	}
	for _, c := range clusterCases {
		t.Run(c.name, func(t *testing.T) {
			if f.Cluster == nil {
				t.Skip("pubsubtest: Factory.Cluster is nil (a single-node implementation): no cross-node case to run")
			}
			nodes := f.Cluster(t, clusterSize)
			if len(nodes) != clusterSize {
				t.Fatalf("Factory.Cluster(%d) returned %d nodes", clusterSize, len(nodes))
			}
			c.f(t, nodes)
		})
	}
}

const clusterSize = 3

type nodeCase struct {
	name string
	f    func(t *testing.T, ps pubsub.PubSub)
}

type clusterCase struct {
	name string
	f    func(t *testing.T, nodes []pubsub.PubSub)
}

// fenceEvent marks the broadcasts that close a fence (see the package doc).
const fenceEvent = "pubsubtest_fence"

var fences atomic.Uint64

// sub is a recording Subscriber. Deliver checks the Unsubscribe promise:
// no delivery on a topic once Unsubscribe of it has returned, and none
// still running then.
type sub struct {
	id   uint64
	name string
	// hook, when set, runs inside Deliver (it must not block).
	hook func(b *pubsub.Broadcast)

	mu      sync.Mutex
	got     []*pubsub.Broadcast
	gone    map[string]bool // topics left: a delivery on them is a violation
	running map[string]int  // deliveries under way, per topic
	bad     []string        // contract violations seen
	tick    chan struct{}
}

func newSub(t *testing.T, name string) *sub {
	s := &sub{id: pubsub.NewSubscriberID(), name: name, gone: map[string]bool{},
		running: map[string]int{}, tick: make(chan struct{}, 1)}
	t.Cleanup(func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, v := range s.bad {
			t.Errorf("%s: %s", s.name, v)
		}
	})
	return s
}

func newSubs(t *testing.T, prefix string, n int) []*sub {
	out := make([]*sub, n)
	for i := range out {
		out[i] = newSub(t, fmt.Sprintf("%s%d", prefix, i))
	}
	return out
}

func (s *sub) SubscriberID() uint64 { return s.id }

func (s *sub) Deliver(b *pubsub.Broadcast) {
	s.mu.Lock()
	if s.gone[b.Topic] {
		s.bad = append(s.bad, fmt.Sprintf("Deliver(%s %s) after Unsubscribe(%s) returned", b.Topic, b.Event, b.Topic))
	}
	s.running[b.Topic]++
	s.got = append(s.got, b)
	s.mu.Unlock()
	if s.hook != nil {
		s.hook(b)
	}
	s.mu.Lock()
	s.running[b.Topic]--
	s.mu.Unlock()
	select {
	case s.tick <- struct{}{}:
	default:
	}
}

// join subscribes s to topic on ps.
func (s *sub) join(ps pubsub.PubSub, topic string) {
	s.mu.Lock()
	delete(s.gone, topic)
	s.mu.Unlock()
	ps.Subscribe(topic, s)
}

// leave unsubscribes s from topic on ps; from then on a delivery on topic
// is a violation, and so is one still running.
func (s *sub) leave(ps pubsub.PubSub, topic string) {
	ps.Unsubscribe(topic, s)
	s.mu.Lock()
	if s.running[topic] > 0 {
		s.bad = append(s.bad, fmt.Sprintf("Deliver on %s still running when Unsubscribe(%s) returned", topic, topic))
	}
	s.gone[topic] = true
	s.mu.Unlock()
}

// received returns what s got on topic, fences left out.
func (s *sub) received(topic string) []*pubsub.Broadcast {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*pubsub.Broadcast
	for _, b := range s.got {
		if b.Topic == topic && b.Event != fenceEvent {
			out = append(out, b)
		}
	}
	return out
}

// waitUntil waits until cond holds for what s got (cond runs under s.mu).
func (s *sub) waitUntil(t *testing.T, deadline time.Time, what string, cond func(got []*pubsub.Broadcast) bool) {
	t.Helper()
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	for {
		s.mu.Lock()
		ok := cond(s.got)
		n := len(s.got)
		s.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-s.tick:
		case <-timer.C:
			t.Fatalf("%s: after %v and %d deliveries, still waiting for %s", s.name, Timeout, n, what)
		}
	}
}

// waitCount waits until every sub has at least n broadcasts on topic
// (fences left out).
func waitCount(t *testing.T, topic string, n int, subs ...*sub) {
	t.Helper()
	deadline := time.Now().Add(Timeout)
	for _, s := range subs {
		s.waitUntil(t, deadline, fmt.Sprintf("%d broadcast(s) on %s", n, topic), func(got []*pubsub.Broadcast) bool {
			c := 0
			for _, b := range got {
				if b.Topic == topic && b.Event != fenceEvent {
					c++
				}
			}
			return c >= n
		})
	}
}

// fence publishes a fence on topic through publish (a node's Broadcast or
// LocalBroadcast) and waits until every sub has it: anything published
// before it on topic by the same goroutine has then reached them too.
func fence(t *testing.T, publish func(*pubsub.Broadcast) error, topic string, subs ...*sub) {
	t.Helper()
	n := strconv.FormatUint(fences.Add(1), 10)
	payload := `{"fence":` + n + `}`
	if err := publish(&pubsub.Broadcast{Topic: topic, Event: fenceEvent, Payload: []byte(payload)}); err != nil {
		t.Fatalf("fence on %s: %v", topic, err)
	}
	deadline := time.Now().Add(Timeout)
	for _, s := range subs {
		s.waitUntil(t, deadline, "fence "+n+" on "+topic, func(got []*pubsub.Broadcast) bool {
			return slices.ContainsFunc(got, func(b *pubsub.Broadcast) bool {
				return b.Event == fenceEvent && b.Topic == topic && string(b.Payload) == payload
			})
		})
	}
}

// local adapts LocalBroadcast to fence's publish.
func local(ps pubsub.PubSub) func(*pubsub.Broadcast) error {
	return func(b *pubsub.Broadcast) error { ps.LocalBroadcast(b); return nil }
}

// msg is a test broadcast whose payload carries n.
func msg(topic, event string, n int) *pubsub.Broadcast {
	return &pubsub.Broadcast{Topic: topic, Event: event, Payload: fmt.Appendf(nil, `{"n":%d}`, n)}
}

func publish(t *testing.T, ps pubsub.PubSub, b *pubsub.Broadcast) {
	t.Helper()
	if err := ps.Broadcast(b); err != nil {
		t.Fatalf("Broadcast(%s %s): %v", b.Topic, b.Event, err)
	}
}

// expectExactly fails unless s got, on topic, exactly the payloads want in
// that order (fences left out).
func expectExactly(t *testing.T, s *sub, topic string, want ...string) {
	t.Helper()
	got := s.received(topic)
	ps := make([]string, len(got))
	for i, b := range got {
		ps[i] = string(b.Payload)
	}
	if !slices.Equal(ps, want) {
		t.Fatalf("%s got %q on %s, want %q", s.name, ps, topic, want)
	}
}

func expectCount(t *testing.T, ps pubsub.PubSub, topic string, want int) {
	t.Helper()
	if got := ps.Subscribers(topic); got != want {
		t.Fatalf("Subscribers(%s) = %d, want %d", topic, got, want)
	}
}
