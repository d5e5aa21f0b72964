package main

import (
	"bytes"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/gobwas/ws"
	"github.com/phxgo/phxgo/serializer"
)

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestClientEncodeRoundTrip encodes client pushes and decodes them with
// the server's decoder.
func TestClientEncodeRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name string
		v    serializer.Version
		m    serializer.Message
	}{
		{"v2 text", serializer.V2, serializer.Message{JoinRef: []byte(`"3"`), Ref: []byte(`"4"`), Topic: "room:lobby", Event: "new_msg", Payload: []byte(`{"body":"hi"}`)}},
		{"v2 heartbeat", serializer.V2, serializer.Message{Ref: []byte(`"5"`), Topic: "phoenix", Event: "heartbeat", Payload: []byte(`{}`)}},
		{"v1 text", serializer.V1, serializer.Message{Ref: []byte(`"1"`), Topic: "room:lobby", Event: "phx_join", Payload: []byte(`{}`)}},
		{"v2 binary", serializer.V2, serializer.Message{JoinRef: []byte(`"1"`), Ref: []byte(`"2"`), Topic: "room:1", Event: "upload", Payload: []byte{0xde, 0xad}, Binary: true}},
		{"v2 binary no join_ref", serializer.V2, serializer.Message{Ref: []byte(`"22"`), Topic: "t", Event: "e", Payload: []byte{}, Binary: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			frame, binary, err := encodeClient(tc.v, nil, &tc.m)
			if err != nil {
				t.Fatal(err)
			}
			wantEq(t, "binary", binary, tc.m.Binary)
			got, err := serializer.Decode(tc.v, frame, binary)
			if err != nil {
				t.Fatalf("server cannot decode %q: %v", frame, err)
			}
			want := tc.m
			if tc.v == serializer.V1 {
				want.JoinRef = nil // V1 frames carry no join_ref
			}
			sameMessage(t, got, want)
		})
	}
}

// TestClientBinaryBytes matches PROTOCOL.md §2.4's client push example.
func TestClientBinaryBytes(t *testing.T) {
	m := serializer.Message{JoinRef: []byte(`"1"`), Ref: []byte(`"2"`), Topic: "room:1", Event: "upload", Payload: []byte{0xde, 0xad}, Binary: true}
	frame, _, err := encodeClient(serializer.V2, nil, &m)
	if err != nil {
		t.Fatal(err)
	}
	want := unhex(t, "00 01 01 06 06 31 32 72 6f 6f 6d 3a 31 75 70 6c 6f 61 64 de ad")
	if !bytes.Equal(frame, want) {
		t.Errorf("got % x\nwant % x", frame, want)
	}
	if _, _, err := encodeClient(serializer.V1, nil, &m); err == nil {
		t.Error("V1 binary accepted")
	}
	m.Topic = strings.Repeat("t", 256)
	if _, _, err := encodeClient(serializer.V2, nil, &m); err == nil {
		t.Error("256-byte topic accepted")
	}
}

// TestDecodeServerBytes decodes PROTOCOL.md §2.4's server examples.
func TestDecodeServerBytes(t *testing.T) {
	reply, err := decodeServer(serializer.V2, unhex(t, "01 01 01 06 02 31 32 72 6f 6f 6d 3a 31 6f 6b de ad"), true)
	if err != nil {
		t.Fatal(err)
	}
	sameMessage(t, reply, serializer.Message{Kind: serializer.KindReply, JoinRef: []byte(`"1"`), Ref: []byte(`"2"`),
		Topic: "room:1", Status: "ok", Payload: []byte{0xde, 0xad}, Binary: true})
	push, err := decodeServer(serializer.V2, unhex(t, "00 01 06 05 31 72 6f 6f 6d 3a 31 62 61 64 67 65 de ad"), true)
	if err != nil {
		t.Fatal(err)
	}
	sameMessage(t, push, serializer.Message{Kind: serializer.KindPush, JoinRef: []byte(`"1"`), Topic: "room:1",
		Event: "badge", Payload: []byte{0xde, 0xad}, Binary: true})
	bc, err := decodeServer(serializer.V2, unhex(t, "02 06 04 72 6f 6f 6d 3a 31 62 6c 6f 62 de ad"), true)
	if err != nil {
		t.Fatal(err)
	}
	sameMessage(t, bc, serializer.Message{Kind: serializer.KindBroadcast, Topic: "room:1", Event: "blob", Payload: []byte{0xde, 0xad}, Binary: true})
	for _, bad := range []string{"", "03", "01 01", "02 09 01 72"} {
		if _, err := decodeServer(serializer.V2, unhex(t, bad), true); err == nil {
			t.Errorf("%q decoded", bad)
		}
	}
}

// TestServerDecodeRoundTrip encodes with the server's encoder and decodes
// with the client's.
func TestServerDecodeRoundTrip(t *testing.T) {
	msgs := []serializer.Message{
		{Kind: serializer.KindReply, JoinRef: []byte(`"3"`), Ref: []byte(`"4"`), Topic: "room:1", Status: "ok", Payload: []byte(`{"status":"nested"}`)},
		{Kind: serializer.KindReply, JoinRef: []byte(`"3"`), Ref: []byte(`"4"`), Topic: "room:1", Status: "error", Payload: []byte(`{"reason":"x"}`)},
		{Kind: serializer.KindReply, Ref: []byte(`"9"`), Topic: "phoenix", Status: "ok", Payload: []byte(`{}`)},
		{Kind: serializer.KindPush, JoinRef: []byte(`"3"`), Topic: "room:1", Event: "presence_state", Payload: []byte(`{"a":1}`)},
		{Kind: serializer.KindBroadcast, Topic: "room:1", Event: "new_msg", Payload: []byte(`{"body":"~pb~12~"}`)},
		{Kind: serializer.KindReply, JoinRef: []byte(`"3"`), Ref: []byte(`"4"`), Topic: "room:1", Status: "ok", Payload: []byte{1, 2}, Binary: true},
		{Kind: serializer.KindPush, JoinRef: []byte(`"3"`), Topic: "room:1", Event: "bin", Payload: []byte{1, 2, 3}, Binary: true},
		{Kind: serializer.KindBroadcast, Topic: "room:1", Event: "bin_all", Payload: []byte{4, 5, 6}, Binary: true},
	}
	for _, v := range []serializer.Version{serializer.V1, serializer.V2} {
		for _, m := range msgs {
			if v == serializer.V1 && m.Binary {
				continue
			}
			frame, binary, err := serializer.Encode(v, nil, &m)
			if err != nil {
				t.Fatal(err)
			}
			got, err := decodeServer(v, frame, binary)
			if err != nil {
				t.Fatalf("%s %q: %v", v, frame, err)
			}
			want := m
			if v == serializer.V1 {
				want.JoinRef = nil
				if m.Kind == serializer.KindPush {
					want.Kind = serializer.KindBroadcast // V1 cannot tell them apart
				}
			}
			sameMessage(t, got, want)
		}
	}
}

func sameMessage(t *testing.T, got, want serializer.Message) {
	t.Helper()
	if got.Kind != want.Kind || !bytes.Equal(got.JoinRef, want.JoinRef) || !bytes.Equal(got.Ref, want.Ref) ||
		got.Topic != want.Topic || got.Event != want.Event || got.Status != want.Status ||
		!bytes.Equal(got.Payload, want.Payload) || got.Binary != want.Binary {
		t.Errorf("got  %s %s %s %q %q %q %q bin=%v\nwant %s %s %s %q %q %q %q bin=%v",
			got.Kind, got.JoinRef, got.Ref, got.Topic, got.Event, got.Status, got.Payload, got.Binary,
			want.Kind, want.JoinRef, want.Ref, want.Topic, want.Event, want.Status, want.Payload, want.Binary)
	}
}

func TestUnwrapReply(t *testing.T) {
	for in, want := range map[string][2]string{
		`{"response":{},"status":"ok"}`:                       {"ok", `{}`},
		`{"response":{"status":"x"},"status":"error"}`:        {"error", `{"status":"x"}`},
		`{"status":"ok","response":{"status":"inner"}}`:       {"ok", `{"status":"inner"}`},
		`{"response":"a\"}","status":"ok"}`:                   {"ok", `"a\"}"`},
		`{"response":[1,{"status":"no"}],"status":"timeout"}`: {"timeout", `[1,{"status":"no"}]`},
	} {
		s, r, err := unwrapReply([]byte(in))
		if err != nil || s != want[0] || string(r) != want[1] {
			t.Errorf("%s: got %q %s %v, want %q %s", in, s, r, err, want[0], want[1])
		}
	}
	if _, _, err := unwrapReply([]byte(`{"response":{}}`)); err == nil {
		t.Error("reply without status accepted")
	}
}

func TestStampsAndRefs(t *testing.T) {
	p := appendStamp([]byte(`{"body":"x `), 1732812345678901234)
	ts, ok := findStamp(append(p, `"}`...))
	if !ok || ts != 1732812345678901234 {
		t.Errorf("stamp: %d %v", ts, ok)
	}
	if _, ok := findStamp([]byte(`{"body":"~pb~x"}`)); ok {
		t.Error("stamp without digits")
	}
	for raw, want := range map[string]uint64{`"17"`: 17, `17`: 17} {
		if n, ok := parseRef([]byte(raw)); !ok || n != want {
			t.Errorf("%s: %d %v", raw, n, ok)
		}
	}
	for _, raw := range []string{``, `null`, `"a"`, `"1x"`} {
		if _, ok := parseRef([]byte(raw)); ok {
			t.Errorf("%s parsed", raw)
		}
	}
	wantEq(t, "appendRef", string(appendRef(nil, 42)), `"42"`)
}

func TestFrames(t *testing.T) {
	for _, n := range []int{0, 1, 125, 126, 65535, 65536, 100_000} {
		payload := bytes.Repeat([]byte{'a'}, n)
		mask := [4]byte{1, 2, 3, 4}
		f := appendClientFrame(nil, ws.OpText, payload, mask)
		h, ok, err := parseFrameHeader(f)
		if !ok || err != nil {
			t.Fatalf("%d: %v %v", n, ok, err)
		}
		wantEq(t, "length", h.length, n)
		wantEq(t, "size", h.size+h.length, len(f))
		wantEq(t, "masked", h.masked, true)
		body := f[h.size:]
		ws.Cipher(body, h.mask, 0)
		if !bytes.Equal(body, payload) {
			t.Errorf("%d: payload differs after unmasking", n)
		}
		if _, ok, _ := parseFrameHeader(f[:h.size-1]); ok {
			t.Errorf("%d: partial header accepted", n)
		}
		sf := appendServerFrame(nil, ws.OpBinary, payload)
		h, ok, _ = parseFrameHeader(sf)
		if !ok || h.masked || h.op != ws.OpBinary || h.size+h.length != len(sf) {
			t.Errorf("%d: server frame header %+v", n, h)
		}
	}
	huge := []byte{0x82, 127, 0, 0, 0, 0, 0x10, 0, 0, 0}
	if _, _, err := parseFrameHeader(huge); err == nil {
		t.Error("256 MiB frame accepted")
	}
}

func TestUpgrade(t *testing.T) {
	const key = "dGhlIHNhbXBsZSBub25jZQ=="
	wantEq(t, "accept", acceptKey(key), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=") // RFC 6455 §1.3
	resp := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nsec-websocket-accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n\x81\x02hi"
	n, status, err := parseUpgrade([]byte(resp), key)
	if err != nil || status != 101 || resp[n:] != "\x81\x02hi" {
		t.Errorf("101: %d %d %v", n, status, err)
	}
	if n, _, err := parseUpgrade([]byte(resp[:30]), key); n != 0 || err != nil {
		t.Errorf("partial: %d %v", n, err)
	}
	if _, status, err := parseUpgrade([]byte("HTTP/1.1 429 Too Many\r\nRetry-After: 5\r\n\r\n"), key); status != 429 || err != nil {
		t.Errorf("429: %d %v", status, err)
	}
	if _, _, err := parseUpgrade([]byte("HTTP/1.1 101 OK\r\nSec-WebSocket-Accept: nope\r\n\r\n"), key); err == nil {
		t.Error("wrong accept key accepted")
	}
	req := string(appendUpgrade(nil, "h:1", "/s/websocket?vsn=2.0.0", key, authProtocols("user:1")))
	for _, want := range []string{"GET /s/websocket?vsn=2.0.0 HTTP/1.1\r\n", "Host: h:1\r\n",
		"Sec-WebSocket-Protocol: phoenix, base64url.bearer.phx.dXNlcjox\r\n", "\r\n\r\n"} {
		if !strings.Contains(req, want) {
			t.Errorf("request lacks %q:\n%s", want, req)
		}
	}
}

func TestTemplates(t *testing.T) {
	tm, err := compileTmpl(`{"id":"{{id}}","n":"{{ n }}","g":"{{group}}","s":"{{seq}}","t":"{{stamp}}"}`, true)
	if err != nil {
		t.Fatal(err)
	}
	got := string(tm.expand(nil, &tmplVars{id: 12, n: 3, group: "grp", seq: 9, stamp: 77}))
	wantEq(t, "expand", got, `{"id":"12","n":"3","g":"grp","s":"9","t":"~pb~77~"}`)
	for _, bad := range []string{"{{", "{{nope}}"} {
		if _, err := compileTmpl(bad, true); err == nil {
			t.Errorf("%q compiled", bad)
		}
	}
	if _, err := compileTmpl("{{seq}}", false); err == nil {
		t.Error("{{seq}} outside a payload accepted")
	}
}
