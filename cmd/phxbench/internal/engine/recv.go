package engine

import (
	"bytes"
	"encoding/json"

	"github.com/phxgo/phxgo/cmd/phxbench/internal/wire"
	"github.com/phxgo/phxgo/serializer"
)

// Handling of decoded server messages: replies complete requests, pushes
// and broadcasts feed wait steps and delivery accounting.

// onMessage decodes one data message. frame is the whole WebSocket frame
// (nil when reassembled from fragments), kept once for the baseline.
func (e *engine) onMessage(c *client, payload []byte, binary bool, frame []byte) {
	if testOnMessage != nil {
		testOnMessage(payload, binary)
	}
	if skimmable(c.g.gp.Vsn, payload, binary) {
		if m, ok := skimPushV2(payload); ok { // a big push: see skim.go
			e.onPush(c, &m, frame)
			return
		}
	}
	m, err := serializer.DecodeServer(c.g.gp.Vsn, payload, binary)
	if err != nil {
		e.fail(c, "decode")
		return
	}
	if m.Kind == serializer.KindReply {
		e.onReply(c, &m)
		return
	}
	e.onPush(c, &m, frame)
}

// onReply completes the request with the reply's ref.
func (e *engine) onReply(c *client, m *serializer.Message) {
	ref, ok := wire.ParseRef(m.Ref)
	if !ok {
		e.st.err("reply_unknown_ref")
		return
	}
	p, ok := c.takePending(e, ref)
	if !ok {
		e.st.c.LateReplies++
		return
	}
	if p.kind != reqHeartbeat {
		e.lastRecv = e.now
	}
	rtt := e.now - p.sent
	switch p.kind {
	case reqJoin:
		e.joinReply(c, &p, m.Status, rtt)
	case reqPush:
		e.pushReply(c, &p, m.Status, rtt)
	case reqLeave:
		e.st.record("leave", rtt, e.now)
		e.endWindow(c, p.topic)
	case reqHeartbeat:
		e.st.record("heartbeat", rtt, e.now)
	}
	if c.state != stOpen {
		return
	}
	if p.blocking && c.block == blockReply && c.blockRef == p.ref {
		c.unblock()
		e.advance(c)
		return
	}
	e.resume(c)
}

// joinReply marks the topic joined and opens its delivery window, or fails
// the client when the join was refused.
func (e *engine) joinReply(c *client, p *pending, status string, rtt int64) {
	if status != "ok" {
		e.st.c.JoinFailed++
		e.fail(c, "join:"+status)
		return
	}
	t := &c.topics[p.topic]
	t.joined, t.start, t.recv = true, e.now, 0
	e.st.c.Joined++
	e.st.target(c.ti).Joined++
	e.st.live.joined.Add(1)
	e.st.record("join", rtt, e.now)
	e.st.count("joins", e.now)
	e.st.marks.LastJoin = e.now
}

// pushReply checks the status and records the round trip; a stamped push
// answered ok counts as published for loss accounting.
func (e *engine) pushReply(c *client, p *pending, status string, rtt int64) {
	e.st.c.Replies++
	e.st.live.replies.Add(1)
	e.st.record(p.o.Hist, rtt, e.now)
	e.st.count("replies", e.now)
	e.st.marks.LastReply = e.now
	if p.o.Expect != "" && status != p.o.Expect {
		e.st.c.StatusErrors++
		e.st.err("status:" + p.o.Event + ":" + status)
	}
	if p.stamp != 0 && status == "ok" {
		e.st.publish(c.topics[p.topic].name, p.stamp)
	}
}

// onPush handles a server push or broadcast.
func (e *engine) onPush(c *client, m *serializer.Message, frame []byte) {
	e.lastRecv = e.now
	if m.Topic == serializer.TopicPhoenix && m.Event == serializer.EventConnectError {
		e.fail(c, "connect_error:"+reason(m.Payload))
		return
	}
	ti := c.topicIndex(m.Topic)
	switch m.Event {
	case serializer.EventClose, serializer.EventError:
		if ti >= 0 && c.topics[ti].joined && !c.topics[ti].leaving {
			e.st.err(m.Event + ":" + m.Topic)
			e.endWindow(c, ti)
		}
		return
	}
	if ts, ok := wire.FindStamp(m.Payload); ok {
		e.delivered(c, ti, ts, frame)
	}
	if ti < 0 {
		return
	}
	for k, wk := range c.g.gp.WaitKeys {
		if wk.Topic == ti && wk.Event == m.Event {
			c.waits[k]++
			e.checkWait(c, k)
		}
	}
}

// delivered accounts one stamped message: latency, and the delivery
// window when the topic is joined and the message was sent after the join.
func (e *engine) delivered(c *client, ti int, ts int64, frame []byte) {
	e.st.c.Deliveries++
	e.st.target(c.ti).Deliveries++
	e.st.live.deliveries.Add(1)
	e.st.record("delivery", e.now-ts, e.now)
	e.st.count("deliveries", e.now)
	e.st.marks.LastDelivery = e.now
	if e.o.capture && e.st.frame == nil && frame != nil {
		e.st.frame = bytes.Clone(frame)
	}
	if ti >= 0 && c.topics[ti].counts(ts) {
		c.topics[ti].recv++
	} else {
		e.st.c.Unexpected++
	}
}

// checkWait resumes a client whose wait step is satisfied.
func (e *engine) checkWait(c *client, k int) {
	o := c.waitOp
	if c.block != blockWait || o.WaitKey != k || int(c.waits[k]) < o.Count {
		return
	}
	c.waits[k] -= int32(o.Count)
	c.unblock()
	e.advance(c)
}

// topicIndex returns the index of topic in c's topics, or -1.
func (c *client) topicIndex(topic string) int {
	for i := range c.topics {
		if c.topics[i].name == topic {
			return i
		}
	}
	return -1
}

// reason extracts {"reason": …} from a payload for error kinds.
func reason(payload []byte) string {
	var r struct {
		Reason string `json:"reason"`
	}
	if json.Unmarshal(payload, &r) != nil || r.Reason == "" {
		return "unknown"
	}
	return r.Reason
}
