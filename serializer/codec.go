package serializer

import (
	"fmt"
	"slices"
	"strconv"
	"unicode/utf8"
)

// Decode decodes one client→server frame. binary reports a WebSocket binary
// frame.
//
// The Message aliases frame: JoinRef, Ref and Payload are sub-slices of it
// (refs decoded from a binary frame excepted), so frame must not be reused
// while the Message is in use. Only Topic and Event are allocated.
//
// A frame Phoenix would reject yields a *DecodeError that matches
// ErrMalformed (see errors.go); an unknown v yields ErrUnsupportedVsn.
func Decode(v Version, frame []byte, binary bool) (Message, error) {
	switch {
	case v != V1 && v != V2:
		return Message{}, fmt.Errorf("serializer: decode %s: %w", v, ErrUnsupportedVsn)
	case binary && v == V1:
		return Message{}, &DecodeError{Version: V1, Reason: "binary frames are not supported", Err: ErrBinaryV1}
	case binary:
		return decodeBinary(frame)
	case !utf8.Valid(frame):
		return Message{}, &DecodeError{Version: v, Reason: "text frame is not valid UTF-8", Err: ErrInvalidUTF8}
	case v == V1:
		return decodeV1(frame)
	}
	return decodeV2(frame)
}

// Encode appends the server→client encoding of m to dst. isBinary reports
// whether the result must be sent as a binary frame, which happens exactly
// when m.Binary is set (V2 only).
//
// Payload, and JoinRef and Ref when not nil, must be valid JSON text (unless
// Binary); they are copied verbatim. An empty Payload is written as {}. On
// error out is dst unchanged.
func Encode(v Version, dst []byte, m *Message) (out []byte, isBinary bool, err error) {
	switch {
	case m.Kind > KindBroadcast:
		return dst, false, fmt.Errorf("serializer: encode: unknown message kind %d", m.Kind)
	case v == V1 && m.Binary:
		return dst, false, ErrBinaryV1
	case v != V1 && v != V2:
		return dst, false, fmt.Errorf("serializer: encode %s: %w", v, ErrUnsupportedVsn)
	}
	buf := slices.Grow(dst, sizeHint(m)) // one allocation at most, none with room
	switch {
	case v == V1:
		return appendV1(buf, m), false, nil
	case m.Binary:
		if out, err = appendBinary(buf, m); err != nil {
			return dst, false, err
		}
		return out, true, nil
	}
	return appendV2(buf, m), false, nil
}

// String returns "push", "reply", "broadcast", or "Kind(n)".
func (k Kind) String() string {
	switch k {
	case KindPush:
		return "push"
	case KindReply:
		return "reply"
	case KindBroadcast:
		return "broadcast"
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// refs returns the join_ref and ref to write: none for a broadcast.
func (m *Message) refs() (joinRef, ref []byte) {
	if m.Kind == KindBroadcast {
		return nil, nil
	}
	return m.JoinRef, m.Ref
}

// event returns the event to write: phx_reply for a reply.
func (m *Message) event() string {
	if m.Kind == KindReply {
		return EventReply
	}
	return m.Event
}

// appendRaw appends a raw JSON ref, or null when there is none.
func appendRaw(dst, raw []byte) []byte {
	if len(raw) == 0 {
		return append(dst, "null"...)
	}
	return append(dst, raw...)
}

// appendPayload appends the JSON payload of a text frame. A reply's is
// {"response":…,"status":…}, keys in the order Phoenix writes them.
func appendPayload(dst []byte, m *Message) []byte {
	if m.Kind != KindReply {
		return appendObject(dst, m.Payload)
	}
	dst = append(dst, `{"response":`...)
	dst = appendObject(dst, m.Payload)
	dst = append(dst, `,"status":`...)
	dst = appendString(dst, m.Status)
	return append(dst, '}')
}

// appendName appends a topic or event: raw JSON when the client sent a
// value that is not a string, else s as a JSON string.
func appendName(dst, raw []byte, s string) []byte {
	if raw != nil {
		return append(dst, raw...)
	}
	return appendString(dst, s)
}

// appendObject appends raw JSON, or {} when raw is empty.
func appendObject(dst, raw []byte) []byte {
	if len(raw) == 0 {
		return append(dst, "{}"...)
	}
	return append(dst, raw...)
}

// sizeHint is the length of m's encoding when nothing needs escaping, in the
// longest of the formats.
func sizeHint(m *Message) int {
	const framing = len(`{"event":,"payload":{"response":,"status":""},"ref":,"topic":}`) + 8
	return framing + len(m.JoinRef) + len(m.Ref) + len(m.Topic) + len(m.Event) + len(m.Status) + len(m.Payload) +
		len(m.RawTopic) + len(m.RawEvent)
}
