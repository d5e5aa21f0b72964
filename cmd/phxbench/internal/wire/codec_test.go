package wire

import (
	"bytes"
	"strings"
	"testing"

	"github.com/phxgo/phxgo/cmd/phxbench/internal/check"

	"github.com/gobwas/ws"
)

func TestStampsAndRefs(t *testing.T) {
	p := AppendStamp([]byte(`{"body":"x `), 1732812345678901234)
	ts, ok := FindStamp(append(p, `"}`...))
	if !ok || ts != 1732812345678901234 {
		t.Errorf("stamp: %d %v", ts, ok)
	}
	if _, ok := FindStamp([]byte(`{"body":"~pb~x"}`)); ok {
		t.Error("stamp without digits")
	}
	for raw, want := range map[string]uint64{`"17"`: 17, `17`: 17} {
		if n, ok := ParseRef([]byte(raw)); !ok || n != want {
			t.Errorf("%s: %d %v", raw, n, ok)
		}
	}
	for _, raw := range []string{``, `null`, `"a"`, `"1x"`} {
		if _, ok := ParseRef([]byte(raw)); ok {
			t.Errorf("%s parsed", raw)
		}
	}
	check.Eq(t, "appendRef", string(AppendRef(nil, 42)), `"42"`)
}

func TestFrames(t *testing.T) {
	for _, n := range []int{0, 1, 125, 126, 65535, 65536, 100_000} {
		payload := bytes.Repeat([]byte{'a'}, n)
		mask := [4]byte{1, 2, 3, 4}
		f := AppendClientFrame(nil, ws.OpText, payload, mask)
		h, ok, err := ParseFrameHeader(f)
		if !ok || err != nil {
			t.Fatalf("%d: %v %v", n, ok, err)
		}
		check.Eq(t, "length", h.Length, n)
		check.Eq(t, "size", h.Size+h.Length, len(f))
		check.Eq(t, "masked", h.Masked, true)
		body := f[h.Size:]
		ws.Cipher(body, h.Mask, 0)
		if !bytes.Equal(body, payload) {
			t.Errorf("%d: payload differs after unmasking", n)
		}
		if _, ok, _ := ParseFrameHeader(f[:h.Size-1]); ok {
			t.Errorf("%d: partial header accepted", n)
		}
		sf := AppendServerFrame(nil, ws.OpBinary, payload)
		h, ok, _ = ParseFrameHeader(sf)
		if !ok || h.Masked || h.Op != ws.OpBinary || h.Size+h.Length != len(sf) {
			t.Errorf("%d: server frame header %+v", n, h)
		}
	}
	huge := []byte{0x82, 127, 0, 0, 0, 0, 0x10, 0, 0, 0}
	if _, _, err := ParseFrameHeader(huge); err == nil {
		t.Error("256 MiB frame accepted")
	}
}

func TestUpgrade(t *testing.T) {
	const key = "dGhlIHNhbXBsZSBub25jZQ=="
	check.Eq(t, "accept", acceptKey(key), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=") // RFC 6455 §1.3
	resp := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nsec-websocket-accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n\x81\x02hi"
	n, status, err := ParseUpgrade([]byte(resp), key)
	if err != nil || status != 101 || resp[n:] != "\x81\x02hi" {
		t.Errorf("101: %d %d %v", n, status, err)
	}
	if n, _, err := ParseUpgrade([]byte(resp[:30]), key); n != 0 || err != nil {
		t.Errorf("partial: %d %v", n, err)
	}
	if _, status, err := ParseUpgrade([]byte("HTTP/1.1 429 Too Many\r\nRetry-After: 5\r\n\r\n"), key); status != 429 || err != nil {
		t.Errorf("429: %d %v", status, err)
	}
	if _, _, err := ParseUpgrade([]byte("HTTP/1.1 101 OK\r\nSec-WebSocket-Accept: nope\r\n\r\n"), key); err == nil {
		t.Error("wrong accept key accepted")
	}
	req := string(AppendUpgrade(nil, "h:1", "/s/websocket?vsn=2.0.0", key, AuthProtocols("user:1"), ""))
	for _, want := range []string{"GET /s/websocket?vsn=2.0.0 HTTP/1.1\r\n", "Host: h:1\r\n",
		"Sec-WebSocket-Protocol: phoenix, base64url.bearer.phx.dXNlcjox\r\n", "\r\n\r\n"} {
		if !strings.Contains(req, want) {
			t.Errorf("request lacks %q:\n%s", want, req)
		}
	}
}
