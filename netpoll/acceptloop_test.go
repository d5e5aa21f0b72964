package netpoll

import (
	"bufio"
	"errors"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"golang.org/x/sys/unix"
)

// setAcceptFault installs f as the accept4 hook until the test ends.
func setAcceptFault(t *testing.T, f func(tries int) error) {
	t.Helper()
	acceptFault.Store(&f)
	t.Cleanup(func() { acceptFault.Store(nil) })
}

// dialBurst opens n raw connections to addr; they complete in the
// kernel's accept queue whether or not the server accepts them.
func dialBurst(t *testing.T, addr string, n int) []net.Conn {
	t.Helper()
	cs := make([]net.Conn, 0, n)
	t.Cleanup(func() {
		for _, c := range cs {
			_ = c.Close()
		}
	})
	for range n {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		cs = append(cs, c)
	}
	return cs
}

// upgradeAll sends an upgrade request on each connection and expects a 101.
func upgradeAll(t *testing.T, cs []net.Conn) {
	t.Helper()
	req := []byte(upgradeRequest("/"))
	for _, c := range cs {
		if _, err := c.Write(req); err != nil {
			t.Fatal(err)
		}
	}
	for i, c := range cs {
		_ = c.SetReadDeadline(time.Now().Add(testWait))
		line, err := bufio.NewReader(c).ReadString('\n')
		if err != nil || !strings.HasPrefix(line, "HTTP/1.1 101 ") {
			t.Fatalf("conn %d: %q, %v", i, line, err)
		}
	}
}

// msgHandler calls onMsg for every message.
type msgHandler struct{ onMsg func(*Conn, []byte) }

func (msgHandler) OnOpen(*Conn)                            {}
func (h msgHandler) OnMessage(c *Conn, _ OpCode, p []byte) { h.onMsg(c, p) }
func (msgHandler) OnClose(*Conn, int, string)              {}

// A burst far larger than one accept task's bound is accepted whole, in
// tasks of at most acceptBound, and a connection's event that arrives
// during the first task is served before the burst is through.
func TestAcceptBoundPerTask(t *testing.T) {
	const burst = 1000 // 15+ tasks
	var s *Server
	atMsg := make(chan int64, 1)
	up := acceptAll(msgHandler{onMsg: func(c *Conn, p []byte) {
		select {
		case atMsg <- s.Stats().Accepted:
		default:
		}
		_ = c.Send(OpText, p)
	}})
	s, ln1 := listenServer(t, Config{MaxConns: 4096})
	ln2, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 2)
	go func() { served <- s.Serve(ln1, up, nil) }()
	t.Cleanup(func() {
		_ = s.Close()
		for range 2 {
			if err := <-served; !errors.Is(err, ErrServerClosed) {
				t.Errorf("Serve returned %v", err)
			}
		}
	})
	c := dial(t, ln1.Addr().String())
	eventually(t, "first conn open", func() bool { return s.NumConns() == 1 })

	// The burst waits in ln2's accept queue; ln2 is served only then, and
	// the first accept on it makes c's message arrive.
	cs := dialBurst(t, ln2.Addr().String(), burst)
	var fired, calls, most atomic.Int32
	setAcceptFault(t, func(tries int) error {
		calls.Add(1)
		if int32(tries) > most.Load() {
			most.Store(int32(tries)) // one task at a time per listener
		}
		if fired.CompareAndSwap(0, 1) {
			c.send(ws.OpText, []byte("hi"))
		}
		return nil
	})
	go func() { served <- s.Serve(ln2, up, nil) }()
	select {
	case n := <-atMsg:
		// c is one. On a quiet machine it comes after one or two tasks
		// (the task that saw c's event come in, and the one that may share
		// c's poll batch); under load (-race, parallel runs) the workers'
		// scheduling varies, so the test only asks that it comes while
		// burst connections are still waiting, before the last task.
		// Each task's size is checked below.
		t.Logf("message served after %d accepts", n)
		if n > burst+1-acceptBound {
			t.Fatalf("message served after %d accepts, bound %d, burst %d", n, acceptBound, burst)
		}
	case <-time.After(testWait):
		t.Fatal("message not served")
	}
	c.expectEcho(ws.OpText, []byte("hi"))
	eventually(t, "burst accepted", func() bool { return s.Stats().Accepted == burst+1 })
	upgradeAll(t, cs)
	if m := most.Load(); m >= 64 || acceptBound != 64 {
		t.Fatalf("a task made %d accept4 calls, bound %d (documented: 64)", m+1, acceptBound)
	}
	if n := calls.Load(); n < burst+1 || n > burst+burst/acceptBound+16 {
		// One accept4 per connection, the EAGAIN of the last task, and a few
		// EAGAINs of re-armed listeners: a loop that kept calling accept4
		// after EAGAIN or after the bound would show here.
		t.Fatalf("%d accept4 calls for %d connections", n, burst)
	}
}

// A passing accept error stops accepting on the listener (no accept4
// while backing off, however many connections arrive), is logged, and a
// timer re-arms the listener after 5, 10, 20 ms: the waiting connections
// are accepted then, and the backoff resets after a success.
func TestAcceptBackoffRearm(t *testing.T) {
	var logs lockedBuf
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	rec := newRecorder(true)
	s, addr := startServer(t, Config{Logger: log}, acceptAll(rec), nil)
	dial(t, addr).conn.Close() // served: the listener is armed
	eventually(t, "first conn gone", func() bool { return s.Stats().Registered == 0 })

	const fails = 3
	var mu sync.Mutex
	var errAt []time.Time
	var calls atomic.Int32
	setAcceptFault(t, func(int) error {
		calls.Add(1)
		mu.Lock()
		defer mu.Unlock()
		if len(errAt) < fails {
			errAt = append(errAt, time.Now())
			return unix.EMFILE
		}
		return nil
	})
	cs := dialBurst(t, addr, 1)
	eventually(t, "first error", func() bool { mu.Lock(); defer mu.Unlock(); return len(errAt) >= 1 })
	// Arrivals during the backoff raise edges that must not be acted on.
	cs = append(cs, dialBurst(t, addr, 4)...)
	eventually(t, "all accepted", func() bool { return s.Stats().Accepted == 1+5 })
	mu.Lock()
	for i, want := range []time.Duration{5 * time.Millisecond, 10 * time.Millisecond} {
		if d := errAt[i+1].Sub(errAt[i]); d < want {
			t.Errorf("accept retried %v after error %d, backoff %v", d, i+1, want)
		}
	}
	mu.Unlock()
	// Three errors, then five connections and an EAGAIN, plus at most one
	// EAGAIN per arrival that came after the backoff (a task each).
	if n := calls.Load(); n < fails+5+1 || n > fails+5+5 {
		t.Errorf("%d accept4 calls, want %d to %d", n, fails+5+1, fails+5+5)
	}
	if got := strings.Count(logs.String(), "netpoll: accept"); got != fails {
		t.Errorf("%d accept warnings logged, want %d:\n%s", got, fails, logs.String())
	}
	if !strings.Contains(logs.String(), "retry_in=20ms") {
		t.Errorf("backoff did not double to 20ms:\n%s", logs.String())
	}
	upgradeAll(t, cs)
}

// An accept error that does not pass ends Serve with it.
func TestAcceptFatalError(t *testing.T) {
	s, ln := listenServer(t, Config{})
	served := make(chan error, 1)
	go func() { served <- s.Serve(ln, acceptAll(newRecorder(false)), nil) }()
	t.Cleanup(func() { _ = s.Close() })
	setAcceptFault(t, func(int) error { return unix.EINVAL })
	dialBurst(t, ln.Addr().String(), 1)
	select {
	case err := <-served:
		if !errors.Is(err, unix.EINVAL) {
			t.Fatalf("Serve returned %v, want EINVAL", err)
		}
	case <-time.After(testWait):
		t.Fatal("Serve did not return")
	}
	// The listener's duplicate and its slot are gone with Serve, before
	// the server closes.
	if p := s.lp.acc.tab.Load(); p == nil || len(*p) != 1 {
		t.Fatal("the listener never had a slot")
	} else if a := (*p)[0]; a != nil {
		t.Fatal("the failed listener keeps its slot")
	}
}

// Shutdown while a burst is being accepted (slowly: each accept4 waits a
// little) returns ErrServerClosed from Serve and leaves no fd behind: the
// listener's duplicate, its epoll registration and every accepted socket
// are gone.
func TestShutdownWhileAccepting(t *testing.T) {
	if ln, err := net.Listen("tcp", "127.0.0.1:0"); err == nil { // init Go's poller
		ln.Close()
	}
	before := countFDs(t)
	s, ln := listenServer(t, Config{MaxConns: 4096})
	var calls atomic.Int32
	setAcceptFault(t, func(int) error {
		calls.Add(1)
		time.Sleep(200 * time.Microsecond)
		return nil
	})
	cs := dialBurst(t, ln.Addr().String(), 1000)
	served := make(chan error, 1)
	go func() { served <- s.Serve(ln, acceptAll(newRecorder(false)), nil) }()
	eventually(t, "accepting", func() bool { return calls.Load() > 10 })
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-served; !errors.Is(err, ErrServerClosed) {
		t.Fatalf("Serve returned %v", err)
	}
	if st := s.Stats(); st.Registered != 0 || st.Slots != 0 || st.Accepted >= 1000 {
		t.Fatalf("after Close: %+v (all accepted: shutdown came too late to test anything)", st)
	}
	n := calls.Load()
	time.Sleep(20 * time.Millisecond)
	if calls.Load() != n {
		t.Fatal("accept4 called after Close")
	}
	for _, c := range cs {
		_ = c.Close()
	}
	eventually(t, "fds released", func() bool { return countFDs(t) <= before })
}

// Two listeners served at once by one Server, each at its own address;
// Close ends both Serve calls.
func TestTwoListeners(t *testing.T) {
	rec := newRecorder(true)
	s, ln1 := listenServer(t, Config{})
	ln2, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 2)
	go func() { served <- s.Serve(ln1, acceptAll(rec), nil) }()
	go func() { served <- s.Serve(ln2, acceptAll(rec), nil) }()
	for i := range 20 {
		ln := ln1
		if i%2 == 1 {
			ln = ln2
		}
		c := dial(t, ln.Addr().String())
		p := []byte{byte('a' + i)}
		c.send(ws.OpText, p)
		c.expectEcho(ws.OpText, p)
		c.conn.Close()
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := <-served; !errors.Is(err, ErrServerClosed) {
			t.Fatalf("Serve returned %v", err)
		}
	}
	if st := s.Stats(); st.Accepted != 20 {
		t.Fatalf("accepted %d, want 20", st.Accepted)
	}
}

// No connection gets the generation that tags listeners' events (nor the
// eventfd's 0), even when the counter wraps.
func TestGenSkipsListenerTag(t *testing.T) {
	s := &Server{}
	s.gens.Store(genListener - 1)
	for range 3 {
		if c := s.newConn(-1, peerAddr{}); c.gen == genListener || c.gen == 0 {
			t.Fatalf("connection got generation %#x", c.gen)
		}
	}
	if g := genListener; int32(g) != padListener {
		t.Fatal("padListener is not genListener's Pad")
	}
}

// A connection that arrives while the listener's task runs, after its
// last accept4 found the queue empty, raises its edge during the task:
// the task re-arms the listener as it ends, so the connection is not
// left waiting for an edge that will never come. The hook plays the
// race: the first accept4 reports EAGAIN only once another worker saw the
// second connection's event arrive during the task.
func TestAcceptEventDuringTask(t *testing.T) {
	s, ln := listenServer(t, Config{Workers: 2})
	served := make(chan error, 1)
	go func() { served <- s.Serve(ln, acceptAll(newRecorder(false)), nil) }()
	t.Cleanup(func() {
		_ = s.Close()
		if err := <-served; !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve returned %v", err)
		}
	})
	eventually(t, "listener armed", func() bool {
		a := s.lp.acc.get(0)
		if a == nil {
			return false
		}
		a.mu.Lock()
		defer a.mu.Unlock()
		return a.armed
	})
	a := s.lp.acc.get(0)
	late := make(chan net.Conn, 1)
	var first, sawAgain atomic.Bool
	setAcceptFault(t, func(int) error {
		if !first.CompareAndSwap(false, true) {
			return nil
		}
		c, err := net.DialTimeout("tcp", ln.Addr().String(), testWait)
		if err == nil {
			late <- c
			for end := time.Now().Add(testWait); a.st.Load()&aAgain == 0 && time.Now().Before(end); {
				time.Sleep(time.Millisecond)
			}
			sawAgain.Store(a.st.Load()&aAgain != 0)
		}
		return unix.EAGAIN
	})
	cs := dialBurst(t, ln.Addr().String(), 1)
	eventually(t, "late conn dialed", func() bool { return len(late) == 1 })
	cs = append(cs, <-late)
	eventually(t, "both accepted", func() bool { return s.Stats().Accepted == 2 })
	if !sawAgain.Load() {
		t.Fatal("no event came during the task")
	}
	upgradeAll(t, cs)
}

// TestAcceptTaskReplacedRetires: an accept task that holds its worker
// past the budget gets the worker replaced, as a connection's task does,
// and the replaced worker retires when the task ends: the pool is back to
// Config.Workers.
func TestAcceptTaskReplacedRetires(t *testing.T) {
	var slow, slept atomic.Bool
	slow.Store(true)
	setAcceptFault(t, func(int) error {
		if slow.CompareAndSwap(true, false) {
			time.Sleep(50 * taskBudget)
			slept.Store(true)
		}
		return nil
	})
	s, addr := startServer(t, Config{Workers: 1}, acceptAll(newRecorder(false)), nil)
	// The client sends nothing, so no connection task follows (one would
	// retire the worker too).
	dialBurst(t, addr, 1)
	deadline := time.Now().Add(testWait)
	most := 0
	for !slept.Load() {
		all, _ := s.lp.workers()
		most = max(most, all)
		if time.Now().After(deadline) {
			t.Fatal("the slow accept task never ran")
		}
		time.Sleep(time.Millisecond)
	}
	if most < 2 {
		t.Fatalf("%d workers during a slow accept task: not replaced", most)
	}
	for {
		all, stuck := s.lp.workers()
		if all == 1 && stuck == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d workers (%d stuck) after a slow accept task; want 1 (0)", all, stuck)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestReplacedAcceptWorkerHandsOff: a worker replaced during one of its
// accept tasks runs none of the others it claimed; it hands them off
// and retires.
func TestReplacedAcceptWorkerHandsOff(t *testing.T) {
	s, _ := startServer(t, Config{Workers: 1}, acceptAll(newRecorder(false)), nil)
	var a *acceptor
	for deadline := time.Now().Add(testWait); a == nil || !a.claim(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no acceptor to claim")
		}
		a = s.lp.acc.get(0) // Serve registers it
	}
	w := newWorker(s) // a worker of the loop's shape, not running
	var runs atomic.Int32
	setAcceptFault(t, func(tries int) error {
		if tries == 0 && runs.Add(1) == 1 {
			s.lp.replace(w) // the watchdog's look, as the task runs
		}
		return nil
	})
	w.accs = append(w.accs, a, a) // the second stands for another listener's task
	if !w.runAccepts() {
		t.Fatal("the replaced worker does not retire")
	}
	if n := runs.Load(); n != 1 {
		t.Fatalf("the replaced worker ran %d accept tasks; want 1", n)
	}
	if len(w.accs) != 0 || a.st.Load() != 0 {
		t.Fatalf("%d accept tasks left, state %#x: not handed off", len(w.accs), a.st.Load())
	}
}

// TestAcceptTaskWakesPoller: a worker that claimed an accept task wakes
// another to poll while it accepts, as it does for a big batch or a
// queued run queue.
func TestAcceptTaskWakesPoller(t *testing.T) {
	s, _ := startServer(t, Config{Workers: 1}, acceptAll(newRecorder(false)), nil)
	w := newWorker(s)
	if w.moreThanItsShare(&s.lp) {
		t.Fatal("an idle worker asks for help")
	}
	w.accs = append(w.accs, &acceptor{})
	if !w.moreThanItsShare(&s.lp) {
		t.Fatal("a worker with an accept task leaves nobody polling")
	}
	w.accs = w.accs[:0]
	w.batch = append(w.batch, make([]*Conn, wakeBatch)...)
	if !w.moreThanItsShare(&s.lp) {
		t.Fatal("a worker with a big batch leaves nobody polling")
	}
}

// TestNextBackoff: the accept backoff starts at 5 ms, doubles, stops at a
// second, and each pause is logged as a warning.
func TestNextBackoff(t *testing.T) {
	var log lockedBuf
	s := newTestServer(t, Config{Logger: slog.New(slog.NewTextHandler(&log, nil))})
	ms := time.Millisecond
	for _, tc := range []struct{ d, want time.Duration }{
		{0, 5 * ms}, {ms, 5 * ms}, {5 * ms, 10 * ms}, {10 * ms, 20 * ms},
		{300 * ms, 600 * ms}, {600 * ms, time.Second}, {time.Second, time.Second},
	} {
		if got := s.nextBackoff(tc.d, unix.EMFILE); got != tc.want {
			t.Errorf("after %v: %v, want %v", tc.d, got, tc.want)
		}
	}
	if n := strings.Count(log.String(), "level=WARN"); n != 7 {
		t.Fatalf("%d warnings for 7 pauses:\n%s", n, log.String())
	}
}
