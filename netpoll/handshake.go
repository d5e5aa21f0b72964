package netpoll

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/textproto"
	"net/url"
	"strconv"
	"strings"

	"github.com/gobwas/ws"
	"golang.org/x/sys/unix"
)

// handshake is the state a connection needs only until it is open. A new
// connection points to its listener's shared, never written serveCtx.fresh;
// one whose head comes in more than one read gets its own, and an open
// one has one only while the frames that followed its head wait.
type handshake struct {
	sv      *serveCtx // nil for connections adopted by UpgradeHTTP
	head    []byte    // request head read so far (own handshake only)
	pending []byte    // bytes that followed the head: the first frames
}

// errRejected makes gobwas stop before writing a 101; the response we
// write instead is the application's.
var errRejected = errors.New("netpoll: upgrade rejected")

// readHead is the read task before the upgrade: it accumulates the request
// head without ever waiting for it (slowloris heads cost their bytes only;
// the sweep enforces HandshakeTimeout).
func (w *worker) readHead(c *Conn) {
	n, p, short, err := w.input(c) // p: n bytes read, or their TLS plaintext
	if len(p) > 0 {
		w.gotHead(c, p)
	}
	switch {
	case n > 0 && err == nil:
		// Not drained (tiny TLS records fill the buffer with little
		// plaintext), or the EOF of a half-close behind the bytes: no
		// new edge will say so, read on later, in the head or, when
		// these bytes upgraded it, as frames (after the 101 and
		// OnOpen). Otherwise what comes next raises an edge of its own.
		if !short || c.peerFIN {
			switch c.state.Load() {
			case stHandshake, stOpen, stClosing:
				c.s.schedule(c, bRead)
			}
		}
	case err == unix.EAGAIN || err == unix.EINTR:
	default:
		w.eof(c, err)
	}
}

func (w *worker) gotHead(c *Conn, p []byte) {
	data, end, tooBig := c.gatherHead(p)
	hs := c.hs
	sv := hs.sv
	switch {
	case tooBig:
		c.hs = nil
		c.respond(rejection(&UpgradeResponse{Status: http.StatusRequestHeaderFieldsTooLarge}))
		return
	case end < 0:
		return // wait for more
	}
	head, rest := data[:end:end], data[end:]
	c.hs = nil // becomeOpen sets it again when frames followed the head
	if !c.transition(stHandshake, stUpgrading) {
		return
	}
	c.s.clearDeadline(c)
	if !isWebSocketHead(head) {
		if hs.head == nil { // in the worker's buffer
			data = bytes.Clone(data)
		}
		w.handOff(c, sv, data)
		return
	}
	c.s.upgrade(c, sv.up, head, rest)
}

// gatherHead adds p, one read's bytes, to the head gathered so far. data
// is the head with what followed it, end the head's end (-1 while it has
// not come), tooBig whether the head is past maxHeadBytes (or cannot end
// within it).
func (c *Conn) gatherHead(p []byte) (data []byte, end int, tooBig bool) {
	hs := c.hs
	end = -1
	if len(hs.head) == 0 {
		// The usual case: the whole head came in one read. It is parsed
		// where it lies, in the worker's buffer: what outlives this task
		// (the strings of the request, the bytes after the head, a head
		// handed to net/http) is copied out of it.
		if end = headEnd(p, 0); end >= 0 || len(p) > maxHeadBytes {
			data = p
		}
	}
	if data == nil {
		if hs == hs.sv.fresh { // shared by every new connection: make our own
			hs = &handshake{sv: hs.sv}
			c.hs = hs
		}
		from := max(0, len(hs.head)-3)
		hs.head = append(hs.head, p...)
		end = headEnd(hs.head, from)
		data = hs.head
	}
	return data, end, end > maxHeadBytes || end < 0 && len(data) > maxHeadBytes
}

// transition moves c from one state to another, unless something (a drop)
// moved it first.
func (c *Conn) transition(from, to uint32) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state.Load() != from {
		return false
	}
	c.state.Store(to)
	return true
}

// headEnd returns the end of the request head (after its blank line) or
// -1, searching from "from"; bare LF line ends are accepted as net/http does.
func headEnd(b []byte, from int) int {
	end := -1
	if i := bytes.Index(b[from:], []byte("\n\r\n")); i >= 0 {
		end = from + i + 3
	}
	if i := bytes.Index(b[from:], []byte("\n\n")); i >= 0 && (end < 0 || from+i+2 < end) {
		end = from + i + 2
	}
	return end
}

// isWebSocketHead reports a GET whose Upgrade header has the token
// "websocket" (case-insensitive). Everything else goes to net/http.
func isWebSocketHead(head []byte) bool {
	line, rest, _ := bytes.Cut(head, []byte("\n"))
	if !bytes.HasPrefix(line, []byte("GET ")) {
		return false
	}
	for len(rest) > 0 {
		line, rest, _ = bytes.Cut(rest, []byte("\n"))
		k, v, ok := bytes.Cut(line, []byte(":"))
		if ok && bytes.EqualFold(bytes.TrimSpace(k), []byte("Upgrade")) && hasToken(v, "websocket") {
			return true
		}
	}
	return false
}

// hasToken reports whether the comma-separated list v holds tok.
func hasToken(v []byte, tok string) bool {
	for len(v) > 0 {
		var t []byte
		t, v, _ = bytes.Cut(v, []byte(","))
		if bytes.EqualFold(bytes.TrimSpace(t), []byte(tok)) {
			return true
		}
	}
	return false
}

// handOff gives a plain HTTP connection to net/http. It leaves epoll
// first; the fd, non-blocking and never dup'ed, becomes an *os.File that
// Go's poller serves (fdConn), with the bytes read so far replayed.
func (w *worker) handOff(c *Conn, sv *serveCtx, data []byte) {
	if !c.transition(stUpgrading, stHandedOff) {
		return
	}
	c.s.lp.del(c)
	c.finalized = true
	c.s.reg.remove(c) // the slot stays: the httpConn gives it back on Close
	c.s.stats.handedOff.Add(1)
	hc := c.s.http.add(&httpConn{replayConn: replayConn{Conn: c.netConn(), buf: data},
		s: c.s, peer: c.peer, ipCounted: c.ipCounted})
	if !sv.shim.deliver(hc) {
		_ = hc.Close()
	}
}

// upgrade runs inline in the connection's read task, on the worker (an
// Upgrader that blocks is covered by the watchdog): a head of the usual
// shape is parsed in one pass (hs_fast.go), any other by gobwas, whose
// hooks collect the UpgradeRequest and whose OnBeforeUpgrade asks the
// Upgrader.
func (s *Server) upgrade(c *Conn, up Upgrader, head, rest []byte) {
	req, key, ok := parseFastHead(head, s.cfg.Deflate.Enabled)
	if !ok {
		s.upgradeSlow(c, up, head, rest)
		return
	}
	req.RemoteAddr = c.RemoteAddr()
	resp := s.decide(up, req)
	switch {
	case !resp.upgrades():
		c.respond(rejection(&resp))
	case s.draining.Load():
		c.respond(rejection(&UpgradeResponse{Status: http.StatusServiceUnavailable}))
	default:
		b := append101(make([]byte, 0, len101(resp.Protocol)), key, resp.Protocol)
		s.becomeOpen(c, resp.Handler, b, rest)
	}
}

// upgradeSlow is upgrade for a head of an unusual shape (hs_fast.go): gobwas
// parses and validates it and writes its answers.
func (s *Server) upgradeSlow(c *Conn, up Upgrader, head, rest []byte) {
	r := s.gobwasUpgrade(up, c.RemoteAddr(), head)
	switch {
	case r.decided && !r.resp.upgrades():
		c.respond(rejection(&r.resp))
	case r.err != nil:
		s.log.Debug("netpoll: bad upgrade request", "remote", c.RemoteAddr(), "err", r.err)
		c.respond(r.out)
	case s.draining.Load():
		c.respond(rejection(&UpgradeResponse{Status: http.StatusServiceUnavailable}))
	default:
		c.setFlag(fDeflate, r.deflate)
		s.becomeOpen(c, r.resp.Handler, r.out, rest)
	}
}

// gobwasResult is what gobwas made of a request head.
type gobwasResult struct {
	req     *UpgradeRequest
	resp    UpgradeResponse // the Upgrader's answer, when decided
	decided bool            // the Upgrader was asked
	deflate bool            // permessage-deflate was accepted
	out     []byte          // gobwas's answer: the 101, or its error response
	err     error
}

// gobwasUpgrade has gobwas parse and check head; its hooks collect the
// UpgradeRequest, and OnBeforeUpgrade asks up.
func (s *Server) gobwasUpgrade(up Upgrader, remote net.Addr, head []byte) (r gobwasResult) {
	req := &UpgradeRequest{RemoteAddr: remote, Header: make(http.Header)}
	r.req = req
	u := ws.Upgrader{
		Negotiate:      s.negotiateDeflate(&r.deflate),
		OnRequest:      req.setURI,
		OnHost:         func(h []byte) error { req.Host = string(h); return nil },
		OnHeader:       func(k, v []byte) error { req.Header.Add(string(k), string(v)); return nil },
		ProtocolCustom: func(v []byte) (string, bool) { req.addProtocols(string(v)); return "", true },
		OnBeforeUpgrade: func() (ws.HandshakeHeader, error) {
			addConsumedHeaders(req.Header, head)
			r.resp, r.decided = s.decide(up, req), true
			return answerHeader(&r.resp)
		},
	}
	var out bytes.Buffer
	_, r.err = u.Upgrade(struct {
		io.Reader
		io.Writer
	}{bytes.NewReader(head), &out})
	r.out = out.Bytes()
	return r
}

// decide asks up and turns an unusable answer into a 500.
func (s *Server) decide(up Upgrader, req *UpgradeRequest) UpgradeResponse {
	resp := up.HandleUpgrade(req)
	var problem string
	switch {
	case resp.upgrades() && resp.Handler == nil:
		problem = "no Handler"
	case resp.upgrades() && !validToken(resp.Protocol):
		problem = "invalid Protocol"
	case !resp.upgrades() && (resp.Status < 200 || resp.Status > 999):
		problem = "invalid Status"
	default:
		return resp
	}
	s.log.Error("netpoll: Upgrader answered "+problem, "remote", req.RemoteAddr, "status", resp.Status)
	return UpgradeResponse{Status: http.StatusInternalServerError}
}

// answerHeader adds only the chosen subprotocol to the 101.
func answerHeader(resp *UpgradeResponse) (ws.HandshakeHeader, error) {
	if !resp.upgrades() {
		return nil, errRejected
	}
	if resp.Protocol == "" {
		return nil, nil
	}
	return ws.HandshakeHeaderString("Sec-WebSocket-Protocol: " + resp.Protocol + "\r\n"), nil
}

// becomeOpen queues the 101 and lets the connection's task open it (write
// the 101, OnOpen, then the pending bytes as frames). It runs in the read
// task that completed the head.
func (s *Server) becomeOpen(c *Conn, h Handler, resp101, rest []byte) {
	c.mu.Lock()
	if c.state.Load() != stUpgrading {
		c.mu.Unlock()
		return
	}
	c.h = h
	if len(rest) > 0 { // the first frames: a copy, the head may be the worker's buffer
		c.hs = &handshake{pending: bytes.Clone(rest)}
	}
	c.lastRead.Store(s.clock())
	c.state.Store(stOpen)
	c.enqueueLocked(opRaw, resp101, len(resp101))
	c.mu.Unlock()
	// The read that brought the head drained the socket unless readHead
	// says otherwise (it schedules the read then): only the bytes that
	// followed the head need a read task, not another read(2).
	bits := bFlush
	if c.hs != nil {
		bits |= bRead
	}
	s.schedule(c, bits)
}

// respond answers the request head with an HTTP response, then lingers:
// FIN once written, read until the peer closes (or CloseTimeout), so no
// reset destroys the response.
func (c *Conn) respond(b []byte) {
	c.mu.Lock()
	if st := c.state.Load(); st != stHandshake && st != stUpgrading {
		c.mu.Unlock()
		return
	}
	c.state.Store(stLinger)
	c.s.setDeadline(c, dlClose)
	c.lingerAfterFlush = true
	run := c.enqueueLocked(opRaw, b, len(b))
	c.mu.Unlock()
	if run {
		c.s.schedule(c, bFlush)
	}
}

// rejection is the HTTP/1.1 response for a refused upgrade, written by us
// so that the status, headers and body are exactly the application's
// (gobwas's error writer forces text/plain).
func rejection(resp *UpgradeResponse) []byte {
	var b bytes.Buffer
	text := http.StatusText(resp.Status)
	if text == "" {
		text = "Status " + strconv.Itoa(resp.Status)
	}
	fmt.Fprintf(&b, "HTTP/1.1 %03d %s\r\n", resp.Status, text)
	h := resp.Header.Clone()
	for _, k := range []string{"Content-Length", "Connection", "Transfer-Encoding"} {
		h.Del(k)
	}
	_ = h.Write(&b)
	fmt.Fprintf(&b, "Content-Length: %d\r\nConnection: close\r\n\r\n", len(resp.Body))
	b.Write(resp.Body)
	return b.Bytes()
}

// setURI fills Path and RawQuery from the request target.
func (r *UpgradeRequest) setURI(uri []byte) error {
	u, err := url.ParseRequestURI(string(uri))
	if err != nil {
		return ws.RejectConnectionError(ws.RejectionStatus(http.StatusBadRequest),
			ws.RejectionReason("bad request target"))
	}
	r.Path, r.RawQuery = u.Path, u.RawQuery
	return nil
}

// addProtocols records one Sec-WebSocket-Protocol header value.
func (r *UpgradeRequest) addProtocols(v string) {
	r.Header.Add("Sec-Websocket-Protocol", v)
	r.Protocols = appendProtocols(r.Protocols, v)
}

// appendProtocols appends the comma-separated, trimmed values of one
// Sec-WebSocket-Protocol header.
func appendProtocols(dst []string, v string) []string {
	for p := range strings.SplitSeq(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			dst = append(dst, p)
		}
	}
	return dst
}

// addConsumedHeaders adds the headers gobwas checks itself and does not
// pass to OnHeader, so Header holds every request header as net/http's
// would.
func addConsumedHeaders(h http.Header, head []byte) {
	_, rest, _ := bytes.Cut(head, []byte("\n"))
	for len(rest) > 0 {
		var line []byte
		line, rest, _ = bytes.Cut(rest, []byte("\n"))
		k, v, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue
		}
		switch key := textproto.CanonicalMIMEHeaderKey(string(bytes.TrimSpace(k))); key {
		case "Upgrade", "Connection", "Sec-Websocket-Key", "Sec-Websocket-Version",
			"Sec-Websocket-Extensions":
			h.Add(key, string(bytes.TrimSpace(v)))
		}
	}
}

// validToken reports an HTTP token (RFC 9110 §5.6.2): no separators, no
// CR/LF that could split the response.
func validToken(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return true
}
