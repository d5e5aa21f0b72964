package netpoll

import (
	"bytes"
	"net"
	"net/http"
	"net/netip"
	"strconv"

	"github.com/gobwas/ws"
	"golang.org/x/sys/unix"
)

// UpgradeHTTP upgrades a request received through net/http (hijacking it)
// and adopts the connection, for mounting inside an existing http.Server.
// The connection must be a plain TCP (or Unix) connection: TLS must be
// terminated in front of the server. The event loop takes the socket
// over: its fd is duplicated and the hijacked net.Conn closed, so the
// connection is one fd at rest; bytes net/http had buffered past the
// request are parsed as the first frames.
func (s *Server) UpgradeHTTP(w http.ResponseWriter, r *http.Request, up Upgrader) {
	if s.refuseHTTP(w, r) {
		return
	}
	resp := s.decide(up, requestFromHTTP(r))
	if !resp.upgrades() {
		writeRejection(w, &resp)
		return
	}
	deflate := false
	u := ws.HTTPUpgrader{Negotiate: s.negotiateDeflate(&deflate)}
	if resp.Protocol != "" {
		u.Header = http.Header{"Sec-WebSocket-Protocol": {resp.Protocol}}
	}
	conn, rw, _, err := u.Upgrade(r, w)
	if err != nil {
		s.log.Debug("netpoll: bad upgrade request", "remote", r.RemoteAddr, "err", err)
		if conn != nil {
			_ = conn.Close()
		}
		return
	}
	var rest []byte // frames the client sent along, already in net/http's buffer
	if n := rw.Reader.Buffered(); n > 0 {
		p, _ := rw.Reader.Peek(n)
		rest = bytes.Clone(p)
	}
	var tc *tlsConn
	if r.TLS != nil { // off crypto/tls, onto the loop's record layer
		hijacked := conn
		if conn, tc, rest, err = takeOverTLS(conn, rest); err != nil {
			s.log.Warn("netpoll: cannot take the TLS conn over", "remote", r.RemoteAddr, "err", err)
			_ = hijacked.Close()
			return
		}
	}
	if err := s.adopt(conn, resp.Handler, rest, deflate, tc); err != nil {
		s.log.Warn("netpoll: cannot adopt upgraded conn", "remote", r.RemoteAddr, "err", err)
		_ = conn.Close()
	}
}

// refuseHTTP answers the requests UpgradeHTTP must not take to the
// Upgrader, and reports whether it did.
func (s *Server) refuseHTTP(w http.ResponseWriter, r *http.Request) bool {
	switch {
	case s.draining.Load():
		http.Error(w, ErrServerClosed.Error(), http.StatusServiceUnavailable)
	case r.TLS != nil && !tlsAdoptable(r): // crypto/tls keeps its keys (tlslistener.go)
		http.Error(w, ErrTLSNotAdoptable.Error(), http.StatusInternalServerError)
	case s.used.Load() >= int64(s.cfg.MaxConns):
		http.Error(w, ErrTooManyConns.Error(), http.StatusServiceUnavailable)
	case !isUpgradeRequest(r):
		// gobwas answers exactly as it does for Serve (400/426).
		if conn, _, _, _ := (ws.HTTPUpgrader{}).Upgrade(r, w); conn != nil {
			_ = conn.Close()
		}
	default:
		return false
	}
	return true
}

// adopt takes an upgraded connection into the event loop. Its fd is
// duplicated and the hijacked net.Conn closed (takeFD), so at rest the
// connection is one fd, as one accepted by Serve.
func (s *Server) adopt(nc net.Conn, h Handler, rest []byte, deflate bool, tc *tlsConn) error {
	peer := peerFromNetAddr(nc.RemoteAddr())
	fd, err := takeFD(nc)
	if err != nil {
		return err
	}
	c := s.newConn(fd, peer)
	c.setFlag(fDeflate, deflate)
	c.tls = tc
	c.h = h
	if len(rest) > 0 {
		c.hs = &handshake{pending: rest}
	}
	c.lastRead.Store(s.clock())
	c.state.Store(stOpen)
	if !s.takeSlot() {
		_ = unix.Close(fd)
		return ErrTooManyConns
	}
	if err := s.register(c); err != nil {
		s.putSlot()
		_ = unix.Close(fd)
		return err
	}
	s.schedule(c, bRead)
	return nil
}

func isUpgradeRequest(r *http.Request) bool {
	if r.Method != http.MethodGet {
		return false
	}
	for _, v := range r.Header.Values("Upgrade") {
		if hasToken([]byte(v), "websocket") {
			return true
		}
	}
	return false
}

// requestFromHTTP is the UpgradeRequest of a net/http request.
func requestFromHTTP(r *http.Request) *UpgradeRequest {
	req := &UpgradeRequest{Host: r.Host, Path: r.URL.Path, RawQuery: r.URL.RawQuery,
		Header: r.Header.Clone()}
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		req.RemoteAddr = net.TCPAddrFromAddrPort(ap)
	}
	for _, v := range r.Header.Values("Sec-Websocket-Protocol") {
		req.Protocols = appendProtocols(req.Protocols, v)
	}
	return req
}

// writeRejection answers a refused UpgradeHTTP through net/http, with the
// body and headers as given (no sniffed Content-Type).
func writeRejection(w http.ResponseWriter, resp *UpgradeResponse) {
	h := w.Header()
	for k, v := range resp.Header {
		h[k] = v
	}
	if _, ok := h["Content-Type"]; !ok {
		h["Content-Type"] = nil
	}
	h.Set("Content-Length", strconv.Itoa(len(resp.Body)))
	w.WriteHeader(resp.Status)
	_, _ = w.Write(resp.Body)
}
