package presence

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"unicode/utf8"

	jsoniter "github.com/json-iterator/go"

	"github.com/phxgo/phxgo/phx"
)

// Presence errors, matched with errors.Is.
var (
	// ErrKey is returned for a key phoenix.js cannot hold: empty,
	// not UTF-8, or an Object.prototype property name.
	ErrKey = errors.New("presence: invalid key")
	// ErrMeta is returned for a meta that is not a JSON object.
	ErrMeta = errors.New("presence: meta must be a JSON object")
	// ErrAlreadyTracked is returned when the channel already tracks
	// the key on its topic (Phoenix's {:error, {:already_tracked, …}}).
	ErrAlreadyTracked = errors.New("presence: already tracked")
	// ErrNotTracked is returned by Update and Untrack when the
	// channel does not track the key (Phoenix's {:error, :nopresence}).
	ErrNotTracked = errors.New("presence: not tracked")
	// ErrNotJoined is returned when tracking from a channel whose
	// join has not completed: track from AfterJoin or later.
	ErrNotJoined = errors.New("presence: tracked before the join completed")
	// ErrClosed is returned by Track and Update after Presence.Close.
	ErrClosed = errors.New("presence: closed")
)

// reservedKeys are the property names of Object.prototype (plus
// "prototype"). phoenix.js before 1.8.9 keeps presences in plain objects
// indexed by key: such a key finds the inherited property instead of a
// presence (state["constructor"].metas is undefined and the client throws)
// or, for __proto__, replaces the object's prototype. Phoenix 1.8.9+
// uses null-prototype objects, but older clients are still deployed.
var reservedKeys = map[string]bool{
	"__proto__": true, "constructor": true, "prototype": true,
	"hasOwnProperty": true, "isPrototypeOf": true, "propertyIsEnumerable": true,
	"toString": true, "toLocaleString": true, "valueOf": true,
	"__defineGetter__": true, "__defineSetter__": true,
	"__lookupGetter__": true, "__lookupSetter__": true,
}

// CheckKey reports whether key can be used as a presence key; the
// error wraps ErrKey.
func CheckKey(key string) error {
	switch {
	case key == "":
		return fmt.Errorf("%w: empty key", ErrKey)
	case !utf8.ValidString(key):
		return fmt.Errorf("%w: key is not valid UTF-8", ErrKey)
	case reservedKeys[key]:
		return fmt.Errorf("%w: %q is an Object.prototype property name, which breaks "+
			"phoenix.js Presence clients older than 1.8.9 (prefix keys, e.g. \"user:%s\")",
			ErrKey, key, key)
	}
	return nil
}

// newRef returns a fresh phx_ref: refPrefix, then the process-wide
// counter refSeq in base64url digits, most significant first, without
// leading zero digits ("…B", "…C", …, 3 digits up to 262,143 refs, 4 up
// to 16.7M). The prefix has a fixed length, so two refs of one process are
// equal only for equal counts, which never repeat; refs of two processes
// differ unless both drew the same random prefix (2^-36 for a pair) and
// reached the same count.
//
// Phoenix builds 16 characters (a nanosecond clock, a node hash and a
// counter); clients never look inside a ref, they only compare it with the
// refs they hold, under the same key. Every presence costs its ref in
// every presence_state and presence_diff that carries it, and a room of N
// members sends each of its N presences to every member: about N² copies.
// At 10,000 members the short ref (9 characters instead of 16) takes 7 of
// the ~77 bytes of each copy off the wire.
func newRef() string {
	n := refSeq.Add(1)
	var b [refPrefixLen + 11]byte // 11 digits hold 64 bits
	i := len(b)
	for {
		i--
		b[i] = refDigits[n&63]
		n >>= 6
		if n == 0 {
			break
		}
	}
	i -= refPrefixLen
	copy(b[i:], refPrefix)
	return string(b[i:])
}

// refDigits are base64url's digits, in value order.
const refDigits = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

// refPrefixLen is the length of refPrefix: 36 random bits.
const refPrefixLen = 6

var (
	refPrefix = newRefPrefix()
	refSeq    atomic.Uint64
)

// newRefPrefix draws the random prefix of this process's refs.
func newRefPrefix() string {
	var r [8]byte
	_, _ = rand.Read(r[:])
	v := binary.BigEndian.Uint64(r[:])
	var b [refPrefixLen]byte
	for i := range b {
		b[i] = refDigits[v&63]
		v >>= 6
	}
	return string(b[:])
}

// defaultNodeID names this process: hostname, pid and randomness, so that
// a restarted process is a new node.
func defaultNodeID() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "node"
	}
	var r [4]byte
	_, _ = rand.Read(r[:])
	return fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(r[:]))
}

// json is the JSON configuration phx encodes payloads with: compatible with
// encoding/json, keys sorted, no HTML escaping (as Phoenix's Jason).
var json = jsoniter.Config{
	EscapeHTML:             false,
	SortMapKeys:            true,
	ValidateJsonRawMessage: true,
}.Froze()

// encodeMeta turns an app meta into JSON text, as phx encodes a payload:
// nil (and an empty RawJSON or Payload) is {}, RawJSON and a JSON Payload
// are taken as they are, anything else is marshaled. Binary values are
// refused: a meta must be a JSON object.
func encodeMeta(meta any) ([]byte, error) {
	switch x := meta.(type) {
	case nil:
		return phx.Empty, nil
	case phx.RawJSON:
		if len(x) == 0 {
			return phx.Empty, nil
		}
		return x, nil
	case phx.Binary:
		return nil, ErrMeta
	case phx.Payload:
		if x.IsBinary() {
			return nil, ErrMeta
		}
		if len(x.Bytes()) == 0 {
			return phx.Empty, nil
		}
		return x.Bytes(), nil
	case *phx.Payload:
		return encodeMeta(*x)
	}
	data, err := json.Marshal(meta)
	if err != nil {
		return nil, fmt.Errorf("presence: encode meta: %w", err)
	}
	return data, nil
}

// isJSONObject reports whether b, past leading white space, opens an
// object.
func isJSONObject(b []byte) bool {
	for _, c := range b {
		switch c {
		case ' ', '\t', '\r', '\n':
			continue
		case '{':
			return true
		default:
			return false
		}
	}
	return false
}

// jsonNumbers decodes metas for updaters keeping numbers exact.
var jsonNumbers = jsoniter.Config{EscapeHTML: false, SortMapKeys: true, UseNumber: true}.Froze()

// buildMeta encodes an app meta and adds phx_ref (and phx_ref_prev when
// prev is not empty), overriding any such keys of the app's. Keys come out
// sorted, as Phoenix's small maps do.
func buildMeta(meta any, ref, prev string) (phx.RawJSON, error) {
	if m, ok := meta.(map[string]any); ok && m != nil {
		// The common case (a map, and what updaters return): one
		// encoding of a copy with the refs set, instead of encoding,
		// decoding into fields and encoding again.
		c := make(map[string]any, len(m)+2)
		for k, v := range m {
			c[k] = v
		}
		c["phx_ref"] = ref
		if prev != "" {
			c["phx_ref_prev"] = prev
		} else {
			delete(c, "phx_ref_prev")
		}
		out, err := json.Marshal(c)
		if err != nil {
			return nil, fmt.Errorf("presence: encode meta: %w", err)
		}
		return out, nil
	}
	data, err := encodeMeta(meta)
	if err != nil {
		return nil, err
	}
	if !isJSONObject(data) {
		return nil, ErrMeta
	}
	var fields map[string]jsoniter.RawMessage
	if err := json.Unmarshal(data, &fields); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMeta, err)
	}
	if fields == nil {
		fields = make(map[string]jsoniter.RawMessage, 2)
	}
	fields["phx_ref"] = quoteRef(ref)
	if prev != "" {
		fields["phx_ref_prev"] = quoteRef(prev)
	} else {
		delete(fields, "phx_ref_prev")
	}
	out, err := json.Marshal(fields)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMeta, err)
	}
	return out, nil
}

// quoteRef makes a JSON string of a ref (base64url needs no escaping).
func quoteRef(ref string) jsoniter.RawMessage {
	b := make([]byte, 0, len(ref)+2)
	b = append(b, '"')
	b = append(b, ref...)
	return append(b, '"')
}

// decodeMeta turns a stored meta into a map for an updater; numbers are
// json.Number so that they encode back unchanged.
func decodeMeta(meta phx.RawJSON) (map[string]any, error) {
	var m map[string]any
	if err := jsonNumbers.Unmarshal(meta, &m); err != nil {
		return nil, err
	}
	if m == nil {
		m = make(map[string]any)
	}
	return m, nil
}
