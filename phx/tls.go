package phx

import (
	"crypto/tls"
	"net"
	"net/http"

	"github.com/phxgo/phxgo/netpoll"
)

// ServeTLS is Serve over TLS: https and wss on the same listener, with
// cfg's certificate. WebSocket connections run on the event loop after
// their handshake (the loop reads and writes the TLS records itself:
// no goroutine per connection); LongPoll and every other request are
// served through net/http over the same TLS connection. TLS 1.3, or 1.2
// with ECDHE and an AEAD;
// ALPN offers http/1.1 only. See netpoll.Server.ServeTLS.
func (s *Server) ServeTLS(ln net.Listener, cfg *tls.Config, fallback http.Handler) error {
	np, err := s.netpoll()
	if err != nil {
		return err
	}
	return np.ServeTLS(ln, cfg, (*upgrader)(s), s.withFallback(fallback))
}

// TLSListener wraps ln for the application's own http.Server when it
// terminates TLS and mounts the Server as a handler: pass the result to
// http.Server.Serve (not ServeTLS). WebSocket upgrades are then taken off
// crypto/tls and onto the event loop like every other socket; without
// the wrapper an upgrade over TLS is answered 500, naming it. Upgrades
// need TLS 1.3, or 1.2 with ECDHE and an AEAD. See netpoll.TLSListener
// for what it costs.
func TLSListener(ln net.Listener, cfg *tls.Config) net.Listener {
	return netpoll.TLSListener(ln, cfg)
}
