package netpoll

import (
	"bytes"
	"encoding/binary"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/gobwas/ws"
)

func TestEcho(t *testing.T) {
	rec := newRecorder(true)
	_, addr := startServer(t, Config{}, acceptAll(rec), nil)
	c := dial(t, addr)
	for _, tc := range []struct {
		name string
		op   ws.OpCode
		p    []byte
	}{
		{"text", ws.OpText, []byte("hello")},
		{"binary", ws.OpBinary, []byte{0, 1, 2, 0xff}},
		{"empty", ws.OpText, nil},
		{"len16", ws.OpBinary, bytes.Repeat([]byte{7}, 70<<10)},
		{"len64", ws.OpText, bytes.Repeat([]byte("x"), 200<<10)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c.send(tc.op, tc.p)
			if got := c.expectFrame(tc.op); !bytes.Equal(got, tc.p) {
				t.Fatalf("echo differs: %d bytes, want %d", len(got), len(tc.p))
			}
			m := rec.waitMsg(t)
			if m.op != OpCode(tc.op) || len(m.payload) != len(tc.p) || cap(m.payload)-len(m.payload) > len(tc.p)/8 {
				t.Fatalf("OnMessage op %d len %d cap %d", m.op, len(m.payload), cap(m.payload))
			}
		})
	}
	if rec.overlap.Load() {
		t.Fatal("handler calls overlapped")
	}
}

func TestFragmentedWithPing(t *testing.T) {
	rec := newRecorder(true)
	_, addr := startServer(t, Config{}, acceptAll(rec), nil)
	c := dial(t, addr)
	var b []byte
	b = append(b, frame(ws.OpText, false, []byte("hel"))...)
	b = append(b, frame(ws.OpPing, true, []byte("p1"))...)
	b = append(b, frame(ws.OpContinuation, false, []byte("lo, "))...)
	b = append(b, frame(ws.OpContinuation, true, []byte("world"))...)
	for _, x := range b { // byte by byte: every parser state is split
		c.write([]byte{x})
	}
	if p := c.expectFrame(ws.OpPong); string(p) != "p1" {
		t.Fatalf("pong %q", p)
	}
	if p := c.expectFrame(ws.OpText); string(p) != "hello, world" {
		t.Fatalf("echo %q", p)
	}
}

func TestPingPong(t *testing.T) {
	rec := newRecorder(false)
	_, addr := startServer(t, Config{}, acceptAll(rec), nil)
	c := dial(t, addr)
	c.send(ws.OpPing, []byte("abc"))
	if p := c.expectFrame(ws.OpPong); string(p) != "abc" {
		t.Fatalf("pong %q", p)
	}
	c.send(ws.OpPong, []byte("unsolicited")) // ignored
	c.send(ws.OpText, []byte("still here"))
	if m := rec.waitMsg(t); string(m.payload) != "still here" {
		t.Fatalf("got %q", m.payload)
	}
}

func TestCloseFromClient(t *testing.T) {
	for _, tc := range []struct {
		name              string
		body              []byte
		echo, code        int
		reason, gotReason string
	}{
		{"normal", closeBody(1000, "bye"), 1000, 1000, "bye", ""},
		{"no code", nil, 1000, CloseNoStatus, "", ""},
		{"private", closeBody(4001, "x"), 4001, 4001, "x", ""},
		{"going away", closeBody(1001, ""), 1001, 1001, "", ""},
		{"service restart", closeBody(1012, ""), 1012, 1012, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := newRecorder(false)
			_, addr := startServer(t, Config{}, acceptAll(rec), nil)
			c := dial(t, addr)
			rec.waitOpen(t)
			c.send(ws.OpClose, tc.body)
			c.expectClose(tc.echo, "")
			c.expectEOF()
			ev := rec.waitClose(t)
			if ev.code != tc.code || ev.reason != tc.reason {
				t.Fatalf("OnClose(%d, %q), want (%d, %q)", ev.code, ev.reason, tc.code, tc.reason)
			}
		})
	}
}

func TestCloseFromServer(t *testing.T) {
	rec := newRecorder(false)
	_, addr := startServer(t, Config{}, acceptAll(rec), nil)
	c := dial(t, addr)
	sc := rec.waitOpen(t)
	if err := sc.Send(OpText, []byte("before")); err != nil {
		t.Fatal(err)
	}
	sc.Close(4401, "unauthorized")
	sc.Close(4000, "second call is a no-op")
	if err := sc.Send(OpText, []byte("after")); err != ErrClosed {
		t.Fatalf("Send after Close: %v", err)
	}
	if p := c.expectFrame(ws.OpText); string(p) != "before" {
		t.Fatalf("got %q", p)
	}
	c.expectClose(4401, "unauthorized")
	c.send(ws.OpText, []byte("ignored: we are closing"))
	c.send(ws.OpClose, closeBody(4401, ""))
	c.expectEOF()
	ev := rec.waitClose(t)
	if ev.code != 4401 || ev.reason != "unauthorized" {
		t.Fatalf("OnClose(%d, %q)", ev.code, ev.reason)
	}
	select {
	case m := <-rec.msgs:
		t.Fatalf("data delivered while closing: %q", m.payload)
	default:
	}
}

func TestCloseTimeout(t *testing.T) {
	rec := newRecorder(false)
	_, addr := startServer(t, Config{CloseTimeout: 200 * time.Millisecond}, acceptAll(rec), nil)
	c := dial(t, addr)
	sc := rec.waitOpen(t)
	start := time.Now()
	sc.Close(CloseServiceRestart, "restart")
	c.expectClose(CloseServiceRestart, "restart")
	c.expectEOF() // we never answer: dropped after CloseTimeout
	if d := time.Since(start); d < 150*time.Millisecond {
		t.Fatalf("dropped after %v, before CloseTimeout", d)
	}
	if ev := rec.waitClose(t); ev.code != CloseServiceRestart {
		t.Fatalf("OnClose code %d", ev.code)
	}
}

func TestAbruptDrop(t *testing.T) {
	rec := newRecorder(false)
	_, addr := startServer(t, Config{}, acceptAll(rec), nil)
	c := dial(t, addr)
	rec.waitOpen(t)
	_ = c.conn.Close()
	if ev := rec.waitClose(t); ev.code != CloseAbnormal {
		t.Fatalf("OnClose code %d", ev.code)
	}
}

func TestCloseReason(t *testing.T) {
	long := strings.Repeat("é", 100) // 200 bytes
	for _, tc := range []struct {
		name, in string
		code     int
		wantCode int
	}{
		{"truncated on rune boundary", long, 4000, 4000},
		{"invalid utf8", "bad\xffreason", 4000, 4000},
		{"unsendable code", "x", 1006, CloseInternalError},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := newRecorder(false)
			_, addr := startServer(t, Config{}, acceptAll(rec), nil)
			c := dial(t, addr)
			rec.waitOpen(t).Close(tc.code, tc.in)
			_, p, err := c.readFrame()
			if err != nil {
				t.Fatal(err)
			}
			code, reason := ws.ParseCloseFrameData(p)
			if int(code) != tc.wantCode || len(reason) > 123 || !utf8.ValidString(reason) {
				t.Fatalf("close %d %q (%d bytes)", code, reason, len(reason))
			}
		})
	}
	if got := truncateReason(long); len(got) != 122 || !utf8.ValidString(got) {
		t.Fatalf("truncateReason: %d bytes", len(got))
	}
}

func TestProtocolErrors(t *testing.T) {
	unmasked, _ := ws.CompileFrame(ws.NewTextFrame([]byte("plain")))
	rsv := frame(ws.OpText, true, []byte("x"))
	rsv[0] |= 0x40
	badOp := frame(ws.OpText, true, []byte("x"))
	badOp[0] = badOp[0]&0xf0 | 0x3
	for _, tc := range []struct {
		name string
		b    []byte
	}{
		{"unmasked", unmasked},
		{"rsv1", rsv},
		{"reserved opcode", badOp},
		{"continuation first", frame(ws.OpContinuation, true, []byte("x"))},
		{"data inside fragments", append(frame(ws.OpText, false, []byte("a")), frame(ws.OpText, true, []byte("b"))...)},
		{"fragmented ping", frame(ws.OpPing, false, nil)},
		{"long ping", frame(ws.OpPing, true, make([]byte, 126))},
		{"close 1 byte", frame(ws.OpClose, true, []byte{3})},
		{"close code 999", frame(ws.OpClose, true, closeBody(999, ""))},
		{"close code 1005", frame(ws.OpClose, true, closeBody(1005, ""))},
		{"close bad utf8", frame(ws.OpClose, true, closeBody(1000, "\xff"))},
		{"length msb", []byte{0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := newRecorder(true)
			s, addr := startServer(t, Config{}, acceptAll(rec), nil)
			c := dial(t, addr)
			rec.waitOpen(t)
			c.write(tc.b)
			c.expectClose(CloseProtocolError, "*")
			c.expectEOF() // FIN after the close frame, then we close
			if ev := rec.waitClose(t); ev.code != CloseProtocolError {
				t.Fatalf("OnClose code %d", ev.code)
			}
			if s.Stats().ProtocolErrors != 1 {
				t.Fatalf("stats %+v", s.Stats())
			}
		})
	}
}

func TestTooBig(t *testing.T) {
	for _, tc := range []struct {
		name string
		b    []byte
	}{
		{"single frame", frame(ws.OpBinary, true, make([]byte, 1001))},
		{"fragments", append(frame(ws.OpText, false, make([]byte, 600)), frame(ws.OpContinuation, true, make([]byte, 401))...)},
		{"declared only", []byte{0x82, 0xff, 0, 0, 0, 0, 0x7f, 0xff, 0xff, 0xff, 1, 2, 3, 4}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := newRecorder(true)
			_, addr := startServer(t, Config{MaxFrameSize: 1000}, acceptAll(rec), nil)
			c := dial(t, addr)
			c.send(ws.OpBinary, make([]byte, 1000)) // at the limit: fine
			c.expectFrame(ws.OpBinary)
			c.write(tc.b)
			c.expectClose(CloseTooBig, "message too big")
			c.expectEOF()
			if ev := rec.waitClose(t); ev.code != CloseTooBig {
				t.Fatalf("OnClose code %d", ev.code)
			}
		})
	}
}

func TestFrameTimeout(t *testing.T) {
	rec := newRecorder(true)
	_, addr := startServer(t, Config{FrameTimeout: 200 * time.Millisecond}, acceptAll(rec), nil)
	c := dial(t, addr)
	f := frame(ws.OpText, true, []byte("incomplete frame"))
	start := time.Now()
	c.write(f[:len(f)-3])
	c.expectClose(ClosePolicyViolation, "frame timeout")
	if d := time.Since(start); d < 150*time.Millisecond {
		t.Fatalf("closed after %v", d)
	}
	c.expectEOF()
	if ev := rec.waitClose(t); ev.code != ClosePolicyViolation {
		t.Fatalf("OnClose code %d", ev.code)
	}
	// A partial header alone counts too.
	c2 := dial(t, addr)
	c2.write(f[:1])
	c2.expectClose(ClosePolicyViolation, "frame timeout")
}

func TestIdleTimeout(t *testing.T) {
	rec := newRecorder(true)
	_, addr := startServer(t, Config{IdleTimeout: 800 * time.Millisecond}, acceptAll(rec), nil)
	c := dial(t, addr)
	for range 4 { // activity keeps it alive
		time.Sleep(100 * time.Millisecond)
		c.send(ws.OpText, []byte("hb"))
		c.expectFrame(ws.OpText)
	}
	start := time.Now()
	c.expectClose(CloseGoingAway, "idle timeout")
	if d := time.Since(start); d < 700*time.Millisecond {
		t.Fatalf("idle close after %v", d)
	}
	c.send(ws.OpClose, closeBody(CloseGoingAway, ""))
	c.expectEOF()
	if ev := rec.waitClose(t); ev.code != CloseGoingAway {
		t.Fatalf("OnClose code %d", ev.code)
	}
}

func TestOrderedDelivery(t *testing.T) {
	rec := newRecorder(false)
	_, addr := startServer(t, Config{}, acceptAll(rec), nil)
	const n = 2000
	var b []byte
	for i := range n {
		b = append(b, frame(ws.OpBinary, true, binary.BigEndian.AppendUint32(nil, uint32(i)))...)
	}
	c := dial(t, addr)
	for len(b) > 0 { // odd chunk sizes split frames everywhere
		k := min(len(b), 977)
		c.write(b[:k])
		b = b[k:]
	}
	for i := range n {
		m := rec.waitMsg(t)
		if got := binary.BigEndian.Uint32(m.payload); got != uint32(i) {
			t.Fatalf("message %d arrived as %d", got, i)
		}
	}
	if rec.overlap.Load() {
		t.Fatal("OnMessage overlapped")
	}
}

func TestSendErrors(t *testing.T) {
	rec := newRecorder(false)
	_, addr := startServer(t, Config{}, acceptAll(rec), nil)
	c := dial(t, addr)
	sc := rec.waitOpen(t)
	if err := sc.Send(OpCode(ws.OpPing), nil); err != ErrBadOpCode {
		t.Fatalf("Send(ping) = %v", err)
	}
	_ = c.conn.Close()
	rec.waitClose(t)
	if err := sc.Send(OpText, []byte("x")); err != ErrClosed {
		t.Fatalf("Send after drop = %v", err)
	}
	sc.Close(1000, "") // no-op
}

// panicHandler panics on "boom".
type panicHandler struct{ *recorder }

func (h panicHandler) OnMessage(c *Conn, op OpCode, p []byte) {
	if string(p) == "boom" {
		panic("handler bug")
	}
	h.recorder.OnMessage(c, op, p)
}

func TestHandlerPanic(t *testing.T) {
	rec := newRecorder(true)
	_, addr := startServer(t, Config{}, acceptAll(panicHandler{rec}), nil)
	c := dial(t, addr)
	c.send(ws.OpText, []byte("boom"))
	c.expectClose(CloseInternalError, "internal error")
	c.expectEOF()
	if ev := rec.waitClose(t); ev.code != CloseInternalError {
		t.Fatalf("OnClose code %d", ev.code)
	}
	other := dial(t, addr) // the server lives on
	other.send(ws.OpText, []byte("ok"))
	other.expectFrame(ws.OpText)
}
