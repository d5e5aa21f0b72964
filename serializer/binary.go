package serializer

import "fmt"

// V2 binary frames: one kind byte, one length byte per header field, the
// header fields, then the payload to the end of the frame.
//
//	kind 0x00 push, client→server: join_ref ref topic event | payload
//	kind 0x00 push, server→client: join_ref topic event     | payload
//	kind 0x01 reply (server only): join_ref ref topic status | response
//	kind 0x02 broadcast (server):  topic event               | payload
const (
	binPush      = 0x00
	binReply     = 0x01
	binBroadcast = 0x02
)

// maxField is the longest header field a length byte can describe.
const maxField = 255

// decodeBinary decodes a client's binary push. Its refs are returned as JSON
// strings (nil when empty) so that they echo into text frames like refs
// decoded from JSON.
func decodeBinary(frame []byte) (Message, error) {
	const fixed = 5 // kind and four lengths
	switch {
	case len(frame) == 0:
		return Message{}, badBinary("empty frame")
	case frame[0] != binPush:
		return Message{}, badBinary("kind 0x%02x cannot come from a client, only 0x00 (push)", frame[0])
	case len(frame) < fixed:
		return Message{}, badBinary("header needs %d bytes, frame has %d", fixed, len(frame))
	}
	jl, rl, tl, el := int(frame[1]), int(frame[2]), int(frame[3]), int(frame[4])
	end := fixed + jl + rl + tl + el
	if end > len(frame) {
		return Message{}, badBinary("header fields need %d bytes, frame has %d", end, len(frame))
	}
	// One allocation holds all four header fields.
	fields := string(frame[fixed:end])
	joinRef, ref := fields[:jl], fields[jl:jl+rl]
	topic, event := fields[jl+rl:jl+rl+tl], fields[jl+rl+tl:]
	m := Message{Kind: KindPush, Topic: topic, Event: event, Payload: frame[end:len(frame):len(frame)], Binary: true}
	m.JoinRef, m.Ref = quoteRefs(joinRef, ref)
	return m, nil
}

// quoteRefs returns both refs as JSON strings in one buffer; an empty ref is
// nil.
func quoteRefs(joinRef, ref string) (jsonJoinRef, jsonRef []byte) {
	if joinRef == "" && ref == "" {
		return nil, nil
	}
	buf := make([]byte, 0, quotedLen(joinRef)+quotedLen(ref))
	if joinRef != "" {
		buf = appendString(buf, joinRef)
		jsonJoinRef = buf[:len(buf):len(buf)]
	}
	if ref != "" {
		n := len(buf)
		buf = appendString(buf, ref)
		jsonRef = buf[n:len(buf):len(buf)]
	}
	return jsonJoinRef, jsonRef
}

// quotedLen bounds the length of s as a JSON string: an escape is at most
// 6 bytes (\u001F), written for one byte.
func quotedLen(s string) int {
	if needsEscape(s) {
		return 6*len(s) + 2
	}
	return len(s) + 2
}

// appendBinary appends m as a server→client binary frame of its kind.
func appendBinary(dst []byte, m *Message) ([]byte, error) {
	var jr, ref []byte
	var err error
	if m.Kind != KindBroadcast {
		if jr, err = refText(m.JoinRef); err != nil {
			return dst, fmt.Errorf("serializer: encode binary: join_ref: %w", err)
		}
	}
	if m.Kind == KindReply {
		if ref, err = refText(m.Ref); err != nil {
			return dst, fmt.Errorf("serializer: encode binary: ref: %w", err)
		}
	}
	topic, event := m.headerNames()
	switch m.Kind {
	case KindPush:
		if err := checkFields(field{"join_ref", len(jr)}, field{"topic", len(topic)}, field{"event", len(event)}); err != nil {
			return dst, err
		}
		dst = append(dst, binPush, byte(len(jr)), byte(len(topic)), byte(len(event)))
		dst = append(append(append(dst, jr...), topic...), event...)
	case KindReply:
		if err := checkFields(field{"join_ref", len(jr)}, field{"ref", len(ref)},
			field{"topic", len(topic)}, field{"status", len(m.Status)}); err != nil {
			return dst, err
		}
		dst = append(dst, binReply, byte(len(jr)), byte(len(ref)), byte(len(topic)), byte(len(m.Status)))
		dst = append(append(append(append(dst, jr...), ref...), topic...), m.Status...)
	default:
		if err := checkFields(field{"topic", len(topic)}, field{"event", len(event)}); err != nil {
			return dst, err
		}
		dst = append(dst, binBroadcast, byte(len(topic)), byte(len(event)))
		dst = append(append(dst, topic...), event...)
	}
	return append(dst, m.Payload...), nil
}

// headerNames returns the topic and event as binary header text: a topic or
// event that is not a JSON string is written as its JSON text.
func (m *Message) headerNames() (topic, event string) {
	topic, event = m.Topic, m.Event
	if m.RawTopic != nil {
		topic = string(m.RawTopic)
	}
	if m.RawEvent != nil {
		event = string(m.RawEvent)
	}
	return topic, event
}

// field names a binary header field and gives its length.
type field struct {
	name string
	n    int
}

// checkFields reports the first header field longer than a length byte can
// describe.
func checkFields(fields ...field) error {
	for _, f := range fields {
		if f.n > maxField {
			return fieldTooLong(f.name, f.n)
		}
	}
	return nil
}
