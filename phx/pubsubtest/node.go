package pubsubtest

import (
	"bytes"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/phxgo/phxgo/phx/pubsub"
	"github.com/phxgo/phxgo/serializer"
)

var nodeCases = []nodeCase{
	{"SubscribeDeliver", testDeliver},
	{"Unsubscribe", testUnsubscribe},
	{"BroadcastFrom", testBroadcastFrom},
	{"LocalBroadcast", testLocalBroadcast},
	{"Subscribers", testSubscribers},
	{"ManyTopicsAndSubscribers", testMany},
	{"Concurrent", testConcurrent},
	{"PublishOrder", testOrder},
	{"DisconnectReachesAll", testDisconnect},
	{"NoDeliverAfterUnsubscribe", testNoDeliverAfterUnsubscribe},
	{"SharedBroadcast", testShared},
}

// A subscriber gets the broadcasts of its topics, once each, with their
// fields intact, and nothing of the others.
func testDeliver(t *testing.T, ps pubsub.PubSub) {
	a, b := newSub(t, "a"), newSub(t, "b")
	a.join(ps, "room:1")
	a.join(ps, "room:1") // a no-op
	b.join(ps, "room:2")
	publish(t, ps, msg("room:1", "new_msg", 1))
	bin := &pubsub.Broadcast{Topic: "room:1", Event: "blob", Payload: []byte{0, 1, 0xff}, Binary: true}
	publish(t, ps, bin)
	fence(t, ps.Broadcast, "room:1", a)
	fence(t, ps.Broadcast, "room:2", b)
	expectExactly(t, a, "room:1", `{"n":1}`, "\x00\x01\xff")
	expectExactly(t, b, "room:1")
	got := a.received("room:1")
	if g := got[0]; g.Topic != "room:1" || g.Event != "new_msg" || g.Binary || g.From != 0 {
		t.Fatalf("delivered %+v, want room:1 new_msg, not binary, From 0", g)
	}
	if g := got[1]; g.Event != "blob" || !g.Binary {
		t.Fatalf("delivered %+v, want the binary blob", g)
	}
}

// Unsubscribe stops delivery to that subscriber only; repeating it, or
// leaving a topic never joined, changes nothing; joining again resumes.
func testUnsubscribe(t *testing.T, ps pubsub.PubSub) {
	a, b := newSub(t, "a"), newSub(t, "b")
	a.join(ps, "room:u")
	b.join(ps, "room:u")
	expectCount(t, ps, "room:u", 2)
	a.leave(ps, "room:u")
	expectCount(t, ps, "room:u", 1)
	publish(t, ps, msg("room:u", "e", 1))
	fence(t, ps.Broadcast, "room:u", b)
	expectExactly(t, a, "room:u")
	expectExactly(t, b, "room:u", `{"n":1}`)

	a.leave(ps, "room:u")
	ps.Unsubscribe("room:never", a)
	expectCount(t, ps, "room:u", 1)
	expectCount(t, ps, "room:never", 0)

	a.join(ps, "room:u")
	publish(t, ps, msg("room:u", "e", 2))
	fence(t, ps.Broadcast, "room:u", a, b)
	expectExactly(t, a, "room:u", `{"n":2}`)
	expectExactly(t, b, "room:u", `{"n":1}`, `{"n":2}`)
}

// From excludes exactly the subscriber with that id; an id no one has
// excludes no one.
func testBroadcastFrom(t *testing.T, ps pubsub.PubSub) {
	subs := newSubs(t, "s", 3)
	for _, s := range subs {
		s.join(ps, "room:f")
	}
	m := msg("room:f", "e", 1)
	m.From = subs[1].id
	publish(t, ps, m)
	m = msg("room:f", "e", 2)
	m.From = pubsub.NewSubscriberID()
	publish(t, ps, m)
	fence(t, ps.Broadcast, "room:f", subs...)
	expectExactly(t, subs[0], "room:f", `{"n":1}`, `{"n":2}`)
	expectExactly(t, subs[1], "room:f", `{"n":2}`)
	expectExactly(t, subs[2], "room:f", `{"n":1}`, `{"n":2}`)
}

// LocalBroadcast reaches this node's subscribers, From excepted.
func testLocalBroadcast(t *testing.T, ps pubsub.PubSub) {
	a, b := newSub(t, "a"), newSub(t, "b")
	a.join(ps, "room:l")
	b.join(ps, "room:l")
	m := msg("room:l", "e", 1)
	m.From = a.id
	ps.LocalBroadcast(m)
	ps.LocalBroadcast(msg("room:l", "e", 2))
	fence(t, local(ps), "room:l", a, b)
	expectExactly(t, a, "room:l", `{"n":2}`)
	expectExactly(t, b, "room:l", `{"n":1}`, `{"n":2}`)
}

// Subscribers counts one topic's distinct subscribers, through growth
// and shrinking (past the sizes where an implementation may change its
// representation).
func testSubscribers(t *testing.T, ps pubsub.PubSub) {
	expectCount(t, ps, "room:c", 0)
	subs := newSubs(t, "s", 40)
	for i, s := range subs {
		s.join(ps, "room:c")
		if i%2 == 0 {
			s.join(ps, "room:d")
		}
		expectCount(t, ps, "room:c", i+1)
	}
	subs[7].join(ps, "room:c")
	expectCount(t, ps, "room:c", 40)
	expectCount(t, ps, "room:d", 20)
	n := 40
	for _, odd := range []int{1, 0} { // the odd ones first, then the rest
		for i := odd; i < len(subs); i += 2 {
			subs[i].leave(ps, "room:c")
			n--
			expectCount(t, ps, "room:c", n)
		}
	}
	expectCount(t, ps, "room:d", 20)
	publish(t, ps, msg("room:c", "e", 1)) // to no one
	for i := 0; i < len(subs); i += 2 {
		subs[i].leave(ps, "room:d")
	}
	expectCount(t, ps, "room:d", 0)
}

// Many topics of many sizes, each subscriber on many of them: every one
// gets exactly its topics' broadcasts, before and after half of them
// leave.
func testMany(t *testing.T, ps pubsub.PubSub) {
	const topics = 100
	subs := newSubs(t, "s", 40)
	members := func(i int) []*sub { return subs[:i%len(subs)+1] } // sizes 1..40
	name := func(i int) string { return fmt.Sprintf("room:m%d", i) }
	for i := range topics {
		for _, s := range members(i) {
			s.join(ps, name(i))
		}
	}
	for i := range topics {
		publish(t, ps, msg(name(i), "e", i))
	}
	for i := range topics {
		fence(t, ps.Broadcast, name(i), members(i)...)
		expectCount(t, ps, name(i), len(members(i)))
	}
	for i := range topics {
		for j, s := range members(i) {
			if j%2 == 1 {
				s.leave(ps, name(i))
			}
		}
	}
	for i := range topics {
		publish(t, ps, msg(name(i), "e", 1000+i))
	}
	for i := range topics {
		var stayed []*sub
		for j, s := range members(i) {
			if j%2 == 0 {
				stayed = append(stayed, s)
			}
		}
		fence(t, ps.Broadcast, name(i), stayed...)
		expectCount(t, ps, name(i), len(stayed))
		for j, s := range members(i) {
			first, second := fmt.Sprintf(`{"n":%d}`, i), fmt.Sprintf(`{"n":%d}`, 1000+i)
			if j%2 == 0 {
				expectExactly(t, s, name(i), first, second)
			} else {
				expectExactly(t, s, name(i), first)
			}
		}
	}
}

// Subscribe, Unsubscribe, Broadcast, LocalBroadcast and Subscribers from
// many goroutines at once (run it with -race): steady subscribers get
// every broadcast of their topic exactly once.
func testConcurrent(t *testing.T, ps pubsub.PubSub) {
	const topics, workers, rounds = 8, 8, 150
	name := func(i int) string { return fmt.Sprintf("room:c%d", i) }
	steady := newSubs(t, "steady", topics)
	for i, s := range steady {
		s.join(ps, name(i))
	}
	var published [topics]int
	var mu sync.Mutex
	var wg sync.WaitGroup
	for w := range workers {
		churn := newSub(t, fmt.Sprint("churn", w))
		wg.Go(func() {
			for k := range rounds {
				i := (w + k) % topics
				churn.join(ps, name(i))
				b := msg(name(i), "e", k)
				if k%4 == 0 {
					ps.LocalBroadcast(b)
				} else if err := ps.Broadcast(b); err != nil {
					t.Errorf("Broadcast: %v", err)
					return
				}
				mu.Lock()
				published[i]++
				mu.Unlock()
				if ps.Subscribers(name(i)) < 1 {
					t.Errorf("Subscribers(%s) < 1 with a steady subscriber", name(i))
				}
				churn.leave(ps, name(i))
			}
		})
	}
	wg.Wait()
	for i, s := range steady {
		waitCount(t, name(i), published[i], s)
		fence(t, ps.Broadcast, name(i), s)
		if got := len(s.received(name(i))); got != published[i] {
			t.Fatalf("%s got %d broadcasts on %s, want %d", s.name, got, name(i), published[i])
		}
		expectCount(t, ps, name(i), 1)
	}
}

// One goroutine's broadcasts on a topic arrive in publish order, while
// another goroutine publishes on another topic.
func testOrder(t *testing.T, ps pubsub.PubSub) {
	checkOrder(t, ps, ps, newSubs(t, "s", 3), nil)
}

// checkOrder has pubA publish 500 numbered broadcasts on room:oa and pubB
// as many on room:ob, at once; subsA (on pubA's node) and subsB (on pubB's)
// follow both topics and must see each topic's numbers in order.
func checkOrder(t *testing.T, pubA, pubB pubsub.PubSub, subsA, subsB []*sub) {
	const n = 500
	all := append(append([]*sub{}, subsA...), subsB...)
	for _, s := range subsA {
		s.join(pubA, "room:oa")
		s.join(pubA, "room:ob")
	}
	for _, s := range subsB {
		s.join(pubB, "room:oa")
		s.join(pubB, "room:ob")
	}
	var wg sync.WaitGroup
	for _, p := range []struct {
		ps    pubsub.PubSub
		topic string
	}{{pubA, "room:oa"}, {pubB, "room:ob"}} {
		wg.Go(func() {
			for i := range n {
				if err := p.ps.Broadcast(msg(p.topic, "e", i)); err != nil {
					t.Errorf("Broadcast: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	want := make([]string, n)
	for i := range want {
		want[i] = fmt.Sprintf(`{"n":%d}`, i)
	}
	for _, topic := range []string{"room:oa", "room:ob"} {
		waitCount(t, topic, n, all...)
		for _, s := range all {
			expectExactly(t, s, topic, want...)
		}
	}
}

// A "disconnect" broadcast on a socket id topic reaches every subscriber,
// even as the first ones to get it unsubscribe at once from other
// goroutines (as a socket's teardown does).
func testDisconnect(t *testing.T, ps pubsub.PubSub) {
	const topic = "user_socket:42"
	subs := newSubs(t, "socket", 50)
	var wg sync.WaitGroup
	wg.Add(len(subs))
	for _, s := range subs {
		s.hook = func(b *pubsub.Broadcast) {
			if b.Event == "disconnect" {
				go func() { s.leave(ps, topic); wg.Done() }()
			}
		}
		s.join(ps, topic)
	}
	publish(t, ps, &pubsub.Broadcast{Topic: topic, Event: "disconnect", Payload: []byte(`{}`)})
	waitCount(t, topic, 1, subs...)
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(Timeout):
		t.Fatal("the subscribers' Unsubscribe calls did not all return")
	}
	for _, s := range subs {
		expectExactly(t, s, topic, `{}`)
	}
	expectCount(t, ps, topic, 0)
}

// Once Unsubscribe returns, Deliver is not running and is not called
// again, while another goroutine keeps publishing on the topic.
func testNoDeliverAfterUnsubscribe(t *testing.T, ps pubsub.PubSub) {
	const topic = "room:x"
	stop, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if err := ps.Broadcast(msg(topic, "e", i)); err != nil {
				t.Errorf("Broadcast: %v", err)
				return
			}
		}
	}()
	defer func() { close(stop); <-stopped }()
	for _, s := range newSubs(t, "s", 50) {
		s.hook = func(*pubsub.Broadcast) { // linger inside Deliver
			for range 3 {
				runtime.Gosched()
			}
		}
		s.join(ps, topic)
		waitCount(t, topic, 1, s)
		s.leave(ps, topic)
	}
	last := newSub(t, "last")
	last.join(ps, topic)
	fence(t, ps.Broadcast, topic, last) // later deliveries to the others would be in by now
}

// Every subscriber of a node gets the same *Broadcast, unmodified, and its
// encodings are computed once and shared whoever asks.
func testShared(t *testing.T, ps pubsub.PubSub) {
	subs := newSubs(t, "s", 5)
	for _, s := range subs {
		s.join(ps, "room:s")
	}
	b := msg("room:s", "shout", 7)
	b.From = pubsub.NewSubscriberID()
	orig := &pubsub.Broadcast{Topic: b.Topic, Event: b.Event, Payload: bytes.Clone(b.Payload), From: b.From}
	publish(t, ps, b)
	waitCount(t, "room:s", 1, subs...)
	if b.Topic != orig.Topic || b.Event != orig.Event || !bytes.Equal(b.Payload, orig.Payload) || b.Binary || b.From != orig.From {
		t.Fatalf("Broadcast modified the published value: %+v", b)
	}
	got := subs[0].received("room:s")[0]
	for _, s := range subs[1:] {
		if g := s.received("room:s")[0]; g != got {
			t.Fatalf("%s got %p, %s got %p: subscribers do not share the broadcast", subs[0].name, got, s.name, g)
		}
	}
	checkShared(t, got, orig)
}

// checkShared checks that got carries want's message, and that Encoded,
// called at once from several goroutines, gives every caller one frame per
// version, equal to a fresh encoding.
func checkShared(t *testing.T, got, want *pubsub.Broadcast) {
	t.Helper()
	if got.Topic != want.Topic || got.Event != want.Event || !bytes.Equal(got.Payload, want.Payload) || got.Binary != want.Binary {
		t.Fatalf("delivered %s %s %s, published %s %s %s", got.Topic, got.Event, got.Payload, want.Topic, want.Event, want.Payload)
	}
	m := serializer.Message{Kind: serializer.KindBroadcast, Topic: want.Topic, Event: want.Event, Payload: want.Payload}
	for _, v := range []serializer.Version{serializer.V1, serializer.V2} {
		fresh, _, err := serializer.Encode(v, nil, &m)
		if err != nil {
			t.Fatal(err)
		}
		frames := make([][]byte, 8)
		var wg sync.WaitGroup
		for i := range frames {
			wg.Go(func() {
				f, _, err := got.Encoded(v)
				if err != nil {
					t.Errorf("Encoded(%v): %v", v, err)
				}
				frames[i] = f
			})
		}
		wg.Wait()
		for _, f := range frames {
			if !bytes.Equal(f, fresh) || len(f) == 0 || &f[0] != &frames[0][0] {
				t.Fatalf("Encoded(%v) = %q, want one shared frame %q", v, f, fresh)
			}
		}
	}
}
