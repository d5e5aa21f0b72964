package netpoll

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gobwas/ws"
)

const testWait = 5 * time.Second

func testLogger() *slog.Logger {
	if os.Getenv("NETPOLL_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

type upgraderFunc func(*UpgradeRequest) UpgradeResponse

func (f upgraderFunc) HandleUpgrade(r *UpgradeRequest) UpgradeResponse { return f(r) }

func acceptAll(h Handler) Upgrader {
	return upgraderFunc(func(*UpgradeRequest) UpgradeResponse { return UpgradeResponse{Handler: h} })
}

type message struct {
	op      OpCode
	payload []byte
}

type closeEvent struct {
	c      *Conn
	code   int
	reason string
}

// recorder is a Handler that records events, optionally echoes, and
// checks that calls for one connection never overlap.
type recorder struct {
	echo     bool
	onOpen   func(c *Conn)
	opened   chan *Conn
	msgs     chan message
	closed   chan closeEvent
	inflight sync.Map // *Conn → *atomic.Int32
	overlap  atomic.Bool
}

func newRecorder(echo bool) *recorder {
	return &recorder{echo: echo, opened: make(chan *Conn, 1024),
		msgs: make(chan message, 4096), closed: make(chan closeEvent, 1024)}
}

func (r *recorder) enter(c *Conn) func() {
	v, _ := r.inflight.LoadOrStore(c, new(atomic.Int32))
	n := v.(*atomic.Int32)
	if n.Add(1) != 1 {
		r.overlap.Store(true)
	}
	return func() { n.Add(-1) }
}

func (r *recorder) OnOpen(c *Conn) {
	defer r.enter(c)()
	r.opened <- c
	if r.onOpen != nil {
		r.onOpen(c)
	}
}

func (r *recorder) OnMessage(c *Conn, op OpCode, p []byte) {
	defer r.enter(c)()
	if r.echo {
		_ = c.Send(op, p)
	}
	select {
	case r.msgs <- message{op, p}:
	default:
	}
}

func (r *recorder) OnClose(c *Conn, code int, reason string) {
	defer r.enter(c)()
	r.closed <- closeEvent{c, code, reason}
}

func (r *recorder) waitOpen(t testing.TB) *Conn {
	t.Helper()
	select {
	case c := <-r.opened:
		return c
	case <-time.After(testWait):
		t.Fatal("timeout waiting for OnOpen")
	}
	return nil
}

func (r *recorder) waitClose(t testing.TB) closeEvent {
	t.Helper()
	select {
	case ev := <-r.closed:
		return ev
	case <-time.After(testWait):
		t.Fatal("timeout waiting for OnClose")
	}
	return closeEvent{}
}

func (r *recorder) waitMsg(t testing.TB) message {
	t.Helper()
	select {
	case m := <-r.msgs:
		return m
	case <-time.After(testWait):
		t.Fatal("timeout waiting for OnMessage")
	}
	return message{}
}

// newTestServer makes a Server with cfg (the test logger unless cfg names
// one), closed when the test ends (closing it earlier is fine).
func newTestServer(t testing.TB, cfg Config) *Server {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = testLogger()
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// listenServer makes a Server with cfg (the test logger unless cfg names
// one) and a loopback listener for it; the caller serves and closes.
func listenServer(t testing.TB, cfg Config) (*Server, net.Listener) {
	t.Helper()
	s := newTestServer(t, cfg)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return s, ln
}

// startServer runs a Server on a loopback listener until the test ends.
func startServer(t testing.TB, cfg Config, up Upgrader, fallback http.Handler) (*Server, string) {
	t.Helper()
	return serveUntilEnd(t, cfg, "Serve", func(s *Server, ln net.Listener) error {
		return s.Serve(ln, up, fallback)
	}, func() {
		if r, ok := up.(interface{ check(testing.TB) }); ok {
			r.check(t)
		}
	})
}

// serveUntilEnd runs serve (named name in errors) for a new Server on a
// loopback listener. When the test ends it closes the Server, asserts
// serve returned ErrServerClosed, then calls after if not nil.
func serveUntilEnd(t testing.TB, cfg Config, name string, serve func(*Server, net.Listener) error, after func()) (*Server, string) {
	t.Helper()
	s, ln := listenServer(t, cfg)
	served := make(chan error, 1)
	go func() { served <- serve(s, ln) }()
	t.Cleanup(func() {
		_ = s.Close()
		if err := <-served; !errors.Is(err, ErrServerClosed) {
			t.Errorf("%s returned %v", name, err)
		}
		if after != nil {
			after()
		}
	})
	return s, ln.Addr().String()
}

// startUpgradeHTTP serves up through UpgradeHTTP behind an httptest
// server until the test ends; it returns the Server and that server's
// host:port.
func startUpgradeHTTP(t testing.TB, cfg Config, up Upgrader) (*Server, string) {
	t.Helper()
	s := newTestServer(t, cfg)
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.UpgradeHTTP(w, r, up)
	}))
	t.Cleanup(hs.Close)
	return s, strings.TrimPrefix(hs.URL, "http://")
}

// client is a test WebSocket client over a raw connection.
type client struct {
	t    testing.TB
	conn net.Conn
	r    io.Reader
	hs   ws.Handshake
}

func dial(t testing.TB, addr string, protocols ...string) *client {
	t.Helper()
	return dialWith(t, ws.Dialer{Protocols: protocols}, "ws://"+addr+"/socket")
}

func dialWith(t testing.TB, d ws.Dialer, url string) *client {
	t.Helper()
	d.Timeout = testWait
	conn, br, hs, err := d.Dial(context.Background(), url)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	c := &client{t: t, conn: conn, r: conn, hs: hs}
	if br != nil {
		c.r = br
	}
	return c
}

// rawClient connects without a handshake.
func rawClient(t testing.TB, addr string) *client {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, testWait)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return wrapClient(t, conn)
}

func wrapClient(t testing.TB, conn net.Conn) *client {
	return &client{t: t, conn: conn, r: bufio.NewReader(conn)}
}

func (c *client) write(p []byte) {
	c.t.Helper()
	if _, err := c.conn.Write(p); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// frame builds one masked client frame.
func frame(op ws.OpCode, fin bool, p []byte) []byte {
	f := ws.MaskFrameInPlace(ws.NewFrame(op, fin, append([]byte(nil), p...)))
	b, err := ws.CompileFrame(f)
	if err != nil {
		panic(err)
	}
	return b
}

func (c *client) send(op ws.OpCode, p []byte) { c.t.Helper(); c.write(frame(op, true, p)) }

// readFrame reads one server frame (which must be unmasked).
func (c *client) readFrame() (ws.Header, []byte, error) {
	_ = c.conn.SetReadDeadline(time.Now().Add(testWait))
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

// expectEcho sends p in one op frame and asserts it comes back whole.
func (c *client) expectEcho(op ws.OpCode, p []byte) {
	c.t.Helper()
	c.send(op, p)
	if got := c.expectFrame(op); !bytes.Equal(got, p) {
		c.t.Fatalf("echo of %d bytes: got %d bytes", len(p), len(got))
	}
}

func (c *client) expectFrame(op ws.OpCode) []byte {
	c.t.Helper()
	h, p, err := c.readFrame()
	if err != nil {
		c.t.Fatalf("read frame: %v", err)
	}
	if h.OpCode != op || !h.Fin {
		c.t.Fatalf("got frame op %v fin %v (%q), want op %v", h.OpCode, h.Fin, p, op)
	}
	return p
}

// expectClose reads frames until a close frame and checks its code/reason.
func (c *client) expectClose(code int, reason string) {
	c.t.Helper()
	for {
		h, p, err := c.readFrame()
		if err != nil {
			c.t.Fatalf("waiting for close %d: %v", code, err)
		}
		if h.OpCode != ws.OpClose {
			continue
		}
		gc, gr := ws.ParseCloseFrameData(p)
		if int(gc) != code || (reason != "*" && gr != reason) {
			c.t.Fatalf("close frame = %d %q, want %d %q", gc, gr, code, reason)
		}
		return
	}
}

// expectEOF checks that the server closed (or half-closed) the TCP
// connection without writing another byte (nothing may follow a close
// frame, and a dropped handshake gets no answer), then closes ours, as a
// real client does.
func (c *client) expectEOF() {
	c.t.Helper()
	_ = c.conn.SetReadDeadline(time.Now().Add(testWait))
	var buf [512]byte
	n, err := c.r.Read(buf[:])
	if n > 0 {
		c.t.Fatalf("unexpected bytes before EOF: %q", buf[:n])
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		c.t.Fatal("server did not close the connection")
	}
	if err == nil {
		c.t.Fatal("read returned nothing and no error")
	}
	_ = c.conn.Close()
}

// expectCloseEOF reads frames until a close frame, which must carry code
// and reason (parsed from the wire), then expects EOF. It returns the
// payload bytes of the data frames that came before the close.
func (c *client) expectCloseEOF(code int, reason string) int {
	c.t.Helper()
	n := c.readUntilClose(code, reason)
	c.expectEOF()
	return n
}

// readUntilClose reads frames until a close frame, which must carry code
// and reason (parsed from the wire). It returns the payload bytes of the
// data frames that came before the close.
func (c *client) readUntilClose(code int, reason string) int {
	c.t.Helper()
	data := 0
	for {
		h, p, err := c.readFrame()
		if err != nil {
			c.t.Fatalf("waiting for close %d %q after %d data bytes: %v", code, reason, data, err)
		}
		switch h.OpCode {
		case ws.OpClose:
			gc, gr := ws.ParseCloseFrameData(p)
			if int(gc) != code || gr != reason {
				c.t.Fatalf("close frame = %d %q, want %d %q", gc, gr, code, reason)
			}
			return data
		case ws.OpText, ws.OpBinary, ws.OpContinuation:
			data += len(p)
		}
	}
}

func closeBody(code int, reason string) []byte {
	return ws.NewCloseFrameBody(ws.StatusCode(code), reason)
}

// readAll reads until the server closes the connection.
func (c *client) readAll() string {
	c.t.Helper()
	_ = c.conn.SetReadDeadline(time.Now().Add(testWait))
	b, err := io.ReadAll(c.r)
	if err != nil && !errors.Is(err, net.ErrClosed) && !strings.Contains(err.Error(), "reset") {
		c.t.Fatalf("read: %v", err)
	}
	return string(b)
}

func upgradeRequest(path string, extra ...string) string {
	return "GET " + path + " HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\n" +
		"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" +
		"Sec-WebSocket-Version: 13\r\n" + strings.Join(extra, "") + "\r\n"
}

// readHead reads an HTTP response head from a raw client.
func (c *client) readHead() string {
	c.t.Helper()
	_ = c.conn.SetReadDeadline(time.Now().Add(testWait))
	br := c.r.(*bufio.Reader)
	var sb strings.Builder
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			c.t.Fatalf("read head: %v (got %q)", err, sb.String())
		}
		sb.WriteString(line)
		if line == "\r\n" {
			return sb.String()
		}
	}
}

// setSndBuf shrinks the server side's kernel send buffer of c, so that
// what a test counts is in our queue, not in the kernel.
func setSndBuf(c *Conn, n int) {
	_ = syscall.SetsockoptInt(int(c.fd), syscall.SOL_SOCKET, syscall.SO_SNDBUF, n)
}

// heapInuse is the live heap after a collection.
func heapInuse() int64 {
	// Twice: the first GC moves sync.Pool items to the pools' victim
	// caches, the second frees them, so that pooled scratch (parsers,
	// inflaters) is not counted as if connections held it.
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapInuse)
}

func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(testWait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timeout waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// lockedBuf is a Writer that goroutines of the server (its logger, a TLS
// key log) and the test share.
type lockedBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
