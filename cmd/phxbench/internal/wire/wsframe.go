package wire

import (
	"bytes"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"iter"
	"strconv"

	"github.com/gobwas/ws"
)

// WebSocket framing for an event-loop client: the upgrade request and
// response are built and parsed from byte buffers, and frames are parsed
// incrementally from whatever a non-blocking read returned, so a partial
// frame never blocks anything.

// MaxFrame bounds an inbound message; larger ones fail the client.
const MaxFrame = 16 << 20

// maxHandshake bounds the upgrade response header.
const maxHandshake = 16 << 10

var (
	errFrameTooLarge = errors.New("frame too large")
	errHandshake     = errors.New("bad upgrade response")
)

// wsGUID is RFC 6455's key suffix.
const wsGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// AppendUpgrade appends a WebSocket upgrade request. protocols is the
// Sec-WebSocket-Protocol value, extensions the Sec-WebSocket-Extensions
// value (DeflateOffer), each "" for none.
func AppendUpgrade(dst []byte, host, pathQuery, key, protocols, extensions string) []byte {
	dst = append(dst, "GET "...)
	dst = append(dst, pathQuery...)
	dst = append(dst, " HTTP/1.1\r\nHost: "...)
	dst = append(dst, host...)
	dst = append(dst, "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: "...)
	dst = append(dst, key...)
	if protocols != "" {
		dst = append(dst, "\r\nSec-WebSocket-Protocol: "...)
		dst = append(dst, protocols...)
	}
	if extensions != "" {
		dst = append(dst, "\r\nSec-WebSocket-Extensions: "...)
		dst = append(dst, extensions...)
	}
	return append(dst, "\r\n\r\n"...)
}

// AuthProtocols returns the Sec-WebSocket-Protocol value phoenix.js sends
// for an auth token (an extra subprotocol "base64url.bearer.phx." + the
// token): standard base64 without padding, despite the prefix's name.
func AuthProtocols(token string) string {
	return "phoenix, base64url.bearer.phx." + base64.RawStdEncoding.EncodeToString([]byte(token))
}

// acceptKey returns the Sec-WebSocket-Accept value expected for key.
func acceptKey(key string) string {
	h := sha1.Sum([]byte(key + wsGUID))
	return base64.StdEncoding.EncodeToString(h[:])
}

// ParseUpgrade parses an upgrade response from buf. It returns n == 0 while
// the header is incomplete, otherwise the header length and the HTTP
// status. A 101 whose Sec-WebSocket-Accept does not match key is an error.
func ParseUpgrade(buf []byte, key string) (n, status int, err error) {
	end := bytes.Index(buf, []byte("\r\n\r\n"))
	if end < 0 {
		if len(buf) > maxHandshake {
			return 0, 0, fmt.Errorf("%w: header longer than %d bytes", errHandshake, maxHandshake)
		}
		return 0, 0, nil
	}
	n = end + 4
	lines := bytes.Split(buf[:end], []byte("\r\n"))
	proto, rest, _ := bytes.Cut(lines[0], []byte(" "))
	code, _, _ := bytes.Cut(rest, []byte(" "))
	status, err = strconv.Atoi(string(code))
	if !bytes.HasPrefix(proto, []byte("HTTP/1.")) || err != nil {
		return n, 0, fmt.Errorf("%w: status line %q", errHandshake, lines[0])
	}
	if status != 101 {
		return n, status, nil
	}
	for val := range headerValues(buf[:end], "Sec-WebSocket-Accept") {
		if string(val) != acceptKey(key) {
			return n, status, fmt.Errorf("%w: wrong Sec-WebSocket-Accept", errHandshake)
		}
		return n, status, nil
	}
	return n, status, fmt.Errorf("%w: no Sec-WebSocket-Accept", errHandshake)
}

// headerValues yields the trimmed values of the header lines of head (a
// response header without its blank line) named name, in order.
func headerValues(head []byte, name string) iter.Seq[[]byte] {
	return func(yield func([]byte) bool) {
		for l := range bytes.SplitSeq(head, []byte("\r\n")) {
			n, val, ok := bytes.Cut(l, []byte(":"))
			if ok && bytes.EqualFold(bytes.TrimSpace(n), []byte(name)) && !yield(bytes.TrimSpace(val)) {
				return
			}
		}
	}
}

// FrameHeader is a parsed frame header.
type FrameHeader struct {
	Fin    bool
	Rsv    byte // RSV1..RSV3 as bits 2..0 (RSV1 = 4: a compressed message's first frame)
	Op     ws.OpCode
	Masked bool
	Mask   [4]byte
	Size   int // header bytes
	Length int // payload bytes
}

// ParseFrameHeader parses the header at the start of b. ok is false while
// b holds less than a whole header.
func ParseFrameHeader(b []byte) (h FrameHeader, ok bool, err error) {
	if len(b) < 2 {
		return h, false, nil
	}
	h.Fin = b[0]&0x80 != 0
	h.Rsv = b[0] >> 4 & 7
	h.Op = ws.OpCode(b[0] & 0x0f)
	h.Masked = b[1]&0x80 != 0
	h.Size = 2
	n := uint64(b[1] & 0x7f)
	switch n {
	case 126:
		h.Size += 2
	case 127:
		h.Size += 8
	}
	if h.Masked {
		h.Size += 4
	}
	if len(b) < h.Size {
		return h, false, nil
	}
	switch n {
	case 126:
		n = uint64(binary.BigEndian.Uint16(b[2:]))
	case 127:
		n = binary.BigEndian.Uint64(b[2:])
	}
	if n > MaxFrame {
		return h, false, fmt.Errorf("%w: %d bytes", errFrameTooLarge, n)
	}
	h.Length = int(n)
	if h.Masked {
		copy(h.Mask[:], b[h.Size-4:h.Size])
	}
	return h, true, nil
}

// RSV1 is FrameHeader.Rsv's bit for RSV1 (permessage-deflate's "compressed").
const RSV1 = 4

// AppendClientFrame appends one final, masked client frame.
func AppendClientFrame(dst []byte, op ws.OpCode, payload []byte, mask [4]byte) []byte {
	n := len(payload)
	dst = append(dst, 0x80|byte(op))
	switch {
	case n < 126:
		dst = append(dst, 0x80|byte(n))
	case n <= 0xffff:
		dst = append(dst, 0x80|126)
		dst = binary.BigEndian.AppendUint16(dst, uint16(n))
	default:
		dst = append(dst, 0x80|127)
		dst = binary.BigEndian.AppendUint64(dst, uint64(n))
	}
	dst = append(dst, mask[:]...)
	start := len(dst)
	dst = append(dst, payload...)
	ws.Cipher(dst[start:], mask, 0)
	return dst
}

// AppendServerFrame appends one final, unmasked server frame (used by the
// baseline's synthetic frame).
func AppendServerFrame(dst []byte, op ws.OpCode, payload []byte) []byte {
	h := ws.Header{Fin: true, OpCode: op, Length: int64(len(payload))}
	var buf bytes.Buffer
	buf.Grow(ws.HeaderSize(h))
	_ = ws.WriteHeader(&buf, h)
	return append(append(dst, buf.Bytes()...), payload...)
}
