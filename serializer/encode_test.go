package serializer

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestEncodeErrors(t *testing.T) {
	long := strings.Repeat("x", maxField+1)
	longRef := []byte(`"` + long + `"`)
	cases := []struct {
		name string
		v    Version
		m    Message
		is   error
		text string
	}{
		{"v1 binary", V1, Message{Kind: KindPush, Topic: "t", Event: "e", Binary: true}, ErrBinaryV1, "serializer: V1 cannot carry binary payloads"},
		{"unknown version", Version(0), Message{Topic: "t"}, ErrUnsupportedVsn, "serializer: encode Version(0): serializer: unsupported vsn"},
		{"push join_ref too long", V2, Message{Kind: KindPush, JoinRef: longRef, Topic: "t", Event: "e", Binary: true}, ErrFieldTooLong,
			"serializer: encode binary: join_ref is 256 bytes: serializer: binary header field longer than 255 bytes"},
		{"push topic too long", V2, Message{Kind: KindPush, Topic: long, Event: "e", Binary: true}, ErrFieldTooLong,
			"serializer: encode binary: topic is 256 bytes: serializer: binary header field longer than 255 bytes"},
		{"push event too long", V2, Message{Kind: KindPush, Topic: "t", Event: long, Binary: true}, ErrFieldTooLong,
			"serializer: encode binary: event is 256 bytes: serializer: binary header field longer than 255 bytes"},
		{"reply ref too long", V2, Message{Kind: KindReply, Ref: []byte(strings.Repeat("9", 256)), Topic: "t", Status: "ok", Binary: true}, ErrFieldTooLong,
			"serializer: encode binary: ref is 256 bytes: serializer: binary header field longer than 255 bytes"},
		{"reply status too long", V2, Message{Kind: KindReply, Topic: "t", Status: long, Binary: true}, ErrFieldTooLong,
			"serializer: encode binary: status is 256 bytes: serializer: binary header field longer than 255 bytes"},
		{"broadcast topic too long", V2, Message{Kind: KindBroadcast, Topic: long, Event: "e", Binary: true}, ErrFieldTooLong,
			"serializer: encode binary: topic is 256 bytes: serializer: binary header field longer than 255 bytes"},
		{"object join_ref in binary", V2, Message{Kind: KindPush, JoinRef: []byte(`{"a":1}`), Topic: "t", Event: "e", Binary: true}, ErrBadRef,
			"serializer: encode binary: join_ref: serializer: ref is not a JSON string, number, boolean or null"},
		{"truncated string ref in binary reply", V2, Message{Kind: KindReply, Ref: []byte(`"`), Topic: "t", Status: "ok", Binary: true}, ErrBadRef,
			"serializer: encode binary: ref: serializer: ref is not a JSON string, number, boolean or null"},
		{"array ref in binary reply", V2, Message{Kind: KindReply, Ref: []byte(`[1]`), Topic: "t", Status: "ok", Binary: true}, ErrBadRef,
			"serializer: encode binary: ref: serializer: ref is not a JSON string, number, boolean or null"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dst := []byte("keep")
			out, isBinary, err := Encode(c.v, dst, &c.m)
			if !errors.Is(err, c.is) || err.Error() != c.text {
				t.Fatalf("error %v\n want %q (%v)", err, c.text, c.is)
			}
			if string(out) != "keep" || &out[0] != &dst[0] || isBinary {
				t.Fatalf("out %q isBinary %v; want dst itself", out, isBinary)
			}
		})
	}
	if _, _, err := Encode(V2, nil, &Message{Kind: Kind(9)}); err == nil || !strings.Contains(err.Error(), "unknown message kind 9") {
		t.Fatalf("Kind(9): %v", err)
	}
}

// TestEncodeLongFieldsInText checks that the 255-byte limit is a binary one:
// text frames carry any length.
func TestEncodeLongFieldsInText(t *testing.T) {
	long := strings.Repeat("x", 1000)
	m := Message{Kind: KindReply, JoinRef: []byte(`"` + long + `"`), Ref: []byte(`"1"`), Topic: long, Status: long}
	for _, v := range []Version{V1, V2} {
		if out, _, err := Encode(v, nil, &m); err != nil || !json.Valid(out) {
			t.Fatalf("%s: %v %s", v, err, out)
		}
	}
}

// TestEncodeStringsAreValidJSON encodes awkward strings as topic, event and
// status and reads them back with encoding/json.
func TestEncodeStringsAreValidJSON(t *testing.T) {
	strs := []string{"", "plain", `"`, `\`, "/", "\x00", "\x1f", "\x7f", "\b\f\n\r\t", "é", "☕", "𝄞",
		"\u2028\u2029", "\ufffd", "<script>&amp;", "\xff", "\xc3", "a\xed\xa0\x80b", strings.Repeat("é\"", 300)}
	for _, s := range strs {
		for _, v := range []Version{V1, V2} {
			m := Message{Kind: KindReply, Topic: s, Status: s, Ref: []byte(`"1"`)}
			out, _, err := Encode(v, nil, &m)
			if err != nil || !utf8.Valid(out) || !json.Valid(out) {
				t.Fatalf("%s %q: %v, output %q not valid UTF-8 JSON", v, s, err, out)
			}
			// A server frame has every key a client frame needs, so Decode reads it.
			back, err := Decode(v, out, false)
			if want := stdValidUTF8(s); err != nil || back.Topic != want {
				t.Fatalf("%s %q: read back %q, %v; want %q", v, s, back.Topic, err, want)
			}
			var std struct {
				Topic string `json:"topic"`
			}
			if v == V1 && (json.Unmarshal(out, &std) != nil || std.Topic != stdValidUTF8(s)) {
				t.Fatalf("encoding/json reads topic %q for %q", std.Topic, s)
			}
		}
	}
}

// stdValidUTF8 replaces each byte of s that is not valid UTF-8 with U+FFFD,
// as encoding/json does.
func stdValidUTF8(s string) string {
	b, _ := json.Marshal(s)
	var out string
	json.Unmarshal(b, &out)
	return out
}

// TestEncodeEscapesLikeJason pins the escaping style to Jason's.
func TestEncodeEscapesLikeJason(t *testing.T) {
	m := Message{Kind: KindBroadcast, Topic: "\b\t\n\f\r\"\\/\x00\x1f\x7f<>&é\u2028", Event: "e"}
	out, _, _ := Encode(V2, nil, &m)
	if want := `[null,null,"\b\t\n\f\r\"\\/\u0000\u001F` + "\x7f<>&é\u2028" + `","e",{}]`; string(out) != want {
		t.Fatalf("got  %s\nwant %s", out, want)
	}
}

func TestEncodeAllocs(t *testing.T) {
	skipUnderRace(t)
	payload := []byte(`{"joins":{"alice":{"metas":[{"online_at":1795876034181,"phx_ref":"GOw7vPYKRWrubwBR"}]}},"leaves":{}}`)
	cases := []struct {
		name string
		v    Version
		m    Message
	}{
		{"v2 broadcast", V2, Message{Kind: KindBroadcast, Topic: "room:lobby", Event: "presence_diff", Payload: payload}},
		{"v1 broadcast", V1, Message{Kind: KindBroadcast, Topic: "room:lobby", Event: "presence_diff", Payload: payload}},
		{"v2 reply", V2, Message{Kind: KindReply, JoinRef: []byte(`"3"`), Ref: []byte(`"4"`), Topic: "room:lobby", Status: "ok", Payload: []byte(`{"id":17}`)}},
		{"v2 push with escaped topic", V2, Message{Kind: KindPush, JoinRef: []byte(`"3"`), Topic: "room:\"x\"", Event: "e\n", Payload: payload}},
		{"binary reply", V2, Message{Kind: KindReply, JoinRef: []byte(`"3"`), Ref: []byte(`"4"`), Topic: "room:lobby", Status: "ok", Payload: payload, Binary: true}},
		{"binary broadcast", V2, Message{Kind: KindBroadcast, Topic: "room:lobby", Event: "blob", Payload: payload, Binary: true}},
	}
	buf := make([]byte, 0, 1024)
	for _, c := range cases {
		got := testing.AllocsPerRun(200, func() {
			if _, _, err := Encode(c.v, buf[:0], &c.m); err != nil {
				t.Fatal(err)
			}
		})
		if got != 0 {
			t.Errorf("%s: %v allocations into a reused buffer, want 0", c.name, got)
		}
	}
}
