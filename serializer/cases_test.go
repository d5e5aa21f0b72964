package serializer

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// referencePath holds the hand-written reference frames.
const referencePath = "../testdata/serializer/reference.txt"

// raceEnabled is set by race_test.go when the race detector is on.
var raceEnabled bool

// skipUnderRace skips allocation checks, which the race detector distorts.
func skipUnderRace(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under the race detector")
	}
}

// frameCase is one case of a frame file (testdata/serializer/*.txt and
// *.golden): a frame, the Message it stands for, and which way it travels.
// The file format is described at the top of reference.txt.
type frameCase struct {
	name   string
	line   int
	fields map[string]string
}

func (c *frameCase) get(key string) string { return c.fields[key] }

// readCases parses a frame file.
func readCases(t testing.TB, path string) []*frameCase {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var cases []*frameCase
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "=== "):
			cases = append(cases, &frameCase{name: line[4:], line: n, fields: map[string]string{}})
		case len(cases) == 0:
			t.Fatalf("%s:%d: field before the first case", path, n)
		default:
			k, v, ok := strings.Cut(line, ":")
			if !ok {
				t.Fatalf("%s:%d: want key: value", path, n)
			}
			cases[len(cases)-1].fields[k] = strings.TrimLeft(v, " ")
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return cases
}

func (c *frameCase) errorf(t testing.TB, format string, args ...any) {
	t.Helper()
	t.Errorf("%s (line %d): %s", c.name, c.line, fmt.Sprintf(format, args...))
}

func (c *frameCase) version(t testing.TB) Version {
	switch c.get("vsn") {
	case "1":
		return V1
	case "2":
		return V2
	}
	t.Fatalf("%s: bad vsn %q", c.name, c.get("vsn"))
	return 0
}

func (c *frameCase) binary() bool { return c.get("binary") == "true" }

// frame returns the case's frame bytes.
func (c *frameCase) frame(t testing.TB) []byte {
	if h, ok := c.fields["hex"]; ok {
		return mustHex(t, h)
	}
	if s, ok := c.fields["text"]; ok {
		return []byte(s)
	}
	t.Fatalf("%s: no text or hex", c.name)
	return nil
}

// message returns the Message the case's fields describe.
func (c *frameCase) message(t testing.TB) Message {
	m := Message{Binary: c.binary(), JoinRef: rawRef(c.get("join_ref")), Ref: rawRef(c.get("ref"))}
	switch c.get("kind") {
	case "", "push":
		m.Kind = KindPush
	case "reply":
		m.Kind = KindReply
	case "broadcast":
		m.Kind = KindBroadcast
	default:
		t.Fatalf("%s: bad kind %q", c.name, c.get("kind"))
	}
	m.Topic = mustUnquote(t, c.get("topic"))
	m.Event = mustUnquote(t, c.get("event"))
	m.Status = mustUnquote(t, c.get("status"))
	if h, ok := c.fields["payload_hex"]; ok {
		m.Payload = mustHex(t, h)
	} else if p := c.get("payload"); p != "" {
		m.Payload = []byte(p)
	}
	return m
}

func rawRef(s string) []byte {
	if s == "" || s == "null" {
		return nil
	}
	return []byte(s)
}

func mustUnquote(t testing.TB, s string) string {
	if s == "" {
		return ""
	}
	u, err := strconv.Unquote(s)
	if err != nil {
		t.Fatalf("unquote %s: %v", s, err)
	}
	return u
}

func mustHex(t testing.TB, s string) []byte {
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatalf("hex %q: %v", s, err)
	}
	return b
}

// check runs one case: decode for c2s, encode for s2c.
func (c *frameCase) check(t *testing.T) {
	t.Helper()
	v, frame := c.version(t), c.frame(t)
	switch c.get("dir") {
	case "c2s":
		got, err := Decode(v, frame, c.binary())
		if err != nil {
			c.errorf(t, "Decode: %v", err)
			return
		}
		if want := c.message(t); !sameMessage(got, want) {
			c.errorf(t, "Decode:\n got %s\nwant %s", describe(got), describe(want))
		}
	case "s2c":
		m := c.message(t)
		got, isBinary, err := Encode(v, nil, &m)
		switch {
		case err != nil:
			c.errorf(t, "Encode: %v", err)
		case isBinary != c.binary():
			c.errorf(t, "Encode: isBinary %v, want %v", isBinary, c.binary())
		case c.get("compare") == "json":
			if !jsonEqual(got, frame) {
				c.errorf(t, "Encode, as JSON:\n got %s\nwant %s", got, frame)
			}
		case !bytes.Equal(got, frame):
			c.errorf(t, "Encode:\n got %s\nwant %s", show(got, isBinary), show(frame, isBinary))
		}
	default:
		t.Fatalf("%s: bad dir %q", c.name, c.get("dir"))
	}
}

// sameMessage compares every field, treating nil and empty slices alike.
func sameMessage(a, b Message) bool {
	return a.Kind == b.Kind && a.Binary == b.Binary && a.Topic == b.Topic && a.Event == b.Event &&
		a.Status == b.Status && bytes.Equal(a.JoinRef, b.JoinRef) && bytes.Equal(a.Ref, b.Ref) &&
		bytes.Equal(a.Payload, b.Payload) && bytes.Equal(a.RawTopic, b.RawTopic) && bytes.Equal(a.RawEvent, b.RawEvent)
}

func describe(m Message) string {
	payload := string(m.Payload)
	if m.Binary {
		payload = "0x" + hex.EncodeToString(m.Payload)
	}
	if len(payload) > 200 {
		payload = payload[:200] + "…"
	}
	topic, event := strconv.Quote(m.Topic), strconv.Quote(m.Event)
	if m.RawTopic != nil {
		topic = "raw:" + string(m.RawTopic)
	}
	if m.RawEvent != nil {
		event = "raw:" + string(m.RawEvent)
	}
	return fmt.Sprintf("{%s join_ref=%s ref=%s topic=%s event=%s status=%q payload=%s binary=%v}",
		m.Kind, orNull(m.JoinRef), orNull(m.Ref), topic, event, m.Status, payload, m.Binary)
}

func orNull(raw []byte) string {
	if raw == nil {
		return "nil"
	}
	return string(raw)
}

func show(frame []byte, binary bool) string {
	if binary {
		return hex.EncodeToString(frame)
	}
	return string(frame)
}

// jsonEqual compares two JSON texts as values.
func jsonEqual(a, b []byte) bool {
	var va, vb any
	if json.Unmarshal(a, &va) != nil || json.Unmarshal(b, &vb) != nil {
		return false
	}
	return reflect.DeepEqual(va, vb)
}

func TestReference(t *testing.T) {
	cases := readCases(t, referencePath)
	if len(cases) < 20 {
		t.Fatalf("only %d reference cases", len(cases))
	}
	for _, c := range cases {
		t.Run(c.name, c.check)
	}
}
