package pubsubtest

import (
	"fmt"
	"testing"

	"github.com/phxgo/phxgo/phx/pubsub"
)

var clusterCases = []clusterCase{
	{"ClusterDelivery", testRemoteDelivery},
	{"ClusterBroadcastFrom", testRemoteFrom},
	{"ClusterOnlySubscribedTopics", testRemoteTopics},
	{"ClusterLocalBroadcast", testRemoteLocal},
	{"ClusterUnsubscribe", testRemoteUnsubscribe},
	{"ClusterPublishOrder", testRemoteOrder},
}

// nodeSubs makes per subscribers on each node, subscribed to topic.
func nodeSubs(t *testing.T, nodes []pubsub.PubSub, topic string, per int) [][]*sub {
	out := make([][]*sub, len(nodes))
	for n, ps := range nodes {
		out[n] = newSubs(t, fmt.Sprintf("node%d/s", n), per)
		for _, s := range out[n] {
			s.join(ps, topic)
		}
	}
	return out
}

func flat(subs [][]*sub) []*sub {
	var out []*sub
	for _, s := range subs {
		out = append(out, s...)
	}
	return out
}

// A broadcast on any node reaches the subscribers of every node, at once
// after they subscribed; each node's subscribers share one *Broadcast, and
// Subscribers counts a node's own.
func testRemoteDelivery(t *testing.T, nodes []pubsub.PubSub) {
	const topic = "room:r"
	subs := nodeSubs(t, nodes, topic, 3)
	b := msg(topic, "e", 1)
	publish(t, nodes[0], b)
	publish(t, nodes[2], msg(topic, "e", 2))
	waitCount(t, topic, 2, flat(subs)...)
	fence(t, nodes[0].Broadcast, topic, flat(subs)...)
	for n, ss := range subs {
		copies := map[string]*pubsub.Broadcast{} // payload → node n's copy
		for _, s := range ss {
			got := s.received(topic)
			if len(got) != 2 {
				t.Fatalf("%s got %d broadcasts, want 2", s.name, len(got))
			}
			for _, g := range got {
				if c := copies[string(g.Payload)]; c == nil {
					copies[string(g.Payload)] = g
				} else if c != g {
					t.Fatalf("subscribers of node %d got different copies of %s", n, g.Payload)
				}
			}
		}
		checkShared(t, copies[string(b.Payload)], b)
		expectCount(t, nodes[n], topic, 3)
	}
	expectCount(t, nodes[0], "room:none", 0)
}

// From excludes the subscriber of the publishing node with that id, and
// no one on the other nodes: ids are unique per process only, so another
// node's subscriber with the same id is someone else.
func testRemoteFrom(t *testing.T, nodes []pubsub.PubSub) {
	const topic = "room:rf"
	subs := nodeSubs(t, nodes, topic, 2)
	twin := newSub(t, "node2/twin")
	twin.id = subs[0][0].id // node 0's sender, seen from another process
	twin.join(nodes[2], topic)
	all := append(flat(subs), twin)

	m := msg(topic, "e", 1)
	m.From = subs[0][0].id
	publish(t, nodes[0], m)
	m = msg(topic, "e", 2)
	m.From = subs[1][1].id
	publish(t, nodes[1], m)
	fence(t, nodes[0].Broadcast, topic, all...)
	fence(t, nodes[1].Broadcast, topic, all...)
	for _, s := range all {
		want := map[string]bool{`{"n":1}`: true, `{"n":2}`: true}
		switch s {
		case subs[0][0]:
			delete(want, `{"n":1}`)
		case subs[1][1]:
			delete(want, `{"n":2}`)
		}
		got := s.received(topic)
		for _, b := range got {
			if !want[string(b.Payload)] {
				t.Fatalf("%s got %s (From %d), which was not for it", s.name, b.Payload, b.From)
			}
			delete(want, string(b.Payload))
		}
		if len(want) != 0 {
			t.Fatalf("%s got %d broadcasts, missing %v", s.name, len(got), want)
		}
	}
}

// A node delivers only the topics its subscribers follow.
func testRemoteTopics(t *testing.T, nodes []pubsub.PubSub) {
	x, y := newSub(t, "node1/x"), newSub(t, "node2/y")
	x.join(nodes[1], "room:a")
	y.join(nodes[2], "room:b")
	publish(t, nodes[0], msg("room:b", "e", 1))
	publish(t, nodes[0], msg("room:a", "e", 2))
	fence(t, nodes[0].Broadcast, "room:a", x)
	fence(t, nodes[0].Broadcast, "room:b", y)
	expectExactly(t, x, "room:a", `{"n":2}`)
	expectExactly(t, x, "room:b")
	expectExactly(t, y, "room:b", `{"n":1}`)
	expectExactly(t, y, "room:a")
	expectCount(t, nodes[0], "room:a", 0)
	expectCount(t, nodes[1], "room:a", 1)
	expectCount(t, nodes[1], "room:b", 0)
	expectCount(t, nodes[2], "room:b", 1)
}

// LocalBroadcast stays on its node.
func testRemoteLocal(t *testing.T, nodes []pubsub.PubSub) {
	const topic = "room:rl"
	subs := nodeSubs(t, nodes, topic, 1)
	nodes[0].LocalBroadcast(msg(topic, "e", 1))
	fence(t, nodes[0].Broadcast, topic, flat(subs)...)
	expectExactly(t, subs[0][0], topic, `{"n":1}`)
	for _, ss := range subs[1:] {
		expectExactly(t, ss[0], topic)
	}
}

// Unsubscribing on one node stops deliveries from every node.
func testRemoteUnsubscribe(t *testing.T, nodes []pubsub.PubSub) {
	const topic = "room:ru"
	a, b := newSub(t, "node1/a"), newSub(t, "node1/b")
	a.join(nodes[1], topic)
	b.join(nodes[1], topic)
	publish(t, nodes[0], msg(topic, "e", 1))
	waitCount(t, topic, 1, a, b)
	a.leave(nodes[1], topic)
	expectCount(t, nodes[1], topic, 1)
	publish(t, nodes[0], msg(topic, "e", 2))
	publish(t, nodes[2], msg(topic, "e", 3))
	fence(t, nodes[0].Broadcast, topic, b)
	fence(t, nodes[2].Broadcast, topic, b)
	expectExactly(t, a, topic, `{"n":1}`)
	if got := len(b.received(topic)); got != 3 {
		t.Fatalf("%s got %d broadcasts, want 3", b.name, got)
	}
}

// One publisher's broadcasts on a topic reach other nodes in order.
func testRemoteOrder(t *testing.T, nodes []pubsub.PubSub) {
	checkOrder(t, nodes[0], nodes[1], newSubs(t, "node0/s", 1), newSubs(t, "node1/s", 2))
}
