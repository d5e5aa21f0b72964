package main

import (
	"bytes"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"

	"github.com/gobwas/ws"
)

// WebSocket framing for an event-loop client: the upgrade request and
// response are built and parsed from byte buffers, and frames are parsed
// incrementally from whatever a non-blocking read returned, so a partial
// frame never blocks anything.

// maxFrame bounds an inbound message; larger ones fail the client.
const maxFrame = 16 << 20

// maxHandshake bounds the upgrade response header.
const maxHandshake = 16 << 10

var (
	errFrameTooLarge = errors.New("frame too large")
	errHandshake     = errors.New("bad upgrade response")
)

// wsGUID is RFC 6455's key suffix.
const wsGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// appendUpgrade appends a WebSocket upgrade request. protocols is the
// Sec-WebSocket-Protocol value, or "" for none.
func appendUpgrade(dst []byte, host, pathQuery, key, protocols string) []byte {
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
	return append(dst, "\r\n\r\n"...)
}

// authProtocols returns the Sec-WebSocket-Protocol value phoenix.js sends
// for an auth token (an extra subprotocol "base64url.bearer.phx." + the
// token): standard base64 without padding, despite the prefix's name.
func authProtocols(token string) string {
	return "phoenix, base64url.bearer.phx." + base64.RawStdEncoding.EncodeToString([]byte(token))
}

// acceptKey returns the Sec-WebSocket-Accept value expected for key.
func acceptKey(key string) string {
	h := sha1.Sum([]byte(key + wsGUID))
	return base64.StdEncoding.EncodeToString(h[:])
}

// parseUpgrade parses an upgrade response from buf. It returns n == 0 while
// the header is incomplete, otherwise the header length and the HTTP
// status. A 101 whose Sec-WebSocket-Accept does not match key is an error.
func parseUpgrade(buf []byte, key string) (n, status int, err error) {
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
	want := acceptKey(key)
	for _, l := range lines[1:] {
		name, val, ok := bytes.Cut(l, []byte(":"))
		if ok && bytes.EqualFold(bytes.TrimSpace(name), []byte("Sec-WebSocket-Accept")) {
			if string(bytes.TrimSpace(val)) != want {
				return n, status, fmt.Errorf("%w: wrong Sec-WebSocket-Accept", errHandshake)
			}
			return n, status, nil
		}
	}
	return n, status, fmt.Errorf("%w: no Sec-WebSocket-Accept", errHandshake)
}

// frameHeader is a parsed frame header.
type frameHeader struct {
	fin    bool
	op     ws.OpCode
	masked bool
	mask   [4]byte
	size   int // header bytes
	length int // payload bytes
}

// parseFrameHeader parses the header at the start of b. ok is false while
// b holds less than a whole header.
func parseFrameHeader(b []byte) (h frameHeader, ok bool, err error) {
	if len(b) < 2 {
		return h, false, nil
	}
	h.fin = b[0]&0x80 != 0
	h.op = ws.OpCode(b[0] & 0x0f)
	h.masked = b[1]&0x80 != 0
	h.size = 2
	n := uint64(b[1] & 0x7f)
	switch n {
	case 126:
		h.size += 2
	case 127:
		h.size += 8
	}
	if h.masked {
		h.size += 4
	}
	if len(b) < h.size {
		return h, false, nil
	}
	switch n {
	case 126:
		n = uint64(binary.BigEndian.Uint16(b[2:]))
	case 127:
		n = binary.BigEndian.Uint64(b[2:])
	}
	if n > maxFrame {
		return h, false, fmt.Errorf("%w: %d bytes", errFrameTooLarge, n)
	}
	h.length = int(n)
	if h.masked {
		copy(h.mask[:], b[h.size-4:h.size])
	}
	return h, true, nil
}

// appendClientFrame appends one final, masked client frame.
func appendClientFrame(dst []byte, op ws.OpCode, payload []byte, mask [4]byte) []byte {
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

// appendServerFrame appends one final, unmasked server frame (used by the
// baseline's synthetic frame).
func appendServerFrame(dst []byte, op ws.OpCode, payload []byte) []byte {
	h := ws.Header{Fin: true, OpCode: op, Length: int64(len(payload))}
	var buf bytes.Buffer
	buf.Grow(ws.HeaderSize(h))
	_ = ws.WriteHeader(&buf, h)
	return append(append(dst, buf.Bytes()...), payload...)
}
