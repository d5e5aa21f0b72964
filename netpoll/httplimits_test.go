package netpoll

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gobwas/ws"
)

// bodyHandler reads the whole body and answers its length, 413 when the
// body is over the limit; it reports each request's outcome on done.
type bodyHandler struct {
	entered chan struct{}
	done    chan error
	calls   atomic.Int64
}

func newBodyHandler() *bodyHandler {
	return &bodyHandler{entered: make(chan struct{}, 64), done: make(chan error, 64)}
}

func (h *bodyHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.calls.Add(1)
	h.entered <- struct{}{}
	b, err := io.ReadAll(r.Body)
	h.done <- err
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		w.WriteHeader(http.StatusRequestEntityTooLarge)
	case err != nil:
		w.WriteHeader(http.StatusBadRequest)
	default:
		fmt.Fprintf(w, "%d", len(b))
	}
}

// wait receives from ch within testWait.
func wait[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(testWait):
		t.Fatalf("timeout waiting for %s", what)
	}
	var zero T
	return zero
}

// trickle starts a POST whose body never completes.
func trickle(t *testing.T, addr string) *client {
	c := rawClient(t, addr)
	c.write([]byte("POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nx"))
	return c
}

// TestHTTPSlots is hole 3: plain-HTTP connections handed to net/http keep
// their MaxConns slot until they close, so trickling bodies cannot take
// more connections (or fds) than the limit; a connection over it gets a
// 503 at once; the body read deadline frees the slots.
func TestHTTPSlots(t *testing.T) {
	const limit = 4
	h := newBodyHandler()
	if ln, err := net.Listen("tcp", "127.0.0.1:0"); err == nil { // init Go's poller
		ln.Close()
	}
	fd0 := countFDs(t)
	s, addr := startServer(t, Config{MaxConns: limit, HTTPReadTimeout: 500 * time.Millisecond},
		acceptAll(newRecorder(true)), h)
	var held []*client
	for range limit {
		held = append(held, trickle(t, addr))
		wait(t, h.entered, "handler")
	}
	if st := s.Stats(); st.HTTPConns != limit || st.Slots != limit || st.Registered != 0 {
		t.Fatalf("stats %+v", st)
	}
	const flood = 20
	for i := range flood {
		c := rawClient(t, addr)
		c.write([]byte("POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nx"))
		if got := c.readAll(); !strings.HasPrefix(got, "HTTP/1.1 503 ") {
			t.Fatalf("connection %d over the limit: %q", i, got)
		}
		_ = c.conn.Close()
	}
	if _, _, _, err := (ws.Dialer{Timeout: testWait}).Dial(t.Context(), "ws://"+addr+"/ws"); err == nil {
		t.Fatal("WebSocket upgraded over the limit")
	}
	st := s.Stats()
	if st.Refused != flood+1 || st.Slots != limit {
		t.Fatalf("stats %+v", st)
	}
	// Two fds per held connection (ours and the client's), a few spare.
	if n := countFDs(t); n > fd0+2*limit+8 {
		t.Fatalf("%d fds open (%d before)", n, fd0)
	}
	for range limit {
		if err := wait(t, h.done, "body read to end"); err == nil {
			t.Fatal("a trickling body was read whole")
		}
	}
	for _, c := range held {
		c.readAll() // answered, then closed
	}
	eventually(t, "slots freed", func() bool { st := s.Stats(); return st.Slots == 0 && st.HTTPConns == 0 })
	c := dial(t, addr)
	c.send(ws.OpText, []byte("in again"))
	c.expectFrame(ws.OpText)
}

// TestHTTPBodyLimit: a declared body over MaxBodyBytes gets 413 without
// the handler; a chunked one fails the handler's read at the limit.
func TestHTTPBodyLimit(t *testing.T) {
	h := newBodyHandler()
	_, addr := startServer(t, Config{MaxBodyBytes: 1000}, acceptAll(newRecorder(true)), h)
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	post := func(body io.Reader) (int, string) {
		t.Helper()
		resp, err := (&http.Client{Transport: tr}).Post("http://"+addr+"/up", "text/plain", body)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp.StatusCode, string(b)
	}
	if code, b := post(strings.NewReader(strings.Repeat("a", 1000))); code != 200 || b != "1000" {
		t.Fatalf("at the limit: %d %q", code, b)
	}
	calls := h.calls.Load()
	if code, _ := post(strings.NewReader(strings.Repeat("a", 1001))); code != http.StatusRequestEntityTooLarge {
		t.Fatalf("declared over the limit: %d", code)
	}
	if h.calls.Load() != calls {
		t.Fatal("handler ran for a declared oversized body")
	}
	chunked := io.MultiReader(strings.NewReader(strings.Repeat("a", 600)), strings.NewReader(strings.Repeat("b", 600)))
	if code, _ := post(chunked); code != http.StatusRequestEntityTooLarge {
		t.Fatalf("chunked over the limit: %d", code)
	}
}

// TestHTTPHeaderTimeout: a keep-alive connection whose next request head
// trickles is closed after HandshakeTimeout (net/http's
// ReadHeaderTimeout), not held forever.
func TestHTTPHeaderTimeout(t *testing.T) {
	s, addr := startServer(t, Config{HandshakeTimeout: 300 * time.Millisecond},
		acceptAll(newRecorder(true)), http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			io.WriteString(w, "ok")
		}))
	c := rawClient(t, addr)
	c.write([]byte("GET /a HTTP/1.1\r\nHost: x\r\n\r\n"))
	resp, err := http.ReadResponse(c.r.(*bufio.Reader), nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	start := time.Now()
	c.write([]byte("GET /b HTTP/1.1\r\nHo"))
	c.readAll()
	if d := time.Since(start); d < 250*time.Millisecond {
		t.Fatalf("closed after %v, before the header timeout", d)
	}
	eventually(t, "slot freed", func() bool { return s.Stats().Slots == 0 })
}

// TestShutdownCutsTricklingBodies: Shutdown does not wait for a body that
// trickles: reads of plain-HTTP connections are cut CloseTimeout after it
// starts, far inside the drain timeout.
func TestShutdownCutsTricklingBodies(t *testing.T) {
	h := newBodyHandler()
	s, addr := startServer(t, Config{CloseTimeout: 200 * time.Millisecond, HTTPReadTimeout: time.Hour},
		acceptAll(newRecorder(true)), h)
	c := trickle(t, addr)
	wait(t, h.entered, "handler")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx, CloseServiceRestart, "", 0, 0); err != nil || ctx.Err() != nil {
		t.Fatalf("Shutdown waited for the trickling body: %v", err)
	}
	if err := wait(t, h.done, "body read to end"); err == nil {
		t.Fatal("body read whole")
	}
	c.readAll()
	if st := s.Stats(); st.Slots != 0 || st.HTTPConns != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// TestAcquireSlot: slots taken outside the loop and connections share
// MaxConns, also when taken concurrently, and none is given during
// Shutdown.
func TestAcquireSlot(t *testing.T) {
	const limit = 30
	s, addr := startServer(t, Config{MaxConns: limit, HandshakeTimeout: time.Minute},
		acceptAll(newRecorder(true)), nil)
	var acquired atomic.Int64
	var wg sync.WaitGroup
	for range 25 {
		wg.Go(func() {
			if s.AcquireSlot() {
				acquired.Add(1)
			}
		})
		wg.Go(func() {
			c := rawClient(t, addr)
			c.write([]byte("GET / HTTP/1.1\r\n")) // a handshake in progress holds a slot
		})
	}
	wg.Wait()
	eventually(t, "accepts done", func() bool {
		st := s.Stats()
		return st.Accepted+st.Refused == 50-acquired.Load() // every dial and AcquireSlot counted
	})
	st := s.Stats()
	if st.Slots != limit || st.Registered+acquired.Load() != limit {
		t.Fatalf("%d slots, %d registered + %d acquired, limit %d", st.Slots, st.Registered, acquired.Load(), limit)
	}
	if s.AcquireSlot() {
		t.Fatal("slot over the limit")
	}
	s.ReleaseSlot()
	if !s.AcquireSlot() {
		t.Fatal("released slot not reusable")
	}
	_ = s.Close()
	s.ReleaseSlot()
	if s.AcquireSlot() {
		t.Fatal("slot given after Shutdown")
	}
}

func TestDefaultMaxConns(t *testing.T) {
	for _, tc := range []struct {
		nofile uint64
		want   int
	}{
		{0, 100000}, {1024, 960}, {20000, 19000}, {1 << 20, 100000}, {50, 1},
	} {
		if got := defaultMaxConns(tc.nofile); got != tc.want {
			t.Errorf("defaultMaxConns(%d) = %d, want %d", tc.nofile, got, tc.want)
		}
	}
	if got := fdCap(1 << 20); got != 1<<20-1<<20/20 {
		t.Errorf("fdCap(1<<20) = %d", got)
	}
	nofile := fdLimit()
	if nofile == 0 {
		t.Fatal("RLIMIT_NOFILE unknown or unlimited: cannot check the cap")
	}
	if n := (Config{}).withDefaults().MaxConns; uint64(n) >= nofile {
		t.Fatalf("default MaxConns %d not under RLIMIT_NOFILE %d", n, nofile)
	}
	s, err := New(Config{MaxConns: 1 << 30, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if n := s.cfg.MaxConns; uint64(n) >= nofile {
		t.Fatalf("explicit MaxConns kept at %d over RLIMIT_NOFILE %d", n, nofile)
	}
}

// TestHTTPUnreadBodyAnswered: a handler may answer without reading a body
// under MaxBodyBytes (LongPoll's own 413, say). The body cap must not hide
// the unread body from net/http, which then lingers before closing, so the
// client reads the answer instead of a reset while it is still sending.
func TestHTTPUnreadBodyAnswered(t *testing.T) {
	_, addr := startServer(t, Config{MaxBodyBytes: 8 << 20}, acceptAll(newRecorder(true)),
		http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Connection", "close")
			http.Error(w, "too large for this route", http.StatusRequestEntityTooLarge)
		}))
	body := strings.Repeat("x", 4<<20)
	for i := range 5 {
		tr := &http.Transport{}
		resp, err := (&http.Client{Transport: tr}).Post("http://"+addr+"/up", "text/plain", strings.NewReader(body))
		if err != nil {
			t.Fatalf("post %d: %v (the server reset the connection instead of answering)", i, err)
		}
		resp.Body.Close()
		tr.CloseIdleConnections()
		if resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Fatalf("post %d: HTTP %d, want 413", i, resp.StatusCode)
		}
	}
}
