package engine

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/phxgo/phxgo/cmd/phxbench/internal/scenario"
	"github.com/phxgo/phxgo/cmd/phxbench/internal/wire"
	"golang.org/x/sys/unix"
)

// The client side of permessage-deflate, driven through the engine's own
// read path: a socketpair stands for the server, the test writes the
// upgrade answer and frames into it in pieces, and the engine reads them.

// The RFC 6455 example key and its accept value.
const (
	testKey    = "dGhlIHNhbXBsZSBub25jZQ=="
	testAccept = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
	phxdAnswer = "permessage-deflate;server_no_context_takeover;client_no_context_takeover"
)

type deflateRig struct {
	t    *testing.T
	e    *engine
	c    *client
	peer int
	got  [][]byte // data messages as the engine decoded them
}

// newDeflateRig is one client of an engine, handshaking over a socketpair;
// compress sets the scenario's "compress".
func newDeflateRig(t *testing.T, compress bool) *deflateRig {
	t.Helper()
	sc, _, err := scenario.Builtin("connect", scenario.BuiltinOptions{URL: "ws://127.0.0.1:1/socket/websocket",
		Vsn: "2.0.0", N: 1, Topic: "room:t", Token: "user:x"})
	if err != nil {
		t.Fatal(err)
	}
	sc.Compress = compress
	p, err := scenario.Compile(sc)
	if err != nil {
		t.Fatal(err)
	}
	e, err := newEngine(p, engineOptions{procs: 1, step: time.Second, t0: nowNS()}, func(workerEvent) {})
	if err != nil {
		t.Fatal(err)
	}
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	r := &deflateRig{t: t, e: e, c: e.all[0], peer: fds[1]}
	t.Cleanup(func() {
		testOnMessage = nil
		if r.c.fd >= 0 {
			unix.Close(r.c.fd)
		}
		unix.Close(fds[1])
		unix.Close(e.ep)
	})
	testOnMessage = func(payload []byte, _ bool) { r.got = append(r.got, bytes.Clone(payload)) }
	e.now = nowNS()
	e.start = e.now
	c := r.c
	c.fd, c.key, c.state = fds[0], testKey, stHandshaking
	e.setFD(c.fd, c)
	if got := e.deflateOffer(); (got != "") != compress { // as connected() writes the request
		t.Fatalf("offer %q with compress %v", got, compress)
	}
	return r
}

// feed writes b to the client in pieces of the given sizes (cycled), the
// engine reading after each.
func (r *deflateRig) feed(b []byte, sizes ...int) {
	r.t.Helper()
	for i := 0; len(b) > 0 && r.c.fd >= 0; i++ {
		n := min(len(b), sizes[i%len(sizes)])
		if _, err := unix.Write(r.peer, b[:n]); err != nil {
			r.t.Fatal(err)
		}
		b = b[n:]
		r.e.now = nowNS()
		r.e.read(r.c)
	}
}

// upgrade is a 101 answer with the given extensions header ("" for none).
func upgrade(ext string) []byte {
	h := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " + testAccept
	if ext != "" {
		h += "\r\nSec-WebSocket-Extensions: " + ext
	}
	return []byte(h + "\r\n\r\n")
}

// serverFrame is one unmasked frame: fin, rsv1 and the opcode as given.
func serverFrame(fin, rsv1 bool, op ws.OpCode, payload []byte) []byte {
	f := wire.AppendServerFrame(nil, op, payload)
	if !fin {
		f[0] &^= 0x80
	}
	if rsv1 {
		f[0] |= 0x40
	}
	return f
}

// deflated compresses msg as phxd does (no context takeover).
func deflated(t *testing.T, msg []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	w, _ := flate.NewWriter(&b, flate.BestSpeed)
	w.Write(msg)
	w.Flush()
	return bytes.TrimSuffix(b.Bytes(), []byte{0, 0, 0xff, 0xff})
}

// presenceState is a V2 presence_state push of n members.
func presenceState(n int) []byte {
	var b strings.Builder
	b.WriteString(`[null,null,"room:t","presence_state",{`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `"user:u%d":{"metas":[{"phx_ref":"AbCdEf%d","online_at":"1765000000%d"}]}`, i, i, i%10)
	}
	b.WriteString("}]")
	return []byte(b.String())
}

// closeCodes returns the close codes of the client frames the peer got.
func (r *deflateRig) closeCodes() []ws.StatusCode {
	buf := make([]byte, 1<<16)
	n, _ := unix.Read(r.peer, buf)
	var codes []ws.StatusCode
	for b := buf[:max(n, 0)]; len(b) > 0; {
		h, ok, err := wire.ParseFrameHeader(b)
		if !ok || err != nil || len(b) < h.Size+h.Length {
			r.t.Fatalf("client frames do not parse: % x", b)
		}
		p := bytes.Clone(b[h.Size : h.Size+h.Length])
		ws.Cipher(p, h.Mask, 0)
		if h.Op == ws.OpClose {
			codes = append(codes, ws.StatusCode(binary.BigEndian.Uint16(p)))
		}
		b = b[h.Size+h.Length:]
	}
	return codes
}

// A compressed presence_state arriving a few bytes at a time, then as
// three fragments, then a plain frame on the same connection: each is
// inflated (or not) to the exact message, which parses as JSON.
func TestDeflateSplitOverReads(t *testing.T) {
	r := newDeflateRig(t, true)
	state := presenceState(400)
	z := deflated(t, state)
	if len(z)*5 > len(state) {
		t.Fatalf("%d bytes compressed to %d", len(state), len(z))
	}
	r.feed(upgrade(phxdAnswer), 5, 17)
	if r.c.state != stOpen || r.c.deflate != dfOn {
		t.Fatalf("state %v, deflate %b after the answer", r.c.state, r.c.deflate)
	}
	r.feed(serverFrame(true, true, ws.OpText, z), 1, 1, 2, 3, 500, 7)
	third := len(z) / 3
	frags := serverFrame(false, true, ws.OpText, z[:third])
	frags = append(frags, serverFrame(false, false, ws.OpContinuation, z[third:2*third])...)
	frags = append(frags, serverFrame(true, false, ws.OpContinuation, z[2*third:])...)
	r.feed(frags, 1000, 3)
	plain := []byte(`[null,null,"room:t","shout",{"body":"hi"}]`)
	r.feed(serverFrame(true, false, ws.OpText, plain), 4)
	if len(r.e.st.errors) != 0 || r.c.state != stOpen {
		t.Fatalf("errors %v, state %v", r.e.st.errors, r.c.state)
	}
	if len(r.got) != 3 || !bytes.Equal(r.got[0], state) || !bytes.Equal(r.got[1], state) || !bytes.Equal(r.got[2], plain) {
		t.Fatalf("got %d messages (%d, …), want the state twice and the plain one", len(r.got), len(r.got[0]))
	}
	var msg []json.RawMessage
	var members map[string]any
	if json.Unmarshal(r.got[1], &msg) != nil || len(msg) != 5 || json.Unmarshal(msg[4], &members) != nil || len(members) != 400 {
		t.Errorf("the inflated presence_state does not parse as one of 400 members")
	}
	c := r.e.st.c
	if c.DeflateOffered != 1 || c.DeflateNegotiated != 1 || c.MsgsInflated != 2 ||
		c.BytesDeflated != 2*int64(len(z)) || c.BytesInflated != 2*int64(len(state)) {
		t.Errorf("counters %+v", c)
	}
	if len(r.e.window) != 0 {
		t.Errorf("no context takeover, yet %d sockets keep a window", len(r.e.window))
	}
}

// Reserved bits the connection did not agree to fail it with 1002.
func TestDeflateRSVProtocolErrors(t *testing.T) {
	msg := deflated(t, []byte(`[null,null,"room:t","shout",{"body":"hi"}]`))
	for _, tc := range []struct {
		name     string
		compress bool
		answer   string
		frames   [][]byte
	}{
		{"RSV1, nothing offered", false, "", [][]byte{serverFrame(true, true, ws.OpText, msg)}},
		{"RSV1, offer declined", true, "", [][]byte{serverFrame(true, true, ws.OpText, msg)}},
		{"RSV1 on a continuation", true, phxdAnswer, [][]byte{serverFrame(false, false, ws.OpText, msg[:3]),
			serverFrame(true, true, ws.OpContinuation, msg[3:])}},
		{"RSV1 on a ping", true, phxdAnswer, [][]byte{serverFrame(true, true, ws.OpPing, nil)}},
		{"RSV2", true, phxdAnswer, [][]byte{func() []byte { f := serverFrame(true, false, ws.OpText, msg); f[0] |= 0x20; return f }()}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newDeflateRig(t, tc.compress)
			r.feed(upgrade(tc.answer), 1<<10)
			if r.c.state != stOpen {
				t.Fatalf("not open after the answer: %v", r.e.st.errors)
			}
			for _, f := range tc.frames {
				r.feed(f, 2)
			}
			if r.c.state != stFailed || r.e.st.errors["protocol:rsv"] != 1 || len(r.got) != 0 {
				t.Fatalf("state %v, errors %v, %d messages", r.c.state, r.e.st.errors, len(r.got))
			}
			if codes := r.closeCodes(); len(codes) != 1 || codes[0] != ws.StatusProtocolError {
				t.Errorf("close codes sent %v, want [1002]", codes)
			}
		})
	}
}

// An extension answered that was not offered fails the connect; corrupt
// and oversized compressed messages fail the client with 1007 and 1009.
func TestDeflateBadAnswersAndPayloads(t *testing.T) {
	r := newDeflateRig(t, false)
	r.feed(upgrade(phxdAnswer), 64)
	if r.c.state != stFailed || r.e.st.errors["connect:bad_extensions"] != 1 {
		t.Errorf("unrequested deflate answer: state %v, errors %v", r.c.state, r.e.st.errors)
	}
	// A refused upgrade is no offer answered: the run does not look mixed.
	r = newDeflateRig(t, true)
	r.feed([]byte("HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n"), 64)
	if r.c.state != stFailed || r.e.st.c.DeflateOffered != 0 || compressionOf(&r.e.st.c) != nil {
		t.Errorf("refused upgrade: state %v, offered %d", r.c.state, r.e.st.c.DeflateOffered)
	}
	r = newDeflateRig(t, true)
	r.feed(upgrade(phxdAnswer), 64)
	r.feed(serverFrame(true, true, ws.OpText, []byte{0xff, 0xfe, 0xfd, 0xfc, 0xfb}), 64)
	if r.e.st.errors["inflate"] != 1 {
		t.Errorf("corrupt message: errors %v", r.e.st.errors)
	}
	if codes := r.closeCodes(); len(codes) != 1 || codes[0] != ws.StatusInvalidFramePayloadData {
		t.Errorf("corrupt message: close codes %v", codes)
	}
	r = newDeflateRig(t, true)
	r.feed(upgrade(phxdAnswer), 64)
	bomb := deflated(t, make([]byte, wire.MaxFrame+1))
	r.feed(serverFrame(true, true, ws.OpBinary, bomb), 1<<16)
	if r.e.st.errors["frame_too_large"] != 1 || cap(r.e.ibuf) > 2*wire.MaxFrame+2 {
		t.Errorf("bomb: errors %v, inflate buffer %d bytes", r.e.st.errors, cap(r.e.ibuf))
	}
}

func TestCompressionOf(t *testing.T) {
	if x := compressionOf(&Counters{BytesIn: 10}); x != nil {
		t.Errorf("nothing offered: %+v", x)
	}
	c := Counters{DeflateOffered: 4, DeflateNegotiated: 4, MsgsInflated: 3, BytesDeflated: 100, BytesInflated: 2500, BytesIn: 300}
	x := compressionOf(&c)
	if x.Mode != "deflate" || x.BytesWire != 300 || x.BytesPlain != 2700 || x.Ratio != 9 || x.Messages != 3 {
		t.Errorf("all agreed: %+v", x)
	}
	c.DeflateNegotiated = 1
	if x = compressionOf(&c); x.Mode != "mixed" {
		t.Errorf("some agreed: %+v", x)
	}
	c = Counters{DeflateOffered: 4, BytesIn: 300}
	if x = compressionOf(&c); x.Mode != "plain" || x.Negotiated != 0 || x.BytesPlain != 300 || x.Ratio != 1 {
		t.Errorf("none agreed: %+v", x)
	}
}

// A server that keeps its context (no server_no_context_takeover in its
// answer) refers back into earlier messages: the engine keeps that
// socket's last 32 KiB, and drops it when the socket closes.
func TestDeflateServerContextTakeover(t *testing.T) {
	r := newDeflateRig(t, true)
	r.feed(upgrade("permessage-deflate; client_max_window_bits=15"), 64)
	if r.c.deflate != dfOn|dfTakeover || len(r.e.window) != 1 {
		t.Fatalf("deflate %b, %d windows", r.c.deflate, len(r.e.window))
	}
	var b bytes.Buffer
	w, _ := flate.NewWriter(&b, flate.BestSpeed)
	var want [][]byte
	for i := range 30 {
		msg := presenceState(20 + i)
		b.Reset()
		w.Write(msg)
		w.Flush()
		z := bytes.TrimSuffix(b.Bytes(), []byte{0, 0, 0xff, 0xff})
		var alone wire.Inflater
		if out, err := alone.Inflate(nil, z, nil, wire.MaxFrame); i > 0 && err == nil && bytes.Equal(out, msg) {
			t.Fatalf("message %d decodes without the earlier ones: nothing refers back", i)
		}
		r.feed(serverFrame(true, true, ws.OpText, z), 3, 50)
		want = append(want, msg)
	}
	if len(r.e.st.errors) != 0 || len(r.got) != len(want) {
		t.Fatalf("errors %v, %d messages", r.e.st.errors, len(r.got))
	}
	for i := range want {
		if !bytes.Equal(r.got[i], want[i]) {
			t.Fatalf("message %d differs", i)
		}
	}
	if win := r.e.window[r.c]; len(win) == 0 || len(win) > 32<<10 {
		t.Errorf("window of %d bytes", len(win))
	}
	r.e.closeFD(r.c)
	if len(r.e.window) != 0 {
		t.Errorf("%d windows after the close", len(r.e.window))
	}
}
