package netpoll

import (
	"bytes"
	"compress/flate"
	"io"
	"strings"
	"testing"

	"github.com/gobwas/ws"
)

var deflateOn = Config{Deflate: DeflateConfig{Enabled: true}}

// clientDeflate compresses p as a client does (sync flush, tail removed).
func clientDeflate(t testing.TB, p []byte, level int) []byte {
	t.Helper()
	var b bytes.Buffer
	w, err := flate.NewWriter(&b, level)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = w.Write(p)
	_ = w.Flush()
	return bytes.TrimSuffix(b.Bytes(), deflateTail)
}

// clientInflate decodes one compressed server message.
func clientInflate(t testing.TB, p []byte) []byte {
	t.Helper()
	r := flate.NewReader(io.MultiReader(bytes.NewReader(p), bytes.NewReader(deflateTail)))
	out, err := io.ReadAll(r)
	if err != nil && err != io.ErrUnexpectedEOF {
		t.Fatalf("inflate: %v", err)
	}
	return out
}

// rsvFrame builds one masked client frame with the given RSV bits.
func rsvFrame(op ws.OpCode, fin bool, rsv byte, p []byte) []byte {
	f := ws.NewFrame(op, fin, append([]byte(nil), p...))
	f.Header.Rsv = rsv
	b, err := ws.CompileFrame(ws.MaskFrameInPlace(f))
	if err != nil {
		panic(err)
	}
	return b
}

// upgradeDeflate opens a raw connection offering ext and returns it with
// the response head.
func upgradeDeflate(t *testing.T, addr, ext string) (*client, string) {
	t.Helper()
	c := rawClient(t, addr)
	hdr := ""
	if ext != "" {
		hdr = "Sec-WebSocket-Extensions: " + ext + "\r\n"
	}
	c.write([]byte(upgradeRequest("/socket", hdr)))
	return c, c.readHead()
}

// accepted is our answer as gobwas writes it.
const accepted = "\r\nSec-WebSocket-Extensions: permessage-deflate;server_no_context_takeover;client_no_context_takeover\r\n"

func TestDeflateNegotiation(t *testing.T) {
	_, addr := startServer(t, deflateOn, acceptAll(newRecorder(false)), nil)
	for _, tc := range []struct {
		offer string
		ok    bool
	}{
		{"permessage-deflate; client_max_window_bits", true}, // Chromium, Node's ws
		{"permessage-deflate", true},
		{"permessage-deflate; client_max_window_bits=10; server_no_context_takeover; client_no_context_takeover", true},
		{"permessage-deflate; server_max_window_bits=15", true},
		{"x-webkit-deflate-frame, permessage-deflate", true},
		{"permessage-deflate; server_max_window_bits=10", false}, // we cannot honour it
		{"permessage-deflate; server_max_window_bits=10, permessage-deflate; client_max_window_bits", true},
		{"permessage-deflate; foo", false},
		{"permessage-deflate; client_max_window_bits=16", false},
		{"permessage-deflate; client_max_window_bits=abc", false},
		{"permessage-deflate; client_max_window_bits; client_max_window_bits", false},
		{"permessage-deflate; server_no_context_takeover; server_no_context_takeover", false},
		{"permessage-deflate; server_no_context_takeover=1", false},
		{"permessage-deflate; server_max_window_bits", false},
		{"x-webkit-deflate-frame", false},
	} {
		_, head := upgradeDeflate(t, addr, tc.offer)
		if !strings.HasPrefix(head, "HTTP/1.1 101 ") {
			t.Fatalf("offer %q: response %q", tc.offer, head)
		}
		if got := strings.Contains(head, accepted); got != tc.ok ||
			(!tc.ok && strings.Contains(head, "Sec-WebSocket-Extensions")) {
			t.Errorf("offer %q: accepted %v, want %v; head %q", tc.offer, got, tc.ok, head)
		}
		if strings.Count(head, "permessage-deflate") > 1 {
			t.Errorf("offer %q: more than one answer: %q", tc.offer, head)
		}
	}
	// A header that does not parse fails the handshake.
	c := rawClient(t, addr)
	c.write([]byte(upgradeRequest("/socket", "Sec-WebSocket-Extensions: permessage-deflate; =;,\"\r\n")))
	if got := c.readAll(); !strings.HasPrefix(got, "HTTP/1.1 400 ") {
		t.Fatalf("malformed header: %q", got)
	}
}

// Off (the default), no offer is accepted and RSV1 fails the connection.
func TestDeflateOffByDefault(t *testing.T) {
	rec := newRecorder(false)
	_, addr := startServer(t, Config{}, acceptAll(rec), nil)
	c, head := upgradeDeflate(t, addr, "permessage-deflate; client_max_window_bits")
	if !strings.HasPrefix(head, "HTTP/1.1 101 ") || strings.Contains(head, "Extensions") {
		t.Fatalf("head %q", head)
	}
	if rec.waitOpen(t).Compressing() {
		t.Fatal("Compressing on a plain connection")
	}
	c.write(rsvFrame(ws.OpText, true, 0x4, clientDeflate(t, []byte("hello"), 6)))
	c.expectClose(CloseProtocolError, "*")
}

func TestDeflateRoundTrip(t *testing.T) {
	rec := newRecorder(true)
	_, addr := startServer(t, deflateOn, acceptAll(rec), nil)
	c, head := upgradeDeflate(t, addr, "permessage-deflate; client_max_window_bits")
	if !strings.Contains(head, accepted) {
		t.Fatalf("head %q", head)
	}
	if !rec.waitOpen(t).Compressing() {
		t.Fatal("Compressing is false")
	}
	big := []byte(strings.Repeat(`{"topic":"room:lobby","event":"shout","payload":{"body":"hi"}}`, 10))
	for i := range 3 { // each message decodes alone: no context is kept
		c.write(rsvFrame(ws.OpText, true, 0x4, clientDeflate(t, big, 6)))
		if m := rec.waitMsg(t); !bytes.Equal(m.payload, big) || m.op != OpText {
			t.Fatalf("message %d: got %q", i, m.payload)
		}
		h, p, err := c.readFrame()
		if err != nil || h.Rsv != 0x4 || h.OpCode != ws.OpText {
			t.Fatalf("echo %d: %+v %v", i, h, err)
		}
		if len(p) >= len(big)/4 {
			t.Fatalf("echo of %d bytes compressed to %d", len(big), len(p))
		}
		if got := clientInflate(t, p); !bytes.Equal(got, big) {
			t.Fatalf("echo %d inflates to %q", i, got)
		}
	}
	// Below MinSize: sent as is, RSV1 clear. An uncompressed client
	// message is allowed too.
	c.send(ws.OpText, []byte("small"))
	if m := rec.waitMsg(t); string(m.payload) != "small" {
		t.Fatalf("got %q", m.payload)
	}
	h, p, err := c.readFrame()
	if err != nil || h.Rsv != 0 || string(p) != "small" {
		t.Fatalf("small echo: %+v %q %v", h, p, err)
	}
	// MinSize exactly: one byte less goes out plain.
	for _, n := range []int{DefaultDeflateMinSize - 1, DefaultDeflateMinSize} {
		c.send(ws.OpText, bytes.Repeat([]byte("m"), n))
		rec.waitMsg(t)
		h, p, err := c.readFrame()
		if err != nil || (h.Rsv == 0x4) != (n >= DefaultDeflateMinSize) {
			t.Fatalf("echo of %d bytes: %+v %v", n, h, err)
		}
		if h.Rsv == 0x4 {
			p = clientInflate(t, p)
		}
		if len(p) != n {
			t.Fatalf("echo of %d bytes came back with %d", n, len(p))
		}
	}
	// A fragmented compressed message: RSV1 on the first frame only; an
	// empty compressed message.
	z := clientDeflate(t, big, 9)
	c.write(rsvFrame(ws.OpBinary, false, 0x4, z[:len(z)/2]))
	c.write(rsvFrame(ws.OpContinuation, true, 0, z[len(z)/2:]))
	if m := rec.waitMsg(t); !bytes.Equal(m.payload, big) || m.op != OpBinary {
		t.Fatalf("fragmented: %q", m.payload)
	}
	c.write(rsvFrame(ws.OpText, true, 0x4, clientDeflate(t, nil, 6)))
	if m := rec.waitMsg(t); len(m.payload) != 0 {
		t.Fatalf("empty: %q", m.payload)
	}
}

func TestDeflateSendCompressed(t *testing.T) {
	rec := newRecorder(false)
	_, addr := startServer(t, deflateOn, acceptAll(rec), nil)
	c, _ := upgradeDeflate(t, addr, "permessage-deflate")
	sc := rec.waitOpen(t)
	msg := []byte(strings.Repeat("shared broadcast ", 20))
	z := Deflate(msg, 0)
	if err := sc.SendCompressed(OpText, z); err != nil {
		t.Fatal(err)
	}
	if err := sc.SendNow(OpText, msg); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		h, p, err := c.readFrame()
		if err != nil || h.Rsv != 0x4 {
			t.Fatalf("%+v %v", h, err)
		}
		if got := clientInflate(t, p); !bytes.Equal(got, msg) {
			t.Fatalf("got %q", got)
		}
	}
	_, addr2 := startServer(t, Config{}, acceptAll(rec), nil)
	upgradeDeflate(t, addr2, "permessage-deflate")
	if err := rec.waitOpen(t).SendCompressed(OpText, z); err != ErrBadOpCode {
		t.Fatalf("SendCompressed on a plain connection: %v", err)
	}
}

func TestDeflateProtocolErrors(t *testing.T) {
	rec := newRecorder(false)
	_, addr := startServer(t, deflateOn, acceptAll(rec), nil)
	z := clientDeflate(t, []byte(strings.Repeat("x", 300)), 6)
	for _, tc := range []struct {
		name   string
		frames [][]byte
		code   int
	}{
		{"ping with RSV1", [][]byte{rsvFrame(ws.OpPing, true, 0x4, nil)}, CloseProtocolError},
		{"close with RSV1", [][]byte{rsvFrame(ws.OpClose, true, 0x4, closeBody(1000, ""))}, CloseProtocolError},
		{"RSV2", [][]byte{rsvFrame(ws.OpText, true, 0x2, []byte("a"))}, CloseProtocolError},
		{"RSV1+RSV3", [][]byte{rsvFrame(ws.OpText, true, 0x5, z)}, CloseProtocolError},
		{"continuation with RSV1", [][]byte{rsvFrame(ws.OpText, false, 0x4, z[:4]),
			rsvFrame(ws.OpContinuation, true, 0x4, z[4:])}, CloseProtocolError},
		{"corrupt data", [][]byte{rsvFrame(ws.OpText, true, 0x4, []byte{0xff, 0xff, 0xff, 0x01})}, CloseInvalidPayload},
		{"back-reference into an earlier message", [][]byte{rsvFrame(ws.OpText, true, 0x4,
			contextTakeover(t))}, CloseInvalidPayload},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := upgradeDeflate(t, addr, "permessage-deflate")
			rec.waitOpen(t)
			for _, f := range tc.frames {
				c.write(f)
			}
			c.expectClose(tc.code, "*")
			_ = c.conn.Close() // the server lingers until our FIN
			if ev := rec.waitClose(t); ev.code != tc.code {
				t.Fatalf("OnClose code %d, want %d", ev.code, tc.code)
			}
		})
	}
}

// contextTakeover is the second message of a stream that kept its window:
// it refers to the first, which our inflater no longer has.
func contextTakeover(t *testing.T) []byte {
	var b bytes.Buffer
	w, _ := flate.NewWriter(&b, 9)
	msg := []byte(strings.Repeat("a fairly long sentence that repeats. ", 4))
	_, _ = w.Write(msg)
	_ = w.Flush()
	n := b.Len()
	_, _ = w.Write(msg)
	_ = w.Flush()
	return bytes.TrimSuffix(b.Bytes()[n:], deflateTail)
}

// The upgrade through net/http negotiates the same way.
func TestDeflateUpgradeHTTP(t *testing.T) {
	rec := newRecorder(true)
	_, addr := startUpgradeHTTP(t, Config{Deflate: DeflateConfig{Enabled: true}}, acceptAll(rec))
	c, head := upgradeDeflate(t, addr, "permessage-deflate; client_max_window_bits")
	if !strings.Contains(strings.ToLower(head), strings.ToLower(accepted)) {
		t.Fatalf("head %q", head)
	}
	msg := []byte(strings.Repeat("via net/http ", 20))
	c.write(rsvFrame(ws.OpText, true, 0x4, clientDeflate(t, msg, 6)))
	h, p, err := c.readFrame()
	if err != nil || h.Rsv != 0x4 || !bytes.Equal(clientInflate(t, p), msg) {
		t.Fatalf("%+v %v", h, err)
	}
}
