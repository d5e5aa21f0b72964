package phx

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/phxgo/phxgo/serializer"
)

// TestMain fails the package when goroutines outlive the tests.
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		if leaked := waitGoroutines(runtime.NumGoroutine(), 5*time.Second); leaked != "" {
			fmt.Fprintln(os.Stderr, "leaked goroutines:\n"+leaked)
			code = 1
		}
	}
	os.Exit(code)
}

// waitGoroutines waits for goroutines other than the test runner's to end.
func waitGoroutines(_ int, wait time.Duration) string {
	deadline := time.Now().Add(wait)
	for {
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		var ours []string
		for _, g := range strings.Split(string(buf), "\n\n") {
			if strings.Contains(g, "phxgo/phxgo/") && !strings.Contains(g, "TestMain") &&
				!strings.Contains(g, "waitGoroutines") {
				ours = append(ours, g)
			}
		}
		if len(ours) == 0 {
			return ""
		}
		if time.Now().After(deadline) {
			return strings.Join(ours, "\n\n")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// fakeTransport records what a socket writes.
type fakeTransport struct {
	frames chan sent
	mu     sync.Mutex
	closed []int
	done   chan struct{}
}

type sent struct {
	binary bool
	data   string
}

func newFakeTransport() *fakeTransport {
	return &fakeTransport{frames: make(chan sent, 1024), done: make(chan struct{})}
}

func (f *fakeTransport) send(binary bool, p []byte) error {
	f.frames <- sent{binary: binary, data: string(p)}
	return nil
}

func (f *fakeTransport) sendReply(binary bool, p []byte) error { return f.send(binary, p) }

func (f *fakeTransport) close(code int, _ string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = append(f.closed, code)
	if len(f.closed) == 1 {
		close(f.done)
	}
}

func (f *fakeTransport) name() string { return "fake" }

func testLogger() *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// harness is one socket on a server with a fake transport.
type harness struct {
	t    *testing.T
	srv  *Server
	sock *Socket
	tr   *fakeTransport
	ver  serializer.Version
}

func newServerForTest(t *testing.T, cfg Config) *Server {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = testLogger()
	}
	if cfg.JoinDeadline == 0 {
		cfg.JoinDeadline = -1
	}
	srv := NewServer(cfg)
	t.Cleanup(func() { _ = srv.Close() })
	return srv
}

func (srv *Server) connectForTest(t *testing.T, ver serializer.Version, assigns Assigns) *harness {
	t.Helper()
	info := &ConnectInfo{Params: Params{}, RemoteAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1}}
	sock := srv.newSocket(info, ver, assigns)
	tr := newFakeTransport()
	srv.opened(sock, tr)
	h := &harness{t: t, srv: srv, sock: sock, tr: tr, ver: ver}
	t.Cleanup(func() { sock.closedByTransport(1006, "") })
	return h
}

// in feeds a client text frame.
func (h *harness) in(frame string) {
	h.t.Helper()
	if err := h.sock.handleFrame([]byte(frame), false); err != nil {
		h.t.Fatalf("handleFrame(%s): %v", frame, err)
	}
}

// expect reads the next frame and compares it byte for byte.
func (h *harness) expect(want string) {
	h.t.Helper()
	if got := h.next(); got != want {
		h.t.Fatalf("frame mismatch\n got: %s\nwant: %s", got, want)
	}
}

func (h *harness) next() string {
	h.t.Helper()
	select {
	case f := <-h.tr.frames:
		return f.data
	case <-time.After(5 * time.Second):
		h.t.Fatal("no frame within 5s")
		return ""
	}
}

// expectNone asserts that nothing more was written (after the mailbox
// settles).
func (h *harness) expectNone() {
	h.t.Helper()
	h.settle()
	select {
	case f := <-h.tr.frames:
		h.t.Fatalf("unexpected frame: %s", f.data)
	default:
	}
}

// settle waits until every channel mailbox of the socket is idle, by
// round-tripping a heartbeat through each channel's queue.
func (h *harness) settle() {
	h.t.Helper()
	h.sock.mu.Lock()
	chans := make([]*Channel, 0, len(h.sock.channels))
	for _, c := range h.sock.channels {
		chans = append(chans, c)
	}
	h.sock.mu.Unlock()
	for _, c := range chans {
		done := make(chan struct{})
		c.enqueue(func() { close(done) })
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			h.t.Fatal("mailbox did not settle")
		}
	}
}

func (h *harness) expectClosed(code int) {
	h.t.Helper()
	select {
	case <-h.tr.done:
	case <-time.After(5 * time.Second):
		h.t.Fatalf("socket not closed, want %d", code)
	}
	h.tr.mu.Lock()
	defer h.tr.mu.Unlock()
	if h.tr.closed[0] != code {
		h.t.Fatalf("closed with %d, want %d", h.tr.closed[0], code)
	}
}

func bothVersions(t *testing.T, f func(t *testing.T, ver serializer.Version)) {
	for _, v := range []serializer.Version{serializer.V1, serializer.V2} {
		t.Run(fmt.Sprintf("V%d", v), func(t *testing.T) { f(t, v) })
	}
}
