package netpoll

import (
	"bytes"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/gobwas/ws"
)

// fuzzMaxFrame is the server's message limit during fuzzing: small, so that
// inputs reach it.
const fuzzMaxFrame = 1 << 12

// echoHandler sends every message back as it came.
type echoHandler struct{}

func (echoHandler) OnOpen(*Conn)                           {}
func (echoHandler) OnMessage(c *Conn, op OpCode, p []byte) { _ = c.Send(op, p) }
func (echoHandler) OnClose(*Conn, int, string)             {}

type fuzzMsg struct {
	op OpCode
	p  string
}

// referenceMessages reads data as a client-to-server frame stream with
// gobwas's header parser and returns the data messages the server must
// echo, and whether the stream is whole and valid (it ends on a frame
// boundary, with no protocol error, no close frame and no message over the
// limit). Only then does the echo have to be complete.
func referenceMessages(data []byte) (msgs []fuzzMsg, whole bool) {
	r := bytes.NewReader(data)
	var cur []byte
	var curOp OpCode
	inMsg := false
	for r.Len() > 0 {
		h, err := ws.ReadHeader(r)
		if err != nil || !h.Masked || h.Rsv != 0 || int64(r.Len()) < h.Length {
			return msgs, false
		}
		p := make([]byte, h.Length)
		_, _ = io.ReadFull(r, p)
		ws.Cipher(p, h.Mask, 0)
		switch h.OpCode {
		case ws.OpPing, ws.OpPong:
			if !h.Fin || h.Length > 125 {
				return msgs, false
			}
		case ws.OpText, ws.OpBinary, ws.OpContinuation:
			if (h.OpCode == ws.OpContinuation) != inMsg {
				return msgs, false
			}
			if !inMsg {
				curOp, cur, inMsg = OpCode(h.OpCode), nil, true
			}
			if cur = append(cur, p...); len(cur) > fuzzMaxFrame {
				return msgs, false
			}
			if h.Fin {
				msgs, inMsg = append(msgs, fuzzMsg{curOp, string(cur)}), false
			}
		default: // close, or a reserved opcode
			return msgs, false
		}
	}
	return msgs, !inMsg
}

// FuzzFrameReading writes arbitrary bytes, in chunks of arbitrary size, to
// an upgraded connection of an echo server. Whatever arrives, the server
// must not crash, must write only well-formed unmasked frames, must echo
// exactly the messages of a whole valid stream however it was chunked, and
// must go on serving other connections.
func FuzzFrameReading(f *testing.F) {
	seeds := [][]byte{
		frame(ws.OpText, true, []byte("hello")),
		append(frame(ws.OpText, false, []byte("hel")), frame(ws.OpContinuation, true, []byte("lo"))...),
		append(frame(ws.OpPing, true, []byte("p")), frame(ws.OpBinary, true, []byte{0, 1, 2})...),
		frame(ws.OpClose, true, closeBody(1000, "bye")),
		{0x81, 0x05, 'h', 'e', 'l', 'l', 'o'},                                    // unmasked
		{0x82, 0xff, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4}, // huge length
		frame(ws.OpCode(0x3), true, []byte("x")),                                 // reserved opcode
		frame(ws.OpText, true, bytes.Repeat([]byte("a"), fuzzMaxFrame+1)),        // too big
	}
	for i, s := range seeds {
		f.Add(s, uint8(i*7+1))
	}
	for _, s := range boundaryFrames() {
		f.Add(s, uint8(255))
		f.Add(s, uint8(1+len(s)%13))
	}
	_, addr := startServer(f, Config{MaxFrameSize: fuzzMaxFrame, CloseTimeout: 200 * time.Millisecond},
		acceptAll(echoHandler{}), nil)
	f.Fuzz(func(t *testing.T, data []byte, chunk uint8) {
		c := dial(t, addr)
		step := max(1, int(chunk))
		for off := 0; off < len(data); off += step {
			if _, err := c.conn.Write(data[off:min(off+step, len(data))]); err != nil {
				break // the server closed on a protocol error: fine
			}
		}
		want, whole := referenceMessages(data)
		got := readEchoes(t, c, len(want), whole)
		for i, m := range got {
			if i >= len(want) || m != want[i] {
				t.Fatalf("echo %d = %+v, want %+v (of %d expected)", i, m, want[min(i, len(want)-1)], len(want))
			}
		}
		if whole && len(got) != len(want) {
			t.Fatalf("valid stream: echoed %d of %d messages", len(got), len(want))
		}
		_ = c.conn.Close()
		alive := dial(t, addr)
		alive.send(ws.OpText, []byte("still up"))
		if p := alive.expectFrame(ws.OpText); string(p) != "still up" {
			t.Fatalf("server stopped echoing: %q", p)
		}
	})
}

// boundaryFrames are the short and boundary frames: 2-byte headers, every
// length form at its limits (125 inline, 126 and 65535 in 16 bits, 65536
// in 64 bits), masked and unmasked, non-minimal lengths, truncated
// headers and control frames at and over 125 bytes. They are seeds, so
// every plain `go test` run feeds them to the server.
func boundaryFrames() [][]byte {
	unmasked := func(op ws.OpCode, n int) []byte {
		b, err := ws.CompileFrame(ws.NewFrame(op, true, make([]byte, n)))
		if err != nil {
			panic(err)
		}
		return b
	}
	var out [][]byte
	for _, n := range []int{0, 1, 125, 126, 127, 65535, 65536} {
		out = append(out, frame(ws.OpBinary, true, bytes.Repeat([]byte{'a'}, n)), unmasked(ws.OpBinary, n))
	}
	out = append(out,
		[]byte{0x81, 0x00},                      // 2-byte header, unmasked, empty
		[]byte{0x81, 0x80, 1, 2, 3, 4},          // 2-byte header, masked, empty
		[]byte{0x81},                            // 1 byte of a header
		[]byte{0x81, 0x85},                      // header without its mask
		[]byte{0x82, 0xfe, 0x00},                // 16-bit length cut
		[]byte{0x82, 0xff, 0, 0, 0, 0},          // 64-bit length cut
		[]byte{0x82, 0xfe, 0x00, 0x7d, 1, 2, 3}, // 125 in the 16-bit form, mask cut
		append([]byte{0x82, 0xfe, 0x00, 0x7d, 0, 0, 0, 0}, make([]byte, 125)...),               // non-minimal 16-bit length
		append([]byte{0x82, 0xff, 0, 0, 0, 0, 0, 0, 0, 126, 0, 0, 0, 0}, make([]byte, 126)...), // non-minimal 64-bit
		frame(ws.OpPing, true, make([]byte, 125)),                                              // largest control frame
		frame(ws.OpPing, true, make([]byte, 126)),                                              // control frame over 125
		frame(ws.OpPong, true, nil),
		frame(ws.OpClose, true, nil),                                                 // empty close
		append(frame(ws.OpText, false, nil), frame(ws.OpContinuation, true, nil)...), // empty fragments
	)
	return out
}

// readEchoes reads the server's data frames: n of them for a whole valid
// stream, else until the server closes or stays quiet.
func readEchoes(t *testing.T, c *client, n int, whole bool) []fuzzMsg {
	t.Helper()
	var got []fuzzMsg
	for !whole || len(got) < n {
		wait := testWait // a valid stream's echoes must come
		if !whole {
			wait = 100 * time.Millisecond // the rest may never come
		}
		_ = c.conn.SetReadDeadline(time.Now().Add(wait))
		h, p, err := c.readServerFrame()
		var ne net.Error
		switch {
		case errors.As(err, &ne) && ne.Timeout() && !whole:
			return got
		case err != nil:
			if whole {
				t.Fatalf("reading echo %d of %d: %v", len(got)+1, n, err)
			}
			return got
		case h.OpCode == ws.OpClose:
			if whole {
				t.Fatalf("server closed a valid stream: %v", p)
			}
			return got
		case h.OpCode == ws.OpText || h.OpCode == ws.OpBinary:
			if !h.Fin {
				t.Fatal("server wrote a fragmented frame")
			}
			got = append(got, fuzzMsg{OpCode(h.OpCode), string(p)})
		case h.OpCode != ws.OpPong:
			t.Fatalf("server wrote opcode %v", h.OpCode)
		}
	}
	return got
}

// readServerFrame reads one server frame under the deadline already set.
func (c *client) readServerFrame() (ws.Header, []byte, error) {
	h, err := ws.ReadHeader(c.r)
	if err != nil {
		return h, nil, err
	}
	if h.Masked {
		return h, nil, errors.New("server frame is masked")
	}
	p := make([]byte, h.Length)
	_, err = io.ReadFull(c.r, p)
	return h, p, err
}
