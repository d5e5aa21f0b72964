package serializer

// V2 text frames are JSON arrays: [join_ref, ref, topic, event, payload].

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
	case !w.isString(el[2]):
		return Message{}, malformed(V2, "topic is not a JSON string")
	case !w.isString(el[3]):
		return Message{}, malformed(V2, "event is not a JSON string")
	}
	return Message{
		Kind:    KindPush,
		JoinRef: w.ref(el[0]),
		Ref:     w.ref(el[1]),
		Topic:   unquote(w.raw(el[2])),
		Event:   unquote(w.raw(el[3])),
		Payload: w.raw(el[4]),
	}, nil
}

// appendV2 appends m as a V2 text frame.
func appendV2(dst []byte, m *Message) []byte {
	joinRef, ref := m.refs()
	dst = append(dst, '[')
	dst = appendRaw(dst, joinRef)
	dst = append(dst, ',')
	dst = appendRaw(dst, ref)
	dst = append(dst, ',')
	dst = appendString(dst, m.Topic)
	dst = append(dst, ',')
	dst = appendString(dst, m.event())
	dst = append(dst, ',')
	dst = appendPayload(dst, m)
	return append(dst, ']')
}
