package phxredis

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math"
	"math/big"
	"os"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/phxgo/phxgo/phx/etf"
)

// broadcastTerm is what an Elixir node writes for
// Endpoint.broadcast(topic, event, payload) on node "ex@h".
func broadcastTerm(t testing.TB, topic, event string, payload any, enc etf.Encoder) []byte {
	t.Helper()
	b, err := enc.Encode(etf.Tuple{int64(3), etf.Atom("except"), etf.Atom("ex@h"), topic,
		map[any]any{etf.Atom("__struct__"): etf.Atom(phoenixBroadcast), etf.Atom("topic"): topic,
			etf.Atom("event"): event, etf.Atom("payload"): payload},
		etf.Atom(phoenixDispatcher)})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Payloads map to JSON as Jason encodes them on the Elixir side.
func TestPhoenixPayloadJSON(t *testing.T) {
	big70, _ := new(big.Int).SetString("1180591620717411303424", 10)
	cases := []struct {
		name    string
		payload any
		want    string
		err     error
	}{
		{"scalars", map[any]any{etf.Atom("a"): etf.Atom("atom"), "n": nil, "t": true, "f": false,
			"i": int64(-7), "big": big70, "x": 0.1, "whole": 2.0, "s": "é\"\\\x01\u2028"},
			`{"a":"atom","big":1180591620717411303424,"f":false,"i":-7,"n":null,"s":"é\"\\\u0001` + "\u2028" + `","t":true,"whole":2.0,"x":0.1}`, nil},
		{"keys", map[any]any{int64(1): "one", 1.5: "f", nil: 0, true: 1, etf.Atom("k"): []any{}},
			`{"1":"one","1.5":"f","k":[],"nil":0,"true":1}`, nil},
		{"nested", map[any]any{"l": []any{map[any]any{"m": []any{int64(1), "a"}}}}, `{"l":[{"m":[1,"a"]}]}`, nil},
		{"empty", map[any]any{}, `{}`, nil},
		{"tuple", map[any]any{"t": etf.Tuple{int64(1)}}, "", errPhxUnencodable},
		{"struct", map[any]any{"d": map[any]any{etf.Atom("__struct__"): etf.Atom("Elixir.Date")}}, "", errPhxUnencodable},
		{"bad utf8", map[any]any{"s": "\xff"}, "", errPhxUnencodable},
		{"bad utf8 key", map[any]any{"\xff": 1}, "", errPhxUnencodable},
		{"same key twice", map[any]any{etf.Atom("a"): 1, "a": 2}, "", errPhxUnencodable},
		{"not a map", []any{int64(1)}, "", errPhxUnencodable},
		{"other tuple", etf.Tuple{etf.Atom("text"), "x"}, "", errPhxUnencodable},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m, err := decodePhoenix(broadcastTerm(t, "room:1", "e", c.payload, etf.Encoder{}), 1<<20, nil)
			if !errors.Is(err, c.err) {
				t.Fatalf("err %v, want %v", err, c.err)
			}
			if err == nil && (string(m.payload) != c.want || m.binary) {
				t.Fatalf("payload %s, want %s", m.payload, c.want)
			}
			if err == nil && !json.Valid(m.payload) {
				t.Fatalf("not JSON: %s", m.payload)
			}
		})
	}
}

// A NaN cannot come from Erlang; if a hostile writer sends one, it has no
// JSON form.
func TestPhoenixNaN(t *testing.T) {
	b := broadcastTerm(t, "room:1", "e", map[any]any{"x": 1.0}, etf.Encoder{})
	i := bytes.IndexByte(b, 70) // NEW_FLOAT_EXT
	binary.BigEndian.PutUint64(b[i+1:], math.Float64bits(math.NaN()))
	if _, err := decodePhoenix(b, 1<<20, nil); !errors.Is(err, errPhxUnencodable) && !errors.Is(err, etf.ErrMalformed) {
		t.Fatalf("err %v", err)
	}
}

// What phxgo writes decodes back to the same broadcast, in both atom
// encodings and compressed; JSON numbers keep their kind.
func TestPhoenixRoundTrip(t *testing.T) {
	payload := `{"big":-123456789012345678901234567890,"f":2.5,"i":42,"l":[true,false,null,"s",1.0e+21],"o":{"k":{}}}`
	for _, enc := range []etf.Encoder{{}, {Latin1Atoms: true}, {Compress: 9}} {
		b, err := encodePhoenix(enc, "go@host", "room:é", "new_msg", []byte(payload), false)
		if err != nil {
			t.Fatal(err)
		}
		m, err := decodePhoenix(b, 1<<20, nil)
		if err != nil {
			t.Fatal(err)
		}
		want := `{"big":-123456789012345678901234567890,"f":2.5,"i":42,"l":[true,false,null,"s",1.0e21],"o":{"k":{}}}`
		if m.node != "go@host" || m.only || m.topic != "room:é" || m.event != "new_msg" || string(m.payload) != want {
			t.Fatalf("%+v, payload %s", m, m.payload)
		}
	}
	b, err := encodePhoenix(etf.Encoder{}, "n", "t", "bin", []byte{0, 255}, true)
	if err != nil {
		t.Fatal(err)
	}
	if m, err := decodePhoenix(b, 1<<20, nil); err != nil || !m.binary || string(m.payload) != "\x00\xff" {
		t.Fatalf("%+v %v", m, err)
	}
	for _, bad := range []string{`[1]`, `{"a":1} x`, `{"a":`, `"s"`, `{"n":1e999}`} {
		if _, err := encodePhoenix(etf.Encoder{}, "n", "t", "e", []byte(bad), false); err == nil {
			t.Errorf("%s: encoded", bad)
		}
	}
}

// Hostile shapes are refused without decoding (or allocating for) what
// they announce.
func TestPhoenixHostile(t *testing.T) {
	ok := broadcastTerm(t, "room:1", "e", map[any]any{}, etf.Encoder{})
	deep := []byte{131, 104, 6}
	for range 200 {
		deep = append(deep, 104, 1)
	}
	deep = append(deep, 106)
	cases := map[string]struct {
		b   []byte
		err error
	}{
		"empty":          {nil, errSkim},
		"version only":   {[]byte{131}, errSkim},
		"no version":     {ok[1:], errSkim},
		"too large":      {ok, errPhxTooLarge},
		"deep":           {deep, errSkim},
		"huge list":      {[]byte{131, 104, 6, 108, 0xff, 0xff, 0xff, 0xff}, errSkim},
		"huge map":       {[]byte{131, 104, 6, 116, 0x7f, 0xff, 0xff, 0xff}, errSkim},
		"huge binary":    {[]byte{131, 104, 6, 109, 0xff, 0xff, 0xff, 0xff, 1}, errSkim},
		"huge tuple":     {[]byte{131, 104, 6, 105, 0xff, 0xff, 0xff, 0xff}, errSkim},
		"unknown tag":    {[]byte{131, 104, 6, 82, 0}, errSkim},
		"bad fun size":   {[]byte{131, 104, 6, 112, 0, 0, 0, 1}, errSkim},
		"bomb":           {[]byte{131, 80, 0x7f, 0xff, 0xff, 0xff, 0x78, 0x9c}, errPhxTooLarge},
		"bad zlib":       {[]byte{131, 80, 0, 0, 0, 10, 1, 2, 3}, errSkim},
		"trailing bytes": {append(append([]byte{}, ok...), 0), errSkim},
	}
	for name, c := range cases {
		max := 1 << 20
		if name == "too large" {
			max = len(ok) - 1
		}
		if _, err := decodePhoenix(c.b, max, nil); !errors.Is(err, c.err) {
			t.Errorf("%s: err %v, want %v", name, err, c.err)
		}
	}
	if _, err := decodePhoenix(ok, len(ok), nil); err != nil {
		t.Fatalf("a message of exactly the limit: %v", err)
	}
}

// Floats are written as Jason writes them, float_to_binary(F, [short]):
// these were printed by OTP 25 (and 3,000 random floats matched when the
// function was written).
func TestPhoenixFloatsAsErlang(t *testing.T) {
	for f, want := range map[float64]string{
		1: "1.0", 100: "100.0", 1000: "1.0e3", 1234: "1234.0", 12000: "1.2e4", 123456: "123456.0",
		1e15: "1.0e15", 1e21: "1.0e21", 0.1: "0.1", 0.01: "0.01", 0.0001: "0.0001", 1.2e-4: "1.2e-4",
		1e-5: "1.0e-5", 1.5e-7: "1.5e-7", -2.5e30: "-2.5e30", 5e-324: "5.0e-324",
		math.MaxFloat64: "1.7976931348623157e308", 12345.678: "12345.678", -0.5: "-0.5",
		9007199254740991: "9007199254740991.0", 9007199254740992: "9.007199254740992e15",
		1234567890123456.8: "1234567890123456.8", 123456789012: "123456789012.0", 2.5e9: "2.5e9",
		math.Copysign(0, -1): "-0.0", 0: "0.0",
	} {
		if got, err := appendFloat(nil, f); err != nil || string(got) != want {
			t.Errorf("%v: %s %v, want %s", f, got, err, want)
		}
	}
}

func TestPhoenixChannelName(t *testing.T) {
	for in, want := range map[string]string{
		"MyApp.PubSub":        "phx:Elixir.MyApp.PubSub.Adapter",
		"Elixir.MyApp.PubSub": "phx:Elixir.MyApp.PubSub.Adapter",
	} {
		if got := PhoenixChannel(in); got != want {
			t.Errorf("%s: %s, want %s", in, got, want)
		}
	}
}

// The decoder never panics; what it accepts is a topic and event in
// UTF-8 and a payload that is a JSON object (or binary data), and writing
// it back in phxgo's form reads the same.
func FuzzDecodePhoenix(f *testing.F) {
	f.Add(broadcastTerm(f, "room:1", "e", map[any]any{etf.Atom("a"): []any{int64(1), 2.5, nil}}, etf.Encoder{Compress: 6}))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := decodePhoenix(b, 64<<10, nil)
		if err != nil {
			return
		}
		if !utf8.ValidString(m.topic) || !utf8.ValidString(m.event) {
			t.Fatalf("accepted non-UTF-8 topic or event %q %q", m.topic, m.event)
		}
		if !m.binary && (!json.Valid(m.payload) || !strings.HasPrefix(string(m.payload), "{")) {
			t.Fatalf("accepted payload %q", m.payload)
		}
		again, err := encodePhoenix(etf.Encoder{}, "n", m.topic, m.event, m.payload, m.binary)
		if err != nil {
			t.Fatalf("re-encoding %q: %v", m.payload, err)
		}
		m2, err := decodePhoenix(again, 1<<20, nil)
		if err != nil || m2.topic != m.topic || m2.event != m.event || m2.binary != m.binary ||
			!bytes.Equal(m2.payload, m.payload) {
			t.Fatalf("round trip: %+v %v, want %+v", m2, err, m)
		}
	})
}

// Calendar structs are written as Jason writes them, their to_iso8601
// strings, checked against real Elixir's output.
func TestPhoenixCalendarStructs(t *testing.T) {
	data, err := os.ReadFile("testdata/phoenix_calendar.txt")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, line := range strings.Split(string(data), "\n") {
		hexTerm, want, ok := strings.Cut(line, " ")
		if !ok || strings.HasPrefix(line, "#") {
			continue
		}
		b, err := hex.DecodeString(hexTerm)
		if err != nil {
			t.Fatal(err)
		}
		v, err := etf.Decode(b)
		if err != nil {
			t.Fatal(err)
		}
		got, err := appendJSON(nil, map[any]any{"at": v}, 0)
		if err != nil || string(got) != `{"at":"`+want+`"}` {
			t.Errorf("%s: %s %v, want %s", hexTerm, got, err, want)
		}
		n++
	}
	if n < 16 {
		t.Fatalf("only %d vectors", n)
	}
	// Other structs, other calendars and a struct as the whole payload
	// have no JSON form here.
	st := func(name string, kv ...any) map[any]any {
		m := map[any]any{etf.Atom("__struct__"): etf.Atom(name)}
		for i := 0; i < len(kv); i += 2 {
			m[etf.Atom(kv[i].(string))] = kv[i+1]
		}
		return m
	}
	for _, v := range []any{
		st("Elixir.MyApp.User", "name", "x"),
		st("Elixir.Date", "calendar", etf.Atom("Elixir.Cal.Holocene"), "year", int64(1), "month", int64(1), "day", int64(1)),
		st("Elixir.Date", "calendar", etf.Atom("Elixir.Calendar.ISO"), "year", int64(1), "month", int64(13), "day", int64(1)),
		st("Elixir.Time", "calendar", etf.Atom("Elixir.Calendar.ISO"), "hour", int64(1), "minute", int64(1), "second", int64(1), "microsecond", etf.Tuple{int64(1), int64(7)}),
	} {
		if got, err := appendJSON(nil, map[any]any{"v": v}, 0); !errors.Is(err, errPhxUnencodable) {
			t.Errorf("%v: %s %v", v, got, err)
		}
	}
	date := st("Elixir.Date", "calendar", etf.Atom("Elixir.Calendar.ISO"), "year", int64(1), "month", int64(1), "day", int64(1))
	if _, err := decodePhoenix(broadcastTerm(t, "room:1", "e", date, etf.Encoder{}), 1<<20, nil); !errors.Is(err, errPhxUnencodable) {
		t.Errorf("a struct payload: %v", err)
	}
}
