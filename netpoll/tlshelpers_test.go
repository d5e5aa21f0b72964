package netpoll

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/phxgo/phxgo/netpoll/tlstest"
)

// testCert is a throwaway self-signed certificate for 127.0.0.1 and
// localhost, made once per test binary.
var testCert = sync.OnceValues(func() (tls.Certificate, *x509.CertPool) {
	cert, pool, err := tlstest.New()
	if err != nil {
		panic(err)
	}
	return cert, pool
})

func serverTLSConfig() *tls.Config {
	cert, _ := testCert()
	return &tls.Config{Certificates: []tls.Certificate{cert}}
}

func clientTLSConfig() *tls.Config {
	_, pool := testCert()
	return &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}
}

// startTLSServer is startServer with ServeTLS.
func startTLSServer(t testing.TB, cfg Config, up Upgrader, fallback http.Handler) (*Server, string) {
	t.Helper()
	return serveUntilEnd(t, cfg, "ServeTLS", func(s *Server, ln net.Listener) error {
		return s.ServeTLS(ln, serverTLSConfig(), up, fallback)
	}, nil)
}

// dialTLS opens a wss:// client.
func dialTLS(t testing.TB, addr string) *client {
	t.Helper()
	return dialWith(t, ws.Dialer{TLSConfig: clientTLSConfig()}, "wss://"+addr+"/socket")
}

// tlsRaw is a TLS client connection with no WebSocket handshake yet.
func tlsRaw(t testing.TB, addr string) *tls.Conn {
	t.Helper()
	tc, err := tls.DialWithDialer(&net.Dialer{Timeout: testWait}, "tcp", addr, clientTLSConfig())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tc.Close() })
	return tc
}

// manualTLS is a TLS 1.3 client whose records after the handshake the
// test seals and opens itself (with the client's own traffic secrets,
// from its KeyLogWriter), so it can send what crypto/tls never would:
// KeyUpdate, stray handshake messages, alerts, corrupt records.
type manualTLS struct {
	t      testing.TB
	raw    net.Conn
	rd, wr halfConn
	buf    []byte
}

func newManualTLS(t testing.TB, addr string) *manualTLS {
	t.Helper()
	raw, err := net.DialTimeout("tcp", addr, testWait)
	if err != nil {
		t.Fatal(err)
	}
	return manualOver(t, raw)
}

// manualOver is newManualTLS over a connection the test dialed.
func manualOver(t testing.TB, raw net.Conn) *manualTLS {
	t.Helper()
	t.Cleanup(func() { _ = raw.Close() })
	var kl lockedBuf
	cfg := clientTLSConfig()
	cfg.KeyLogWriter, cfg.SessionTicketsDisabled = &kl, true
	tc := tls.Client(raw, cfg)
	_ = raw.SetDeadline(time.Now().Add(testWait))
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	_ = raw.SetDeadline(time.Time{})
	suite, ok := suiteFor(tc.ConnectionState().CipherSuite)
	if !ok {
		t.Fatalf("suite %x", tc.ConnectionState().CipherSuite)
	}
	m := &manualTLS{t: t, raw: raw}
	for line := range strings.Lines(kl.String()) {
		f := strings.Fields(line)
		if len(f) != 3 {
			continue
		}
		secret, _ := hex.DecodeString(f[2])
		switch f[0] {
		case "CLIENT_TRAFFIC_SECRET_0":
			_ = m.wr.setSecret(suite, secret)
		case "SERVER_TRAFFIC_SECRET_0":
			_ = m.rd.setSecret(suite, secret)
		}
	}
	if m.wr.aead == nil || m.rd.aead == nil {
		t.Fatal("no traffic secrets logged")
	}
	return m
}

func (m *manualTLS) send(typ uint8, p []byte) {
	m.t.Helper()
	if _, err := m.raw.Write(m.wr.seal(nil, typ, p)); err != nil {
		m.t.Fatal(err)
	}
}

// next reads one record: its inner type and plaintext (err at EOF).
func (m *manualTLS) next() (uint8, []byte, error) {
	_ = m.raw.SetReadDeadline(time.Now().Add(testWait))
	for {
		if n, err := recordLen(m.buf); err != nil {
			return 0, nil, err
		} else if n > 0 && len(m.buf) >= n {
			rec := append([]byte(nil), m.buf[:n]...)
			m.buf = m.buf[n:]
			p, typ, err := m.rd.open(rec)
			return typ, p, err
		}
		var b [4096]byte
		k, err := m.raw.Read(b[:])
		m.buf = append(m.buf, b[:k]...)
		if err != nil && k == 0 {
			return 0, nil, err
		}
	}
}

// expectAlert reads records until an alert, which must be desc, then EOF.
func (m *manualTLS) expectAlert(desc uint8) {
	m.t.Helper()
	for {
		typ, p, err := m.next()
		if err != nil {
			m.t.Fatalf("no alert %d: %v", desc, err)
		}
		if typ == recAlert {
			if len(p) != 2 || p[1] != desc {
				m.t.Fatalf("alert %v, want %d", p, desc)
			}
			break
		}
	}
	if _, _, err := m.next(); err == nil {
		m.t.Fatal("records after a fatal alert")
	}
}
