package attack

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"sync"
	"time"

	"github.com/gobwas/ws"

	"github.com/phxgo/phxgo/serializer"
)

// fds is the process-wide socket budget (FDBudget).
var fds = make(chan struct{}, FDBudget)

// errBudget reports that the process's socket budget stayed full.
var errBudget = errors.New("attack: socket budget of the process exhausted")

// srcIP returns the i-th source address of t (nil: the kernel's choice).
func (t Target) srcIP(i int) net.IP {
	if t.Net <= 0 {
		return nil
	}
	return net.IPv4(127, 0, byte(t.Net), byte(1+i%250))
}

// budgetConn releases its slot of the socket budget when closed.
type budgetConn struct {
	net.Conn
	once sync.Once
	rec  *recorder
}

func (c *budgetConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() {
		<-fds
		if c.rec != nil {
			c.rec.closed()
		}
	})
	return err
}

// dial opens a TCP connection to t from its i-th source address, within the
// process's socket budget. rec (may be nil) counts it.
func dial(ctx context.Context, t Target, i int, rec *recorder) (net.Conn, error) {
	select {
	case fds <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-time.After(5 * time.Second):
		return nil, errBudget
	}
	d := net.Dialer{Timeout: 5 * time.Second}
	if ip := t.srcIP(i); ip != nil {
		d.LocalAddr = &net.TCPAddr{IP: ip}
	}
	c, err := d.DialContext(ctx, "tcp", t.Addr)
	if err != nil {
		<-fds
		if rec != nil {
			rec.dialErrs.Add(1)
		}
		return nil, err
	}
	if rec != nil {
		rec.opened()
	}
	return &budgetConn{Conn: c, rec: rec}, nil
}

// closeOnDone closes c when ctx ends, unblocking any read or write; the
// returned stop undoes it.
func closeOnDone(ctx context.Context, c net.Conn) (stop func() bool) {
	return context.AfterFunc(ctx, func() { _ = c.Close() })
}

// upgrade is a WebSocket upgrade request.
type upgrade struct {
	Query  string // the query after /socket/websocket?
	Host   string // Host header (default: the target's address)
	Origin string // Origin header (none when empty)
}

// wsConn is a client WebSocket connection speaking V2 (vsn=2.0.0) frames.
type wsConn struct {
	net.Conn
	br *bufio.Reader
}

// dialWS connects from source address i and upgrades. A status other than
// 101 comes back with a nil conn (already closed) and no error.
func dialWS(ctx context.Context, t Target, i int, u upgrade, rec *recorder) (*wsConn, int, error) {
	c, err := dial(ctx, t, i, rec)
	if err != nil {
		return nil, 0, err
	}
	stop := closeOnDone(ctx, c)
	defer stop()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	host := u.Host
	if host == "" {
		host = t.Addr
	}
	var key [16]byte
	_, _ = rand.Read(key[:])
	req := "GET /socket/websocket?" + u.Query + " HTTP/1.1\r\nHost: " + host +
		"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: " +
		base64.StdEncoding.EncodeToString(key[:]) + "\r\nSec-WebSocket-Protocol: phoenix\r\n"
	if u.Origin != "" {
		req += "Origin: " + u.Origin + "\r\n"
	}
	req += "\r\n"
	if _, err := io.WriteString(c, req); err != nil {
		_ = c.Close()
		return nil, 0, err
	}
	br := bufio.NewReaderSize(c, 64<<10)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		_ = c.Close()
		return nil, 0, err
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		_ = resp.Body.Close()
		_ = c.Close()
		return nil, resp.StatusCode, nil
	}
	_ = c.SetDeadline(time.Time{})
	return &wsConn{Conn: c, br: br}, resp.StatusCode, nil
}

// mask is the fixed masking key of attack frames (any key is valid).
var mask = [4]byte{0x1f, 0x2e, 0x3d, 0x4c}

// appendFrame appends one final masked client frame (header by gobwas).
func appendFrame(dst []byte, op ws.OpCode, payload []byte) []byte {
	h := ws.Header{Fin: true, OpCode: op, Masked: true, Mask: mask, Length: int64(len(payload))}
	buf := bytes.NewBuffer(dst)
	buf.Grow(ws.HeaderSize(h) + len(payload))
	_ = ws.WriteHeader(buf, h) // cannot fail: Length ≥ 0, a bytes.Buffer never errs
	dst = buf.Bytes()
	start := len(dst)
	dst = append(dst, payload...)
	ws.Cipher(dst[start:], mask, 0)
	return dst
}

// push encodes a V2 text push.
func push(joinRef, ref, topic, event, payload string) []byte {
	m := serializer.Message{Kind: serializer.KindPush, Topic: topic, Event: event, Payload: []byte(payload)}
	if joinRef != "" {
		m.JoinRef = []byte(strconv.Quote(joinRef))
	}
	if ref != "" {
		m.Ref = []byte(strconv.Quote(ref))
	}
	b, _, err := serializer.EncodeClient(serializer.V2, nil, &m)
	if err != nil {
		panic(fmt.Sprintf("attack: encode push: %v", err)) // the inputs are ours
	}
	return b
}

// pushFrame returns push(...) as a masked text frame.
func pushFrame(joinRef, ref, topic, event, payload string) []byte {
	return appendFrame(nil, ws.OpText, push(joinRef, ref, topic, event, payload))
}

// frame is one server frame read by readFrame.
type frame struct {
	op      ws.OpCode
	payload []byte // nil when over the read limit (discarded)
	tail    []byte // the last tailKeep bytes of a discarded payload
	size    int64
}

// tailKeep is how much of a discarded payload's end readFrame keeps: a
// reply's status is at its end.
const tailKeep = 256

// maxKeep bounds the payload readFrame keeps; larger payloads are read and
// discarded (a reply echoing a 1 MB topic need not be kept).
const maxKeep = 64 << 10

// readFrame reads one whole server frame (fragments are returned one by
// one: the server sends none).
func (c *wsConn) readFrame() (frame, error) {
	h, err := ws.ReadHeader(c.br)
	if err != nil {
		return frame{}, err
	}
	f := frame{op: h.OpCode, size: h.Length}
	if h.Length > maxKeep {
		if _, err = io.CopyN(io.Discard, c.br, h.Length-tailKeep); err != nil {
			return f, err
		}
		f.tail = make([]byte, tailKeep)
		_, err = io.ReadFull(c.br, f.tail)
		return f, err
	}
	f.payload = make([]byte, h.Length)
	if _, err = io.ReadFull(c.br, f.payload); err != nil {
		return frame{}, err
	}
	if h.Masked {
		ws.Cipher(f.payload, h.Mask, 0)
	}
	return f, nil
}

// closeCode returns the code of a close frame's payload (1005: none).
func closeCode(p []byte) int {
	if len(p) < 2 {
		return 1005
	}
	return int(binary.BigEndian.Uint16(p))
}

// message decodes a data frame (ok false for control frames, large frames
// and frames that do not decode).
func (f frame) message() (serializer.Message, bool) {
	if (f.op != ws.OpText && f.op != ws.OpBinary) || f.payload == nil {
		return serializer.Message{}, false
	}
	m, err := serializer.DecodeServer(serializer.V2, f.payload, f.op == ws.OpBinary)
	return m, err == nil
}

// join sends phx_join for topic (join_ref and ref "1") and waits up to
// timeout for its reply. It returns the reply's status ("ok", "error:<reason>"),
// or "close:<code>" when the server closed instead, or "large" when the
// reply was too large to keep.
func (c *wsConn) join(topic string, timeout time.Duration) (string, error) {
	_ = c.SetDeadline(time.Now().Add(timeout))
	defer c.SetDeadline(time.Time{})
	if _, err := c.Write(pushFrame("1", "1", topic, serializer.EventJoin, "{}")); err != nil {
		return "", err
	}
	for {
		f, err := c.readFrame()
		if err != nil {
			return "", err
		}
		if f.op == ws.OpClose {
			return "close:" + strconv.Itoa(closeCode(f.payload)), nil
		}
		if f.payload == nil && f.op.IsData() {
			return f.tailStatus(), nil
		}
		m, ok := f.message()
		if ok && m.Kind == serializer.KindReply && string(m.Ref) == `"1"` {
			return replyKey(m), nil
		}
	}
}

// statusRE finds a reply's status near the end of a large text reply.
var statusRE = regexp.MustCompile(`"status":"([^"]{0,32})"`)

// tailStatus names a large data frame by the reply status at its end:
// "large:ok", "large:error", or "large" when none shows.
func (f frame) tailStatus() string {
	if m := statusRE.FindSubmatch(f.tail); m != nil {
		return "large:" + string(m[1])
	}
	return "large"
}

// replyKey names a reply for Result.Replies: its status, and its reason
// when the response carries one.
func replyKey(m serializer.Message) string {
	if m.Status == "ok" {
		return "ok"
	}
	const key = `"reason":"`
	p := string(m.Payload)
	for i := 0; i+len(key) <= len(p); i++ {
		if p[i:i+len(key)] == key {
			rest := p[i+len(key):]
			for j := 0; j < len(rest) && j < 64; j++ {
				if rest[j] == '"' {
					return m.Status + ":" + rest[:j]
				}
			}
		}
	}
	return m.Status
}

// drain reads what the server sends for up to d or limit bytes, and returns
// the close code of the first close frame (0: none seen) and how the read
// ended.
func (c *wsConn) drain(d time.Duration, limit int64) (code int, end string) {
	_ = c.SetReadDeadline(time.Now().Add(d))
	var n int64
	for n < limit {
		f, err := c.readFrame()
		if err != nil {
			return 0, endOf(err)
		}
		n += f.size
		if f.op == ws.OpClose {
			_, _ = c.Write(appendFrame(nil, ws.OpClose, f.payload[:min(2, len(f.payload))]))
			return closeCode(f.payload), "server_close"
		}
	}
	return 0, "client"
}
