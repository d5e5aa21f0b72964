package attack

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/phxgo/phxgo/serializer"
)

// fakeServer accepts connections on loopback and hands each to serve.
func fakeServer(t *testing.T, serve func(net.Conn)) Target {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); serve(c) }()
		}
	}()
	return Target{Addr: ln.Addr().String()}
}

// upgraded is a serve func that upgrades with gobwas and then runs fn.
func upgraded(fn func(c net.Conn, br *bufio.Reader)) func(net.Conn) {
	return func(c net.Conn) {
		if _, err := ws.Upgrade(c); err != nil {
			return
		}
		fn(c, bufio.NewReader(c))
	}
}

// serverFrame writes one unmasked server frame.
func serverFrame(c net.Conn, op ws.OpCode, p []byte) {
	_ = ws.WriteFrame(c, ws.NewFrame(op, true, p))
}

// assertBudgetFree fails t unless every socket slot was given back.
func assertBudgetFree(t *testing.T) {
	t.Helper()
	if n := len(fds); n != 0 {
		t.Errorf("%d sockets of the budget still taken", n)
	}
}

func TestJoinReadsTheReply(t *testing.T) {
	got := make(chan serializer.Message, 1)
	tg := fakeServer(t, upgraded(func(c net.Conn, br *bufio.Reader) {
		f, err := ws.ReadFrame(br)
		if err != nil {
			return
		}
		if f.Header.Masked {
			ws.Cipher(f.Payload, f.Header.Mask, 0)
		}
		m, err := serializer.Decode(serializer.V2, f.Payload, false)
		if err != nil {
			return
		}
		got <- m
		reply := serializer.Message{Kind: serializer.KindReply, JoinRef: m.JoinRef, Ref: m.Ref, Topic: m.Topic,
			Status: "error", Payload: []byte(`{"reason":"unmatched topic"}`)}
		b, _, _ := serializer.Encode(serializer.V2, nil, &reply)
		serverFrame(c, ws.OpText, b)
		_, _ = io.Copy(io.Discard, br)
	}))
	rec := newRecorder("t")
	c, status, err := dialWS(t.Context(), tg, 0, upgrade{Query: "vsn=2.0.0"}, rec)
	if err != nil || status != 101 {
		t.Fatalf("dialWS: %d, %v", status, err)
	}
	st, err := c.join("nope:x", 5*time.Second)
	if err != nil || st != "error:unmatched topic" {
		t.Errorf("join = %q, %v; want error:unmatched topic", st, err)
	}
	if m := <-got; m.Topic != "nope:x" || m.Event != "phx_join" || string(m.Ref) != `"1"` {
		t.Errorf("server got %+v", m)
	}
	_ = c.Close()
	if r := rec.result(); r.Conns != 1 || r.PeakOpen != 1 {
		t.Errorf("result %+v", r)
	}
	assertBudgetFree(t)
}

func TestDialWSRefused(t *testing.T) {
	tg := fakeServer(t, func(c net.Conn) {
		_, _ = http1Request(c)
		_, _ = io.WriteString(c, "HTTP/1.1 429 Too Many Requests\r\nContent-Length: 2\r\n\r\n{}")
	})
	c, status, err := dialWS(t.Context(), tg, 0, upgrade{Query: "vsn=2.0.0"}, nil)
	if err != nil || c != nil || status != 429 {
		t.Errorf("dialWS = %v, %d, %v; want nil, 429, nil", c, status, err)
	}
	assertBudgetFree(t)
}

// http1Request reads a request head.
func http1Request(c net.Conn) (string, error) {
	br := bufio.NewReader(c)
	var b strings.Builder
	for {
		l, err := br.ReadString('\n')
		b.WriteString(l)
		if err != nil || l == "\r\n" {
			return b.String(), err
		}
	}
}

func TestLargeFrameTailAndClose(t *testing.T) {
	tg := fakeServer(t, upgraded(func(c net.Conn, br *bufio.Reader) {
		big := `["1","1","room:` + strings.Repeat("t", 200<<10) + `","phx_reply",{"response":{},"status":"error"}]`
		serverFrame(c, ws.OpText, []byte(big))
		serverFrame(c, ws.OpClose, binary.BigEndian.AppendUint16(nil, 1008))
		_, _ = io.Copy(io.Discard, br)
	}))
	c, _, err := dialWS(t.Context(), tg, 0, upgrade{Query: "vsn=2.0.0"}, nil)
	if err != nil || c == nil {
		t.Fatalf("dialWS: %v", err)
	}
	defer c.Close()
	f, err := c.readFrame()
	if err != nil || f.payload != nil || f.tailStatus() != "large:error" {
		t.Errorf("large frame: kept %d bytes, status %q, %v", len(f.payload), f.tailStatus(), err)
	}
	if code, end := c.drain(5*time.Second, 1<<20); code != 1008 || end != "server_close" {
		t.Errorf("drain = %d, %q; want 1008, server_close", code, end)
	}
}

// TestPingFloodFramesStayWhole: writes cut short by the write deadline are
// resumed, so a server that reads slowly still parses nothing but whole
// 125-byte pings.
func TestPingFloodFramesStayWhole(t *testing.T) {
	type tally struct {
		pings int
		bad   string
	}
	done := make(chan tally, 1)
	tg := fakeServer(t, upgraded(func(c net.Conn, br *bufio.Reader) {
		var n tally
		defer func() { done <- n }()
		for {
			h, err := ws.ReadHeader(br)
			if err != nil {
				return
			}
			p := make([]byte, h.Length)
			if _, err := io.ReadFull(br, p); err != nil {
				return
			}
			if h.Masked {
				ws.Cipher(p, h.Mask, 0)
			}
			if h.OpCode != ws.OpPing || len(p) != 125 || strings.Trim(string(p), "p") != "" {
				n.bad = fmt.Sprintf("opcode %d, %d bytes", h.OpCode, len(p))
				return
			}
			n.pings++
			if n.pings%20000 == 0 {
				// stop reading for a while: the client's writes block and
				// hit their deadline mid-frame
				time.Sleep(300 * time.Millisecond)
			}
		}
	}))
	res := PingFlood(t.Context(), tg, Options{Duration: 1500 * time.Millisecond, Sockets: 1})
	got := <-done
	if got.bad != "" {
		t.Fatalf("after %d pings the server read a broken frame: %s", got.pings, got.bad)
	}
	if got.pings < 40000 || res.Sent < int64(got.pings)-256 {
		t.Errorf("server read %d pings, the flood counted %d sent", got.pings, res.Sent)
	}
	assertBudgetFree(t)
}

func TestOptionsAndBackoff(t *testing.T) {
	if n := (Options{}).sockets(1000); n != 1000 {
		t.Errorf("default sockets %d", n)
	}
	if n := (Options{Sockets: 5000}).sockets(10); n != DefaultMaxSockets {
		t.Errorf("sockets not capped: %d", n)
	}
	if n := (Options{Sockets: 50, MaxSockets: 20}).sockets(10); n != 20 {
		t.Errorf("MaxSockets not applied: %d", n)
	}
	b := backoff{min: time.Millisecond, max: 4 * time.Millisecond}
	ctx, cancel := context.WithCancel(t.Context())
	cancel() // wait returns at once; only the growth is checked
	for _, want := range []time.Duration{1, 2, 4, 4} {
		b.wait(ctx, time.Now(), false)
		if b.d != want*time.Millisecond {
			t.Errorf("backoff %v, want %v", b.d, want*time.Millisecond)
		}
	}
	b.wait(ctx, time.Now().Add(-2*time.Second), true)
	if b.d != 0 {
		t.Errorf("backoff after a long-lived attempt %v, want 0", b.d)
	}
}

func TestSummary(t *testing.T) {
	r := newRecorder("x")
	r.http("upgrade", 101)
	r.http("upgrade", 101)
	r.http("upgrade", 429)
	r.closeCode(1008)
	r.reply("ok")
	if s := r.result().Summary(); s != "upgrade:101×2, upgrade:429×1, close 1008×1, reply ok×1" {
		t.Errorf("summary %q", s)
	}
}
