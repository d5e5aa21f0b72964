package netpoll

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
)

// tlsInfo is what the handshake leaves for the requests handed to
// net/http: a few fields, not crypto/tls's ConnectionState, which
// would keep the handshake's key schedule alive for every socket.
type tlsInfo struct {
	version, suite uint16
	resumed        bool
	serverName     string
	alpn           string
}

func infoOf(cs *tls.ConnectionState) tlsInfo {
	return tlsInfo{version: cs.Version, suite: cs.CipherSuite, resumed: cs.DidResume,
		serverName: cs.ServerName, alpn: cs.NegotiatedProtocol}
}

// connectionState is the Request.TLS of a request over the loop's record
// layer: handlers that look at it (redirects to https, Secure cookies)
// see https, as they would under crypto/tls.
func (i *tlsInfo) connectionState() *tls.ConnectionState {
	return &tls.ConnectionState{Version: i.version, HandshakeComplete: true, DidResume: i.resumed,
		CipherSuite: i.suite, ServerName: i.serverName, NegotiatedProtocol: i.alpn}
}

type tlsStateKey struct{}

// tlsConnContext is a ServeTLS fallback server's ConnContext: it keeps
// the connection's TLS parameters in the context of its requests.
func tlsConnContext(ctx context.Context, nc net.Conn) context.Context {
	hc, ok := nc.(*httpConn)
	if !ok {
		return ctx
	}
	if ts, ok := hc.replayConn.Conn.(*tlsStream); ok {
		return context.WithValue(ctx, tlsStateKey{}, &ts.info)
	}
	return ctx
}

// withTLSState sets Request.TLS, which net/http fills only for a
// *tls.Conn, for requests over the loop's record layer.
func withTLSState(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if i, ok := r.Context().Value(tlsStateKey{}).(*tlsInfo); ok && r.TLS == nil {
			r.TLS = i.connectionState()
		}
		h.ServeHTTP(w, r)
	})
}
