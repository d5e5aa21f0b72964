package serializer

import (
	"bytes"
	"encoding/json"
	"testing"
)

// Each benchmark runs the same work through this package and through
// encoding/json, the obvious alternative, in the same process:
//
//	go test -run='^$' -bench=. -benchmem -count=6 ./serializer

var (
	benchPush     = []byte(`["3","4","room:lobby","new_msg",{"body":"hi"}]`)
	benchPresence = []byte(`[null,null,"room:lobby","presence_diff",{"joins":{"alice":{"metas":[{"online_at":1795876034181,"phx_ref":"GOw7vUP7hwLubwBh","phx_ref_prev":"GOw7vPYKRWrubwBR","status":"away"}]}},"leaves":{"alice":{"metas":[{"online_at":1795876034181,"phx_ref":"GOw7vPYKRWrubwBR"}]}}}]`)
	benchPayload  = []byte(`{"joins":{"alice":{"metas":[{"online_at":1795876034181,"phx_ref":"GOw7vUP7hwLubwBh"}]}},"leaves":{}}`)

	sinkMessage Message
	sinkBytes   []byte
)

func BenchmarkDecode(b *testing.B) {
	for _, c := range []struct {
		name  string
		frame []byte
	}{{"push", benchPush}, {"presence", benchPresence}} {
		b.Run(c.name+"/phxgo", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(c.frame)))
			for b.Loop() {
				m, err := Decode(V2, c.frame, false)
				if err != nil {
					b.Fatal(err)
				}
				sinkMessage = m
			}
		})
		b.Run(c.name+"/encoding_json", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(c.frame)))
			for b.Loop() {
				var parts []json.RawMessage
				var m Message
				if json.Unmarshal(c.frame, &parts) != nil || len(parts) < 5 ||
					json.Unmarshal(parts[2], &m.Topic) != nil || json.Unmarshal(parts[3], &m.Event) != nil {
					b.Fatal("bad frame")
				}
				m.JoinRef, m.Ref, m.Payload = parts[0], parts[1], parts[4]
				sinkMessage = m
			}
		})
	}
}

// replyPayload is how an encoding/json user would write the reply wrapper.
type replyPayload struct {
	Response json.RawMessage `json:"response"`
	Status   string          `json:"status"`
}

// benchEncode encodes m as V2 into buf, emptied each time; a nil buf makes
// every run allocate its own.
func benchEncode(b *testing.B, m *Message, buf []byte) {
	b.ReportAllocs()
	for b.Loop() {
		out, _, err := Encode(V2, buf[:0], m)
		if err != nil {
			b.Fatal(err)
		}
		sinkBytes = out
	}
}

func BenchmarkEncodeReply(b *testing.B) {
	m := Message{Kind: KindReply, JoinRef: []byte(`"3"`), Ref: []byte(`"4"`), Topic: "room:lobby", Status: "ok", Payload: []byte(`{"id":17}`)}
	b.Run("phxgo/new_buffer", func(b *testing.B) { benchEncode(b, &m, nil) })
	b.Run("phxgo/reused_buffer", func(b *testing.B) { benchEncode(b, &m, make([]byte, 0, 256)) })
	b.Run("encoding_json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			out, err := json.Marshal([]any{json.RawMessage(m.JoinRef), json.RawMessage(m.Ref), m.Topic, EventReply,
				replyPayload{Response: m.Payload, Status: m.Status}})
			if err != nil {
				b.Fatal(err)
			}
			sinkBytes = out
		}
	})
}

func BenchmarkEncodeBroadcast(b *testing.B) {
	m := Message{Kind: KindBroadcast, Topic: "room:lobby", Event: "presence_diff", Payload: benchPayload}
	b.Run("phxgo/reused_buffer", func(b *testing.B) { benchEncode(b, &m, make([]byte, 0, 256)) })
	b.Run("encoding_json/reused_buffer", func(b *testing.B) {
		b.ReportAllocs()
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		for b.Loop() {
			buf.Reset()
			if err := enc.Encode([]any{nil, nil, m.Topic, m.Event, json.RawMessage(m.Payload)}); err != nil {
				b.Fatal(err)
			}
			sinkBytes = buf.Bytes()
		}
	})
}

// BenchmarkFanout sends one broadcast to 10,000 sockets, half V1 and half
// V2: with a Cache it is encoded twice, without it 10,000 times.
func BenchmarkFanout(b *testing.B) {
	const sockets = 10000
	m := Message{Kind: KindBroadcast, Topic: "room:lobby", Event: "presence_diff", Payload: benchPayload}
	b.Run("cache", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			c := NewCache(m)
			for i := range sockets {
				out, _, _ := c.Encoded(Version(1 + i%2))
				sinkBytes = out
			}
		}
	})
	b.Run("encode_per_socket", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			for i := range sockets {
				out, _, _ := Encode(Version(1+i%2), nil, &m)
				sinkBytes = out
			}
		}
	})
}

// BenchmarkDecodeServer is the load generator's side: a reply to a push
// and a broadcast, as text and binary.
func BenchmarkDecodeServer(b *testing.B) {
	for _, c := range []struct {
		name   string
		frame  []byte
		binary bool
	}{
		{"reply", []byte(`["3","4","room:lobby","phx_reply",{"response":{"id":17},"status":"ok"}]`), false},
		{"broadcast", benchPresence, false},
		{"binary_reply", []byte("\x01\x01\x01\x0a\x02" + "34room:lobbyok\x11"), true},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(c.frame)))
			for b.Loop() {
				m, err := DecodeServer(V2, c.frame, c.binary)
				if err != nil {
					b.Fatal(err)
				}
				sinkMessage = m
			}
		})
	}
}
