package serializer

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// TestEncodeClientRoundTrip encodes client pushes and decodes them with
// the server's decoder.
func TestEncodeClientRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name string
		v    Version
		m    Message
	}{
		{"v2 text", V2, Message{JoinRef: []byte(`"3"`), Ref: []byte(`"4"`), Topic: "room:lobby", Event: "new_msg", Payload: []byte(`{"body":"hi"}`)}},
		{"v2 heartbeat", V2, Message{Ref: []byte(`"5"`), Topic: "phoenix", Event: "heartbeat", Payload: []byte(`{}`)}},
		{"v1 text", V1, Message{Ref: []byte(`"1"`), Topic: "room:lobby", Event: "phx_join", Payload: []byte(`{}`)}},
		{"v2 binary", V2, Message{JoinRef: []byte(`"1"`), Ref: []byte(`"2"`), Topic: "room:1", Event: "upload", Payload: []byte{0xde, 0xad}, Binary: true}},
		{"v2 binary no join_ref", V2, Message{Ref: []byte(`"22"`), Topic: "t", Event: "e", Payload: []byte{}, Binary: true}},
		{"v2 binary escaped ref", V2, Message{Ref: []byte(`"a\"b"`), Topic: "t", Event: "e", Payload: []byte{1}, Binary: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			frame, binary, err := EncodeClient(tc.v, nil, &tc.m)
			if err != nil {
				t.Fatal(err)
			}
			if binary != tc.m.Binary {
				t.Errorf("isBinary %v, want %v", binary, tc.m.Binary)
			}
			got, err := Decode(tc.v, frame, binary)
			if err != nil {
				t.Fatalf("server cannot decode %s: %v", show(frame, binary), err)
			}
			want := tc.m
			if tc.v == V1 {
				want.JoinRef = nil // V1 frames carry no join_ref
			}
			if !sameMessage(got, want) {
				t.Errorf("got  %s\nwant %s", describe(got), describe(want))
			}
		})
	}
}

// TestEncodeClientBinaryBytes matches the client push example of
// reference.txt (protocol/binary/c2s-push) byte for byte.
func TestEncodeClientBinaryBytes(t *testing.T) {
	m := Message{JoinRef: []byte(`"1"`), Ref: []byte(`"2"`), Topic: "room:1", Event: "upload", Payload: []byte{0xde, 0xad}, Binary: true}
	frame, _, err := EncodeClient(V2, nil, &m)
	if err != nil {
		t.Fatal(err)
	}
	if want := mustHex(t, "00 01 01 06 06 31 32 72 6f 6f 6d 3a 31 75 70 6c 6f 61 64 de ad"); !bytes.Equal(frame, want) {
		t.Errorf("got % x\nwant % x", frame, want)
	}
	dst := []byte("keep")
	for _, tc := range []struct {
		name string
		v    Version
		edit func(*Message)
		want error
	}{
		{"v1 binary", V1, func(*Message) {}, ErrBinaryV1},
		{"bad version", Version(9), func(*Message) {}, ErrUnsupportedVsn},
		{"256-byte topic", V2, func(m *Message) { m.Topic = strings.Repeat("t", 256) }, ErrFieldTooLong},
		{"256-byte ref", V2, func(m *Message) { m.Ref = []byte(`"` + strings.Repeat("1", 256) + `"`) }, ErrFieldTooLong},
		{"object ref", V2, func(m *Message) { m.JoinRef = []byte(`{}`) }, ErrBadRef},
		{"not a push", V2, func(m *Message) { m.Kind = KindReply }, nil},
	} {
		bad := m
		tc.edit(&bad)
		out, _, err := EncodeClient(tc.v, dst, &bad)
		if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) {
			t.Errorf("%s: err %v, want %v", tc.name, err, tc.want)
		}
		if string(out) != "keep" {
			t.Errorf("%s: dst changed to %q", tc.name, out)
		}
	}
}

// TestDecodeServerBytes decodes the server binary examples of reference.txt
// (protocol/binary/s2c-*).
func TestDecodeServerBytes(t *testing.T) {
	for _, tc := range []struct {
		frame string
		want  Message
	}{
		{"01 01 01 06 02 31 32 72 6f 6f 6d 3a 31 6f 6b de ad", Message{Kind: KindReply, JoinRef: []byte(`"1"`), Ref: []byte(`"2"`),
			Topic: "room:1", Status: "ok", Payload: []byte{0xde, 0xad}, Binary: true}},
		{"00 01 06 05 31 72 6f 6f 6d 3a 31 62 61 64 67 65 de ad", Message{Kind: KindPush, JoinRef: []byte(`"1"`), Topic: "room:1",
			Event: "badge", Payload: []byte{0xde, 0xad}, Binary: true}},
		{"02 06 04 72 6f 6f 6d 3a 31 62 6c 6f 62 de ad", Message{Kind: KindBroadcast, Topic: "room:1", Event: "blob",
			Payload: []byte{0xde, 0xad}, Binary: true}},
		{"02 00 00", Message{Kind: KindBroadcast, Binary: true}},
	} {
		got, err := DecodeServer(V2, mustHex(t, tc.frame), true)
		if err != nil || !sameMessage(got, tc.want) {
			t.Errorf("%s:\n got %s, %v\nwant %s", tc.frame, describe(got), err, describe(tc.want))
		}
	}
	for _, bad := range []string{"", "03", "01 01", "02 09 01 72", "00 01 01"} {
		if _, err := DecodeServer(V2, mustHex(t, bad), true); !errors.Is(err, ErrBadBinary) {
			t.Errorf("%q: err %v, want ErrBadBinary", bad, err)
		}
	}
	if _, err := DecodeServer(V1, mustHex(t, "02 00 00"), true); !errors.Is(err, ErrBinaryV1) {
		t.Errorf("V1 binary: err %v, want ErrBinaryV1", err)
	}
}

// TestDecodeServerRoundTrip encodes with the server's encoder and decodes
// with the client's.
func TestDecodeServerRoundTrip(t *testing.T) {
	msgs := []Message{
		{Kind: KindReply, JoinRef: []byte(`"3"`), Ref: []byte(`"4"`), Topic: "room:1", Status: "ok", Payload: []byte(`{"status":"nested"}`)},
		{Kind: KindReply, JoinRef: []byte(`"3"`), Ref: []byte(`"4"`), Topic: "room:1", Status: "error", Payload: []byte(`{"reason":"x"}`)},
		{Kind: KindReply, Ref: []byte(`"9"`), Topic: "phoenix", Status: "ok", Payload: []byte(`{}`)},
		{Kind: KindReply, Ref: []byte(`9`), Topic: "phoenix", Status: "we\"ird", Payload: []byte(`"a\"},\"status\":\"x"`)},
		{Kind: KindPush, JoinRef: []byte(`"3"`), Topic: "room:1", Event: "presence_state", Payload: []byte(`{"a":1}`)},
		{Kind: KindBroadcast, Topic: "room:1", Event: "new_msg", Payload: []byte(`{"body":"~pb~12~"}`)},
		{Kind: KindReply, JoinRef: []byte(`"3"`), Ref: []byte(`"4"`), Topic: "room:1", Status: "ok", Payload: []byte{1, 2}, Binary: true},
		{Kind: KindPush, JoinRef: []byte(`"3"`), Topic: "room:1", Event: "bin", Payload: []byte{1, 2, 3}, Binary: true},
		{Kind: KindBroadcast, Topic: "room:1", Event: "bin_all", Payload: []byte{4, 5, 6}, Binary: true},
	}
	for _, v := range []Version{V1, V2} {
		for _, m := range msgs {
			if v == V1 && m.Binary {
				continue
			}
			frame, binary, err := Encode(v, nil, &m)
			if err != nil {
				t.Fatal(err)
			}
			got, err := DecodeServer(v, frame, binary)
			if err != nil {
				t.Fatalf("%s %s: %v", v, show(frame, binary), err)
			}
			want := m
			if v == V1 {
				want.JoinRef = nil
				if m.Kind == KindPush {
					want.Kind = KindBroadcast // V1 cannot tell them apart
				}
			}
			if !sameMessage(got, want) {
				t.Errorf("%s %s:\n got %s\nwant %s", v, show(frame, binary), describe(got), describe(want))
			}
		}
	}
}

func TestUnwrapReply(t *testing.T) {
	for in, want := range map[string][2]string{
		`{"response":{},"status":"ok"}`:                       {"ok", `{}`},
		`{"response":{"status":"x"},"status":"error"}`:        {"error", `{"status":"x"}`},
		`{"status":"ok","response":{"status":"inner"}}`:       {"ok", `{"status":"inner"}`},
		`{"response":"a\"}","status":"ok"}`:                   {"ok", `"a\"}"`},
		`{"response":[1,{"status":"no"}],"status":"timeout"}`: {"timeout", `[1,{"status":"no"}]`},
		`{"response":1,"status":"a\"b"}`:                      {`a"b`, `1`},
		`{ "st\u0061tus" : "ok" , "response" : null }`:        {"ok", `null`},
	} {
		s, r, err := unwrapReply(V2, []byte(in))
		if err != nil || s != want[0] || string(r) != want[1] {
			t.Errorf("%s: got %q %s %v, want %q %s", in, s, r, err, want[0], want[1])
		}
	}
	for _, bad := range []string{`{"response":{}}`, `{"status":"ok"}`, `{"response":{},"status":1}`, `[]`, `{"response":{},"status":"ok"`} {
		if _, _, err := unwrapReply(V2, []byte(bad)); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: err %v, want ErrMalformed", bad, err)
		}
	}
}

// TestDecodeServerAllocations bounds what a load generator pays per
// received frame: Topic and Event (or Status), and one buffer of binary
// refs.
func TestDecodeServerAllocations(t *testing.T) {
	skipUnderRace(t)
	for _, c := range []struct {
		name   string
		frame  string
		binary bool
		max    float64
	}{
		{"text reply", `["3","4","room:lobby","phx_reply",{"response":{"id":17},"status":"ok"}]`, false, 3},
		{"text broadcast", `[null,null,"room:lobby","new_msg",{"body":"hi"}]`, false, 2},
		{"binary reply", "\x01\x01\x01\x0a\x02" + "34room:lobbyok\x11", true, 2},
		{"binary broadcast", "\x02\x0a\x04" + "room:lobbyblob\x11", true, 1},
	} {
		frame := []byte(c.frame)
		got := testing.AllocsPerRun(200, func() {
			if _, err := DecodeServer(V2, frame, c.binary); err != nil {
				t.Fatal(err)
			}
		})
		if got > c.max {
			t.Errorf("%s: %v allocations, want at most %v", c.name, got, c.max)
		}
	}
}
