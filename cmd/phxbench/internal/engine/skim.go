package engine

import (
	"bytes"

	"github.com/phxgo/phxgo/serializer"
)

// skimMin is the size from which a server push's payload is located
// rather than validated. The presence case receives about 10 GB of
// presence_state and presence_diff; validating every byte of that JSON
// took more than half of phxbench's CPU, on the cores phxd runs on, and so
// bounded the joins per second it measured. The payload's bytes are still
// read from the socket and searched for a stamp; the envelope (join_ref,
// ref, topic, event) is still parsed strictly. Frames below skimMin (every
// reply, echo and fan-out frame of the other scenarios) are decoded in
// full as before.
const skimMin = 16 << 10

// skimmable reports whether a data message goes to skimPushV2 first.
func skimmable(v serializer.Version, payload []byte, binary bool) bool {
	return !binary && v == serializer.V2 && len(payload) >= skimMin
}

// skimPushV2 splits a V2 text frame [join_ref, ref, topic, event, payload]
// whose payload is a JSON object, without validating the payload's inside.
// It reports false for anything else (a reply, a value it does not parse
// here: a string with escapes, a topic that is not a string), which the
// caller then decodes in full.
func skimPushV2(frame []byte) (serializer.Message, bool) {
	var m serializer.Message
	p := skimWS(frame, 0)
	if p >= len(frame) || frame[p] != '[' {
		return m, false
	}
	var fields [4][]byte
	p++
	for i := range fields {
		v, next, ok := skimScalar(frame, skimWS(frame, p))
		if !ok {
			return m, false
		}
		p = skimWS(frame, next)
		if p >= len(frame) || frame[p] != ',' {
			return m, false
		}
		fields[i] = v
		p = skimWS(frame, p+1)
	}
	end := len(frame) - 1
	for end > p && isWS(frame[end]) {
		end--
	}
	if frame[end] != ']' {
		return m, false
	}
	end--
	for end > p && isWS(frame[end]) {
		end--
	}
	if p >= end || frame[p] != '{' || frame[end] != '}' {
		return m, false
	}
	topic, event := fields[2], fields[3]
	if len(topic) < 2 || topic[0] != '"' || len(event) < 2 || event[0] != '"' {
		return m, false
	}
	m.Event = string(event[1 : len(event)-1])
	if m.Event == serializer.EventReply {
		return m, false
	}
	m.Topic = string(topic[1 : len(topic)-1])
	m.JoinRef, m.Ref = nullable(fields[0]), nullable(fields[1])
	m.Payload = frame[p : end+1]
	if m.JoinRef == nil && m.Ref == nil {
		m.Kind = serializer.KindBroadcast
	}
	return m, true
}

// skimScalar returns the JSON null, number or escape-free string at p and
// the index after it.
func skimScalar(b []byte, p int) ([]byte, int, bool) {
	if p >= len(b) {
		return nil, 0, false
	}
	switch c := b[p]; {
	case c == '"':
		q := bytes.IndexByte(b[p+1:], '"')
		if q < 0 || bytes.IndexByte(b[p+1:p+1+q], '\\') >= 0 {
			return nil, 0, false
		}
		return b[p : p+q+2], p + q + 2, true
	case c == 'n':
		if bytes.HasPrefix(b[p:], []byte("null")) {
			return b[p : p+4], p + 4, true
		}
	case c >= '0' && c <= '9':
		q := p
		for q < len(b) && b[q] >= '0' && b[q] <= '9' {
			q++
		}
		return b[p:q], q, true
	}
	return nil, 0, false
}

func nullable(v []byte) []byte {
	if string(v) == "null" {
		return nil
	}
	return v
}

func isWS(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func skimWS(b []byte, p int) int {
	for p < len(b) && isWS(b[p]) {
		p++
	}
	return p
}
