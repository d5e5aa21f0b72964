package phx

import (
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/phxgo/phxgo/serializer"
	"go.uber.org/goleak"
)

// leakWindow is how long the end-of-run check waits for goroutines to end
// (mailboxes, timers and transports stop asynchronously after Close).
const leakWindow = 5 * time.Second

// leakOptions would name goroutines the check accepts as long-lived. There
// are none: goleak already skips the testing package's and os/signal's own,
// and every goroutine a Server, Socket, Channel or Presence starts must end
// with it. Add one only for a goroutine the process legitimately keeps for
// good, with a comment saying why.
var leakOptions []goleak.Option

// TestMain fails the package when goroutines outlive the tests.
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		if err := findLeaks(leakWindow); err != nil {
			fmt.Fprintln(os.Stderr, "goroutine leak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// findLeaks runs goleak.Find (which retries for about half a second) until
// no unexpected goroutine is left or window has passed, and returns its last
// error.
func findLeaks(window time.Duration) error {
	deadline := time.Now().Add(window)
	for {
		err := goleak.Find(leakOptions...)
		if err == nil || time.Now().After(deadline) {
			return err
		}
	}
}

// TestLeakCheckCatchesLeak proves the check TestMain runs is not blind: a
// goroutine this test starts, still blocked, is reported, stack and all.
func TestLeakCheckCatchesLeak(t *testing.T) {
	release := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		leakedForTest(release)
	}()
	err := findLeaks(0)
	close(release)
	<-done
	if err == nil {
		t.Fatal("goleak found nothing while a goroutine of this test was blocked")
	}
	if !strings.Contains(err.Error(), "phx.leakedForTest") {
		t.Fatalf("goleak's report does not name the blocked goroutine:\n%v", err)
	}
}

// leakedForTest blocks until release is closed; its name marks the
// goroutine in goleak's report.
//
//go:noinline
func leakedForTest(release <-chan struct{}) { <-release }

// fakeFrameCap is how many unread frames a fakeTransport holds. A test
// reads what it expects as it goes; more than this unread means a regression
// floods the socket (or a test never reads), and the test fails at once.
const fakeFrameCap = 1024

// fakeWait bounds each wait of the harness for a frame, a close or an idle
// mailbox: generous, for a loaded machine under -race.
const fakeWait = 30 * time.Second

// errFakeFull is what fakeTransport.send returns once fakeFrameCap frames
// are unread.
var errFakeFull = fmt.Errorf("fake transport: more than %d frames unread", fakeFrameCap)

// fakeTransport records what a socket writes. Like a real transport, send
// never blocks: once fakeFrameCap frames are unread it drops the frame,
// returns errFakeFull and closes full, and the test goroutine reports it
// (next, expectNone, drain and the harness's cleanup check overflowed):
// the sender may be a channel's mailbox goroutine, which must not call
// t.Fatal.
type fakeTransport struct {
	frames chan sent
	mu     sync.Mutex
	closed []CloseCode
	done   chan struct{}

	dropped  atomic.Int64  // frames refused because frames was full
	full     chan struct{} // closed at the first refused frame
	fullOnce sync.Once
}

type sent struct {
	binary bool
	data   string
}

func newFakeTransport() *fakeTransport {
	return &fakeTransport{
		frames: make(chan sent, fakeFrameCap),
		done:   make(chan struct{}),
		full:   make(chan struct{}),
	}
}

func (f *fakeTransport) send(binary bool, p []byte) error {
	select {
	case f.frames <- sent{binary: binary, data: string(p)}:
		return nil
	default:
		f.dropped.Add(1)
		f.fullOnce.Do(func() { close(f.full) })
		return errFakeFull
	}
}

// overflowed describes the frames dropped because too many were unread,
// or returns "".
func (f *fakeTransport) overflowed() string {
	if n := f.dropped.Load(); n > 0 {
		return fmt.Sprintf("%v: %d frame(s) dropped (a flood of frames, or a test that does not read them)", errFakeFull, n)
	}
	return ""
}

func (f *fakeTransport) sendReply(binary bool, p []byte) error { return f.send(binary, p) }

func (f *fakeTransport) close(code CloseCode, _ string) {
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
	info := &ConnectInfo{Params: Params{}, RemoteAddr: netip.MustParseAddrPort("127.0.0.1:1")}
	sock := srv.newSocket(info, ver, assigns)
	tr := newFakeTransport()
	srv.opened(sock, tr)
	h := &harness{t: t, srv: srv, sock: sock, tr: tr, ver: ver}
	t.Cleanup(func() {
		sock.closedByTransport(CloseAbnormal, "")
		if msg := tr.overflowed(); msg != "" {
			t.Errorf("%s", msg)
		}
	})
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

// next returns the next frame written. It fails the test when none comes
// within fakeWait, or at once when the transport overflowed and every
// frame it kept has been read.
func (h *harness) next() string {
	h.t.Helper()
	select {
	case f := <-h.tr.frames:
		return f.data
	default:
	}
	timer := time.NewTimer(fakeWait)
	defer timer.Stop()
	select {
	case f := <-h.tr.frames:
		return f.data
	case <-h.tr.full:
		select {
		case f := <-h.tr.frames:
			return f.data
		default:
		}
		h.t.Fatal(h.tr.overflowed())
	case <-timer.C:
		h.t.Fatalf("no frame within %v", fakeWait)
	}
	return ""
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
	if msg := h.tr.overflowed(); msg != "" {
		h.t.Fatal(msg)
	}
}

// settle waits until every channel mailbox of the socket is idle, by
// round-tripping a heartbeat through each channel's queue.
func (h *harness) settle() {
	h.t.Helper()
	h.sock.mu.Lock()
	chans := h.sock.channels.all()
	h.sock.mu.Unlock()
	timer := time.NewTimer(fakeWait)
	defer timer.Stop()
	for _, c := range chans {
		done := make(chan struct{})
		c.enqueue(func() { close(done) })
		select {
		case <-done:
		case <-timer.C:
			h.t.Fatalf("mailbox of %s did not settle within %v", c.topic, fakeWait)
		}
	}
}

func (h *harness) expectClosed(code CloseCode) {
	h.t.Helper()
	timer := time.NewTimer(fakeWait)
	defer timer.Stop()
	select {
	case <-h.tr.done:
	case <-timer.C:
		h.t.Fatalf("socket not closed within %v, want %d", fakeWait, code)
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

// TestFakeTransportNeverBlocks pins the harness's own contract: a flood of
// unread frames is refused at once (send never blocks, like a real
// transport) and reported, instead of hanging the test until the global
// timeout.
func TestFakeTransportNeverBlocks(t *testing.T) {
	tr := newFakeTransport()
	for i := range fakeFrameCap {
		if err := tr.send(false, []byte(fmt.Sprint(i))); err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
	}
	if tr.overflowed() != "" {
		t.Fatalf("overflow reported at the cap: %s", tr.overflowed())
	}
	sentDone := make(chan error, 1)
	go func() { sentDone <- tr.sendReply(false, []byte("one too many")) }()
	select {
	case err := <-sentDone:
		if err != errFakeFull {
			t.Fatalf("send past the cap: %v, want errFakeFull", err)
		}
	case <-time.After(fakeWait):
		t.Fatal("send past the cap blocked")
	}
	select {
	case <-tr.full:
	default:
		t.Fatal("full not closed after a refused frame")
	}
	if msg := tr.overflowed(); !strings.Contains(msg, "1 frame(s) dropped") {
		t.Fatalf("overflowed() = %q", msg)
	}
	// The frames kept are still read in order.
	if f := <-tr.frames; f.data != "0" {
		t.Fatalf("first frame %q", f.data)
	}
}
