package netpoll

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"testing"

	"github.com/gobwas/ws"
)

// readPlain reads records from m, following KeyUpdates, until the
// application data holds want bytes; it returns the plaintext.
func (m *manualTLS) readPlain(want int) (plain []byte, updates int) {
	m.t.Helper()
	for len(plain) < want {
		typ, p, err := m.next()
		if err != nil {
			m.t.Fatalf("after %d of %d bytes, %d KeyUpdates: %v", len(plain), want, updates, err)
		}
		switch typ {
		case recAppData:
			plain = append(plain, p...)
		case recHandshake:
			if !bytes.Equal(p, []byte{hsKeyUpdate, 0, 0, 1, 0}) {
				m.t.Fatalf("handshake message %x", p)
			}
			if err := m.rd.update(); err != nil {
				m.t.Fatal(err)
			}
			updates++
		default:
			m.t.Fatalf("record type %d", typ)
		}
	}
	return plain, updates
}

// Record size limits, TLS 1.3 and 1.2: 2^14 bytes of plaintext pass,
// one more is record_overflow even when the ciphertext is within its
// own limit.
func TestTLSRecordPlaintextLimit(t *testing.T) {
	rec := newRecorder(true)
	_, addr := startTLSServer(t, Config{}, acceptAll(rec), nil)
	dials := map[string]func() *manualTLS{
		"1.3": func() *manualTLS { return newManualTLS(t, addr) },
		"1.2 GCM": func() *manualTLS {
			return newManualTLS12(t, addr, tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256)
		},
		"1.2 ChaCha20": func() *manualTLS {
			return newManualTLS12(t, addr, tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256)
		},
	}
	for name, dial := range dials {
		t.Run(name, func(t *testing.T) {
			m := dial()
			m.send(recAppData, []byte(upgradeRequest("/socket")))
			readHead101(t, m)
			msg := bytes.Repeat([]byte("L"), 3*maxPlainLen)
			wire := frame(ws.OpBinary, true, msg)
			m.sendRecords(wire, maxPlainLen) // full records: accepted
			echo, _ := m.readPlain(frameLen(len(msg)))
			if !bytes.Contains(echo, msg) {
				t.Fatalf("echo of full records: %d bytes", len(echo))
			}
			m.send(recAppData, make([]byte, maxPlainLen+1))
			m.expectAlert(alertRecordOverflow)
		})
	}
}

// readHead101 reads the 101 response head (and returns what came with it).
func readHead101(t *testing.T, m *manualTLS) []byte {
	t.Helper()
	var head []byte
	for !bytes.Contains(head, []byte("\r\n\r\n")) {
		typ, p, err := m.next()
		if err != nil || typ != recAppData {
			t.Fatalf("101: type %d %v", typ, err)
		}
		head = append(head, p...)
	}
	if !bytes.HasPrefix(head, []byte("HTTP/1.1 101")) {
		t.Fatalf("head %q", head)
	}
	return head[bytes.Index(head, []byte("\r\n\r\n"))+4:]
}

// A KeyUpdate asked for while sealed records wait for the socket (a
// short write mid-record, EPOLLOUT pending): the answer goes after the
// records sealed under the old key, the frames still queued are sealed
// under the new one, and the client decrypts the whole stream in order.
func TestTLSKeyUpdateWhileBlocked(t *testing.T) {
	rec := newRecorder(true)
	cfg := Config{MaxFrameSize: 8 << 20, ReadPauseBytes: 16 << 20, WriteQueueBytes: 32 << 20}
	_, addr := startTLSServer(t, cfg, acceptAll(rec), nil)
	m := newManualTLS(t, addr)
	m.send(recAppData, []byte(upgradeRequest("/socket")))
	readHead101(t, m)
	c := rec.waitOpen(t)
	setSndBuf(c, 4096)
	big := bytes.Repeat([]byte("0123456789abcdef"), 3<<20/16)
	m.sendRecords(frame(ws.OpBinary, true, big), maxPlainLen)
	// The echo is queued; its first records are sealed and stuck.
	eventually(t, "echo blocked mid-stream", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.blocked
	})
	m.send(recHandshake, []byte{hsKeyUpdate, 0, 0, 1, 1})
	if err := m.wr.update(); err != nil {
		t.Fatal(err)
	}
	m.send(recAppData, frame(ws.OpText, true, []byte("after")))
	want := frameLen(len(big)) + frameLen(len("after"))
	plain, updates := m.readPlain(want)
	if updates != 1 {
		t.Fatalf("%d KeyUpdates", updates)
	}
	if !bytes.Contains(plain, big) || !bytes.HasSuffix(plain, []byte("after")) {
		t.Fatalf("stream of %d bytes does not hold both echoes", len(plain))
	}
}

// The mount path follows KeyUpdates made while crypto/tls still serves
// the connection: a keep-alive request, a KeyUpdate that asks for the
// server's (crypto/tls answers it), another request under the new keys,
// then the upgrade: the loop takes over with both directions' new keys.
func TestTLSListenerKeyUpdateBeforeUpgrade(t *testing.T) {
	s, addr := startMounted(t, Config{}, true)
	m := newManualTLS(t, addr)
	get := func() {
		t.Helper()
		m.send(recAppData, []byte("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n"))
		var resp []byte
		for !bytes.HasSuffix(resp, []byte("hello")) {
			typ, p, err := m.next()
			if err != nil {
				t.Fatalf("GET /hello: %v after %q", err, resp)
			}
			if typ == recHandshake && bytes.Equal(p, []byte{hsKeyUpdate, 0, 0, 1, 0}) {
				_ = m.rd.update()
				continue
			}
			resp = append(resp, p...)
		}
	}
	get()
	m.send(recHandshake, []byte{hsKeyUpdate, 0, 0, 1, 1})
	_ = m.wr.update()
	get()
	m.send(recAppData, []byte(upgradeRequest("/socket")))
	readHead101(t, m)
	m.send(recAppData, frame(ws.OpText, true, []byte("on the loop")))
	if p, _ := m.readPlain(frameLen(len("on the loop"))); !bytes.HasSuffix(p, []byte("on the loop")) {
		t.Fatalf("echo %q", p)
	}
	if s.Stats().Accepted != 1 {
		t.Fatalf("adopted %d", s.Stats().Accepted)
	}
}

// Two records cut at every byte offset, the server reading the first
// piece on its own (the kernel's queue seen empty) before the second
// arrives: header, body and the boundary between records are each split.
func TestTLSRecordsSplitEverywhere(t *testing.T) {
	rec := newRecorder(true)
	_, addr := startTLSServer(t, Config{}, acceptAll(rec), nil)
	m := newManualTLS(t, addr)
	m.send(recAppData, []byte(upgradeRequest("/socket")))
	readHead101(t, m)
	c := rec.waitOpen(t)
	for i := 1; ; i++ {
		msg := []byte("split message number ...")
		wire := frame(ws.OpText, true, msg)
		var recs []byte
		recs = m.wr.seal(recs, recAppData, wire[:7])
		recs = m.wr.seal(recs, recAppData, wire[7:])
		if i >= len(recs) {
			break
		}
		if _, err := m.raw.Write(recs[:i]); err != nil {
			t.Fatal(err)
		}
		eventually(t, "first piece read", func() bool { return inQueue(c) == 0 })
		if _, err := m.raw.Write(recs[i:]); err != nil {
			t.Fatal(err)
		}
		if p, _ := m.readPlain(frameLen(len(msg))); !bytes.HasSuffix(p, msg) {
			t.Fatalf("split at %d: echo %q", i, p)
		}
	}
}

// Requests handed to net/http over the loop's record layer see https:
// Request.TLS is set (version, suite, SNI), so a handler that redirects
// plain http to https, or marks its cookies Secure, behaves as under
// crypto/tls, on every keep-alive request of the connection.
func TestTLSFallbackRequestTLS(t *testing.T) {
	fallback := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS == nil {
			http.Redirect(w, r, "https://"+r.Host+r.URL.Path, http.StatusMovedPermanently)
			return
		}
		fmt.Fprintf(w, "%x %x %s %v", r.TLS.Version, r.TLS.CipherSuite, r.TLS.ServerName, r.TLS.HandshakeComplete)
	})
	_, addr := startTLSServer(t, Config{}, acceptAll(newRecorder(true)), fallback)
	for _, cfg := range []*tls.Config{clientTLSConfig(), client12(tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384)} {
		cfg.ServerName = "localhost"
		tr := &http.Transport{TLSClientConfig: cfg}
		hc := &http.Client{Transport: tr, Timeout: testWait,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		for range 2 {
			resp, err := hc.Get("https://" + addr + "/x")
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			want := fmt.Sprintf("%x %x localhost true", resp.TLS.Version, resp.TLS.CipherSuite)
			if resp.StatusCode != http.StatusOK || string(b) != want {
				t.Fatalf("%d %q, want %q", resp.StatusCode, b, want)
			}
		}
		tr.CloseIdleConnections()
	}
}
