package netpoll

import (
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// serveCtx is what one Serve call shares with its connections.
type serveCtx struct {
	up      Upgrader
	shim    *shimListener
	http    *http.Server        // serves the non-WebSocket requests of this listener
	scratch []byte              // the accept task's buffer for draining refused connections
	tls     *tlsServe           // ServeTLS: handshake first (tlsserve.go); nil: plain
	fresh   *handshake          // the handshake state of every new connection (read only)
	rsa     unix.RawSockaddrAny // the accept task's peer address buffer (hs_accept.go)
	nodelay uint8               // how accepted sockets get TCP_NODELAY (hs_accept.go)
	ndTried bool                // the listener's TCP_NODELAY was tried
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
	sv.fresh = &handshake{sv: sv}
	sv.http = &http.Server{Handler: limitBody(fallback, s.cfg.MaxBodyBytes),
		ReadHeaderTimeout: s.cfg.HandshakeTimeout, ReadTimeout: s.cfg.HTTPReadTimeout,
		WriteTimeout: s.cfg.HTTPWriteTimeout, IdleTimeout: max(s.cfg.IdleTimeout, 0),
		MaxHeaderBytes: maxHeadBytes,
		ErrorLog:       slog.NewLogLogger(s.log.Handler(), slog.LevelDebug)}
	if tl != nil { // Request.TLS for requests over the loop's record layer (tlsstate.go)
		sv.http.Handler, sv.http.ConnContext = withTLSState(sv.http.Handler), tlsConnContext
	}
	if !s.addServe(ln, sv) {
		return ErrServerClosed
	}
	defer s.acceptWG.Done()
	return s.acceptLoop(ln, sv)
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

// accept admits a new connection fd (per-address limits, then MaxConns;
// refused ones get a fixed response and are closed at once) and registers
// it for reading its request head.
func (s *Server) accept(fd int, peer peerAddr, sv *serveCtx) {
	byIP := false
	if s.ipl != nil {
		if ip, ok := peer.key(); ok {
			switch s.ipl.admit(ip, s.since()) {
			case ipRateLimited:
				s.stats.rateLimited.Add(1)
				refuse(fd, resp429, sv.scratch)
				return
			case ipTooMany:
				s.stats.refusedIP.Add(1)
				refuse(fd, resp429, sv.scratch)
				return
			}
			byIP = true
		}
	}
	if !s.takeSlot() {
		s.freeAddr(peer, byIP)
		refuse(fd, resp503, sv.scratch)
		return
	}
	// No Nagle: net.TCPConn disables it by default, a raw accept4 fd
	// does not, and with it a second small frame waits for the peer's
	// delayed ACK (40 ms on Linux) whenever the first is unacknowledged,
	// which is every push that is not an answer. Usually inherited from
	// the listener (hs_accept.go).
	sv.noDelay(fd)
	c := s.newConn(fd, peer)
	c.ipCounted = byIP
	c.hs = sv.fresh // no allocation until a head needs more than one read
	if sv.tls != nil {
		s.startTLS(c, sv) // registered once its TLS handshake is done
		return
	}
	s.setDeadline(c, dlHandshake) // before the conn is visible to its task
	if err := s.register(c); err != nil {
		s.log.Debug("netpoll: refused conn", "remote", c.RemoteAddr(), "err", err)
		s.clearDeadline(c)
		s.freeSlot(peer, byIP)
		_ = unix.Close(fd)
	}
}

// freeSlot gives back a MaxConns slot and the per-address count of peer.
func (s *Server) freeSlot(peer peerAddr, byIP bool) {
	s.putSlot()
	s.freeAddr(peer, byIP)
}

func (s *Server) freeAddr(peer peerAddr, byIP bool) {
	if byIP {
		if ip, ok := peer.key(); ok {
			s.ipl.release(ip)
		}
	}
}

// unregister is the end of a finalized connection: registry entry, slot
// and per-address count.
func (s *Server) unregister(c *Conn) {
	s.reg.remove(c)
	s.freeSlot(c.peer, c.ipCounted)
}

// newConn wraps a non-blocking socket fd that is ours alone.
func (s *Server) newConn(fd int, peer peerAddr) *Conn {
	gen := s.gens.Add(1)
	for gen == 0 || gen == genListener { // the eventfd's and the listeners' events (acceptloop.go)
		gen = s.gens.Add(1)
	}
	return &Conn{s: s, fd: int32(fd), gen: gen, peer: peer}
}

// register adds c (whose MaxConns slot is taken) to the registry and to
// epoll. Registering is refused once Shutdown began, so the registry can
// only shrink from then on.
func (s *Server) register(c *Conn) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.stopping {
		return ErrServerClosed
	}
	s.reg.add(c)
	s.stats.accepted.Add(1)
	if err := s.lp.add(c); err != nil {
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

// acceptLoop serves ln on the event loop (acceptloop.go): a duplicate
// of its fd is registered in the loop's epoll and the workers accept on
// it, while Serve's goroutine only waits here for the server to stop or
// the listener to fail. A listener without an fd (or one epoll refuses)
// is served through Accept, each connection's fd taken over (takeFD).
func (s *Server) acceptLoop(ln net.Listener, sv *serveCtx) error {
	fd, err := dupFD(ln) // non-blocking, close-on-exec
	if err != nil {
		return s.acceptConns(ln, sv)
	}
	a := s.newAcceptor(fd, sv)
	// Whatever ends Serve (the server's Close, a failed listener, epoll
	// refusing it) frees the duplicate and the table slot now, not at
	// the server's Close (Close is idempotent).
	defer a.Close()
	if !s.addListenerFile(a) {
		return ErrServerClosed
	}
	if err := a.arm(); err == ErrServerClosed {
		return err
	} else if err != nil {
		s.log.Debug("netpoll: listener not in epoll, served through Accept", "err", err)
		return s.acceptConns(ln, sv)
	}
	return a.wait()
}

// nextBackoff is the pause after a passing accept error (fd exhaustion)
// that follows a pause of d (0 after a successful accept): 5 ms, then
// doubling, at most a second. The error is logged with it.
func (s *Server) nextBackoff(d time.Duration, err error) time.Duration {
	d = min(max(2*d, 5*time.Millisecond), time.Second)
	s.log.Warn("netpoll: accept", "err", err, "retry_in", d)
	return d
}

// backoff sleeps after a passing accept error, longer each time
// (nextBackoff), unless the server stops.
func (s *Server) backoff(delay time.Duration, err error) (time.Duration, error) {
	delay = s.nextBackoff(delay, err)
	select {
	case <-time.After(delay):
		return delay, nil
	case <-s.done:
		return delay, ErrServerClosed
	}
}

// acceptConns serves a listener that has no fd of its own to wait on.
func (s *Server) acceptConns(ln net.Listener, sv *serveCtx) error {
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
			if delay, err = s.backoff(delay, err); err != nil {
				return err
			}
			continue
		}
		delay = 0
		peer := peerFromNetAddr(nc.RemoteAddr())
		fd, err := takeFD(nc)
		if err != nil {
			s.log.Warn("netpoll: accepted conn", "remote", nc.RemoteAddr(), "err", err)
			_ = nc.Close()
			continue
		}
		s.accept(fd, peer, sv)
	}
}

// refuse answers a connection refused at accept with resp, written by one
// non-blocking write (a fresh socket's buffer always takes it), reads
// (discarding, without waiting) what the client sent already so that the
// close sends a FIN rather than a reset that could destroy the answer,
// and closes it. It costs a few syscalls in the accept task.
func refuse(fd int, resp, scratch []byte) {
	_, _ = unix.Write(fd, resp)
	_, _ = unix.Read(fd, scratch)
	_ = unix.Close(fd)
}
