package netpoll

import (
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"sync"
)

// ErrTLSNotAdoptable is the answer (500) of UpgradeHTTP to a WebSocket
// upgrade over TLS that did not come through TLSListener, or that
// negotiated TLS 1.2: crypto/tls keeps its keys to itself.
var ErrTLSNotAdoptable = errors.New("netpoll: a WebSocket over TLS joins the event loop only " +
	"when the http.Server serves a listener wrapped by phx.TLSListener (netpoll.TLSListener), with TLS 1.3 or TLS 1.2 with ECDHE and AES-GCM or ChaCha20-Poly1305")

// TLSListener wraps ln for an http.Server that terminates TLS itself and
// mounts a netpoll Server (UpgradeHTTP, phx.Server as a handler): pass
// its result to http.Server.Serve (not ServeTLS). It returns *tls.Conn as
// tls.NewListener does (net/http fills Request.TLS, serves HTTP/2 if cfg
// offers it), but each over a connection that follows the TLS record
// state, so that a WebSocket upgrade can be taken off crypto/tls and onto
// the event loop: no goroutine per WebSocket. What it costs before the
// upgrade: the records a client sends are decrypted twice (once by
// crypto/tls, once to follow KeyUpdate), up to about 35 KiB of buffers
// per connection besides crypto/tls's own; TLS 1.2 sessions are not
// resumed (crypto/tls logs no keys for a resumed one). Upgrades need TLS
// 1.3, or 1.2 with ECDHE and AES-GCM or ChaCha20-Poly1305 (others are
// answered with ErrTLSNotAdoptable); plain HTTP works with any version
// and suite cfg allows.
func TLSListener(ln net.Listener, cfg *tls.Config) net.Listener {
	c, kr := newKeyRouter(cfg)
	return &tlsListener{Listener: ln, cfg: c, router: kr}
}

type tlsListener struct {
	net.Listener
	cfg    *tls.Config
	router *keyRouter
}

func (l *tlsListener) Accept() (net.Conn, error) {
	nc, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	rc := newRecConn(nc, l.router)
	lc := &listenedConn{recConn: rc, key: connKey(nc.LocalAddr(), nc.RemoteAddr().String())}
	listened.Store(lc.key, lc)
	return tls.Server(lc, l.cfg), nil
}

// listened maps a connection's addresses to its recConn while it is
// served by net/http, so that UpgradeHTTP can tell, from the request
// alone, whether it can take the connection over.
var listened sync.Map // connKey → *listenedConn

type listenedConn struct {
	*recConn
	key  string
	once sync.Once
}

func (lc *listenedConn) forget() {
	lc.once.Do(func() {
		// Only our own entry: a later connection with the same addresses
		// (the port reused) may have stored its own since.
		listened.CompareAndDelete(lc.key, lc)
		lc.unroute()
	})
}

func (lc *listenedConn) Close() error {
	lc.forget()
	return lc.recConn.Close()
}

func connKey(local net.Addr, remote string) string {
	if local == nil {
		return "|" + remote
	}
	return local.String() + "|" + remote
}

// tlsAdoptable reports whether r came through TLSListener over TLS 1.3,
// or 1.2 with a suite the loop carries.
func tlsAdoptable(r *http.Request) bool {
	if r.TLS == nil {
		return false
	}
	if _, ok := suite12For(r.TLS.CipherSuite); !ok && r.TLS.Version != tls.VersionTLS13 {
		return false
	}
	local, _ := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
	_, ok := listened.Load(connKey(local, r.RemoteAddr))
	return ok
}

// takeOverTLS takes a hijacked *tls.Conn from crypto/tls: the plaintext
// crypto/tls decrypted but nobody read is appended to rest, and the
// record state and the accepted connection under it are returned.
func takeOverTLS(conn net.Conn, rest []byte) (net.Conn, *tlsConn, []byte, error) {
	tc, ok := conn.(*tls.Conn)
	if !ok {
		return nil, nil, nil, ErrNotPollable
	}
	lc, ok := tc.NetConn().(*listenedConn)
	if !ok {
		return nil, nil, nil, ErrTLSNotAdoptable
	}
	lc.forget()
	lc.stopped.Store(true) // crypto/tls now reads errTakenOver, not the socket
	var buf [4096]byte
	for {
		n, err := tc.Read(buf[:])
		rest = append(rest, buf[:n]...)
		if err != nil {
			break
		}
	}
	st, err := lc.takeOver()
	if err != nil {
		return nil, nil, nil, err
	}
	return lc.Conn, st, rest, nil
}
