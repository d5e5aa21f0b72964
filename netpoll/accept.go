package netpoll

import (
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"syscall"
	"time"
)

// serveCtx is what one Serve call shares with its connections.
type serveCtx struct {
	up      Upgrader
	shim    *shimListener
	http    *http.Server // serves the non-WebSocket requests of this listener
	scratch []byte       // the accept loop's buffer for draining refused connections
	tls     *tlsServe    // ServeTLS: handshake first (tlsserve.go); nil: plain
}

// Serve accepts connections on ln until Shutdown or Close. WebSocket
// upgrade requests (GET with Upgrade: websocket) go to up; every other
// request is served by fallback through net/http on the same connection
// (nil fallback answers 404).
//
// Serve reads every request head itself (at most 16 KiB, else 431) on the
// event loop; plain HTTP connections are then handed, with the bytes
// already read replayed first, to an internal http.Server, keeping their
// MaxConns slot until it closes them. That server reads request heads
// within HandshakeTimeout and whole requests within HTTPReadTimeout,
// writes responses within HTTPWriteTimeout, closes keep-alive
// connections idle for IdleTimeout (HTTPReadTimeout if IdleTimeout is
// negative), and caps bodies at MaxBodyBytes.
func (s *Server) Serve(ln net.Listener, up Upgrader, fallback http.Handler) error {
	return s.serve(ln, up, fallback, nil)
}

func (s *Server) serve(ln net.Listener, up Upgrader, fallback http.Handler, tl *tlsServe) error {
	if fallback == nil {
		fallback = http.NotFoundHandler()
	}
	sv := &serveCtx{up: up, shim: newShim(ln.Addr()), scratch: make([]byte, 1024), tls: tl}
	sv.http = &http.Server{Handler: limitBody(fallback, s.cfg.MaxBodyBytes),
		ReadHeaderTimeout: s.cfg.HandshakeTimeout, ReadTimeout: s.cfg.HTTPReadTimeout,
		WriteTimeout: s.cfg.HTTPWriteTimeout, IdleTimeout: max(s.cfg.IdleTimeout, 0),
		MaxHeaderBytes: maxHeadBytes,
		ErrorLog:       slog.NewLogLogger(s.log.Handler(), slog.LevelDebug)}
	if !s.addServe(ln, sv) {
		return ErrServerClosed
	}
	defer s.acceptWG.Done()
	var delay time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if s.isStopping() {
				return ErrServerClosed
			}
			if !retryable(err) {
				return err
			}
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			s.log.Warn("netpoll: accept", "err", err, "retry_in", delay)
			select {
			case <-time.After(delay):
			case <-s.done:
				return ErrServerClosed
			}
			continue
		}
		delay = 0
		s.accept(nc, sv)
	}
}

// addServe records ln (closed by Shutdown) and starts sv's http.Server.
func (s *Server) addServe(ln net.Listener, sv *serveCtx) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopping {
		return false
	}
	s.listeners = append(s.listeners, ln)
	s.serves = append(s.serves, sv)
	s.acceptWG.Add(1)
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		_ = sv.http.Serve(sv.shim)
	}()
	return true
}

// retryable reports accept errors that pass (fd exhaustion, aborted
// handshakes), after which the loop backs off instead of returning.
func retryable(err error) bool {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	for _, e := range []error{syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS,
		syscall.ENOMEM, syscall.ECONNABORTED} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// accept admits a new connection (per-address limits, then MaxConns;
// refused ones get a fixed response and are closed at once) and registers
// it for reading its request head.
func (s *Server) accept(nc net.Conn, sv *serveCtx) {
	byIP := false
	if s.ipl != nil {
		if ip, ok := addrKey(nc.RemoteAddr()); ok {
			switch s.ipl.admit(ip, s.since()) {
			case ipRateLimited:
				s.stats.rateLimited.Add(1)
				refuse(nc, resp429, sv.scratch)
				return
			case ipTooMany:
				s.stats.refusedIP.Add(1)
				refuse(nc, resp429, sv.scratch)
				return
			}
			byIP = true
		}
	}
	if !s.takeSlot() {
		s.freeAddr(nc, byIP)
		refuse(nc, resp503, sv.scratch)
		return
	}
	c, err := s.newConn(nc)
	if err != nil {
		s.log.Warn("netpoll: accepted conn", "remote", nc.RemoteAddr(), "err", err)
		s.freeSlot(nc, byIP)
		_ = nc.Close()
		return
	}
	c.ipCounted = byIP
	c.hs = &handshake{sv: sv}
	if sv.tls != nil {
		s.startTLS(c, sv) // registered once its TLS handshake is done
		return
	}
	s.setDeadline(c, dlHandshake) // before the conn is visible to its task
	if err := s.register(c); err != nil {
		s.log.Debug("netpoll: refused conn", "remote", nc.RemoteAddr(), "err", err)
		s.clearDeadline(c)
		s.freeSlot(nc, byIP)
		_ = nc.Close()
	}
}

// freeSlot gives back the MaxConns slot of nc and its per-address count.
func (s *Server) freeSlot(nc net.Conn, byIP bool) {
	s.putSlot()
	s.freeAddr(nc, byIP)
}

func (s *Server) freeAddr(nc net.Conn, byIP bool) {
	if byIP {
		if ip, ok := addrKey(nc.RemoteAddr()); ok {
			s.ipl.release(ip)
		}
	}
}

// unregister is the end of a finalized connection: registry entry, slot
// and per-address count.
func (s *Server) unregister(c *Conn) {
	s.reg.remove(c)
	s.freeSlot(c.nc, c.ipCounted)
}

// newConn wraps nc around its own fd: no dup, the fd stays non-blocking
// and owned by Go's runtime poller (which never parks on it: every
// rawConn callback reports done).
func (s *Server) newConn(nc net.Conn) (*Conn, error) {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return nil, ErrNotPollable
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return nil, err
	}
	fd := -1
	if err := raw.Control(func(f uintptr) { fd = int(f) }); err != nil {
		return nil, err
	}
	return &Conn{s: s, nc: nc, raw: raw, fd: int32(fd)}, nil
}

// register adds c (whose MaxConns slot is taken) to the registry and to
// epoll, armed for reading. Registering is refused once Shutdown began,
// so the registry can only shrink from then on.
func (s *Server) register(c *Conn) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.stopping {
		return ErrServerClosed
	}
	s.reg.add(c)
	s.stats.accepted.Add(1)
	c.armed, c.armedIn = true, true
	if err := s.ep.Add(int(c.fd), evRead, c.onEvent); err != nil {
		s.reg.remove(c)
		return err
	}
	return nil
}

// shimListener feeds connections we accepted (and found not to be
// WebSocket upgrades) to an http.Server.
type shimListener struct {
	addr net.Addr
	ch   chan net.Conn
	done chan struct{}
	once sync.Once
}

func newShim(addr net.Addr) *shimListener {
	return &shimListener{addr: addr, ch: make(chan net.Conn), done: make(chan struct{})}
}

func (l *shimListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *shimListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *shimListener) Addr() net.Addr { return l.addr }

// deliver hands c to the http.Server; false once it stopped accepting.
// The channel is unbuffered so no connection is ever stranded in it.
func (l *shimListener) deliver(c net.Conn) bool {
	select {
	case l.ch <- c:
		return true
	case <-l.done:
		return false
	}
}

// replayConn gives net/http the bytes we read before recognizing a plain
// HTTP request, then reads the socket.
type replayConn struct {
	net.Conn
	buf []byte
}

func (r *replayConn) Read(p []byte) (int, error) {
	if len(r.buf) > 0 {
		n := copy(p, r.buf)
		r.buf = r.buf[n:]
		return n, nil
	}
	return r.Conn.Read(p)
}

// CloseWrite keeps net/http's lingering close (closeWriteAndWait) working.
func (r *replayConn) CloseWrite() error {
	if cw, ok := r.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}
