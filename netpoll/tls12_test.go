package netpoll

import (
	"bytes"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
)

// client12 is a TLS 1.2 client config offering only suite.
func client12(suite uint16) *tls.Config {
	cfg := clientTLSConfig()
	cfg.MaxVersion, cfg.CipherSuites = tls.VersionTLS12, []uint16{suite}
	return cfg
}

// The ECDHE AEAD suites of TLS 1.2 (those an ECDSA certificate allows):
// echo of frames spanning records; a second connection with the first
// one's session ticket does a full handshake (TLS 1.2 resumption logs no
// master secret), yet still works.
func TestTLS12Echo(t *testing.T) {
	rec := newRecorder(true)
	_, addr := startTLSServer(t, Config{}, acceptAll(rec), nil)
	for _, suite := range []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
		tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256} {
		t.Run(tls.CipherSuiteName(suite), func(t *testing.T) {
			cfg := client12(suite)
			cfg.ClientSessionCache = tls.NewLRUClientSessionCache(4)
			for round, resumed := range []bool{false, false} {
				c := dialWith(t, ws.Dialer{TLSConfig: cfg}, "wss://"+addr+"/socket")
				st := c.conn.(*tls.Conn).ConnectionState()
				if st.Version != tls.VersionTLS12 || st.CipherSuite != suite || st.DidResume != resumed {
					t.Fatalf("round %d: version %x suite %x resumed %v", round, st.Version, st.CipherSuite, st.DidResume)
				}
				for _, n := range []int{1, 16 << 10, 70 << 10} {
					p := bytes.Repeat([]byte{byte('a' + round)}, n)
					c.expectEcho(ws.OpBinary, p)
				}
				c.send(ws.OpClose, closeBody(1000, ""))
				c.expectCloseEOF(1000, "")
			}
		})
	}
}

// Plain HTTP over TLS 1.2, and the refused TLS 1.2 suites (CBC).
func TestTLS12Fallback(t *testing.T) {
	fallback := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s %d", r.Method, len(b))
	})
	_, addr := startTLSServer(t, Config{}, acceptAll(newRecorder(true)), fallback)
	tr := &http.Transport{TLSClientConfig: client12(tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256)}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: testWait}
	resp, err := hc.Post("https://"+addr+"/x", "text/plain", bytes.NewReader(make([]byte, 50<<10)))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "POST 51200" || resp.TLS.Version != tls.VersionTLS12 {
		t.Fatalf("%q over %x", b, resp.TLS.Version)
	}
	cbc := client12(tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA)
	if c, err := tls.Dial("tcp", addr, cbc); err == nil {
		c.Close()
		t.Fatal("a CBC suite was accepted")
	}
}

// The mount path over TLS 1.2.
func TestTLS12Listener(t *testing.T) {
	_, addr := startMounted(t, Config{}, true)
	c := dialWith(t, ws.Dialer{TLSConfig: client12(tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256)}, "wss://"+addr+"/socket")
	p := bytes.Repeat([]byte("z"), 40<<10)
	c.expectEcho(ws.OpText, p)
}

// TLS 1.3 sessions resume across connections of one listener (the
// handshakes share one config), and the resumed connection is carried.
func TestTLS13Resumption(t *testing.T) {
	rec := newRecorder(true)
	_, addr := startTLSServer(t, Config{}, acceptAll(rec), nil)
	cfg := clientTLSConfig()
	cfg.ClientSessionCache = tls.NewLRUClientSessionCache(4)
	for round, resumed := range []bool{false, true} {
		c := dialWith(t, ws.Dialer{TLSConfig: cfg}, "wss://"+addr+"/socket")
		c.send(ws.OpText, []byte("ticket"))
		if got := c.expectFrame(ws.OpText); string(got) != "ticket" {
			t.Fatalf("round %d: echo %q", round, got)
		}
		if st := c.conn.(*tls.Conn).ConnectionState(); st.DidResume != resumed {
			t.Fatalf("round %d: resumed %v, want %v", round, st.DidResume, resumed)
		}
	}
}

// recordingConn keeps the first bytes the client reads (the ServerHello).
type recordingConn struct {
	net.Conn
	got []byte
}

func (r *recordingConn) Read(p []byte) (int, error) {
	n, err := r.Conn.Read(p)
	if len(r.got) < 64 {
		r.got = append(r.got, p[:n]...)
	}
	return n, err
}

// newManualTLS12 is newManualTLS for TLS 1.2 with suite: the keys come
// from the logged master secret and both randoms; each side's Finished
// was record 0.
func newManualTLS12(t *testing.T, addr string, suite uint16) *manualTLS {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, testWait)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = nc.Close() })
	rec := &recordingConn{Conn: nc}
	var kl lockedBuf
	cfg := client12(suite)
	cfg.KeyLogWriter, cfg.SessionTicketsDisabled = &kl, true
	_ = nc.SetDeadline(time.Now().Add(testWait))
	if err := tls.Client(rec, cfg).Handshake(); err != nil {
		t.Fatal(err)
	}
	_ = nc.SetDeadline(time.Time{})
	f := strings.Fields(kl.String())
	if len(f) != 3 || f[0] != "CLIENT_RANDOM" || len(rec.got) < 43 {
		t.Fatalf("key log %q, %d bytes read", kl.String(), len(rec.got))
	}
	crand, _ := hex.DecodeString(f[1])
	master, _ := hex.DecodeString(f[2])
	s, _ := suite12For(suite)
	client, server, err := keys12(s, master, crand, rec.got[11:43])
	if err != nil {
		t.Fatal(err)
	}
	client.seq, server.seq = 1, 1
	return &manualTLS{t: t, raw: nc, rd: server, wr: client}
}

// What TLS 1.2 on the loop refuses: renegotiation, a change_cipher_spec,
// a corrupt record; an echo works first, close_notify closes.
func TestTLS12Refused(t *testing.T) {
	rec := newRecorder(true)
	_, addr := startTLSServer(t, Config{}, acceptAll(rec), nil)
	for _, suite := range []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256} {
		for name, tc := range map[string]struct {
			send  func(m *manualTLS)
			alert uint8
		}{
			"renegotiation": {func(m *manualTLS) { m.send(recHandshake, []byte{1, 0, 0, 0}) }, alertUnexpectedMessage},
			"ccs":           {func(m *manualTLS) { m.send(recCCS, []byte{1}) }, alertUnexpectedMessage},
			"corrupt": {func(m *manualTLS) {
				_, _ = m.raw.Write(append([]byte{recAppData, 3, 3, 0, 40}, bytes.Repeat([]byte{9}, 40)...))
			}, alertBadRecordMAC},
		} {
			t.Run(tls.CipherSuiteName(suite)+"/"+name, func(t *testing.T) {
				m := newManualTLS12(t, addr, suite)
				m.send(recAppData, []byte(upgradeRequest("/socket")))
				m.send(recAppData, frame(ws.OpText, true, []byte("twelve")))
				var got []byte
				for !bytes.Contains(got, []byte("twelve")) {
					typ, p, err := m.next()
					if err != nil || typ != recAppData {
						t.Fatalf("type %d %v after %q", typ, err, got)
					}
					got = append(got, p...)
				}
				tc.send(m)
				m.expectAlert(tc.alert)
			})
		}
	}
	rec2 := newRecorder(true)
	_, addr2 := startTLSServer(t, Config{}, acceptAll(rec2), nil)
	m := newManualTLS12(t, addr2, tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384)
	m.send(recAppData, []byte(upgradeRequest("/socket")))
	rec2.waitOpen(t)
	m.send(recAlert, []byte{1, alertCloseNotify})
	if ev := rec2.waitClose(t); ev.code != CloseAbnormal {
		t.Fatalf("close_notify: OnClose %d", ev.code)
	}
}
