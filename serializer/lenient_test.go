package serializer

import (
	"errors"
	"testing"
)

// TestDecodeAnyTopicAndEvent checks the frames Phoenix 1.7 decodes although
// phoenix.js never sends them: a topic or event that is not a string, extra
// trailing elements, numeric refs and payloads that are not objects. Each
// must decode (Phoenix answers them and keeps the socket), and a reply to it
// must echo the raw topic.
func TestDecodeAnyTopicAndEvent(t *testing.T) {
	cases := []struct {
		name     string
		v        Version
		frame    string
		want     Message
		replyOut string // Encode of an error reply to it
	}{
		{"v2 numeric topic", V2, `[null,"21",42,"phx_join",{}]`,
			Message{Ref: []byte(`"21"`), RawTopic: []byte(`42`), Event: "phx_join", Payload: []byte(`{}`)},
			`[null,"21",42,"phx_reply",{"response":{"reason":"x"},"status":"error"}]`},
		{"v2 object topic", V2, `[null,"1",{"a": [1, "b"]},"phx_join",{}]`,
			Message{Ref: []byte(`"1"`), RawTopic: []byte(`{"a": [1, "b"]}`), Event: "phx_join", Payload: []byte(`{}`)},
			`[null,"1",{"a": [1, "b"]},"phx_reply",{"response":{"reason":"x"},"status":"error"}]`},
		{"v2 null topic, numeric event", V2, `["1","2",null,7,{}]`,
			Message{JoinRef: []byte(`"1"`), Ref: []byte(`"2"`), RawTopic: []byte(`null`), RawEvent: []byte(`7`), Payload: []byte(`{}`)},
			`[null,"2",null,"phx_reply",{"response":{"reason":"x"},"status":"error"}]`},
		{"v2 sixth element", V2, `["1","22","room:lobby","echo",{},"extra"]`,
			Message{JoinRef: []byte(`"1"`), Ref: []byte(`"22"`), Topic: "room:lobby", Event: "echo", Payload: []byte(`{}`)},
			`["1","22","room:lobby","phx_reply",{"response":{"reason":"x"},"status":"error"}]`},
		{"v2 numeric ref, string payload", V2, `["1",23,"room:lobby","echo","str"]`,
			Message{JoinRef: []byte(`"1"`), Ref: []byte(`23`), Topic: "room:lobby", Event: "echo", Payload: []byte(`"str"`)},
			`["1",23,"room:lobby","phx_reply",{"response":{"reason":"x"},"status":"error"}]`},
		{"v1 boolean topic", V1, `{"topic":true,"event":"phx_join","payload":{},"ref":"3"}`,
			Message{Ref: []byte(`"3"`), RawTopic: []byte(`true`), Event: "phx_join", Payload: []byte(`{}`)},
			`{"event":"phx_reply","payload":{"response":{"reason":"x"},"status":"error"},"ref":"3","topic":true}`},
		{"v1 array event, string payload", V1, `{"topic":"t","event":[1],"payload":"s","ref":4}`,
			Message{Ref: []byte(`4`), Topic: "t", RawEvent: []byte(`[1]`), Payload: []byte(`"s"`)},
			`{"event":"phx_reply","payload":{"response":{"reason":"x"},"status":"error"},"ref":4,"topic":"t"}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m, err := Decode(c.v, []byte(c.frame), false)
			if err != nil {
				t.Fatal(err)
			}
			if !sameMessage(m, c.want) {
				t.Fatalf("decoded %s\n   want %s", describe(m), describe(c.want))
			}
			if m.HasStringTopic() != (c.want.RawTopic == nil) || m.HasStringEvent() != (c.want.RawEvent == nil) {
				t.Fatalf("HasStringTopic %v HasStringEvent %v", m.HasStringTopic(), m.HasStringEvent())
			}
			reply := Message{Kind: KindReply, Ref: m.Ref, Topic: m.Topic, RawTopic: m.RawTopic,
				Status: "error", Payload: []byte(`{"reason":"x"}`)}
			if c.v == V2 {
				reply.JoinRef = m.JoinRef
				if m.RawTopic != nil {
					reply.JoinRef = nil
				}
			}
			out, _, err := Encode(c.v, nil, &reply)
			if err != nil || string(out) != c.replyOut {
				t.Fatalf("reply %s, %v\n want %s", out, err, c.replyOut)
			}
		})
	}
}

// TestEncodeRawNames covers a raw topic and event in every output format.
func TestEncodeRawNames(t *testing.T) {
	m := Message{Kind: KindPush, JoinRef: []byte(`"1"`), RawTopic: []byte(`42`), RawEvent: []byte(`[true]`), Payload: []byte(`{}`)}
	out, _, err := Encode(V2, nil, &m)
	if want := `["1",null,42,[true],{}]`; err != nil || string(out) != want {
		t.Fatalf("V2 %s, %v; want %s", out, err, want)
	}
	out, _, err = Encode(V1, nil, &m)
	if want := `{"event":[true],"payload":{},"ref":null,"topic":42}`; err != nil || string(out) != want {
		t.Fatalf("V1 %s, %v; want %s", out, err, want)
	}
	m.Binary = true
	out, isBinary, err := Encode(V2, nil, &m)
	if want := "\x00\x01\x02\x061" + `42[true]{}`; err != nil || !isBinary || string(out) != want {
		t.Fatalf("binary %q, %v, %v; want %q", out, isBinary, err, want)
	}
	out, _, err = EncodeClient(V2, nil, &m)
	if want := "\x00\x01\x00\x02\x061" + `42[true]{}`; err != nil || string(out) != want {
		t.Fatalf("client binary %q, %v; want %q", out, err, want)
	}
}

// TestDecodeShapesStillRefused lists what Phoenix cannot decode either: those
// stay errors (and cost the socket, in phx).
func TestDecodeShapesStillRefused(t *testing.T) {
	for _, c := range []struct {
		v     Version
		frame string
	}{
		{V2, `["1","2","t","e"]`},
		{V2, `{"topic":"t","event":"e","payload":{},"ref":null}`},
		{V2, `"text"`},
		{V2, `[null,"1",42,"phx_join",{}`},
		{V2, "[null,\"1\",\"t\",\"e\",\"\xff\"]"},
		{V1, `["1","2","t","e",{}]`},
		{V1, `{"topic":1,"event":"e","payload":{}}`},
		{V1, `{"topic":1,"event":"e","payload":{},"ref":null`},
	} {
		if m, err := Decode(c.v, []byte(c.frame), false); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s %s: decoded %s, %v", c.v, c.frame, describe(m), err)
		}
	}
}
