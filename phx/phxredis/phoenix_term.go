package phxredis

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/phxgo/phxgo/phx/etf"
)

// What phoenix_pubsub_redis (3.x) puts on its channel.
const (
	phoenixVersion    = 3                                 // @redis_msg_vsn
	phoenixDispatcher = "Elixir.Phoenix.Channel.Server"   // channels' dispatcher
	phoenixBroadcast  = "Elixir.Phoenix.Socket.Broadcast" // %Phoenix.Socket.Broadcast{}
	phoenixMaxDepth   = 64
)

// Why a message from the Phoenix channel was not delivered.
var (
	// errPhxForeign: well-formed traffic phxgo does not take part in
	// (Phoenix.Tracker, another dispatcher, a message that is not a
	// Broadcast, presence diffs); skipped.
	errPhxForeign = errors.New("not a channel broadcast")
	// errPhxEcho, errPhxNotForUs, errPhxUnwatched: what receive's pre
	// check turns away before the message is decoded.
	errPhxEcho      = errors.New("this node's own message")
	errPhxNotForUs  = errors.New(":only for another node")
	errPhxUnwatched = errors.New("no subscriber of the topic on this node")
	// errPhxTooLarge: larger than the limit, compressed or not.
	errPhxTooLarge = errors.New("message larger than the limit")
	// errPhxUnencodable: a Broadcast whose payload Jason could not encode
	// as JSON either (tuples, pids, invalid UTF-8, structs ...).
	errPhxUnencodable = errors.New("payload has no JSON form")
)

// phoenixMsg is one decoded message of the Phoenix channel.
type phoenixMsg struct {
	only    bool   // mode :only (else :except)
	node    string // node_name, an atom or a binary in Elixir
	topic   string
	event   string
	payload []byte // a JSON object, or the data of {:binary, data}
	binary  bool
}

// decodePhoenix reads a message of the Phoenix channel: term_to_binary of
// {3, mode, node_name, topic, message, dispatcher}. The dispatcher is read
// first, from the skimmed tuple, so that Tracker traffic (pids, refs) is
// skipped without decoding it. max bounds the message and its inflated
// size. pre, when not nil, sees the mode, node and topic before the
// message is decoded: an error from it is returned at once (a message
// this node ignores costs no more).
func decodePhoenix(b []byte, max int, pre func(*phoenixMsg) error) (phoenixMsg, error) {
	var m phoenixMsg
	if len(b) > max {
		return m, fmt.Errorf("%w: %d bytes, limit %d", errPhxTooLarge, len(b), max)
	}
	if len(b) < 2 || b[0] != 131 {
		return m, fmt.Errorf("%w: no version byte 131", errSkim)
	}
	body := b[1:]
	if body[0] == 80 {
		var err error
		if body, err = inflateTerm(body, max); err != nil {
			return m, err
		}
	}
	el, err := skimTuple(body, 6)
	if err != nil {
		return m, err
	}
	dec := etf.Decoder{MaxSize: len(body) + 1, MaxDepth: phoenixMaxDepth}
	term := func(span []byte) (any, error) {
		buf := make([]byte, 0, len(span)+1)
		return dec.Decode(append(append(buf, 131), span...))
	}
	if v, err := term(el[0]); err != nil || v != int64(phoenixVersion) {
		return m, fmt.Errorf("%w: version %v, want %d", errSkim, v, phoenixVersion)
	}
	if v, err := term(el[5]); err != nil || v != etf.Atom(phoenixDispatcher) {
		return m, fmt.Errorf("%w: dispatcher %v", errPhxForeign, v)
	}
	switch v, _ := term(el[1]); v {
	case etf.Atom("except"):
	case etf.Atom("only"):
		m.only = true
	default:
		return m, fmt.Errorf("%w: mode %v", errSkim, v)
	}
	switch v, _ := term(el[2]); v := v.(type) {
	case etf.Atom:
		m.node = string(v)
	case string:
		m.node = v
	default:
		return m, fmt.Errorf("%w: node name %T", errSkim, v)
	}
	topic, err := term(el[3])
	if err != nil {
		return m, err
	}
	tp, ok := topic.(string)
	if !ok || !utf8.ValidString(tp) {
		return m, fmt.Errorf("%w: topic is not a UTF-8 binary", errSkim)
	}
	if pre != nil {
		m.topic = tp
		if err := pre(&m); err != nil {
			return m, err
		}
	}
	msg, err := term(el[4])
	if err != nil {
		if errors.Is(err, etf.ErrUnsupported) { // pids, refs, funs ...
			return m, fmt.Errorf("%w: %v", errPhxUnencodable, err)
		}
		return m, err
	}
	st, ok := msg.(map[any]any)
	if !ok || st[etf.Atom("__struct__")] != etf.Atom(phoenixBroadcast) || len(st) != 4 {
		return m, fmt.Errorf("%w: message is no %%Phoenix.Socket.Broadcast{}", errPhxForeign)
	}
	m.topic, ok = st[etf.Atom("topic")].(string)
	if !ok || m.topic != tp {
		return m, fmt.Errorf("%w: Broadcast topic is not the message's topic binary", errSkim)
	}
	m.event, ok = st[etf.Atom("event")].(string)
	if !ok || !utf8.ValidString(m.event) {
		return m, fmt.Errorf("%w: Broadcast event is not a UTF-8 binary", errSkim)
	}
	if m.event == "presence_diff" {
		return m, fmt.Errorf("%w: presence_diff stays on its side", errPhxForeign)
	}
	switch p := st[etf.Atom("payload")].(type) {
	case map[any]any:
		if _, ok := p[etf.Atom("__struct__")]; ok { // Jason writes a string, not an object
			return m, fmt.Errorf("%w: payload is a struct, not a map", errPhxUnencodable)
		}
		if m.payload, err = appendJSON(nil, p, 0); err != nil {
			return m, err
		}
	case etf.Tuple:
		data, ok := binaryPayload(p)
		if !ok {
			return m, fmt.Errorf("%w: payload is a tuple other than {:binary, data}", errPhxUnencodable)
		}
		m.payload, m.binary = []byte(data), true
	default:
		return m, fmt.Errorf("%w: payload is %T, not a map", errPhxUnencodable, p)
	}
	return m, nil
}

func binaryPayload(t etf.Tuple) (string, bool) {
	if len(t) != 2 || t[0] != etf.Atom("binary") {
		return "", false
	}
	s, ok := t[1].(string)
	return s, ok
}

// appendJSON appends v as Jason encodes it: nil, true and false as null,
// true and false; other atoms as strings; binaries as strings (valid
// UTF-8 only); integers of any size and floats as numbers; lists as
// arrays; maps as objects whose keys are binaries, atoms or numbers
// (written as strings). Anything else (tuples, structs, pids, invalid
// UTF-8, two keys with the same text) has no JSON form.
func appendJSON(buf []byte, v any, depth int) ([]byte, error) {
	if depth > phoenixMaxDepth {
		return nil, fmt.Errorf("%w: nested too deep", errPhxUnencodable)
	}
	switch x := v.(type) {
	case nil:
		return append(buf, "null"...), nil
	case bool:
		return strconv.AppendBool(buf, x), nil
	case etf.Atom:
		return appendJSONString(buf, string(x))
	case string:
		return appendJSONString(buf, x)
	case int64:
		return strconv.AppendInt(buf, x, 10), nil
	case *big.Int:
		return x.Append(buf, 10), nil
	case float64:
		return appendFloat(buf, x)
	case []any:
		buf = append(buf, '[')
		for i, e := range x {
			if i > 0 {
				buf = append(buf, ',')
			}
			var err error
			if buf, err = appendJSON(buf, e, depth+1); err != nil {
				return nil, err
			}
		}
		return append(buf, ']'), nil
	case map[any]any:
		return appendObject(buf, x, depth)
	}
	return nil, fmt.Errorf("%w: %T", errPhxUnencodable, v)
}

func appendObject(buf []byte, m map[any]any, depth int) ([]byte, error) {
	type entry struct {
		key string
		val any
	}
	if name, ok := m[etf.Atom("__struct__")]; ok {
		return appendStruct(buf, m, name)
	}
	entries := make([]entry, 0, len(m))
	for k, v := range m {
		var key string
		switch k := k.(type) {
		case string:
			key = k
		case etf.Atom:
			key = string(k)
		case nil:
			key = "nil"
		case bool:
			key = strconv.FormatBool(k)
		case int64:
			key = strconv.FormatInt(k, 10)
		case float64:
			b, err := appendFloat(nil, k)
			if err != nil {
				return nil, err
			}
			key = string(b)
		default:
			return nil, fmt.Errorf("%w: map key %T", errPhxUnencodable, k)
		}
		entries = append(entries, entry{key, v})
	}
	slices.SortFunc(entries, func(a, b entry) int { return strings.Compare(a.key, b.key) })
	buf = append(buf, '{')
	for i, e := range entries {
		if i > 0 {
			if e.key == entries[i-1].key {
				return nil, fmt.Errorf("%w: key %q twice", errPhxUnencodable, e.key)
			}
			buf = append(buf, ',')
		}
		var err error
		if buf, err = appendJSONString(buf, e.key); err != nil {
			return nil, err
		}
		buf = append(buf, ':')
		if buf, err = appendJSON(buf, e.val, depth+1); err != nil {
			return nil, err
		}
	}
	return append(buf, '}'), nil
}

// appendFloat writes f as Jason does (float_to_binary(f, [:short])): the
// shortest digits that read back as f, in fixed notation ("100.0",
// "0.0001") unless scientific is shorter ("1.0e3", "1.2e-4") or |f| is
// 2^53 or more.
func appendFloat(buf []byte, f float64) ([]byte, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return nil, fmt.Errorf("%w: float %v", errPhxUnencodable, f)
	}
	if f == 0 {
		if math.Signbit(f) {
			return append(buf, "-0.0"...), nil
		}
		return append(buf, "0.0"...), nil
	}
	if f < 0 {
		buf = append(buf, '-')
	}
	var tmp [32]byte
	s := strconv.AppendFloat(tmp[:0], math.Abs(f), 'e', -1, 64) // d.ddde±XX
	mant, expText, _ := bytes.Cut(s, []byte("e"))
	exp, _ := strconv.Atoi(string(expText))
	digits := append([]byte{mant[0]}, bytes.TrimPrefix(mant[1:], []byte("."))...)
	n := len(digits)
	// Lengths: scientific d.ddd(or d.0)e<exp>; fixed with ".0" when whole.
	sciLen := 2 + max(n-1, 1) + 1 + len(strconv.Itoa(exp))
	var fixedLen int
	switch {
	case exp >= n-1:
		fixedLen = exp + 1 + 2
	case exp >= 0:
		fixedLen = n + 1
	default:
		fixedLen = 2 + (-exp - 1) + n
	}
	if sciLen < fixedLen || math.Abs(f) >= 1<<53 {
		buf = append(buf, digits[0], '.')
		if n == 1 {
			buf = append(buf, '0')
		} else {
			buf = append(buf, digits[1:]...)
		}
		buf = append(buf, 'e')
		return strconv.AppendInt(buf, int64(exp), 10), nil
	}
	switch {
	case exp >= n-1:
		buf = append(buf, digits...)
		for range exp + 1 - n {
			buf = append(buf, '0')
		}
		buf = append(buf, ".0"...)
	case exp >= 0:
		buf = append(buf, digits[:exp+1]...)
		buf = append(buf, '.')
		buf = append(buf, digits[exp+1:]...)
	default:
		buf = append(buf, "0."...)
		for range -exp - 1 {
			buf = append(buf, '0')
		}
		buf = append(buf, digits...)
	}
	return buf, nil
}

func appendJSONString(buf []byte, s string) ([]byte, error) {
	if !utf8.ValidString(s) {
		return nil, fmt.Errorf("%w: binary not valid UTF-8", errPhxUnencodable)
	}
	const hex = "0123456789abcdef"
	buf = append(buf, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			buf = append(buf, '\\', c)
		case c == '\n':
			buf = append(buf, '\\', 'n')
		case c == '\r':
			buf = append(buf, '\\', 'r')
		case c == '\t':
			buf = append(buf, '\\', 't')
		case c < 0x20:
			buf = append(buf, '\\', 'u', '0', '0', hex[c>>4], hex[c&15])
		default:
			buf = append(buf, c)
		}
	}
	return append(buf, '"'), nil
}

// encodePhoenix writes a phxgo broadcast as phoenix_pubsub_redis does
// for Endpoint.broadcast: {3, :except, node, topic, %Broadcast{},
// Phoenix.Channel.Server}, the node name an atom. A JSON payload becomes
// the term Jason.decode! gives (see jsonTerm); a binary one {:binary, data}.
func encodePhoenix(enc etf.Encoder, node, topic, event string, payload []byte, binary bool) ([]byte, error) {
	var p any
	if binary {
		p = etf.Tuple{etf.Atom("binary"), payload}
	} else {
		d := json.NewDecoder(bytes.NewReader(payload))
		d.UseNumber()
		var v any
		if err := d.Decode(&v); err != nil {
			return nil, fmt.Errorf("phxredis: payload is not JSON: %w", err)
		}
		if _, err := d.Token(); err != io.EOF {
			return nil, errors.New("phxredis: payload has bytes after its JSON object")
		}
		if _, ok := v.(map[string]any); !ok {
			return nil, errors.New("phxredis: payload is not a JSON object")
		}
		var err error
		if p, err = jsonTerm(v); err != nil {
			return nil, err
		}
	}
	msg := map[any]any{
		etf.Atom("__struct__"): etf.Atom(phoenixBroadcast),
		etf.Atom("topic"):      topic,
		etf.Atom("event"):      event,
		etf.Atom("payload"):    p,
	}
	return enc.Encode(etf.Tuple{int64(phoenixVersion), etf.Atom("except"), etf.Atom(node), topic, msg, etf.Atom(phoenixDispatcher)})
}

// jsonTerm turns decoded JSON into the term Jason.decode! makes of it:
// objects are maps with binary keys, strings binaries, integers integers
// (of any size), other numbers floats, null nil.
func jsonTerm(v any) (any, error) {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			t, err := jsonTerm(e)
			if err != nil {
				return nil, err
			}
			x[k] = t
		}
		return x, nil
	case []any:
		for i, e := range x {
			t, err := jsonTerm(e)
			if err != nil {
				return nil, err
			}
			x[i] = t
		}
		return x, nil
	case json.Number:
		s := string(x)
		if !strings.ContainsAny(s, ".eE") {
			if n, err := strconv.ParseInt(s, 10, 64); err == nil {
				return n, nil
			}
			if n, ok := new(big.Int).SetString(s, 10); ok {
				return n, nil
			}
		}
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return nil, fmt.Errorf("phxredis: number %s has no Erlang float", s)
		}
		return f, nil
	}
	return v, nil // string, bool, nil
}
