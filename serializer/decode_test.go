package serializer

import (
	"bytes"
	"errors"
	"runtime"
	"strings"
	"testing"
)

// TestRefEcho checks that refs come back byte for byte, whatever their JSON
// type, through a reply in both text formats.
func TestRefEcho(t *testing.T) {
	refs := []struct {
		name string
		raw  string // "" for null
	}{
		{"phoenix.js string", `"12"`},
		{"integer", `5`},
		{"negative zero", `-0`},
		{"float with exponent", `1.0e+2`},
		{"string with escapes", `"a\"b\\c\u00e9\/\n"`},
		{"unicode string", `"réf☕"`},
		{"empty string", `""`},
		{"null", ``},
		{"boolean", `true`},
		{"object", `{"x":[1, 2]}`},
	}
	for _, r := range refs {
		t.Run(r.name, func(t *testing.T) {
			jsonRef := r.raw
			if jsonRef == "" {
				jsonRef = "null"
			}
			for _, c := range []struct {
				v     Version
				frame string
			}{
				{V2, `[` + jsonRef + `,` + jsonRef + `,"room:1","ping",{}]`},
				{V1, `{"topic":"room:1","event":"ping","payload":{},"ref":` + jsonRef + `,"join_ref":` + jsonRef + `}`},
			} {
				m, err := Decode(c.v, []byte(c.frame), false)
				if err != nil {
					t.Fatalf("%s: %v", c.v, err)
				}
				if string(m.JoinRef) != r.raw || string(m.Ref) != r.raw || (r.raw == "" && (m.JoinRef != nil || m.Ref != nil)) {
					t.Fatalf("%s: decoded join_ref %q ref %q, want %q", c.v, m.JoinRef, m.Ref, r.raw)
				}
				reply := Message{Kind: KindReply, JoinRef: m.JoinRef, Ref: m.Ref, Topic: m.Topic, Status: "ok"}
				out, _, err := Encode(c.v, nil, &reply)
				want := `[` + jsonRef + `,` + jsonRef + `,"room:1","phx_reply",{"response":{},"status":"ok"}]`
				if c.v == V1 {
					want = `{"event":"phx_reply","payload":{"response":{},"status":"ok"},"ref":` + jsonRef + `,"topic":"room:1"}`
				}
				if err != nil || string(out) != want {
					t.Fatalf("%s: reply %s, %v; want %s", c.v, out, err, want)
				}
			}
		})
	}
}

// TestBinaryRefsEcho checks that refs from a binary push come back as the
// same text in a binary reply and as JSON strings in a text reply.
func TestBinaryRefsEcho(t *testing.T) {
	frame := []byte("\x00\x02\x04\x01\x01" + `1"` + `a\b"` + "te\x07")
	m, err := Decode(V2, frame, true)
	if err != nil {
		t.Fatal(err)
	}
	if string(m.JoinRef) != `"1\""` || string(m.Ref) != `"a\\b\""` {
		t.Fatalf("refs %s %s", m.JoinRef, m.Ref)
	}
	reply := Message{Kind: KindReply, JoinRef: m.JoinRef, Ref: m.Ref, Topic: m.Topic, Status: "ok", Payload: m.Payload, Binary: true}
	out, isBinary, err := Encode(V2, nil, &reply)
	if want := "\x01\x02\x04\x01\x02" + `1"` + `a\b"` + "tok\x07"; err != nil || !isBinary || string(out) != want {
		t.Fatalf("binary reply %q %v %v, want %q", out, isBinary, err, want)
	}
	reply.Binary, reply.Payload = false, nil
	out, _, _ = Encode(V2, nil, &reply)
	if want := `["1\"","a\\b\"","t","phx_reply",{"response":{},"status":"ok"}]`; string(out) != want {
		t.Fatalf("text reply %s, want %s", out, want)
	}
}

// TestDecodeAliasesFrame checks that refs and payload are sub-slices of the
// frame, capped so that appending to them cannot overwrite it.
func TestDecodeAliasesFrame(t *testing.T) {
	frame := []byte(`["3","4","room:lobby","new_msg",{"body":"hi"}]`)
	m, err := Decode(V2, frame, false)
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string][]byte{"join_ref": m.JoinRef, "ref": m.Ref, "payload": m.Payload} {
		if !aliases(frame, b) {
			t.Errorf("%s does not alias the frame", name)
		}
		if cap(b) != len(b) {
			t.Errorf("%s: cap %d > len %d", name, cap(b), len(b))
		}
	}
	_ = append(m.Ref, 'X')
	if string(frame) != `["3","4","room:lobby","new_msg",{"body":"hi"}]` {
		t.Fatal("appending to Ref changed the frame")
	}
}

func aliases(frame, b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for i := range frame {
		if &frame[i] == &b[0] {
			return true
		}
	}
	return false
}

func TestDecodeErrors(t *testing.T) {
	deep := strings.Repeat("[", maxDepth) + strings.Repeat("]", maxDepth)
	cases := []struct {
		name   string
		v      Version
		frame  string
		binary bool
		is     error  // the specific sentinel
		text   string // the whole error text
	}{
		{"v2 four elements", V2, `["1","2","t","e"]`, false, ErrMalformed, "serializer: v2: want 5 elements, got 4"},
		{"v2 empty array", V2, `[ ]`, false, ErrMalformed, "serializer: v2: want 5 elements, got 0"},
		{"v2 object", V2, `{"topic":"t"}`, false, ErrMalformed, "serializer: v2: frame is not a JSON array"},
		{"v2 empty frame", V2, ``, false, ErrMalformed, "serializer: v2: frame is not a JSON array"},
		{"v2 unclosed payload", V2, `[null,null,"t","e",{]`, false, ErrMalformed, "serializer: v2: invalid JSON at byte 20: expected string object key"},
		{"v2 unclosed array", V2, `[null,null,"t","e",{}`, false, ErrMalformed, "serializer: v2: invalid JSON at byte 21: expected , or ] after frame member"},
		{"v2 trailing data", V2, `[null,null,"t","e",{}] x`, false, ErrMalformed, "serializer: v2: invalid JSON at byte 22: data after the end of the frame"},
		{"v2 trailing comma", V2, `[null,null,"t","e",{},]`, false, ErrMalformed, "serializer: v2: invalid JSON at byte 22: invalid character looking for a value"},
		{"v2 leading zero", V2, `[null,null,"t","e",[-01]]`, false, ErrMalformed, "serializer: v2: invalid JSON at byte 22: expected , or ] after array element"},
		{"v2 null key after comma", V2, `[null,null,"t","e",{"a":1,null:2}]`, false, ErrMalformed, "serializer: v2: invalid JSON at byte 26: expected string object key"},
		{"v2 control char after escape", V2, "[null,null,\"t\",\"e\",\"\\n\x01\"]", false, ErrMalformed, "serializer: v2: invalid JSON at byte 22: control character in string"},
		{"v2 raw newline in topic", V2, "[null,null,\"a\nb\",\"e\",{}]", false, ErrMalformed, "serializer: v2: invalid JSON at byte 13: control character in string"},
		{"v2 bad escape", V2, `[null,null,"\x","e",{}]`, false, ErrMalformed, "serializer: v2: invalid JSON at byte 12: invalid escape"},
		{"v2 short unicode escape", V2, `[null,null,"\u12","e",{}]`, false, ErrMalformed, `serializer: v2: invalid JSON at byte 12: invalid \u escape`},
		{"v2 unpaired high surrogate", V2, `[null,null,"t","e",{"a":"x\ud800"}]`, false, ErrMalformed, `serializer: v2: invalid JSON at byte 26: unpaired surrogate in \u escape`},
		{"v2 lone low surrogate", V2, `[null,null,"\udc00","e",{}]`, false, ErrMalformed, `serializer: v2: invalid JSON at byte 12: unpaired surrogate in \u escape`},
		{"v2 unterminated string", V2, `[null,null,"t`, false, ErrMalformed, "serializer: v2: invalid JSON at byte 13: unterminated string"},
		{"v2 bad literal", V2, `[nul,null,"t","e",{}]`, false, ErrMalformed, "serializer: v2: invalid JSON at byte 1: invalid literal"},
		{"v2 missing exponent digits", V2, `[1e,null,"t","e",{}]`, false, ErrMalformed, "serializer: v2: invalid JSON at byte 3: missing digits in exponent"},
		{"v2 missing fraction digits", V2, `[1.,null,"t","e",{}]`, false, ErrMalformed, "serializer: v2: invalid JSON at byte 3: missing digits after decimal point"},
		{"v2 missing colon", V2, `[null,null,"t","e",{"a" 1}]`, false, ErrMalformed, "serializer: v2: invalid JSON at byte 24: expected : after object key"},
		{"v2 too deep", V2, `[null,null,"t","e",` + deep + `]`, false, ErrMalformed, "serializer: v2: invalid JSON at byte 10018: exceeded max depth"},
		{"v2 invalid UTF-8", V2, "[null,null,\"t\xff\",\"e\",{}]", false, ErrInvalidUTF8, "serializer: v2: text frame is not valid UTF-8"},
		{"v1 invalid UTF-8", V1, "{\"topic\":\"\xc3\"}", false, ErrInvalidUTF8, "serializer: v1: text frame is not valid UTF-8"},
		{"v1 array", V1, `["1","2","t","e",{}]`, false, ErrMalformed, "serializer: v1: frame is not a JSON object"},
		{"v1 missing topic", V1, `{"event":"e","payload":{},"ref":null}`, false, ErrMalformed, `serializer: v1: missing key "topic"`},
		{"v1 missing event", V1, `{"topic":"t","payload":{},"ref":null}`, false, ErrMalformed, `serializer: v1: missing key "event"`},
		{"v1 missing payload", V1, `{"topic":"t","event":"e","ref":null}`, false, ErrMalformed, `serializer: v1: missing key "payload"`},
		{"v1 missing ref", V1, `{"topic":"t","event":"e","payload":{}}`, false, ErrMalformed, `serializer: v1: missing key "ref"`},
		{"v1 empty object", V1, `{}`, false, ErrMalformed, `serializer: v1: missing key "topic"`},
		{"v1 key not string", V1, `{topic:"t"}`, false, ErrMalformed, "serializer: v1: invalid JSON at byte 1: expected string object key"},
		{"v1 binary frame", V1, "\x00\x00\x00\x01\x01te", true, ErrBinaryV1, "serializer: v1: binary frames are not supported"},
		{"binary empty", V2, "", true, ErrBadBinary, "serializer: v2: binary frame: empty frame"},
		{"binary reply kind", V2, "\x01\x00\x00\x01\x01te", true, ErrBadBinary, "serializer: v2: binary frame: kind 0x01 cannot come from a client, only 0x00 (push)"},
		{"binary broadcast kind", V2, "\x02\x01\x01te", true, ErrBadBinary, "serializer: v2: binary frame: kind 0x02 cannot come from a client, only 0x00 (push)"},
		{"binary unknown kind", V2, "\xff", true, ErrBadBinary, "serializer: v2: binary frame: kind 0xff cannot come from a client, only 0x00 (push)"},
		{"binary short header", V2, "\x00\x01\x01", true, ErrBadBinary, "serializer: v2: binary frame: header needs 5 bytes, frame has 3"},
		{"binary header overrun", V2, "\x00\xff\xff\xff\xffabc", true, ErrBadBinary, "serializer: v2: binary frame: header fields need 1025 bytes, frame has 8"},
		{"binary header one short", V2, "\x00\x01\x01\x01\x0112t", true, ErrBadBinary, "serializer: v2: binary frame: header fields need 9 bytes, frame has 8"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m, err := Decode(c.v, []byte(c.frame), c.binary)
			if err == nil {
				t.Fatalf("no error; decoded %s", describe(m))
			}
			if err.Error() != c.text {
				t.Errorf("error %q\n want %q", err, c.text)
			}
			if !errors.Is(err, c.is) || !errors.Is(err, ErrMalformed) {
				t.Errorf("errors.Is(%v, %v) = %v, errors.Is(_, ErrMalformed) = %v", err, c.is, errors.Is(err, c.is), errors.Is(err, ErrMalformed))
			}
			var de *DecodeError
			if !errors.As(err, &de) || de.Version != c.v || de.Err != c.is {
				t.Errorf("errors.As: %#v", de)
			}
			for _, other := range []error{ErrInvalidUTF8, ErrBadBinary, ErrBinaryV1, ErrFieldTooLong, ErrUnsupportedVsn} {
				if other != c.is && errors.Is(err, other) {
					t.Errorf("error also matches %v", other)
				}
			}
		})
	}
}

func TestDecodeUnsupportedVersion(t *testing.T) {
	_, err := Decode(Version(3), []byte(`[]`), false)
	var de *DecodeError
	if !errors.Is(err, ErrUnsupportedVsn) || errors.Is(err, ErrMalformed) || errors.As(err, &de) {
		t.Fatalf("Decode(Version(3)) error %v", err)
	}
}

// TestMaxDepth checks the nesting limit at its edge: the frame's own array
// counts, as in encoding/json.
func TestMaxDepth(t *testing.T) {
	for _, c := range []struct {
		depth int
		ok    bool
	}{{64, true}, {65, true}, {200, true}, {maxDepth - 1, true}, {maxDepth, false}} {
		payload := strings.Repeat(`{"a":[`, c.depth/2) + strings.Repeat("[", c.depth%2) + strings.Repeat("]", c.depth%2) + strings.Repeat(`]}`, c.depth/2)
		_, err := Decode(V2, []byte(`[null,null,"t","e",`+payload+`]`), false)
		if (err == nil) != c.ok {
			t.Errorf("payload depth %d: error %v, want ok=%v", c.depth, err, c.ok)
		}
	}
}

func TestDecodeAllocs(t *testing.T) {
	skipUnderRace(t)
	cases := []struct {
		name   string
		v      Version
		frame  string
		binary bool
		max    float64
	}{
		{"v2 push", V2, `["3","4","room:lobby","new_msg",{"body":"hi"}]`, false, 2},
		{"v2 heartbeat", V2, `[null,"5","phoenix","heartbeat",{}]`, false, 2},
		{"v1 push", V1, `{"topic":"room:lobby","event":"new_msg","payload":{"body":"hi"},"ref":"4"}`, false, 2},
		{"binary push", V2, "\x00\x01\x01\x06\x06" + "12room:1upload\xde\xad", true, 2},
		{"binary push without refs", V2, "\x00\x00\x00\x06\x06" + "room:1upload\xde\xad", true, 1},
	}
	for _, c := range cases {
		frame := []byte(c.frame)
		got := testing.AllocsPerRun(200, func() {
			if _, err := Decode(c.v, frame, c.binary); err != nil {
				t.Fatal(err)
			}
		})
		if got > c.max {
			t.Errorf("%s: %v allocations, want at most %v", c.name, got, c.max)
		}
	}
}

// TestDecodeAllocationBound checks that hostile frames cost memory in
// proportion to their own size, never to lengths they claim.
func TestDecodeAllocationBound(t *testing.T) {
	skipUnderRace(t)
	if testing.Short() {
		t.Skip("measures memory")
	}
	escaped := strings.Repeat(`\u00e9\n`, 4000)
	// Each case says whether it decodes, so that a case cannot turn into a
	// cheap early rejection unnoticed.
	cases := []struct {
		name   string
		v      Version
		frame  string
		binary bool
		ok     bool
	}{
		{"deep nesting", V2, `[null,null,"t","e",` + strings.Repeat("[", maxDepth-2) + strings.Repeat("]", maxDepth-2) + `]`, false, true},
		{"escaped topic and event", V2, `[null,null,"` + escaped + `","` + escaped + `",{}]`, false, true},
		{"escaped v1 keys", V1, `{"t\u006fpic":"t","event":"e","payload":{},"ref":null` + strings.Repeat(`,"\u0078":1`, 2000) + `}`, false, true},
		{"object topic", V2, `[null,null,{"a":"` + escaped + `"},["` + escaped + `"],{}]`, false, true},
		{"many extra elements", V2, `[null,null,"t","e",{}` + strings.Repeat(`,"`+escaped[:64]+`"`, 500) + `]`, false, true},
		{"binary claiming 1020 header bytes", V2, "\x00\xff\xff\xff\xff", true, false},
		{"binary four bytes", V2, "\x00\xff\xff\xff", true, false},
		{"binary with escaped refs", V2, "\x00\xff\xff\x00\x00" + strings.Repeat("\x01", 510), true, true},
		{"binary every field at 255", V2, "\x00\xff\xff\xff\xff" + strings.Repeat("\x01", 4*255), true, true},
	}
	for _, c := range cases {
		frame := []byte(c.frame)
		if _, err := Decode(c.v, frame, c.binary); (err == nil) != c.ok {
			t.Fatalf("%s: Decode error %v, want success %v", c.name, err, c.ok)
		}
		var before, after runtime.MemStats
		const runs = 20
		runtime.ReadMemStats(&before)
		for range runs {
			Decode(c.v, frame, c.binary)
		}
		runtime.ReadMemStats(&after)
		perRun := (after.TotalAlloc - before.TotalAlloc) / runs
		t.Logf("%s: %d bytes allocated for a %d-byte frame", c.name, perRun, len(frame))
		if limit := uint64(4*len(frame) + 4096); perRun > limit {
			t.Errorf("%s: %d bytes allocated for a %d-byte frame, limit %d", c.name, perRun, len(frame), limit)
		}
	}
}

// TestDecodeRawTopicAllocations: a topic or event that is not a string
// aliases the frame, so such a frame costs no more than a plain one.
func TestDecodeRawTopicAllocations(t *testing.T) {
	skipUnderRace(t)
	frame := []byte(`[null,"21",{"big":"` + strings.Repeat("x", 4096) + `"},42,{}]`)
	if n := testing.AllocsPerRun(50, func() { _, _ = Decode(V2, frame, false) }); n != 0 {
		t.Fatalf("%v allocations per decode", n)
	}
}

func TestDecodeBinaryPayloadMayBeEmpty(t *testing.T) {
	m, err := Decode(V2, []byte("\x00\x00\x00\x01\x01te"), true)
	if err != nil || len(m.Payload) != 0 || !m.Binary || m.Kind != KindPush || m.JoinRef != nil || m.Ref != nil {
		t.Fatalf("%s %v", describe(m), err)
	}
	if !bytes.Equal([]byte(m.Topic+m.Event), []byte("te")) {
		t.Fatalf("topic %q event %q", m.Topic, m.Event)
	}
}
