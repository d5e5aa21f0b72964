package netpoll

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
)

// upgradeDeflateTLS is upgradeDeflate over wss.
func upgradeDeflateTLS(t *testing.T, addr, ext string) (*client, string) {
	t.Helper()
	c := wrapClient(t, tlsRaw(t, addr))
	c.write([]byte(upgradeRequest("/socket", "Sec-WebSocket-Extensions: "+ext+"\r\n")))
	return c, c.readHead()
}

// permessage-deflate over wss: compressed echo both ways, at sizes that
// fit one record and that span several.
func TestTLSDeflateEcho(t *testing.T) {
	rec := newRecorder(true)
	_, addr := startTLSServer(t, deflateOn, acceptAll(rec), nil)
	c, head := upgradeDeflateTLS(t, addr, "permessage-deflate; client_max_window_bits")
	if !strings.Contains(head, accepted) {
		t.Fatalf("extension not accepted: %q", head)
	}
	for _, n := range []int{200, 20 << 10, 300 << 10} {
		msg := []byte(strings.Repeat(`{"topic":"room:lobby","event":"new_msg","payload":{"body":"hi"}}`, n/64+1))[:n]
		c.write(rsvFrame(ws.OpText, true, 0x4, clientDeflate(t, msg, 6)))
		h, p, err := c.readFrame()
		if err != nil || h.OpCode != ws.OpText || h.Rsv != 0x4 {
			t.Fatalf("echo of %d: %+v %v", n, h, err)
		}
		if got := clientInflate(t, p); !bytes.Equal(got, msg) {
			t.Fatalf("echo of %d bytes inflates to %d bytes", n, len(got))
		}
		if len(p) >= n/2 {
			t.Fatalf("echo of %d bytes sent as %d: not compressed", n, len(p))
		}
	}
}

// A broadcast compressed once and sent to wss and ws subscribers alike.
func TestTLSDeflateBroadcast(t *testing.T) {
	rec := newRecorder(false)
	_, taddr := startTLSServer(t, deflateOn, acceptAll(rec), nil)
	_, paddr := startServer(t, deflateOn, acceptAll(rec), nil)
	const ext = "permessage-deflate"
	var clients []*client
	for i := range 6 {
		var c *client
		if i%3 == 2 {
			c, _ = upgradeDeflate(t, paddr, ext)
		} else {
			c, _ = upgradeDeflateTLS(t, taddr, ext)
		}
		clients = append(clients, c)
	}
	var conns []*Conn
	for range clients {
		conns = append(conns, rec.waitOpen(t))
	}
	msg := bytes.Repeat([]byte(`{"event":"presence_diff","payload":{}} `), 2000)
	shared := Deflate(msg, 0)
	for range 3 {
		for _, sc := range conns {
			if err := sc.SendCompressed(OpText, shared); err != nil {
				t.Fatal(err)
			}
		}
	}
	for i, c := range clients {
		for range 3 {
			h, p, err := c.readFrame()
			if err != nil || h.Rsv != 0x4 || !bytes.Equal(clientInflate(t, p), msg) {
				t.Fatalf("client %d: %+v %v", i, h, err)
			}
		}
	}
}

// The bomb bound holds over wss: a frame of ~100 KB that inflates to
// 100 MB is closed with 1009, without allocating much past the limit.
func TestTLSDeflateBomb(t *testing.T) {
	const limit = 1 << 20
	rec := newRecorder(false)
	cfg := deflateOn
	cfg.MaxFrameSize = limit
	_, addr := startTLSServer(t, cfg, acceptAll(rec), nil)
	f := rsvFrame(ws.OpBinary, true, 0x4, clientDeflate(t, make([]byte, 100<<20), flate9))
	c, _ := upgradeDeflateTLS(t, addr, "permessage-deflate")
	refuseBomb(t, c, rec, f, limit)
}

// A ClientHello that trickles in (a byte every 100 ms) is cut at
// HandshakeTimeout, counted from the accept: each byte does not restart
// the clock.
func TestTLSSlowClientHello(t *testing.T) {
	const timeout = time.Second
	s, addr := startTLSServer(t, Config{HandshakeTimeout: timeout}, acceptAll(newRecorder(true)), nil)
	c := rawClient(t, addr)
	start := time.Now()
	done := make(chan struct{})
	go func() {
		hello := append([]byte{recHandshake, 3, 1, 2, 0, 1, 0, 1, 0xfc, 3, 3}, make([]byte, 600)...)
		for _, b := range hello {
			select {
			case <-done:
				return
			case <-time.After(100 * time.Millisecond):
			}
			if _, err := c.conn.Write([]byte{b}); err != nil {
				return
			}
		}
	}()
	defer close(done)
	c.expectEOF()
	el := time.Since(start)
	if el < timeout-100*time.Millisecond || el > timeout+2*time.Second {
		t.Fatalf("trickling ClientHello closed after %v, HandshakeTimeout %v", el, timeout)
	}
	eventually(t, "counted as failed", func() bool {
		st := s.TLSStats()
		return st.Failed == 1 && st.InProgress == 0 && s.Stats().Slots == 0
	})
}

// permessage-deflate on the mount path: negotiated through net/http
// over TLSListener, then carried on by the loop's record layer.
func TestTLSDeflateMounted(t *testing.T) {
	_, addr := startMounted(t, deflateOn, true)
	c, head := upgradeDeflateTLS(t, addr, "permessage-deflate; client_max_window_bits")
	if !strings.Contains(head, "101") || !strings.Contains(strings.ToLower(head), "permessage-deflate") {
		t.Fatalf("head %q", head)
	}
	msg := bytes.Repeat([]byte(`{"event":"phx_reply","payload":{"status":"ok"}}`), 500)
	c.write(rsvFrame(ws.OpText, true, 0x4, clientDeflate(t, msg, 6)))
	h, p, err := c.readFrame()
	if err != nil || h.Rsv != 0x4 || !bytes.Equal(clientInflate(t, p), msg) {
		t.Fatalf("echo: %+v %v", h, err)
	}
}
