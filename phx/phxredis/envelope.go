package phxredis

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"unicode/utf8"
	"unsafe"

	"github.com/phxgo/phxgo/phx/pubsub"
)

// The envelope is how one broadcast travels through Redis:
//
//	version  1 byte, envelopeVersion
//	flags    1 byte, flagBinary or 0 (other bits must be 0)
//	node     uvarint length, then the publishing node's name
//	from     uvarint, the publisher's From (meaningful on its node only)
//	topic    uvarint length, then the topic
//	event    uvarint length, then the event
//	payload  the rest: a JSON object, or bytes when flagBinary is set
//
// A node reading another node's envelope trusts none of it: see
// decodeEnvelope.
const (
	envelopeVersion = 1
	flagBinary      = 1
)

// maxNameLen bounds the node name, topic and event of an envelope.
const maxNameLen = 64 << 10

var (
	errEnvShort   = errors.New("envelope truncated")
	errEnvVersion = errors.New("envelope of an unknown version")
	errEnvFlags   = errors.New("envelope with unknown flags")
	errEnvTopic   = errors.New("envelope without a topic")
	errEnvJSON    = errors.New("envelope payload is not a JSON object")
)

// appendEnvelope appends b's envelope, published by node, to dst.
func appendEnvelope(dst []byte, node string, b *pubsub.Broadcast) []byte {
	var flags byte
	if b.Binary {
		flags |= flagBinary
	}
	dst = append(dst, envelopeVersion, flags)
	dst = appendString(dst, node)
	dst = binary.AppendUvarint(dst, b.From)
	dst = appendString(dst, b.Topic)
	dst = appendString(dst, b.Event)
	return append(dst, b.Payload...)
}

// envelopeSize is the length of b's envelope, published by node.
func envelopeSize(node string, b *pubsub.Broadcast) int {
	return 2 + uvarintLen(uint64(len(node))) + len(node) + uvarintLen(b.From) +
		uvarintLen(uint64(len(b.Topic))) + len(b.Topic) +
		uvarintLen(uint64(len(b.Event))) + len(b.Event) + len(b.Payload)
}

func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

func appendString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

// envelope is a decoded envelope; its strings share the message's memory.
type envelope struct {
	node, topic, event string
	from               uint64
	binary             bool
	payload            string
}

// decodeEnvelope reads msg (Redis hands messages over as strings). It
// rejects anything but a well-formed envelope of this version with a
// topic, and a non-binary payload that is not a valid JSON object: the
// payload is inlined into client frames as it is, so a broken one must
// never get that far.
func decodeEnvelope(msg string) (envelope, error) {
	var e envelope
	if len(msg) < 2 {
		return e, errEnvShort
	}
	if msg[0] != envelopeVersion {
		return e, errEnvVersion
	}
	flags := msg[1]
	if flags&^flagBinary != 0 {
		return e, errEnvFlags
	}
	e.binary = flags&flagBinary != 0
	rest := msg[2:]
	var ok bool
	if e.node, rest, ok = readString(rest); !ok {
		return e, errEnvShort
	}
	if e.from, rest, ok = readUvarint(rest); !ok {
		return e, errEnvShort
	}
	if e.topic, rest, ok = readString(rest); !ok {
		return e, errEnvShort
	}
	if e.event, rest, ok = readString(rest); !ok {
		return e, errEnvShort
	}
	if e.topic == "" {
		return e, errEnvTopic
	}
	e.payload = rest
	if !e.binary && !jsonObject(rest) {
		return e, errEnvJSON
	}
	return e, nil
}

// readUvarint reads a minimally encoded uvarint at the start of s.
func readUvarint(s string) (uint64, string, bool) {
	var v uint64
	for i := 0; i < len(s) && i < binary.MaxVarintLen64; i++ {
		c := s[i]
		if i == binary.MaxVarintLen64-1 && c > 1 {
			return 0, s, false // overflows 64 bits
		}
		v |= uint64(c&0x7f) << (7 * i)
		if c < 0x80 {
			if i > 0 && c == 0 {
				return 0, s, false // not minimal: one value, one encoding
			}
			return v, s[i+1:], true
		}
	}
	return 0, s, false
}

// readString reads a uvarint length and that many bytes.
func readString(s string) (string, string, bool) {
	n, rest, ok := readUvarint(s)
	if !ok || n > maxNameLen || n > uint64(len(rest)) {
		return "", s, false
	}
	return rest[:n], rest[n:], true
}

// jsonObject reports whether s is one valid JSON object (surrounding
// whitespace allowed) in valid UTF-8: clients get it inside text frames.
func jsonObject(s string) bool {
	i := 0
	for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n') {
		i++
	}
	if i == len(s) || s[i] != '{' || !utf8.ValidString(s) {
		return false
	}
	// encoding/json's Valid is strict (jsoniter's accepts trailing
	// bytes). It only reads its argument: s's bytes are viewed, not
	// copied.
	return json.Valid(unsafe.Slice(unsafe.StringData(s), len(s)))
}
