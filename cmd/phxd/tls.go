package main

import (
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"

	"github.com/phxgo/phxgo/phx"
)

// defineTLSFlags adds -tls-cert and -tls-key: with both, phxd serves https
// and wss (TLS 1.3, or 1.2 with ECDHE and an AEAD) on -addr instead of
// http and ws.
func defineTLSFlags(fs *flag.FlagSet, o *options) {
	fs.StringVar(&o.tlsCert, "tls-cert", "", "PEM certificate (chain) `file`: with -tls-key, serve https and wss (TLS 1.3, or 1.2 with ECDHE and AES-GCM or ChaCha20) on -addr instead of http and ws; WebSocket records are encrypted on the event loop, LongPoll and the other routes are served over the same TLS")
	fs.StringVar(&o.tlsKey, "tls-key", "", "PEM private key `file` of -tls-cert")
}

// loadTLS returns the TLS config of -tls-cert/-tls-key, nil without them.
func loadTLS(o *options) (*tls.Config, error) {
	switch {
	case o.tlsCert == "" && o.tlsKey == "":
		return nil, nil
	case o.tlsCert == "" || o.tlsKey == "":
		return nil, errors.New("-tls-cert and -tls-key go together")
	}
	cert, err := tls.LoadX509KeyPair(o.tlsCert, o.tlsKey)
	if err != nil {
		return nil, fmt.Errorf("-tls-cert/-tls-key: %w", err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}}, nil
}

// serve runs srv on ln, over TLS when cfg is set.
func serve(srv *phx.Server, ln net.Listener, mux http.Handler, cfg *tls.Config) error {
	if cfg != nil {
		return srv.ServeTLS(ln, cfg, mux)
	}
	return srv.Serve(ln, mux)
}

// schemeURL turns the demo page's http:// address into https:// under TLS.
func schemeURL(u string, cfg *tls.Config) string {
	if cfg != nil && len(u) > 4 && u[:5] == "http:" {
		return "https:" + u[5:]
	}
	return u
}
