package netpoll

import (
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/gobwas/ws"
)

// routed counts the connections a listener's key router still follows.
func routed(kr *keyRouter) int {
	n := 0
	kr.conns.Range(func(any, any) bool { n++; return true })
	return n
}

// The app's http.Server closed while TLSListener handshakes wait for the
// client's Finished: closing a connection from another goroutine than
// its handshake's forgets it in the key router (no entry, so no record
// buffer, is left behind), without a data race.
func TestTLSListenerCloseDuringHandshake(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tl := TLSListener(ln, serverTLSConfig()).(*tlsListener)
	hs := &http.Server{Handler: http.NotFoundHandler(), ErrorLog: log.New(io.Discard, "", 0)}
	served := make(chan error, 1)
	go func() { served <- hs.Serve(tl) }()
	// Clients that send their ClientHello and never finish: the dial's
	// handshake stops at a deadline, after the server's flight.
	var conns []net.Conn
	for range 4 {
		nc, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		conns = append(conns, nc)
		stall := stallAfterHello{Conn: nc}
		go func() { _ = tls.Client(stall, clientTLSConfig()).Handshake() }()
	}
	eventually(t, "ClientHellos routed", func() bool { return routed(tl.router) == len(conns) })
	if err := hs.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		t.Fatal(err)
	}
	eventually(t, "routes forgotten", func() bool { return routed(tl.router) == 0 })
}

// stallAfterHello lets a client write its ClientHello, then reads
// nothing more until its conn is closed.
type stallAfterHello struct{ net.Conn }

func (s stallAfterHello) Read(p []byte) (int, error) {
	_ = s.Conn.SetReadDeadline(time.Now().Add(testWait))
	var b [1]byte
	for {
		if _, err := s.Conn.Read(b[:]); err != nil {
			return 0, err
		}
	}
}

// A connection closed after another with the same addresses was accepted
// (the client's port reused) leaves the newer one adoptable.
func TestTLSListenerForgetsOnlyItself(t *testing.T) {
	const key = "127.0.0.1:1|127.0.0.1:2"
	old := &listenedConn{recConn: &recConn{}, key: key}
	listened.Store(key, old)
	cur := &listenedConn{recConn: &recConn{}, key: key}
	listened.Store(key, cur)
	old.forget()
	if v, ok := listened.Load(key); !ok || v != cur {
		t.Fatal("closing the old connection forgot the new one")
	}
	cur.forget()
	if _, ok := listened.Load(key); ok {
		t.Fatal("not forgotten")
	}
}

// ServeTLS narrows the application's tls.Config to what the loop
// carries without widening it: a MinVersion of TLS 1.3 stays, a list of
// TLS 1.2 suites stays (minus those the loop cannot carry), and a config
// that leaves nothing is refused.
func TestTLSServeKeepsConfigLimits(t *testing.T) {
	serve := func(mod func(*tls.Config)) (string, func() error) {
		s, ln := listenServer(t, Config{})
		cfg := serverTLSConfig()
		mod(cfg)
		served := make(chan error, 1)
		go func() { served <- s.ServeTLS(ln, cfg, acceptAll(newRecorder(true)), nil) }()
		return ln.Addr().String(), func() error {
			_ = s.Close()
			_ = ln.Close()
			return <-served
		}
	}
	handshake := func(addr string, cfg *tls.Config) error {
		tc, err := tls.DialWithDialer(&net.Dialer{Timeout: testWait}, "tcp", addr, cfg)
		if err == nil {
			tc.Close()
		}
		return err
	}
	addr, stop := serve(func(c *tls.Config) { c.MinVersion = tls.VersionTLS13 })
	if handshake(addr, client12(tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256)) == nil {
		t.Error("MinVersion TLS 1.3 widened to TLS 1.2")
	}
	if err := handshake(addr, clientTLSConfig()); err != nil {
		t.Error(err)
	}
	stop()
	addr, stop = serve(func(c *tls.Config) {
		c.CipherSuites = []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA}
	})
	if handshake(addr, client12(tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256)) == nil {
		t.Error("a TLS 1.2 suite outside CipherSuites accepted")
	}
	if handshake(addr, client12(tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA)) == nil {
		t.Error("a CBC suite accepted")
	}
	if err := handshake(addr, client12(tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384)); err != nil {
		t.Error(err)
	}
	stop()
	_, stop = serve(func(c *tls.Config) {
		c.MaxVersion = tls.VersionTLS12
		c.CipherSuites = []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA}
	})
	if err := stop(); err == nil || errors.Is(err, ErrServerClosed) {
		t.Errorf("ServeTLS with only CBC suites: %v", err)
	}
}

// The mount path with frames pipelined behind the upgrade: part of them
// decrypted by crypto/tls and unread, whole records waiting in the
// listener's buffer, a record cut in two by it, and the rest still in
// the kernel when the connection is hijacked.
func TestTLSListenerPipelinedFrames(t *testing.T) {
	_, addr := startMounted(t, Config{}, true)
	m := newManualTLS(t, addr)
	big := bytes.Repeat([]byte("pipelined "), 20<<10)
	var wire []byte
	wire = m.wr.seal(wire, recAppData, append([]byte(upgradeRequest("/socket")), frame(ws.OpText, true, []byte("first"))...))
	rest := append(frame(ws.OpBinary, true, big), frame(ws.OpText, true, []byte("last"))...)
	for len(rest) > 0 {
		k := min(len(rest), 5000)
		wire = m.wr.seal(wire, recAppData, rest[:k])
		rest = rest[k:]
	}
	if _, err := m.raw.Write(wire); err != nil {
		t.Fatal(err)
	}
	p := readHead101(t, m)
	want := frameLen(len("first")) + frameLen(len(big)) + frameLen(len("last"))
	q, _ := m.readPlain(want - len(p))
	p = append(p, q...)
	if !bytes.Contains(p, []byte("first")) || !bytes.Contains(p, big) || !bytes.HasSuffix(p, []byte("last")) {
		t.Fatalf("echoes: %d bytes", len(p))
	}
}
