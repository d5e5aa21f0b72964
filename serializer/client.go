package serializer

import (
	"bytes"
	"fmt"
	"slices"
)

// The client side of the wire format, for test clients and load generators:
// EncodeClient writes client→server frames and DecodeServer reads
// server→client frames. Text frames share their shape in both directions,
// so only the binary layouts and the reply wrapper need code of their own.

// EncodeClient appends the client→server encoding of m, a push (Kind
// KindPush), to dst. isBinary reports a binary frame, written exactly when
// m.Binary is set (V2 only): kind 0x00 with join_ref, ref, topic and event.
// A V1 text frame carries no join_ref, as with Encode. On error out is dst
// unchanged.
func EncodeClient(v Version, dst []byte, m *Message) (out []byte, isBinary bool, err error) {
	switch {
	case m.Kind != KindPush:
		return dst, false, fmt.Errorf("serializer: encode client: a client sends only pushes, not %s", m.Kind)
	case !m.Binary:
		return Encode(v, dst, m)
	case v == V1:
		return dst, false, ErrBinaryV1
	case v != V2:
		return dst, false, fmt.Errorf("serializer: encode client %s: %w", v, ErrUnsupportedVsn)
	}
	jr, err := refText(m.JoinRef)
	if err != nil {
		return dst, false, fmt.Errorf("serializer: encode binary: join_ref: %w", err)
	}
	ref, err := refText(m.Ref)
	if err != nil {
		return dst, false, fmt.Errorf("serializer: encode binary: ref: %w", err)
	}
	topic, event := m.headerNames()
	if err := checkFields(field{"join_ref", len(jr)}, field{"ref", len(ref)},
		field{"topic", len(topic)}, field{"event", len(event)}); err != nil {
		return dst, false, err
	}
	out = slices.Grow(dst, 5+len(jr)+len(ref)+len(topic)+len(event)+len(m.Payload))
	out = append(out, binPush, byte(len(jr)), byte(len(ref)), byte(len(topic)), byte(len(event)))
	out = append(append(append(append(out, jr...), ref...), topic...), event...)
	return append(out, m.Payload...), true, nil
}

// DecodeServer decodes one server→client frame into the Message the server
// encoded: Kind is KindReply for phx_reply (Status set, Payload the
// response, Event empty), KindBroadcast when both refs are null (a V1 push
// therefore reads as a broadcast: V1 writes no join_ref), KindPush
// otherwise. It aliases frame as Decode does; refs from a binary header come
// back as JSON strings. A bad frame yields a *DecodeError.
func DecodeServer(v Version, frame []byte, binary bool) (Message, error) {
	if binary {
		if v != V2 {
			return Decode(v, frame, true) // the same error as for a client frame
		}
		return decodeServerBinary(frame)
	}
	m, err := Decode(v, frame, false)
	if err != nil {
		return Message{}, err
	}
	switch {
	case m.Event == EventReply:
		if m.Status, m.Payload, err = unwrapReply(v, m.Payload); err != nil {
			return Message{}, err
		}
		m.Kind, m.Event = KindReply, ""
	case m.JoinRef == nil && m.Ref == nil:
		m.Kind = KindBroadcast
	}
	return m, nil
}

// decodeServerBinary decodes the three server binary kinds (see binary.go).
func decodeServerBinary(frame []byte) (Message, error) {
	if len(frame) == 0 {
		return Message{}, badBinary("empty frame")
	}
	m := Message{Binary: true}
	var n int // header fields
	switch frame[0] {
	case binPush:
		m.Kind, n = KindPush, 3
	case binReply:
		m.Kind, n = KindReply, 4
	case binBroadcast:
		m.Kind, n = KindBroadcast, 2
	default:
		return Message{}, badBinary("unknown kind 0x%02x", frame[0])
	}
	start := 1 + n
	if len(frame) < start {
		return Message{}, badBinary("header needs %d bytes, frame has %d", start, len(frame))
	}
	end := start
	for _, l := range frame[1:start] {
		end += int(l)
	}
	if end > len(frame) {
		return Message{}, badBinary("header fields need %d bytes, frame has %d", end, len(frame))
	}
	// One allocation holds all header fields.
	all := string(frame[start:end])
	var f [4]string
	for i, l := range frame[1:start] {
		f[i], all = all[:l], all[l:]
	}
	switch m.Kind {
	case KindPush:
		m.JoinRef, _ = quoteRefs(f[0], "")
		m.Topic, m.Event = f[1], f[2]
	case KindReply:
		m.JoinRef, m.Ref = quoteRefs(f[0], f[1])
		m.Topic, m.Status = f[2], f[3]
	default:
		m.Topic, m.Event = f[0], f[1]
	}
	m.Payload = frame[end:len(frame):len(frame)]
	return m, nil
}

// unwrapReply splits a text reply's payload {"response":R,"status":S},
// members in any order, into S and R (aliasing p). Of duplicate keys the
// last wins, as in Jason.
func unwrapReply(v Version, p []byte) (status string, response []byte, err error) {
	var w frameWalker
	if !w.open(p, '{') {
		return "", nil, malformed(v, "reply payload is not a JSON object")
	}
	var st, resp span
	for {
		k, val, ok := w.next()
		if !ok {
			break
		}
		key := w.raw(k)
		if bytes.IndexByte(key, '\\') >= 0 { // an escaped spelling such as "st\u0061tus"
			key = appendString(nil, unquote(key))
		}
		switch string(key) {
		case `"status"`:
			st = val
		case `"response"`:
			resp = val
		}
	}
	switch {
	case !w.finish():
		return "", nil, w.syntaxError(v)
	case st.end == 0 || !w.isString(st):
		return "", nil, malformed(v, "reply payload has no status string")
	case resp.end == 0:
		return "", nil, malformed(v, "reply payload has no response")
	}
	return unquote(w.raw(st)), w.raw(resp), nil
}
