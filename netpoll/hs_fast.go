package netpoll

import (
	"bytes"
	"crypto/sha1"
	"encoding/base64"
	"net/http"
	"strings"
)

// The fast handshake: a request head of the usual shape (what browsers,
// phoenix.js and phxbench send) is parsed in one pass over the head, with
// a handful of allocations: one string holds the path and query, one the
// header lines (every key and value of Header is a substring of it, or a
// constant for the common keys a client spells in another case), one
// backing array holds Header's values, and the 101 is built at its exact
// size. A head of any other shape (anything gobwas could reject, answer
// differently, or that needs deflate negotiation) takes the general path
// (upgradeSlow: gobwas's Upgrader), so the fast path changes no answer:
// hs_fast_test.go checks both paths agree on every head of its corpus and
// fuzzer.
//
// The price of sharing one string: a header value kept for the life of a
// connection pins every header line (an application that keeps values
// should clone them, as phx's KeepHeaders should), and a query parameter
// kept pins the request target, as before.

// wsAcceptGUID is RFC 6455's suffix of the Sec-WebSocket-Key.
const wsAcceptGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// resp101Head starts every 101; it is the same text gobwas writes.
const resp101Head = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n" +
	"Connection: Upgrade\r\nSec-WebSocket-Accept: "

// fastSeen bits: the headers a WebSocket request must carry once.
const (
	seenHost = 1 << iota
	seenUpgrade
	seenConnection
	seenVersion
	seenKey
	seenAll = seenHost | seenUpgrade | seenConnection | seenVersion | seenKey
)

// commonKeys maps the canonical form of headers that clients usually
// spell otherwise to a constant, so that such a key costs no allocation.
var commonKeys = func() map[string]string {
	m := map[string]string{}
	for _, k := range []string{"Host", "Sec-Websocket-Key", "Sec-Websocket-Version",
		"Sec-Websocket-Extensions", "Sec-Websocket-Protocol", "User-Agent", "Origin",
		"Connection", "Upgrade", "Pragma", "Cache-Control", "Accept-Encoding",
		"Accept-Language", "Cookie", "Authorization", "X-Forwarded-For",
		"X-Forwarded-Proto", "X-Real-Ip", "Referer", "Accept"} {
		m[k] = k
	}
	return m
}()

// parseFastHead parses head (request line, headers, blank line) when it
// has the usual shape; ok is false otherwise, and the caller takes the
// general path. key is the Sec-WebSocket-Key. deflate: extension offers
// must be negotiated, which only the general path does.
func parseFastHead(head []byte, deflate bool) (req *UpgradeRequest, key string, ok bool) {
	line, rest, ok := cutCRLF(head)
	if !ok {
		return nil, "", false
	}
	uri, ok := fastRequestLine(line)
	if !ok {
		return nil, "", false
	}
	// Count and vet the header lines before any allocation.
	n := 0
	for r := rest; ; n++ {
		var l []byte
		if l, r, ok = cutCRLF(r); !ok {
			return nil, "", false
		}
		if len(l) == 0 {
			if len(r) != 0 {
				return nil, "", false // head must end at its blank line
			}
			break
		}
		if !fastHeaderLine(l) {
			return nil, "", false
		}
	}
	req = &UpgradeRequest{}
	target := string(uri)
	req.Path, req.RawQuery, _ = strings.Cut(target, "?")
	if n > 1 {
		req.Header = make(http.Header, n-1) // Host is not in Header
	} else {
		req.Header = make(http.Header)
	}
	hdr := string(rest) // every key and value below is a substring
	vals := make([]string, n)
	seen := 0
	for len(hdr) > 2 {
		i := strings.IndexByte(hdr, '\n')
		l := hdr[:i-1]
		hdr = hdr[i+1:]
		colon := strings.IndexByte(l, ':')
		k, v := canonicalKey(l[:colon]), trimOWS(l[colon+1:])
		bit := 0
		switch k {
		case "Host":
			bit = seenHost
			req.Host = v
		case "Upgrade":
			bit = seenUpgrade
			ok = strings.EqualFold(v, "websocket")
		case "Connection":
			bit = seenConnection
			ok = connectionUpgrade(v)
		case "Sec-Websocket-Version":
			bit = seenVersion
			ok = v == "13"
		case "Sec-Websocket-Key":
			bit, key = seenKey, v
			ok = len(v) == 24
		case "Sec-Websocket-Protocol":
			req.Protocols = appendProtocols(req.Protocols, v)
		case "Sec-Websocket-Extensions":
			ok = !deflate
		}
		if !ok || seen&bit != 0 {
			return nil, "", false // gobwas decides (or repeats are involved)
		}
		seen |= bit
		if bit == seenHost {
			continue
		}
		if old, dup := req.Header[k]; dup {
			req.Header[k] = append(old, v)
			continue
		}
		vals[0] = v
		req.Header[k] = vals[:1:1]
		vals = vals[1:]
	}
	if seen != seenAll {
		return nil, "", false
	}
	return req, key, true
}

// cutCRLF cuts b at its first CRLF; a bare LF is not the usual shape.
func cutCRLF(b []byte) (line, rest []byte, ok bool) {
	i := bytes.IndexByte(b, '\n')
	if i < 1 || b[i-1] != '\r' {
		return nil, nil, false
	}
	return b[:i-1], b[i+1:], true
}

// fastRequestLine accepts "GET <target> HTTP/1.1" whose target is an
// origin-form path and query of printable ASCII, with no percent escapes
// in the path (so Path needs no unescaping; the query is kept raw); it
// returns the target.
func fastRequestLine(l []byte) ([]byte, bool) {
	const pre, post = "GET ", " HTTP/1.1"
	if len(l) < len(pre)+1+len(post) || string(l[:len(pre)]) != pre ||
		string(l[len(l)-len(post):]) != post {
		return nil, false
	}
	uri := l[len(pre) : len(l)-len(post)]
	if uri[0] != '/' {
		return nil, false
	}
	inPath := true
	for _, c := range uri {
		if c <= ' ' || c >= 0x7f || (c == '%' && inPath) {
			return nil, false
		}
		inPath = inPath && c != '?'
	}
	return uri, true
}

// fastHeaderLine accepts "<token>:<value>" whose value is printable ASCII
// or tabs.
func fastHeaderLine(l []byte) bool {
	i := 0
	for i < len(l) && byteClass[l[i]]&classToken != 0 {
		i++
	}
	if i == 0 || i == len(l) || l[i] != ':' {
		return false
	}
	for _, c := range l[i+1:] {
		if byteClass[c]&classValue == 0 {
			return false
		}
	}
	return true
}

// byteClass classes: a token character (RFC 9110 §5.6.2), a character a
// value of the usual shape may hold (printable ASCII and tab).
const (
	classToken = 1 << iota
	classValue
)

var byteClass = func() (t [256]uint8) {
	for c := range 256 {
		if c >= ' ' && c < 0x7f || c == '\t' {
			t[c] |= classValue
		}
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			strings.IndexByte("!#$%&'*+-.^_`|~", byte(c)) >= 0 {
			t[c] |= classToken
		}
	}
	return t
}()

// isTokenByte reports an HTTP token character.
func isTokenByte(c byte) bool { return byteClass[c]&classToken != 0 }

// canonicalKey is k in net/http's canonical form: k itself when it is
// already, a constant for a common key, else a new string.
func canonicalKey(k string) string {
	upper, canon := true, true
	for i := 0; i < len(k) && canon; i++ {
		c := k[i]
		canon = !(upper && 'a' <= c && c <= 'z') && !(!upper && 'A' <= c && c <= 'Z')
		upper = c == '-'
	}
	if canon {
		return k
	}
	var buf [64]byte
	if len(k) > len(buf) {
		return http.CanonicalHeaderKey(k)
	}
	b := buf[:len(k)]
	upper = true
	for i := 0; i < len(k); i++ {
		c := k[i]
		switch {
		case upper && 'a' <= c && c <= 'z':
			c -= 'a' - 'A'
		case !upper && 'A' <= c && c <= 'Z':
			c += 'a' - 'A'
		}
		b[i] = c
		upper = c == '-'
	}
	if s, ok := commonKeys[string(b)]; ok {
		return s
	}
	return string(b)
}

// trimOWS trims spaces and tabs, as gobwas does.
func trimOWS(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}

// connectionUpgrade accepts a Connection value that is a list of plain
// tokens, one of them "upgrade" in any case ("Upgrade", "keep-alive,
// Upgrade").
func connectionUpgrade(v string) bool {
	found := false
	for t := range strings.SplitSeq(v, ",") {
		t = trimOWS(t)
		if t == "" {
			return false
		}
		for i := 0; i < len(t); i++ {
			if !isTokenByte(t[i]) {
				return false
			}
		}
		found = found || strings.EqualFold(t, "upgrade")
	}
	return found
}

// append101 appends the 101 for key, naming protocol unless it is "".
func append101(dst []byte, key, protocol string) []byte {
	var in [24 + len(wsAcceptGUID)]byte
	copy(in[copy(in[:], key):], wsAcceptGUID)
	sum := sha1.Sum(in[:])
	var acc [28]byte
	base64.StdEncoding.Encode(acc[:], sum[:])
	dst = append(dst, resp101Head...)
	dst = append(dst, acc[:]...)
	dst = append(dst, "\r\n"...)
	if protocol != "" {
		dst = append(dst, "Sec-WebSocket-Protocol: "...)
		dst = append(dst, protocol...)
		dst = append(dst, "\r\n"...)
	}
	return append(dst, "\r\n"...)
}

// len101 is the length of append101's answer.
func len101(protocol string) int {
	n := len(resp101Head) + 28 + 2 + 2
	if protocol != "" {
		n += len("Sec-WebSocket-Protocol: ") + len(protocol) + 2
	}
	return n
}
