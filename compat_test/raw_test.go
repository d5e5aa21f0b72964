package compat_test

import (
	"bufio"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
)

// rawClient is a WebSocket client that shows the server's frames exactly as
// they are on the wire. A reader goroutine delivers every data and close
// frame to frames; it answers pings and replies to the server's close frame
// as a well-behaved client does.
type rawClient struct {
	t        testing.TB
	name     string
	conn     net.Conn
	rd       io.Reader
	protocol string // subprotocol chosen by the server

	wmu        sync.Mutex
	closeSent  bool
	frames     chan rawFrame // closed when the connection is gone
	done       chan struct{} // closed by close(): the reader stops delivering
	closeOnce  sync.Once
	serverMask bool // the server sent a masked frame (forbidden by RFC 6455)
}

type rawFrame struct {
	Op     ws.OpCode
	Data   []byte
	Code   ws.StatusCode // close frames
	Reason string        // close frames
}

func (f rawFrame) String() string {
	switch f.Op {
	case ws.OpText:
		return "TXT " + string(f.Data)
	case ws.OpBinary:
		return "BIN " + hex.EncodeToString(f.Data)
	case ws.OpClose:
		return fmt.Sprintf("CLOSE %d %q", f.Code, f.Reason)
	default:
		return fmt.Sprintf("op%d %x", f.Op, f.Data)
	}
}

const (
	frameWait = 10 * time.Second       // bound for a frame the server should send (generous: only a failure waits that long)
	quietWait = 300 * time.Millisecond // how long "nothing arrives" is watched
)

// dialRaw connects to /socket/websocket?query. It fails the test when the
// upgrade fails; use dialRawErr to look at a refused upgrade.
func dialRaw(t testing.TB, srv *phxd, query string, protocols ...string) *rawClient {
	t.Helper()
	c, err := dialRawErr(t, srv, query, protocols...)
	if err != nil {
		t.Fatalf("dial %s: %v", query, err)
	}
	return c
}

func dialRawErr(t testing.TB, srv *phxd, query string, protocols ...string) (*rawClient, error) {
	return dialRawWith(t, srv, query, rawOptions{protocols: protocols})
}

// rawOptions tunes a raw client.
type rawOptions struct {
	protocols    []string // offered Sec-WebSocket-Protocol values
	noCloseReply bool     // do not answer the server's close frame (a misbehaving peer)
}

func dialRawWith(t testing.TB, srv *phxd, query string, o rawOptions) (*rawClient, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	d := ws.Dialer{Protocols: o.protocols}
	conn, br, hs, err := d.Dial(ctx, "ws://"+srv.addr+"/socket/websocket?"+query)
	if err != nil {
		return nil, err
	}
	c := &rawClient{t: t, name: query, conn: conn, rd: conn, protocol: hs.Protocol,
		frames: make(chan rawFrame, 64), done: make(chan struct{}), closeSent: o.noCloseReply}
	if br != nil { // bytes the server sent right after the handshake
		c.rd = io.MultiReader(br, conn)
	}
	go c.readLoop()
	t.Cleanup(c.close)
	return c, nil
}

// deliver hands a frame to the test unless the client was closed.
func (c *rawClient) deliver(f rawFrame) bool {
	select {
	case c.frames <- f:
		return true
	case <-c.done:
		return false
	}
}

func (c *rawClient) readLoop() {
	defer close(c.frames)
	var msg []byte
	var msgOp ws.OpCode
	for {
		h, err := ws.ReadHeader(c.rd)
		if err != nil {
			return
		}
		payload := make([]byte, h.Length)
		if _, err := io.ReadFull(c.rd, payload); err != nil {
			return
		}
		if h.Masked {
			c.serverMask = true
			ws.Cipher(payload, h.Mask, 0)
		}
		switch {
		case h.OpCode == ws.OpPing:
			c.write(ws.OpPong, payload)
		case h.OpCode == ws.OpPong:
		case h.OpCode == ws.OpClose:
			code, reason := ws.ParseCloseFrameData(payload)
			if !c.deliver(rawFrame{Op: ws.OpClose, Code: code, Reason: reason}) {
				return
			}
			c.sendClose(code, "") // echo the code, as browsers do
		case h.OpCode == ws.OpContinuation:
			msg = append(msg, payload...)
			if h.Fin {
				if !c.deliver(rawFrame{Op: msgOp, Data: msg}) {
					return
				}
				msg = nil
			}
		case !h.Fin:
			msgOp, msg = h.OpCode, payload
		default:
			if !c.deliver(rawFrame{Op: h.OpCode, Data: payload}) {
				return
			}
		}
	}
}

func (c *rawClient) write(op ws.OpCode, p []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	return wsutil.WriteClientMessage(c.conn, op, p)
}

// writeRaw writes bytes as they are (hand-made frames).
func (c *rawClient) writeRaw(b []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	_, err := c.conn.Write(b)
	return err
}

func (c *rawClient) sendClose(code ws.StatusCode, reason string) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.closeSent {
		return
	}
	c.closeSent = true
	_ = c.conn.SetWriteDeadline(time.Now().Add(time.Second))
	body := ws.NewCloseFrameBody(code, reason)
	if code == 0 {
		body = nil
	}
	_ = ws.WriteFrame(c.conn, ws.MaskFrame(ws.NewCloseFrame(body)))
}

// close ends the connection from the client side (close 1000, then TCP).
func (c *rawClient) close() {
	c.closeOnce.Do(func() {
		close(c.done)
		_ = c.conn.SetWriteDeadline(time.Now().Add(time.Second)) // unblocks a stuck write
		c.sendClose(ws.StatusNormalClosure, "")
		_ = c.conn.Close()
	})
}

func (c *rawClient) sendText(s string) {
	c.t.Helper()
	if err := c.write(ws.OpText, []byte(s)); err != nil {
		c.t.Fatalf("%s: send %s: %v", c.name, s, err)
	}
}

func (c *rawClient) sendBinary(b []byte) {
	c.t.Helper()
	if err := c.write(ws.OpBinary, b); err != nil {
		c.t.Fatalf("%s: send binary %x: %v", c.name, b, err)
	}
}

var errNoFrame = errors.New("no frame")

// next returns the next frame, skipping Presence messages (a later issue),
// or errNoFrame after d / io.EOF when the connection is gone.
func (c *rawClient) next(d time.Duration) (rawFrame, error) {
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		select {
		case f, ok := <-c.frames:
			if !ok {
				return rawFrame{}, io.EOF
			}
			if f.Op == ws.OpText && isPresenceFrame(f.Data) {
				continue
			}
			return f, nil
		case <-timer.C:
			return rawFrame{}, errNoFrame
		}
	}
}

// expectText waits for the next (non-Presence) frame and checks that it is a
// text frame equal, as a JSON value, to want.
func (c *rawClient) expectText(want string) {
	c.t.Helper()
	f, err := c.next(frameWait)
	if err != nil {
		c.t.Fatalf("%s: want %s, got %v", c.name, want, err)
	}
	if f.Op != ws.OpText || !jsonEqual(f.Data, []byte(want)) {
		c.t.Fatalf("%s: frame mismatch\n\tgot  %s\n\twant TXT %s", c.name, f, want)
	}
}

// expectBinary checks the next frame is a binary frame with exactly want.
func (c *rawClient) expectBinary(want []byte) {
	c.t.Helper()
	f, err := c.next(frameWait)
	if err != nil {
		c.t.Fatalf("%s: want BIN %x, got %v", c.name, want, err)
	}
	if f.Op != ws.OpBinary || string(f.Data) != string(want) {
		c.t.Fatalf("%s: frame mismatch\n\tgot  %s\n\twant BIN %x", c.name, f, want)
	}
}

// expectClose reads until the server's close frame and returns it together
// with the data frames that came before it.
func (c *rawClient) expectClose(d time.Duration) (rawFrame, []rawFrame) {
	c.t.Helper()
	var before []rawFrame
	deadline := time.Now().Add(d)
	for {
		f, err := c.next(time.Until(deadline))
		if err != nil {
			c.t.Fatalf("%s: want a close frame, got %v (frames before: %v)", c.name, err, before)
		}
		if f.Op == ws.OpClose {
			return f, before
		}
		before = append(before, f)
	}
}

// expectSilence checks that no (non-Presence) frame arrives within d.
func (c *rawClient) expectSilence(d time.Duration) {
	c.t.Helper()
	f, err := c.next(d)
	if err == nil {
		c.t.Fatalf("%s: want no frame, got %s", c.name, f)
	}
	if errors.Is(err, io.EOF) {
		c.t.Fatalf("%s: want no frame, but the connection was closed", c.name)
	}
}

// join sends phx_join with join_ref == ref and expects the ok reply.
func (c *rawClient) join(topic, ref string) {
	c.t.Helper()
	c.sendText(v2(q(ref), q(ref), topic, "phx_join", `{}`))
	c.expectText(v2(q(ref), q(ref), topic, "phx_reply", reply("ok", `{}`)))
}

// echo pushes echo on a joined topic and expects the same payload back.
func (c *rawClient) echo(topic, joinRef, ref, payload string) {
	c.t.Helper()
	c.sendText(v2(q(joinRef), q(ref), topic, "echo", payload))
	c.expectText(v2(q(joinRef), q(ref), topic, "phx_reply", reply("ok", payload)))
}

// isPresenceFrame tells V2 and V1 Presence messages (ignored for now).
func isPresenceFrame(b []byte) bool {
	var arr []json.RawMessage
	if json.Unmarshal(b, &arr) == nil && len(arr) >= 4 {
		var ev string
		_ = json.Unmarshal(arr[3], &ev)
		return isPresenceEvent(ev)
	}
	var obj struct {
		Event string `json:"event"`
	}
	if json.Unmarshal(b, &obj) == nil {
		return isPresenceEvent(obj.Event)
	}
	return false
}

// rawHTTP sends a WebSocket upgrade request by hand and returns the HTTP
// response with its body read (for refusals before the upgrade).
func rawHTTPUpgrade(t *testing.T, srv *phxd, query string) (*http.Response, []byte) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", srv.addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(frameWait))
	req := "GET /socket/websocket?" + query + " HTTP/1.1\r\n" +
		"Host: " + srv.addr + "\r\n" +
		"Upgrade: websocket\r\n" +
		"Connection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" +
		"Sec-WebSocket-Version: 13\r\n\r\n"
	if _, err := io.WriteString(conn, req); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("read upgrade response: %v", err)
	}
	var body []byte
	if resp.StatusCode != http.StatusSwitchingProtocols {
		body, _ = io.ReadAll(resp.Body)
	}
	resp.Body.Close()
	return resp, body
}
