package wire

import (
	"bytes"
	"strconv"
)

// The client side of the wire format lives in the serializer package
// (EncodeClient, DecodeServer); this file keeps what only phxbench needs:
// numeric refs and delivery stamps.

// ParseRef reads a ref this client sent ("123") back as a number.
func ParseRef(raw []byte) (uint64, bool) {
	if len(raw) >= 2 && raw[0] == '"' && raw[len(raw)-1] == '"' {
		raw = raw[1 : len(raw)-1]
	}
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

// AppendRef appends ref n as a raw JSON string, as phoenix.js sends it.
func AppendRef(dst []byte, n uint64) []byte {
	dst = append(dst, '"')
	dst = strconv.AppendUint(dst, n, 10)
	return append(dst, '"')
}

// Stamps let a receiver measure delivery latency and count deliveries: the
// {{stamp}} placeholder in a push payload becomes ~pb~<unix ns>~, which the
// server passes through (new_msg's body) into every broadcast copy.
const stampMark = "~pb~"

// AppendStamp appends the stamp for send time ns.
func AppendStamp(dst []byte, ns int64) []byte {
	dst = append(dst, stampMark...)
	dst = strconv.AppendInt(dst, ns, 10)
	return append(dst, '~')
}

// FindStamp returns the send time carried by a stamp in p.
func FindStamp(p []byte) (int64, bool) {
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
