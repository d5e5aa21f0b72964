package main

import (
	"encoding/json"
	"sync"

	"github.com/phxgo/phxgo/serializer"
)

// fakePeer is one client of a fake server, whatever transport carries it.
type fakePeer interface {
	comparable
	send(m *serializer.Message)
	userID() string
}

// fakeChannels is the example app's bench:* contract that both fake
// servers (WebSocket and LongPoll) serve: join ok, echo, new_msg broadcast
// to the topic, leave, heartbeat, and "fail" answered with an error.
type fakeChannels[P fakePeer] struct {
	mu     sync.Mutex
	topics map[string]map[P]bool
}

func (fc *fakeChannels[P]) handle(p P, m *serializer.Message) {
	reply := serializer.Message{Kind: serializer.KindReply, JoinRef: m.JoinRef, Ref: m.Ref, Topic: m.Topic, Status: "ok"}
	switch m.Event {
	case "heartbeat":
	case "phx_join":
		fc.mu.Lock()
		if fc.topics == nil {
			fc.topics = map[string]map[P]bool{}
		}
		if fc.topics[m.Topic] == nil {
			fc.topics[m.Topic] = map[P]bool{}
		}
		fc.topics[m.Topic][p] = true
		fc.mu.Unlock()
	case "phx_leave":
		fc.mu.Lock()
		delete(fc.topics[m.Topic], p)
		fc.mu.Unlock()
	case "echo":
		reply.Payload, reply.Binary = m.Payload, m.Binary
	case "new_msg":
		var in struct{ Body string }
		_ = json.Unmarshal(m.Payload, &in)
		pl, _ := json.Marshal(map[string]string{"user": p.userID(), "body": in.Body})
		fc.broadcast(&serializer.Message{Kind: serializer.KindBroadcast, Topic: m.Topic, Event: "new_msg", Payload: pl})
	case "fail":
		reply.Status = "error"
	default:
		return // no reply
	}
	p.send(&reply)
}

func (fc *fakeChannels[P]) broadcast(m *serializer.Message) {
	fc.mu.Lock()
	var subs []P
	for p := range fc.topics[m.Topic] {
		subs = append(subs, p)
	}
	fc.mu.Unlock()
	for _, p := range subs {
		p.send(m)
	}
}

// drop unsubscribes p from every topic.
func (fc *fakeChannels[P]) drop(p P) {
	fc.mu.Lock()
	for _, subs := range fc.topics {
		delete(subs, p)
	}
	fc.mu.Unlock()
}
