package serializer

// V2 text frames are JSON arrays: [join_ref, ref, topic, event, payload].
// As in Phoenix, each element may be any JSON value (a topic or event that
// is not a string lands in RawTopic or RawEvent).

// decodeV2 decodes a client's V2 text frame. Elements after the fifth are
// validated and ignored, as Phoenix ignores them.
func decodeV2(frame []byte) (Message, error) {
	var w frameWalker
	if !w.open(frame, '[') {
		return Message{}, malformed(V2, "frame is not a JSON array")
	}
	var el [5]span
	n := 0
	for {
		_, v, ok := w.next()
		if !ok {
			break
		}
		if n < len(el) {
			el[n] = v
		}
		n++
	}
	if !w.finish() {
		return Message{}, w.syntaxError(V2)
	}
	switch {
	case n < len(el):
		return Message{}, malformed(V2, "want 5 elements, got %d", n)
	}
	m := Message{
		Kind:    KindPush,
		JoinRef: w.ref(el[0]),
		Ref:     w.ref(el[1]),
		Payload: w.raw(el[4]),
	}
	m.Topic, m.RawTopic = w.name(el[2])
	m.Event, m.RawEvent = w.name(el[3])
	return m, nil
}

// appendV2 appends m as a V2 text frame.
func appendV2(dst []byte, m *Message) []byte {
	joinRef, ref := m.refs()
	dst = append(dst, '[')
	dst = appendRaw(dst, joinRef)
	dst = append(dst, ',')
	dst = appendRaw(dst, ref)
	dst = append(dst, ',')
	dst = appendName(dst, m.RawTopic, m.Topic)
	dst = append(dst, ',')
	dst = appendName(dst, m.RawEvent, m.event())
	dst = append(dst, ',')
	dst = appendPayload(dst, m)
	return append(dst, ']')
}
