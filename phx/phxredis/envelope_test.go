package phxredis

import (
	"bytes"
	"strings"
	"testing"

	"github.com/phxgo/phxgo/phx/pubsub"
)

func TestEnvelopeRoundTrip(t *testing.T) {
	for _, b := range []*pubsub.Broadcast{
		{Topic: "room:lobby", Event: "new_msg", Payload: []byte(`{"body":"hi"}`), From: 42},
		{Topic: "t", Event: "", Payload: []byte(`{}`)},
		{Topic: "bin", Event: "blob", Payload: []byte{0, 1, 0xff}, Binary: true},
		{Topic: "bin", Event: "empty", Payload: nil, Binary: true},
		{Topic: strings.Repeat("x", 300), Event: strings.Repeat("é", 100), Payload: []byte(` {"a":[1,2,{"b":null}]} `), From: 1 << 63},
	} {
		enc := appendEnvelope(nil, "node-1", b)
		if len(enc) != envelopeSize("node-1", b) {
			t.Fatalf("envelopeSize %d, encoded %d", envelopeSize("node-1", b), len(enc))
		}
		e, err := decodeEnvelope(string(enc))
		if err != nil {
			t.Fatalf("decode %q: %v", enc, err)
		}
		if e.node != "node-1" || e.topic != b.Topic || e.event != b.Event || e.from != b.From ||
			e.binary != b.Binary || e.payload != string(b.Payload) {
			t.Fatalf("decoded %+v from %+v", e, b)
		}
	}
}

func TestEnvelopeRejects(t *testing.T) {
	good := appendEnvelope(nil, "n", &pubsub.Broadcast{Topic: "room:1", Event: "e", Payload: []byte(`{"a":1}`)})
	cases := map[string]string{
		"empty":              "",
		"one byte":           "\x01",
		"version 0":          "\x00" + string(good[1:]),
		"version 2":          "\x02" + string(good[1:]),
		"unknown flag":       "\x01\x02" + string(good[2:]),
		"truncated":          string(good[:5]),
		"no topic":           string(appendEnvelope(nil, "n", &pubsub.Broadcast{Event: "e", Payload: []byte(`{}`)})),
		"length past end":    "\x01\x00\x7fab",
		"varint overflow":    "\x01\x00\x01n\xff\xff\xff\xff\xff\xff\xff\xff\xff\x7f",
		"varint not minimal": "\x01\x00\x81\x00n\x00\x01t\x00{}",
		"not json":           string(good[:len(good)-7]) + `{"a":1`,
		"json array":         string(good[:len(good)-7]) + `[1,2,3]`,
		"json string":        string(good[:len(good)-7]) + `"abcdef"`,
		"trailing garbage":   string(good[:len(good)-7]) + `{"a":1}x`,
		"two objects":        string(good[:len(good)-7]) + `{}{}`,
		"invalid utf-8":      string(good[:len(good)-7]) + "{\"a\":\"\xff\"}",
		"empty payload":      string(good[:len(good)-7]),
		"plain junk":         "hello world",
	}
	for name, msg := range cases {
		if e, err := decodeEnvelope(msg); err == nil {
			t.Errorf("%s: %q decoded as %+v", name, msg, e)
		}
	}
	if _, err := decodeEnvelope(string(good)); err != nil {
		t.Fatalf("the good one: %v", err)
	}
}

// FuzzDecodeEnvelope: whatever Redis hands over, decoding never panics,
// and what it accepts is safe to deliver (a JSON object unless binary)
// and encodes back to the same bytes.
func FuzzDecodeEnvelope(f *testing.F) {
	f.Add(appendEnvelope(nil, "node", &pubsub.Broadcast{Topic: "room:1", Event: "e", Payload: []byte(`{"a":1}`), From: 7}))
	f.Add(appendEnvelope(nil, "", &pubsub.Broadcast{Topic: "t", Event: "b", Payload: []byte{0, 0xff}, Binary: true}))
	f.Add([]byte("\x01\x00\x00\x00\x00\x00{}"))
	f.Add([]byte("junk"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, msg []byte) {
		e, err := decodeEnvelope(string(msg))
		if err != nil {
			return
		}
		if e.topic == "" {
			t.Fatal("accepted an envelope without a topic")
		}
		if !e.binary && !jsonObject(e.payload) {
			t.Fatalf("accepted a payload that is not a JSON object: %q", e.payload)
		}
		b := &pubsub.Broadcast{Topic: e.topic, Event: e.event, Payload: []byte(e.payload), Binary: e.binary, From: e.from}
		if again := appendEnvelope(nil, e.node, b); !bytes.Equal(again, msg) {
			t.Fatalf("re-encoded %q as %q", msg, again)
		}
	})
}
