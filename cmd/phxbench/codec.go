package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/phxgo/phxgo/serializer"
)

// The client side of the wire format. The serializer package is written for
// the server: Decode reads client frames and Encode writes server frames.
// Text frames are symmetric (a client push has the same shape as a server
// push), so this file reuses them, and adds what only a client needs: the
// client binary push (four header lengths), decoding of the server's binary
// kinds (push with three lengths, reply, broadcast), and unwrapping of a text
// reply's {"response":…,"status":…}.

// Binary frame kinds (PROTOCOL.md §2.4).
const (
	binPush      = 0x00
	binReply     = 0x01
	binBroadcast = 0x02
)

var errBadServerFrame = errors.New("malformed server frame")

// encodeClient appends m (a client push: Kind KindPush) encoded for v, and
// reports whether it is a binary frame (m.Binary, V2 only). JoinRef and Ref
// are raw JSON (`"5"`) or nil.
func encodeClient(v serializer.Version, dst []byte, m *serializer.Message) ([]byte, bool, error) {
	if !m.Binary {
		out, _, err := serializer.Encode(v, dst, m)
		return out, false, err
	}
	if v != serializer.V2 {
		return dst, false, serializer.ErrBinaryV1
	}
	jr, ref := refText(m.JoinRef), refText(m.Ref)
	for _, f := range [...]int{len(jr), len(ref), len(m.Topic), len(m.Event)} {
		if f > 255 {
			return dst, false, serializer.ErrFieldTooLong
		}
	}
	dst = append(dst, binPush, byte(len(jr)), byte(len(ref)), byte(len(m.Topic)), byte(len(m.Event)))
	dst = append(append(dst, jr...), ref...)
	dst = append(append(dst, m.Topic...), m.Event...)
	return append(dst, m.Payload...), true, nil
}

// refText returns the text of a raw JSON ref as a binary header carries it:
// a string's contents, a number's own text, nothing for null.
func refText(raw []byte) []byte {
	switch {
	case len(raw) == 0 || string(raw) == "null":
		return nil
	case raw[0] == '"' && len(raw) >= 2:
		return raw[1 : len(raw)-1]
	}
	return raw
}

// quoteRef returns a binary header ref as a JSON string, or nil when empty.
func quoteRef(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return strconv.AppendQuote(nil, string(b))
}

// decodeServer decodes a server→client frame into the Message the server
// encoded: Kind is KindReply for phx_reply (Status set, Payload the
// response), KindBroadcast when both refs are null, KindPush otherwise.
// Text payloads alias frame.
func decodeServer(v serializer.Version, frame []byte, binary bool) (serializer.Message, error) {
	if binary {
		return decodeServerBinary(frame)
	}
	m, err := serializer.Decode(v, frame, false)
	if err != nil {
		return m, err
	}
	m.JoinRef, m.Ref = nullToNil(m.JoinRef), nullToNil(m.Ref)
	switch {
	case m.Event == serializer.EventReply:
		m.Kind = serializer.KindReply
		m.Status, m.Payload, err = unwrapReply(m.Payload)
		m.Event = ""
	case m.JoinRef == nil && m.Ref == nil:
		m.Kind = serializer.KindBroadcast
	}
	return m, err
}

// nullToNil turns a JSON null ref into nil.
func nullToNil(raw []byte) []byte {
	if string(raw) == "null" {
		return nil
	}
	return raw
}

// decodeServerBinary decodes the three server binary kinds. Refs come back
// as JSON strings, as in text frames.
func decodeServerBinary(frame []byte) (serializer.Message, error) {
	if len(frame) == 0 {
		return serializer.Message{}, fmt.Errorf("%w: empty binary frame", errBadServerFrame)
	}
	var nlen int
	var kind serializer.Kind
	switch frame[0] {
	case binPush:
		nlen, kind = 3, serializer.KindPush
	case binReply:
		nlen, kind = 4, serializer.KindReply
	case binBroadcast:
		nlen, kind = 2, serializer.KindBroadcast
	default:
		return serializer.Message{}, fmt.Errorf("%w: binary kind 0x%02x", errBadServerFrame, frame[0])
	}
	if len(frame) < 1+nlen {
		return serializer.Message{}, fmt.Errorf("%w: short binary header", errBadServerFrame)
	}
	fields := make([][]byte, nlen)
	off := 1 + nlen
	for i := range nlen {
		n := int(frame[1+i])
		if off+n > len(frame) {
			return serializer.Message{}, fmt.Errorf("%w: binary header field %d overruns the frame", errBadServerFrame, i)
		}
		fields[i] = frame[off : off+n]
		off += n
	}
	m := serializer.Message{Kind: kind, Binary: true, Payload: frame[off:]}
	switch kind {
	case serializer.KindPush:
		m.JoinRef, m.Topic, m.Event = quoteRef(fields[0]), string(fields[1]), string(fields[2])
	case serializer.KindReply:
		m.JoinRef, m.Ref = quoteRef(fields[0]), quoteRef(fields[1])
		m.Topic, m.Status = string(fields[2]), string(fields[3])
	default:
		m.Topic, m.Event = string(fields[0]), string(fields[1])
	}
	return m, nil
}

// unwrapReply splits a text reply payload {"response":…,"status":…} into
// status and response. Phoenix writes status last, which the fast path
// reads without a JSON parse; any other layout goes through encoding/json.
func unwrapReply(p []byte) (status string, response []byte, err error) {
	if s, resp, ok := fastReply(p); ok {
		return s, resp, nil
	}
	var r struct {
		Status   *string         `json:"status"`
		Response json.RawMessage `json:"response"`
	}
	if err := json.Unmarshal(p, &r); err != nil || r.Status == nil {
		return "", nil, fmt.Errorf("%w: reply payload has no status", errBadServerFrame)
	}
	return *r.Status, r.Response, nil
}

// fastReply matches `{"response":R,"status":"S"}` where S has no escapes.
// A status that ends the frame right before the closing brace is a member
// of the outermost object, so a nested "status" cannot be mistaken for it.
func fastReply(p []byte) (status string, response []byte, ok bool) {
	const head, key = `{"response":`, `,"status":"`
	if !bytes.HasPrefix(p, []byte(head)) || !bytes.HasSuffix(p, []byte(`"}`)) {
		return "", nil, false
	}
	body := p[:len(p)-2]
	i := bytes.LastIndex(body, []byte(key))
	if i < len(head) {
		return "", nil, false
	}
	s := body[i+len(key):]
	if bytes.IndexByte(s, '"') >= 0 || bytes.IndexByte(s, '\\') >= 0 {
		return "", nil, false
	}
	return string(s), p[len(head):i], true
}

// parseRef reads a ref this client sent ("123") back as a number.
func parseRef(raw []byte) (uint64, bool) {
	raw = refText(raw)
	if len(raw) == 0 {
		return 0, false
	}
	var n uint64
	for _, c := range raw {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
	}
	return n, true
}

// appendRef appends ref n as a raw JSON string, as phoenix.js sends it.
func appendRef(dst []byte, n uint64) []byte {
	dst = append(dst, '"')
	dst = strconv.AppendUint(dst, n, 10)
	return append(dst, '"')
}

// Stamps let a receiver measure delivery latency and count deliveries: the
// {{stamp}} placeholder in a push payload becomes ~pb~<unix ns>~, which the
// server passes through (new_msg's body) into every broadcast copy.
const stampMark = "~pb~"

// appendStamp appends the stamp for send time ns.
func appendStamp(dst []byte, ns int64) []byte {
	dst = append(dst, stampMark...)
	dst = strconv.AppendInt(dst, ns, 10)
	return append(dst, '~')
}

// findStamp returns the send time carried by a stamp in p.
func findStamp(p []byte) (int64, bool) {
	i := bytes.Index(p, []byte(stampMark))
	if i < 0 {
		return 0, false
	}
	var ns int64
	digits := 0
	for _, c := range p[i+len(stampMark):] {
		if c < '0' || c > '9' {
			break
		}
		ns = ns*10 + int64(c-'0')
		digits++
	}
	return ns, digits > 0 && digits < 20
}
