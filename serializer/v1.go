package serializer

import (
	"bytes"
	"math/bits"
)

// V1 text frames are JSON objects. Clients send topic, event, payload and ref
// (join_ref optional, any key order; as in Phoenix, topic and event may be
// any JSON value); the server writes event, payload, ref
// and topic in that order, the order of the Elixir map Phoenix encodes, and
// never join_ref.

// Indexes of the V1 keys a client frame may carry.
const (
	v1Topic = iota
	v1Event
	v1Payload
	v1Ref
	v1JoinRef
	v1NumKeys
)

var v1Keys = [v1NumKeys]string{"topic", "event", "payload", "ref", "join_ref"}

// v1Required has a bit set for each key a client frame must carry.
const v1Required = 1<<v1Topic | 1<<v1Event | 1<<v1Payload | 1<<v1Ref

// decodeV1 decodes a client's V1 text frame. Unknown keys are ignored; of
// duplicate keys the last wins, as in Jason.
func decodeV1(frame []byte) (Message, error) {
	var w frameWalker
	if !w.open(frame, '{') {
		return Message{}, malformed(V1, "frame is not a JSON object")
	}
	var vals [v1NumKeys]span
	found := 0
	for {
		k, v, ok := w.next()
		if !ok {
			break
		}
		if i := v1KeyIndex(w.raw(k)); i >= 0 {
			vals[i] = v
			found |= 1 << i
		}
	}
	if !w.finish() {
		return Message{}, w.syntaxError(V1)
	}
	switch {
	case v1Required&^found != 0:
		return Message{}, malformed(V1, "missing key %q", v1Keys[bits.TrailingZeros(uint(v1Required&^found))])
	}
	m := Message{
		Kind:    KindPush,
		Ref:     w.ref(vals[v1Ref]),
		Payload: w.raw(vals[v1Payload]),
	}
	m.Topic, m.RawTopic = w.name(vals[v1Topic])
	m.Event, m.RawEvent = w.name(vals[v1Event])
	if found&(1<<v1JoinRef) != 0 {
		m.JoinRef = w.ref(vals[v1JoinRef])
	}
	return m, nil
}

// v1KeyIndex returns the index in v1Keys of the key literal lit, or -1.
func v1KeyIndex(lit []byte) int {
	key := lit[1 : len(lit)-1]
	if bytes.IndexByte(key, '\\') >= 0 { // an escaped spelling such as "t\u006fpic"
		key = []byte(unquote(lit))
	}
	for i, k := range v1Keys {
		if string(key) == k {
			return i
		}
	}
	return -1
}

// appendV1 appends m as a V1 text frame.
func appendV1(dst []byte, m *Message) []byte {
	_, ref := m.refs()
	dst = append(dst, `{"event":`...)
	dst = appendName(dst, m.RawEvent, m.event())
	dst = append(dst, `,"payload":`...)
	dst = appendPayload(dst, m)
	dst = append(dst, `,"ref":`...)
	dst = appendRaw(dst, ref)
	dst = append(dst, `,"topic":`...)
	dst = appendName(dst, m.RawTopic, m.Topic)
	return append(dst, '}')
}
