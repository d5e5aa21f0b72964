package serializer

import (
	"bytes"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

var update = flag.Bool("update", false, "rewrite testdata/serializer/own.golden from the current code")

const goldenPath = "../testdata/serializer/own.golden"

// Our own outputs for edge cases the reference frames do not reach. The
// golden file is regenerated with -update and reviewed as a diff.

var encodeGolden = []struct {
	name string
	v    Version
	m    Message
}{
	{"v2/push-numeric-refs", V2, Message{Kind: KindPush, JoinRef: []byte(`5`), Ref: []byte(`-1.5e3`), Topic: "room:1", Event: "tick", Payload: []byte(`{"n":1}`)}},
	{"v2/reply-escaped-ref", V2, Message{Kind: KindReply, JoinRef: []byte(`"j\"1"`), Ref: []byte(`"a\\b\u00e9"`), Topic: "room:1", Status: "error", Payload: []byte(`{"reason":"x"}`)}},
	{"v2/reply-empty-response", V2, Message{Kind: KindReply, Ref: []byte(`"9"`), Topic: "phoenix", Status: "ok"}},
	{"v2/reply-string-response", V2, Message{Kind: KindReply, Ref: []byte(`"9"`), Topic: "t", Status: "ok", Payload: []byte(`"done"`)}},
	{"v2/reply-null-response", V2, Message{Kind: KindReply, Ref: []byte(`"9"`), Topic: "t", Status: "ok", Payload: []byte(`null`)}},
	{"v2/reply-ignores-event", V2, Message{Kind: KindReply, Ref: []byte(`"9"`), Topic: "t", Event: "custom", Status: "ok"}},
	{"v2/broadcast-ignores-refs", V2, Message{Kind: KindBroadcast, JoinRef: []byte(`"1"`), Ref: []byte(`"2"`), Topic: "room:1", Event: "new_msg", Payload: []byte(`{"body":"hi"}`)}},
	{"v2/push-empty-payload", V2, Message{Kind: KindPush, JoinRef: []byte(`"1"`), Ref: []byte(`"1"`), Topic: "room:1", Event: "phx_close"}},
	{"v2/escaped-topic-event", V2, Message{Kind: KindPush, Topic: "room:\"q\"\\/\n\t\r\b\f\x01\x1f", Event: "ev<&>", Payload: []byte(`{}`)}},
	{"v2/unicode-topic", V2, Message{Kind: KindPush, Topic: "raum:café ☕ \u2028\u2029 𝄞", Event: "ü", Payload: []byte(`{}`)}},
	{"v2/invalid-utf8-topic", V2, Message{Kind: KindPush, Topic: "bad\xffbytes\xc3", Event: "e", Payload: []byte(`{}`)}},
	{"v1/push-drops-join-ref", V1, Message{Kind: KindPush, JoinRef: []byte(`"1"`), Topic: "room:1", Event: "presence_state", Payload: []byte(`{"a":{}}`)}},
	{"v1/reply-numeric-ref", V1, Message{Kind: KindReply, JoinRef: []byte(`"1"`), Ref: []byte(`7`), Topic: "room:1", Status: "ok", Payload: []byte(`[1,2]`)}},
	{"v1/broadcast", V1, Message{Kind: KindBroadcast, Ref: []byte(`"2"`), Topic: "room:1", Event: "new_msg"}},
	{"v1/phx-close", V1, Message{Kind: KindPush, JoinRef: []byte(`"3"`), Ref: []byte(`"3"`), Topic: "room:1", Event: "phx_close"}},
	{"binary/push-numeric-join-ref", V2, Message{Kind: KindPush, Binary: true, JoinRef: []byte(`5`), Ref: []byte(`"ignored"`), Topic: "room:1", Event: "bin", Payload: []byte{0, 1, 2}}},
	{"binary/push-null-join-ref", V2, Message{Kind: KindPush, Binary: true, Topic: "room:1", Event: "bin", Payload: []byte{0xff}}},
	{"binary/reply-escaped-refs", V2, Message{Kind: KindReply, Binary: true, JoinRef: []byte(`"j\"1"`), Ref: []byte(`"\u00e9\n"`), Topic: "room:1", Status: "ok", Payload: []byte{9, 8, 7}}},
	{"binary/reply-boolean-ref", V2, Message{Kind: KindReply, Binary: true, Ref: []byte(`true`), Topic: "t", Status: "error"}},
	{"binary/broadcast-empty-payload", V2, Message{Kind: KindBroadcast, Binary: true, JoinRef: []byte(`"1"`), Topic: "room:1", Event: "blob"}},
	{"binary/reply-255-byte-topic", V2, Message{Kind: KindReply, Binary: true, Ref: []byte(`"1"`), Topic: strings.Repeat("t", 255), Status: "ok", Payload: []byte("x")}},
}

var decodeGolden = []struct {
	name   string
	v      Version
	frame  string
	binary bool
}{
	{"v2/numeric-refs", V2, `[5,17,"room:1","ping",{}]`, false},
	{"v2/whitespace", V2, " \t[ null ,\n\"1\" , \"room:1\" ,\r\n\"ping\" , { \"a\" : [ 1 , 2 ] } ]\n ", false},
	{"v2/extra-elements", V2, `["1","2","room:1","ping",{},"extra",[{"x":null}]]`, false},
	{"v2/escaped-topic", V2, `["1","2","room:\u00e9\"\\","ev\/\n",{}]`, false},
	{"v2/surrogate-pair", V2, `[null,null,"\ud834\udd1e","\uDBFF\uDFFF",{"\ud83d\ude00":"\u2603"}]`, false},
	{"v2/object-ref", V2, `[{"a":1},[true],"t","e",null]`, false},
	{"v2/string-payload", V2, `[null,"1","t","e","just text"]`, false},
	{"v2/number-payload", V2, `[null,"1","t","e",-0.5e-3]`, false},
	{"v1/any-key-order", V1, `{"ref":"1","payload":{"a":1},"event":"phx_join","topic":"room:1"}`, false},
	{"v1/join-ref-and-unknown-keys", V1, `{"x":[1],"topic":"t","join_ref":"3","event":"e","payload":{},"ref":null,"y":{}}`, false},
	{"v1/duplicate-key-last-wins", V1, `{"topic":"a","event":"e","payload":{},"ref":"1","topic":"b"}`, false},
	{"v1/escaped-key", V1, `{"t\u006fpic":"t","event":"e","payload":{},"r\u0065f":5}`, false},
	{"binary/empty-refs", V2, "\x00\x00\x00\x01\x01tepayload", true},
	{"binary/ref-needs-escaping", V2, "\x00\x03\x04\x01\x01a\"\\\n\x01\xff\xfetebytes", true},
	{"binary/empty-payload", V2, "\x00\x01\x01\x06\x06" + "12room:1upload", true},
}

// goldenText renders every golden case in the frame file format.
func goldenText(t *testing.T) []byte {
	var b bytes.Buffer
	b.WriteString("# Generated by: go test ./serializer -run TestGolden -update\n")
	b.WriteString("# Our own outputs for edge cases; format as in reference.txt.\n")
	for _, c := range encodeGolden {
		out, isBinary, err := Encode(c.v, nil, &c.m)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		writeCase(t, &b, "encode/"+c.name, "s2c", c.v, c.m, out, isBinary)
	}
	for _, c := range decodeGolden {
		m, err := Decode(c.v, []byte(c.frame), c.binary)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		writeCase(t, &b, "decode/"+c.name, "c2s", c.v, m, []byte(c.frame), c.binary)
	}
	return b.Bytes()
}

func writeCase(t *testing.T, b *bytes.Buffer, name, dir string, v Version, m Message, frame []byte, binary bool) {
	fmt.Fprintf(b, "\n=== %s\ndir: %s\nvsn: %d\n", name, dir, v)
	if binary || !plainLine(frame) {
		fmt.Fprintf(b, "hex: %s\n", hex.EncodeToString(frame))
	} else {
		fmt.Fprintf(b, "text: %s\n", frame)
	}
	fmt.Fprintf(b, "kind: %s\n", m.Kind)
	if binary {
		b.WriteString("binary: true\n")
	}
	for _, f := range []struct{ key, raw string }{{"join_ref", string(m.JoinRef)}, {"ref", string(m.Ref)}} {
		if f.raw != "" {
			if !plainLine([]byte(f.raw)) {
				t.Fatalf("%s: %s %q does not fit on a line", name, f.key, f.raw)
			}
			fmt.Fprintf(b, "%s: %s\n", f.key, f.raw)
		}
	}
	for _, f := range []struct{ key, s string }{{"topic", m.Topic}, {"event", m.Event}, {"status", m.Status}} {
		if f.s != "" {
			fmt.Fprintf(b, "%s: %s\n", f.key, strconv.Quote(f.s))
		}
	}
	switch {
	case len(m.Payload) == 0:
	case m.Binary || !plainLine(m.Payload):
		fmt.Fprintf(b, "payload_hex: %s\n", hex.EncodeToString(m.Payload))
	default:
		fmt.Fprintf(b, "payload: %s\n", m.Payload)
	}
}

// plainLine reports whether s survives as the value of a "key: value" line.
func plainLine(s []byte) bool {
	return utf8.Valid(s) && bytes.IndexAny(s, "\r\n") < 0 && string(bytes.TrimSpace(s)) == string(s)
}

func TestGolden(t *testing.T) {
	want := goldenText(t)
	if *update {
		if err := os.WriteFile(goldenPath, want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(goldenPath)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		gl, wl := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
		for i := 0; i < len(gl) || i < len(wl); i++ {
			if i >= len(gl) || i >= len(wl) || gl[i] != wl[i] {
				t.Fatalf("%s differs from the current output at line %d (run with -update and review the diff):\nfile: %q\nnow:  %q",
					goldenPath, i+1, at(gl, i), at(wl, i))
			}
		}
	}
	// The file must also pass as frame cases, which checks the writer.
	for _, c := range readCases(t, goldenPath) {
		t.Run(c.name, c.check)
	}
}

func at(lines []string, i int) string {
	if i < len(lines) {
		return lines[i]
	}
	return "<end of file>"
}
