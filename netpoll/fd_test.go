package netpoll

import (
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/gobwas/ws"
)

// TestUpgradeHTTPOneFD: a connection adopted from a hijacked net.Conn is
// one fd at rest, like one accepted by Serve: the fd is duplicated and
// the hijacked conn closed. Client and server live in this process, so
// each connection adds two fds, not three.
func TestUpgradeHTTPOneFD(t *testing.T) {
	const n = 20
	rec := newRecorder(true)
	_, addr := startUpgradeHTTP(t, Config{}, acceptAll(rec))
	expectTwoFDsEach(t, addr, rec, n)
}

// expectTwoFDsEach opens n echoing connections to addr (after one that
// may open fds of its own: Go's poller) and asserts they added two fds
// each, client and server side, both living in this process.
func expectTwoFDsEach(t *testing.T, addr string, rec *recorder, n int) {
	t.Helper()
	dial(t, addr)
	rec.waitOpen(t)
	fd0 := countFDs(t)
	cs := make([]*client, n)
	for i := range cs {
		cs[i] = dial(t, addr)
		rec.waitOpen(t)
	}
	for _, c := range cs {
		c.send(ws.OpText, []byte("one fd"))
		if p := c.expectFrame(ws.OpText); string(p) != "one fd" {
			t.Fatalf("echo %q", p)
		}
	}
	if d := countFDs(t) - fd0; d > 2*n+2 {
		t.Errorf("%d connections added %d fds, want 2 each (client and server side)", n, d)
	}
}

// TestHandedOffKeepAlive: a plain-HTTP connection handed to net/http
// serves several requests, and net/http's ending of its background read
// after each one (a read deadline in the past) is not taken for a lost
// client: a later request's context is not cancelled at once.
func TestHandedOffKeepAlive(t *testing.T) {
	const wait = 50 * time.Millisecond
	fallback := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
			http.Error(w, "context cancelled", http.StatusInternalServerError)
		case <-time.After(wait):
			_, _ = w.Write([]byte("waited"))
		}
	})
	_, addr := startServer(t, Config{}, acceptAll(newRecorder(false)), fallback)
	tr := &http.Transport{MaxConnsPerHost: 1}
	defer tr.CloseIdleConnections()
	cl := &http.Client{Transport: tr}
	for i := range 3 {
		resp, err := cl.Get("http://" + addr + "/x")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != "waited" {
			t.Fatalf("request %d on one connection: %d %q", i, resp.StatusCode, b)
		}
	}
}

// hiddenListener hides the listener's fd (no SyscallConn), as a wrapping
// listener would: Serve then takes each accepted connection's fd over.
type hiddenListener struct{ net.Listener }

// TestServeListenerWithoutFD: Serve works on such a listener, and each
// connection is still one fd on the server side.
func TestServeListenerWithoutFD(t *testing.T) {
	const n = 10
	rec := newRecorder(true)
	s, ln := listenServer(t, Config{})
	served := make(chan error, 1)
	go func() { served <- s.Serve(hiddenListener{ln}, acceptAll(rec), nil) }()
	defer func() {
		_ = s.Close()
		if err := <-served; err != ErrServerClosed {
			t.Errorf("Serve returned %v", err)
		}
	}()
	expectTwoFDsEach(t, ln.Addr().String(), rec, n)
}

// TestFDTableBounds: the fd table takes fds up to its size and refuses
// the first one past it (registering that connection fails) instead of
// indexing out of range; lookups out of range find nothing.
func TestFDTableBounds(t *testing.T) {
	var tab fdTable
	last := &Conn{fd: tabChunk*tabChunks - 1}
	if err := tab.set(last); err != nil {
		t.Fatalf("fd %d: %v", last.fd, err)
	}
	if tab.get(last.fd) != last {
		t.Fatal("the last fd is not found")
	}
	past := &Conn{fd: tabChunk * tabChunks}
	if err := tab.set(past); err != errFDTooBig {
		t.Fatalf("fd past the table: %v", err)
	}
	tab.clear(past) // no panic
	if tab.get(tabChunk*tabChunks) != nil || tab.get(-1) != nil {
		t.Fatal("an fd out of range was found")
	}
	tab.clear(last)
	if tab.get(last.fd) != nil {
		t.Fatal("cleared fd still found")
	}
}
