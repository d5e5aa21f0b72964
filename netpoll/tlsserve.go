package netpoll

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// DefaultMaxTLSHandshakes is MaxTLSHandshakes when Config leaves it 0.
const DefaultMaxTLSHandshakes = 256

// tlsServe is the TLS side of one ServeTLS listener.
type tlsServe struct {
	cfg      *tls.Config // shared by the listener's handshakes; its KeyLogWriter is router
	router   *keyRouter
	max      int64
	inflight atomic.Int64
	ok       atomic.Int64
	failed   atomic.Int64
	refused  atomic.Int64
}

// TLSStats counts the TLS handshakes of ServeTLS listeners.
type TLSStats struct {
	Handshakes int64 // completed: the connection went on to the event loop
	Failed     int64 // failed or timed out (HandshakeTimeout)
	Refused    int64 // closed at accept: MaxTLSHandshakes were in progress
	InProgress int64 // handshakes running now (≤ MaxTLSHandshakes per listener)
}

// TLSStats sums the TLS counters of every ServeTLS listener.
func (s *Server) TLSStats() TLSStats {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var st TLSStats
	for _, sv := range s.serves {
		if t := sv.tls; t != nil {
			st.Handshakes += t.ok.Load()
			st.Failed += t.failed.Load()
			st.Refused += t.refused.Load()
			st.InProgress += t.inflight.Load()
		}
	}
	return st
}

// ServeTLS is Serve over TLS: https and wss on the same listener. Each
// accepted connection's handshake runs on a short-lived goroutine of its
// own (crypto/tls cannot resume a handshake that would block), at most
// MaxTLSHandshakes at once per listener (over it the connection is
// closed at accept) and within HandshakeTimeout; then the connection
// joins the event loop, which reads and writes the TLS records itself
// (the request head is then read within another HandshakeTimeout, as
// without TLS). After the handshake no goroutine and no buffer is held
// for an idle connection: only its keys.
//
// cfg is cloned once (the listener's handshakes share the clone, so
// session tickets resume). Within what cfg allows (its MinVersion,
// MaxVersion and CipherSuites are kept), the clone accepts TLS 1.3
// (AES-128-GCM, AES-256-GCM, ChaCha20-Poly1305) and TLS 1.2 with ECDHE
// and AES-GCM or ChaCha20-Poly1305 only (no CBC, no RSA key exchange, no
// renegotiation; TLS 1.2 sessions are not resumed: crypto/tls logs no
// keys for them); a cfg that allows none of these is an error. It offers
// only http/1.1 by ALPN. Plain HTTP requests are handed to net/http over
// a net.Conn that speaks the same record layer (their Request.TLS gives
// the handshake's version, suite, SNI and ALPN).
func (s *Server) ServeTLS(ln net.Listener, cfg *tls.Config, up Upgrader, fallback http.Handler) error {
	if cfg == nil || (len(cfg.Certificates) == 0 && cfg.GetCertificate == nil &&
		cfg.GetConfigForClient == nil) {
		return errors.New("netpoll: ServeTLS needs a tls.Config with a certificate")
	}
	c := cfg.Clone()
	if err := loopVersions(c); err != nil {
		return err
	}
	c.NextProtos = []string{"http/1.1"}
	max := int64(s.cfg.MaxTLSHandshakes)
	if max <= 0 {
		max = DefaultMaxTLSHandshakes
	}
	c, kr := newKeyRouter(c)
	return s.serve(ln, up, fallback, &tlsServe{cfg: c, router: kr, max: max})
}

// loopVersions narrows c to what the loop's record layer carries,
// keeping the application's own restrictions: TLS 1.2 at least (a
// higher MinVersion and a MaxVersion stay), and for TLS 1.2 only ECDHE
// with an AEAD, among the suites c allows if it names them (when none
// of them is one, TLS 1.2 is off). TLS 1.3's suites are all carried.
// A config that leaves no version the loop carries is an error.
func loopVersions(c *tls.Config) error {
	c.MinVersion = max(c.MinVersion, tls.VersionTLS12)
	suites := suites12
	if len(c.CipherSuites) > 0 {
		suites = nil
		for _, id := range c.CipherSuites {
			if _, ok := suite12For(id); ok {
				suites = append(suites, id)
			}
		}
		if len(suites) == 0 {
			c.MinVersion = max(c.MinVersion, tls.VersionTLS13)
			suites = suites12 // unused: TLS 1.2 is off
		}
	}
	c.CipherSuites = suites
	if c.MaxVersion != 0 && c.MaxVersion < c.MinVersion {
		return errors.New("netpoll: ServeTLS needs TLS 1.3, or TLS 1.2 with ECDHE and AES-GCM or ChaCha20-Poly1305: the tls.Config allows neither")
	}
	return nil
}

// startTLS runs the handshake of an accepted connection (its slot taken,
// not registered yet) on a goroutine of its own, or closes it when
// MaxTLSHandshakes are in progress.
func (s *Server) startTLS(c *Conn, sv *serveCtx) {
	t := sv.tls
	if t.inflight.Add(1) > t.max {
		t.inflight.Add(-1)
		t.refused.Add(1)
		s.closeAccepted(c)
		return
	}
	if !s.goStart() {
		t.inflight.Add(-1)
		s.closeAccepted(c)
		return
	}
	go s.tlsHandshake(c, t)
}

// closeAccepted gives back an accepted connection that was never
// registered.
func (s *Server) closeAccepted(c *Conn) {
	s.freeSlot(c.peer, c.ipCounted)
	_ = unix.Close(int(c.fd))
}

func (s *Server) tlsHandshake(c *Conn, t *tlsServe) {
	defer s.bg.Done()
	fc := &hsConn{fd: int(c.fd), peer: c.peer, stop: s.draining.Load,
		deadline: time.Now().Add(s.cfg.HandshakeTimeout).UnixNano()}
	rc := newRecConn(fc, t.router)
	tc := tls.Server(rc, t.cfg)
	err := tc.Handshake()
	rc.unroute()
	var st *tlsConn
	if err == nil {
		st, err = rc.takeOver()
	}
	if err == nil {
		cs := tc.ConnectionState()
		st.info = infoOf(&cs)
	}
	t.inflight.Add(-1)
	if err != nil {
		t.failed.Add(1)
		s.log.Debug("netpoll: TLS handshake", "remote", c.RemoteAddr(), "err", err)
		var rh tls.RecordHeaderError
		if errors.As(err, &rh) && rh.Conn != nil && isHTTPStart(rh.RecordHeader[:]) {
			_, _ = fc.Write(respHTTPToHTTPS) // as net/http answers
		}
		s.closeAccepted(c)
		return
	}
	t.ok.Add(1)
	c.tls = st
	pending := st.part != nil // read before the conn's task can run
	s.setDeadline(c, dlHandshake)
	if err := s.register(c); err != nil {
		s.clearDeadline(c)
		s.closeAccepted(c)
		return
	}
	if pending {
		s.schedule(c, bRead) // records that followed the handshake: no event will say so
	}
}

var respHTTPToHTTPS = []byte("HTTP/1.0 400 Bad Request\r\nContent-Type: text/plain\r\n" +
	"Connection: close\r\n\r\nClient sent an HTTP request to an HTTPS server.\n")

// isHTTPStart reports a record header that is the start of an HTTP request.
func isHTTPStart(b []byte) bool {
	for _, m := range []string{"GET /", "HEAD ", "POST ", "PUT /", "OPTIO", "DELET", "PATCH"} {
		if string(b) == m {
			return true
		}
	}
	return false
}

// io is one read or write of the handshake, waiting for readiness.
func (f *hsConn) io(p []byte, write bool) (int, error) {
	for {
		var (
			n   int
			err error
		)
		if write {
			n, err = unix.Write(f.fd, p)
		} else {
			n, err = unix.Read(f.fd, p)
		}
		switch {
		case err == nil && n == 0 && !write && len(p) > 0:
			return 0, io.EOF
		case err == nil:
			return n, nil
		case err == unix.EINTR:
			continue
		case err != unix.EAGAIN:
			return 0, err
		}
		if err := f.wait(write); err != nil {
			return 0, err
		}
	}
}

// wait polls the fd until it is ready, the deadline passes or the
// server drains (checked every 100 ms).
func (f *hsConn) wait(write bool) error {
	ev := int16(unix.POLLIN)
	if write {
		ev = unix.POLLOUT
	}
	for {
		if f.stop() {
			return net.ErrClosed
		}
		left := f.deadline - time.Now().UnixNano()
		if left <= 0 {
			return errHandshakeTimeout
		}
		pfd := []unix.PollFd{{Fd: int32(f.fd), Events: ev}}
		n, err := unix.Poll(pfd, int(min(left/int64(time.Millisecond)+1, 100)))
		if err != nil && err != unix.EINTR {
			return err
		}
		if n > 0 {
			return nil
		}
	}
}

// goStart counts a handshake goroutine in Server.bg (Close waits for it)
// unless the server is stopping.
func (s *Server) goStart() bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.stopping {
		return false
	}
	s.bg.Add(1)
	return true
}
