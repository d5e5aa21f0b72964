package serializer

import (
	"bytes"
	"encoding/json"
	"errors"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"
)

// Fuzz targets: every decoder is compared with an independent reading of
// the same frame (encoding/json for text, a plain parser for binary), and
// what it decodes must survive encode → decode unchanged. Seeds come from
// the reference and golden frames.
//
//	go test -run='^$' -fuzz=FuzzDecodeV2 -fuzztime=3m ./serializer

// seedCorpus adds every golden frame of the given kind.
func seedCorpus(f *testing.F, v Version, binary bool) {
	for _, path := range []string{referencePath, goldenPath} {
		for _, c := range readCases(f, path) {
			if c.binary() == binary && (binary || c.version(f) == v) {
				f.Add(c.frame(f))
			}
		}
	}
}

// surrogateEscape finds a \u escape of a UTF-16 surrogate: syntax that
// encoding/json accepts and Jason (so this package) rejects when unpaired.
var surrogateEscape = regexp.MustCompile(`\\u[dD][89a-fA-F]`)

// checkRejection checks the error of a frame Decode refused; stdOK says
// whether the reference reading accepted it.
func checkRejection(t *testing.T, frame []byte, err error, v Version, stdOK bool) {
	var de *DecodeError
	if !errors.As(err, &de) || !errors.Is(err, ErrMalformed) || de.Version != v {
		t.Fatalf("error %v is not a *DecodeError matching ErrMalformed", err)
	}
	if stdOK && !(strings.Contains(de.Reason, "unpaired surrogate") && surrogateEscape.Match(frame)) {
		t.Fatalf("Decode rejected %q (%v), which the reference reading accepts", frame, err)
	}
}

// roundTrip encodes m as a server push of the same fields and decodes it.
func roundTrip(t *testing.T, v Version, m Message) {
	push := Message{Kind: KindPush, JoinRef: m.JoinRef, Ref: m.Ref, Topic: m.Topic, Event: m.Event, Payload: m.Payload,
		RawTopic: m.RawTopic, RawEvent: m.RawEvent}
	out, isBinary, err := Encode(v, nil, &push)
	if err != nil || isBinary || !utf8.Valid(out) || !json.Valid(out) {
		t.Fatalf("Encode(%s) = %q, %v, %v", describe(push), out, isBinary, err)
	}
	back, err := Decode(v, out, false)
	if v == V1 {
		push.JoinRef = nil // V1 output has no join_ref
	}
	if err != nil || !sameMessage(back, push) {
		t.Fatalf("round trip through %s:\n got %s, %v\nwant %s", out, describe(back), err, describe(push))
	}
}

func FuzzDecodeV2(f *testing.F) {
	seedCorpus(f, V2, false)
	for _, s := range []string{`[]`, `[1,2,3,4]`, `[1,2,"t","e",{},]`, `["\ud800","1","t","e",{}]`, `[1,2,"t","e",{"a":[-01]}]`,
		`[null,"21",42,"phx_join",{}]`, `["1","22","room:lobby","echo",{},"extra"]`, `["1",23,"room:lobby","echo",{}]`,
		`["1","25","room:lobby","echo","str"]`, `[null,null,{"a":[1]},[],null]`, `[null,null,"t","e"]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		m, err := Decode(V2, frame, false)
		want, stdOK := stdDecodeV2(frame)
		if err != nil {
			checkRejection(t, frame, err, V2, stdOK)
			return
		}
		if !stdOK {
			t.Fatalf("Decode accepted %q, which encoding/json rejects", frame)
		}
		if !sameMessage(m, want) {
			t.Fatalf("Decode(%q):\n got %s\nwant %s", frame, describe(m), describe(want))
		}
		roundTrip(t, V2, m)
	})
}

// stdDecodeV2 reads a V2 client frame with encoding/json.
func stdDecodeV2(frame []byte) (Message, bool) {
	var parts []json.RawMessage
	if !utf8.Valid(frame) || json.Unmarshal(frame, &parts) != nil || len(parts) < 5 {
		return Message{}, false
	}
	m := Message{Kind: KindPush, JoinRef: rawRef(string(parts[0])), Ref: rawRef(string(parts[1])), Payload: parts[4]}
	if !stdName(parts[2], &m.Topic, &m.RawTopic) || !stdName(parts[3], &m.Event, &m.RawEvent) {
		return Message{}, false
	}
	return m, true
}

// stdName reads a topic or event: a JSON string into s, any other value
// raw, as Phoenix accepts any JSON value there.
func stdName(raw json.RawMessage, s *string, other *[]byte) bool {
	if len(raw) > 0 && raw[0] != '"' {
		*other = raw
		return true
	}
	return len(raw) > 0 && json.Unmarshal(raw, s) == nil
}

func FuzzDecodeV1(f *testing.F) {
	seedCorpus(f, V1, false)
	for _, s := range []string{`{}`, `{"topic":"t","event":"e","payload":{},"ref":null,"join_ref":5}`, `{"t\u006fpic":"t"}`, `{"topic":1}`,
		`{"topic":42,"event":"phx_join","payload":{},"ref":"1"}`, `{"topic":"t","event":null,"payload":"s","ref":2}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		m, err := Decode(V1, frame, false)
		want, stdOK := stdDecodeV1(frame)
		if err != nil {
			checkRejection(t, frame, err, V1, stdOK)
			return
		}
		if !stdOK {
			t.Fatalf("Decode accepted %q, which encoding/json rejects", frame)
		}
		if !sameMessage(m, want) {
			t.Fatalf("Decode(%q):\n got %s\nwant %s", frame, describe(m), describe(want))
		}
		roundTrip(t, V1, m)
	})
}

// stdDecodeV1 reads a V1 client frame with encoding/json.
func stdDecodeV1(frame []byte) (Message, bool) {
	var obj map[string]json.RawMessage
	if !utf8.Valid(frame) || json.Unmarshal(frame, &obj) != nil || obj == nil {
		return Message{}, false
	}
	for _, k := range []string{"topic", "event", "payload", "ref"} {
		if _, ok := obj[k]; !ok {
			return Message{}, false
		}
	}
	m := Message{Kind: KindPush, JoinRef: rawRef(string(obj["join_ref"])), Ref: rawRef(string(obj["ref"])), Payload: obj["payload"]}
	if !stdName(obj["topic"], &m.Topic, &m.RawTopic) || !stdName(obj["event"], &m.Event, &m.RawEvent) {
		return Message{}, false
	}
	return m, true
}

func FuzzDecodeBinary(f *testing.F) {
	seedCorpus(f, V2, true)
	for _, s := range []string{"", "\x00", "\x00\x00\x00\x00\x00", "\x00\xff\xff\xff\xff", "\x03\x00\x00\x00\x00"} {
		f.Add([]byte(s))
	}
	// Every frame shorter than the header, and every header field at its
	// boundary lengths, exact, one byte short and with a payload byte: plain
	// `go test` runs these seeds each time.
	for _, frame := range append(shortBinaryFrames(), boundaryFrames()...) {
		f.Add(frame)
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		m, err := Decode(V2, frame, true)
		fields, payload, ok := splitBinary(frame, binPush, 4)
		if err != nil {
			if !errors.Is(err, ErrBadBinary) || !errors.Is(err, ErrMalformed) || ok {
				t.Fatalf("Decode(%x): %v", frame, err)
			}
			return
		}
		if !ok || !m.Binary || m.Kind != KindPush || m.Topic != fields[2] || m.Event != fields[3] || !bytes.Equal(m.Payload, payload) {
			t.Fatalf("Decode(%x) = %s", frame, describe(m))
		}
		joinRef, ref := textRef(t, m.JoinRef), textRef(t, m.Ref)
		if joinRef != stdValidUTF8(fields[0]) || ref != stdValidUTF8(fields[1]) {
			t.Fatalf("Decode(%x): refs %s %s", frame, m.JoinRef, m.Ref)
		}
		// Back out as the server's binary reply and push, read as phoenix.js does.
		reply := Message{Kind: KindReply, JoinRef: m.JoinRef, Ref: m.Ref, Topic: m.Topic, Status: m.Event, Payload: m.Payload, Binary: true}
		checkServerBinary(t, &reply, binReply, []string{joinRef, ref, m.Topic, m.Event}, m.Payload)
		push := Message{Kind: KindPush, JoinRef: m.JoinRef, Ref: m.Ref, Topic: m.Topic, Event: m.Event, Payload: m.Payload, Binary: true}
		checkServerBinary(t, &push, binPush, []string{joinRef, m.Topic, m.Event}, m.Payload)
		// And the refs, topic and event through a text frame.
		if utf8.ValidString(m.Topic) && utf8.ValidString(m.Event) {
			roundTrip(t, V2, Message{JoinRef: m.JoinRef, Ref: m.Ref, Topic: m.Topic, Event: m.Event, Payload: []byte(`{}`)})
		}
	})
}

// textRef reads a decoded binary ref back to text with encoding/json.
func textRef(t *testing.T, raw []byte) string {
	if raw == nil {
		return ""
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil || s == "" {
		t.Fatalf("ref %q is not a non-empty JSON string: %v", raw, err)
	}
	return s
}

// checkServerBinary encodes m and reads the frame back with splitBinary.
func checkServerBinary(t *testing.T, m *Message, kind byte, want []string, payload []byte) {
	out, isBinary, err := Encode(V2, nil, m)
	for _, w := range want {
		if len(w) > maxField {
			if !errors.Is(err, ErrFieldTooLong) {
				t.Fatalf("Encode(%s) with a %d-byte field: %v", describe(*m), len(w), err)
			}
			return
		}
	}
	fields, gotPayload, ok := splitBinary(out, kind, len(want))
	if err != nil || !isBinary || !ok || !bytes.Equal(gotPayload, payload) || strings.Join(fields, "\x00") != strings.Join(want, "\x00") {
		t.Fatalf("Encode(%s) = %x, %v; fields %q", describe(*m), out, err, fields)
	}
}

// splitBinary parses a binary frame of the given kind with n header fields,
// independently of the code under test.
func splitBinary(frame []byte, kind byte, n int) (fields []string, payload []byte, ok bool) {
	if len(frame) < 1+n || frame[0] != kind {
		return nil, nil, false
	}
	p := 1 + n
	for i := range n {
		l := int(frame[1+i])
		if p+l > len(frame) {
			return nil, nil, false
		}
		fields = append(fields, string(frame[p:p+l]))
		p += l
	}
	return fields, frame[p:], true
}

func FuzzValid(f *testing.F) {
	for _, s := range append(validCases, unpairedSurrogates...) {
		if len(s) < 1000 {
			f.Add([]byte(s))
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		got, want := valid(data), json.Valid(data)
		if got != want && !(want && surrogateEscape.Match(data)) {
			t.Fatalf("valid(%q) = %v, encoding/json says %v", data, got, want)
		}
	})
}
