package wire

import (
	"bytes"
	"compress/flate"
	"errors"
	"strings"
	"testing"
)

// deflateMsg compresses one message as a permessage-deflate sender does
// with no context takeover: a fresh stream, sync-flushed, its 4-byte tail
// removed.
func deflateMsg(t *testing.T, msg []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	w, err := flate.NewWriter(&b, flate.BestSpeed)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(msg)
	w.Flush()
	out := b.Bytes()
	if !bytes.HasSuffix(out, []byte{0, 0, 0xff, 0xff}) {
		t.Fatalf("flush did not end in the sync marker: % x", out[len(out)-4:])
	}
	return out[:len(out)-4]
}

func TestDeflateOfferIsABrowsers(t *testing.T) {
	if DeflateOffer != "permessage-deflate;client_max_window_bits" {
		t.Errorf("offer %q", DeflateOffer)
	}
	req := string(AppendUpgrade(nil, "h:1", "/s", "k", "", DeflateOffer))
	if !strings.Contains(req, "\r\nSec-WebSocket-Extensions: permessage-deflate;client_max_window_bits\r\n") {
		t.Errorf("request %q", req)
	}
}

func TestParseDeflateAnswer(t *testing.T) {
	head := func(ext ...string) []byte {
		h := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: x"
		for _, e := range ext {
			h += "\r\nSec-WebSocket-Extensions: " + e
		}
		return []byte(h + "\r\n\r\n")
	}
	// phxd's answer: no context takeover either way.
	d, err := ParseDeflateAnswer(head("permessage-deflate;server_no_context_takeover;client_no_context_takeover"), true)
	if err != nil || !d.On || d.ServerTakeover || !d.Params.ClientNoContextTakeover {
		t.Errorf("phxd's answer: %+v, %v", d, err)
	}
	// A server that keeps its context and bounds the client's window.
	d, err = ParseDeflateAnswer(head("permessage-deflate; client_max_window_bits=12"), true)
	if err != nil || !d.On || !d.ServerTakeover || d.Params.ClientMaxWindowBits != 12 {
		t.Errorf("takeover answer: %+v, %v", d, err)
	}
	// No answer: the connection goes on uncompressed.
	if d, err = ParseDeflateAnswer(head(), true); err != nil || d.On {
		t.Errorf("no answer: %+v, %v", d, err)
	}
	for name, h := range map[string][]byte{
		"not offered":         head("permessage-deflate"),
		"unknown extension":   head("x-webkit-deflate-frame"),
		"answered twice":      head("permessage-deflate", "permessage-deflate"),
		"unknown parameter":   head("permessage-deflate; foo=1"),
		"bad window":          head("permessage-deflate; server_max_window_bits=7"),
		"valueless client mw": head("permessage-deflate; client_max_window_bits"),
		"does not parse":      head("permessage-deflate; =="),
	} {
		offered := name != "not offered"
		if d, err := ParseDeflateAnswer(h, offered); err == nil {
			t.Errorf("%s: accepted %+v", name, d)
		}
	}
}

func TestInflate(t *testing.T) {
	var in Inflater
	msg := bytes.Repeat([]byte(`{"user:1":{"metas":[{"phx_ref":"abcdef1"}]}},`), 500)
	z := deflateMsg(t, msg)
	if len(z)*10 > len(msg) {
		t.Fatalf("%d bytes compressed to %d", len(msg), len(z))
	}
	var buf []byte
	for range 3 { // the inflater and buffer are reused, message after message
		out, err := in.Inflate(buf, z, nil, MaxFrame)
		if err != nil || !bytes.Equal(out, msg) {
			t.Fatalf("inflate: %v, %d bytes", err, len(out))
		}
		buf = out
	}
	if out, err := in.Inflate(buf, deflateMsg(t, nil), nil, MaxFrame); err != nil || len(out) != 0 {
		t.Errorf("empty message: %q, %v", out, err)
	}
	// Past the limit: refused, having produced at most the limit + 1.
	out, err := in.Inflate(nil, z, nil, 1000)
	if !errors.Is(err, ErrInflatedTooLarge) || len(out) != 1001 || cap(out) > 2002 {
		t.Errorf("over the limit: %v, len %d cap %d", err, len(out), cap(out))
	}
	// Corrupt data is an error, and the inflater still works afterwards.
	if _, err := in.Inflate(nil, []byte{0xff, 0xff, 0xff, 0xff, 0xff}, nil, MaxFrame); err == nil {
		t.Error("corrupt data inflated")
	}
	if out, err := in.Inflate(nil, z, nil, MaxFrame); err != nil || !bytes.Equal(out, msg) {
		t.Errorf("after an error: %v", err)
	}
}

// A sender that keeps its context refers back into earlier messages; the
// inflater reads them given the window KeepWindow kept.
func TestInflateContextTakeover(t *testing.T) {
	var b bytes.Buffer
	w, _ := flate.NewWriter(&b, flate.BestSpeed)
	var in Inflater
	var window []byte
	for i := range 40 {
		msg := []byte(strings.Repeat("presence_diff joins leaves metas phx_ref ", 40) + strings.Repeat("x", i*37))
		b.Reset()
		w.Write(msg)
		w.Flush()
		z := bytes.TrimSuffix(b.Bytes(), []byte{0, 0, 0xff, 0xff})
		out, err := in.Inflate(nil, z, window, MaxFrame)
		if err != nil || !bytes.Equal(out, msg) {
			t.Fatalf("message %d: %v (%d of %d bytes)", i, err, len(out), len(msg))
		}
		if i > 0 && len(z) > 100 {
			t.Errorf("message %d: %d bytes on the wire, the context was not used", i, len(z))
		}
		window = KeepWindow(window, out)
		if len(window) > 32<<10 {
			t.Fatalf("window %d bytes", len(window))
		}
	}
	// Without the window the same kind of message does not decode.
	b.Reset()
	w.Write([]byte(strings.Repeat("presence_diff joins leaves metas phx_ref ", 40)))
	w.Flush()
	if out, err := in.Inflate(nil, bytes.TrimSuffix(b.Bytes(), []byte{0, 0, 0xff, 0xff}), nil, MaxFrame); err == nil {
		t.Errorf("inflated a back reference without its window: %d bytes", len(out))
	}
}

func TestKeepWindow(t *testing.T) {
	w := KeepWindow(nil, []byte("abc"))
	w = KeepWindow(w, bytes.Repeat([]byte("d"), 32<<10-2))
	if len(w) != 32<<10 || string(w[:2]) != "bc" {
		t.Errorf("len %d, starts %q", len(w), w[:2])
	}
	big := append(bytes.Repeat([]byte("e"), 40<<10), 'f')
	if w = KeepWindow(w, big); len(w) != 32<<10 || w[len(w)-1] != 'f' {
		t.Errorf("big: len %d", len(w))
	}
}

func TestFrameHeaderRSV(t *testing.T) {
	f := AppendServerFrame(nil, 1, []byte("hi"))
	f[0] |= 0x40
	h, ok, err := ParseFrameHeader(f)
	if !ok || err != nil || h.Rsv != RSV1 || h.Op != 1 || !h.Fin {
		t.Errorf("%+v", h)
	}
	f[0] |= 0x30
	if h, _, _ = ParseFrameHeader(f); h.Rsv != 7 {
		t.Errorf("rsv %d", h.Rsv)
	}
}
