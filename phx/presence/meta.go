package phx

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"sync/atomic"
	"time"
	"unicode/utf8"

	jsoniter "github.com/json-iterator/go"
)

// Presence errors, matched with errors.Is.
var (
	// ErrPresenceKey is returned for a key phoenix.js cannot hold: empty,
	// not UTF-8, or an Object.prototype property name.
	ErrPresenceKey = errors.New("phx: invalid presence key")
	// ErrPresenceMeta is returned for a meta that is not a JSON object.
	ErrPresenceMeta = errors.New("phx: presence meta must be a JSON object")
	// ErrPresenceAlreadyTracked is returned when the channel already tracks
	// the key on its topic (Phoenix's {:error, {:already_tracked, …}}).
	ErrPresenceAlreadyTracked = errors.New("phx: presence already tracked")
	// ErrPresenceNotTracked is returned by Update and Untrack when the
	// channel does not track the key (Phoenix's {:error, :nopresence}).
	ErrPresenceNotTracked = errors.New("phx: presence not tracked")
	// ErrPresenceNotJoined is returned when tracking from a channel whose
	// join has not completed: track from AfterJoin or later.
	ErrPresenceNotJoined = errors.New("phx: presence tracked before the join completed")
	// ErrPresenceClosed is returned after Presence.Close.
	ErrPresenceClosed = errors.New("phx: presence closed")
)

// reservedPresenceKeys are the property names of Object.prototype (plus
// "prototype"). phoenix.js before 1.8.9 keeps presences in plain objects
// indexed by key: such a key finds the inherited property instead of a
// presence (state["constructor"].metas is undefined and the client throws)
// or, for __proto__, replaces the object's prototype. Phoenix 1.8.9+
// uses null-prototype objects, but older clients are still deployed.
var reservedPresenceKeys = map[string]bool{
	"__proto__": true, "constructor": true, "prototype": true,
	"hasOwnProperty": true, "isPrototypeOf": true, "propertyIsEnumerable": true,
	"toString": true, "toLocaleString": true, "valueOf": true,
	"__defineGetter__": true, "__defineSetter__": true,
	"__lookupGetter__": true, "__lookupSetter__": true,
}

// CheckPresenceKey reports whether key can be used as a presence key; the
// error wraps ErrPresenceKey.
func CheckPresenceKey(key string) error {
	switch {
	case key == "":
		return fmt.Errorf("%w: empty key", ErrPresenceKey)
	case !utf8.ValidString(key):
		return fmt.Errorf("%w: key is not valid UTF-8", ErrPresenceKey)
	case reservedPresenceKeys[key]:
		return fmt.Errorf("%w: %q is an Object.prototype property name, which breaks "+
			"phoenix.js Presence clients older than 1.8.9 (prefix keys, e.g. \"user:%s\")",
			ErrPresenceKey, key, key)
	}
	return nil
}

// lastRefNanos is the clock part of the last phx_ref handed out in this
// process; refs take a strictly increasing value so that none repeats,
// even when the wall clock steps back.
var (
	lastRefNanos atomic.Int64
	refCounter   atomic.Uint32
)

// newPresenceRef returns a phx_ref as Phoenix builds them: 64-bit
// nanosecond clock, 16-bit node hash, 16-bit counter, base64url (16
// characters, no padding).
func newPresenceRef(nodeHash uint16) string {
	now := time.Now().UnixNano()
	for {
		last := lastRefNanos.Load()
		if now <= last {
			now = last + 1
		}
		if lastRefNanos.CompareAndSwap(last, now) {
			break
		}
	}
	var b [12]byte
	binary.BigEndian.PutUint64(b[0:8], uint64(now))
	binary.BigEndian.PutUint16(b[8:10], nodeHash)
	binary.BigEndian.PutUint16(b[10:12], uint16(refCounter.Add(1)))
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func hashNode(node string) uint16 {
	h := fnv.New32a()
	_, _ = h.Write([]byte(node))
	s := h.Sum32()
	return uint16(s>>16) ^ uint16(s)
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

// jsonNumbers decodes metas for updaters keeping numbers exact.
var jsonNumbers = jsoniter.Config{EscapeHTML: false, SortMapKeys: true, UseNumber: true}.Froze()

// buildMeta encodes an app meta and adds phx_ref (and phx_ref_prev when
// prev is not empty), overriding any such keys of the app's. Keys come out
// sorted, as Phoenix's small maps do.
func buildMeta(meta any, ref, prev string) (RawJSON, error) {
	data, bin, err := encodeValue(meta)
	if err != nil {
		return nil, err
	}
	if bin || !isJSONObject(data) {
		return nil, ErrPresenceMeta
	}
	var fields map[string]jsoniter.RawMessage
	if err := json.Unmarshal(data, &fields); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrPresenceMeta, err)
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
		return nil, fmt.Errorf("%w: %v", ErrPresenceMeta, err)
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
func decodeMeta(meta RawJSON) (map[string]any, error) {
	var m map[string]any
	if err := jsonNumbers.Unmarshal(meta, &m); err != nil {
		return nil, err
	}
	if m == nil {
		m = make(map[string]any)
	}
	return m, nil
}
