package netpoll

import (
	"bytes"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gobwas/ws"
)

// stallBound is the longest any other connection may wait while one
// handler blocks for a second: generous for a loaded machine, yet a stall
// (waiting for the sleeper) breaks it by far.
const stallBound = 300 * time.Millisecond

// sleeper is a Handler that echoes every message, except that a message
// starting with "sleep" blocks its OnMessage for a second first. It
// records the sleeping connection's messages in order.
type sleeper struct {
	*recorder
	asleep  chan struct{} // closed when the sleep starts
	once    sync.Once
	mu      sync.Mutex
	order   []string // messages of the sleeping connection, in OnMessage order
	sleepC  atomic.Pointer[Conn]
	stalled atomic.Bool
}

func (h *sleeper) OnMessage(c *Conn, op OpCode, p []byte) {
	if bytes.HasPrefix(p, []byte("sleep")) {
		h.sleepC.Store(c)
		h.once.Do(func() { close(h.asleep) })
		time.Sleep(time.Second)
	}
	if h.sleepC.Load() == c {
		h.mu.Lock()
		h.order = append(h.order, string(p))
		h.mu.Unlock()
	}
	h.recorder.OnMessage(c, op, p)
}

// TestSlowHandlerBlocksNobody: one connection's OnMessage sleeps for a
// second while 1,000 others echo; none of them waits anywhere near that
// long (the watchdog replaces the stuck worker), and the sleeper's later
// messages are handled after it, in order. At most inFlight clients wait
// for an echo at once, so that a round trip measures the server's
// responsiveness rather than a queue of 1,000 requests sent together
// (which takes long to serve under -race on a loaded machine).
func TestSlowHandlerBlocksNobody(t *testing.T) {
	const conns, rounds, inFlight = 1000, 3, 50
	rec := newRecorder(true)
	rec.msgs = make(chan message) // unbuffered: recorder drops instead of storing
	h := &sleeper{recorder: rec, asleep: make(chan struct{})}
	s, addr := startServer(t, Config{Workers: 2}, acceptAll(h), nil)
	clients := make([]*client, conns)
	for i := range clients {
		clients[i] = dial(t, addr)
	}
	sl := dial(t, addr)
	sl.send(ws.OpText, []byte("sleep-1"))
	sl.send(ws.OpText, []byte("m-2"))
	sl.send(ws.OpText, []byte("m-3"))
	<-h.asleep
	start := time.Now()

	var worst atomic.Int64
	var wg sync.WaitGroup
	sem := make(chan struct{}, inFlight)
	for i, c := range clients {
		wg.Go(func() {
			for r := range rounds {
				msg := fmt.Appendf(nil, "c%d-r%d", i, r)
				sem <- struct{}{}
				t0 := time.Now()
				c.send(ws.OpText, msg)
				_, p, err := c.readFrame()
				d := int64(time.Since(t0))
				<-sem
				if err != nil || !bytes.Equal(p, msg) {
					t.Errorf("conn %d round %d: %q, %v", i, r, p, err)
					return
				}
				for old := worst.Load(); d > old && !worst.CompareAndSwap(old, d); old = worst.Load() {
				}
			}
		})
	}
	wg.Wait()
	echoed := time.Since(start)
	for _, want := range []string{"sleep-1", "m-2", "m-3"} {
		if got := sl.expectFrame(ws.OpText); string(got) != want {
			t.Fatalf("sleeper's echo %q, want %q", got, want)
		}
	}
	h.mu.Lock()
	order := slices.Clone(h.order)
	h.mu.Unlock()
	t.Logf("%d×%d echoes done %v after the sleep began; slowest %v",
		conns, rounds, echoed.Round(time.Millisecond), time.Duration(worst.Load()).Round(time.Microsecond))
	if w := time.Duration(worst.Load()); w >= stallBound {
		t.Errorf("an echo took %v while one handler slept (bound %v)", w, stallBound)
	}
	if !slices.Equal(order, []string{"sleep-1", "m-2", "m-3"}) {
		t.Errorf("sleeper's messages handled as %q", order)
	}
	if rec.overlap.Load() {
		t.Error("handler calls overlapped for one connection")
	}
	// The spare worker retires once the sleeper returned.
	eventually(t, "spare workers retired", func() bool {
		s.lp.mu.Lock()
		defer s.lp.mu.Unlock()
		return len(s.lp.ws) == 2 && s.lp.stuck == 0
	})
}

// TestSlowUpgraderBlocksNobody: an Upgrader that takes a second for one
// request blocks no other handshake.
func TestSlowUpgraderBlocksNobody(t *testing.T) {
	rec := newRecorder(true)
	slowIn := make(chan struct{})
	var once sync.Once
	up := upgraderFunc(func(r *UpgradeRequest) UpgradeResponse {
		if r.Path == "/slow" {
			once.Do(func() { close(slowIn) })
			time.Sleep(time.Second)
		}
		return UpgradeResponse{Handler: rec}
	})
	_, addr := startServer(t, Config{Workers: 1}, up, nil)
	slowDone := make(chan *client, 1)
	go func() { slowDone <- dialWith(t, ws.Dialer{}, "ws://"+addr+"/slow") }()
	<-slowIn
	var worst time.Duration
	for range 100 {
		t0 := time.Now()
		c := dial(t, addr)
		c.send(ws.OpText, []byte("hi"))
		c.expectFrame(ws.OpText)
		worst = max(worst, time.Since(t0))
	}
	t.Logf("100 handshakes + echo while one Upgrader slept: slowest %v", worst.Round(time.Microsecond))
	if worst >= stallBound {
		t.Errorf("a handshake took %v while one Upgrader slept (bound %v)", worst, stallBound)
	}
	select {
	case c := <-slowDone:
		c.send(ws.OpText, []byte("late"))
		if got := c.expectFrame(ws.OpText); string(got) != "late" {
			t.Fatalf("slow connection echoed %q", got)
		}
	case <-time.After(testWait):
		t.Fatal("the slow handshake never completed")
	}
}

// TestStuckBatchHandedOver: connections a worker claimed in its batch but
// had not started when its task got stuck are run by another worker.
// With one worker, the handler of A puts B (claimed, so that only the
// batch can run it) into its own worker's batch, then blocks: B's echo
// must come back while A is still blocked.
func TestStuckBatchHandedOver(t *testing.T) {
	rec := newRecorder(true)
	release := make(chan struct{})
	var bConn atomic.Pointer[Conn]
	var s *Server
	blocker := &funcHandler{recorder: rec, onMessage: func(c *Conn, p []byte) bool {
		if string(p) != "block" {
			return false
		}
		b := bConn.Load()
		s.lp.mu.Lock()
		var w *worker
		for _, x := range s.lp.ws {
			if x.seq.Load()&1 == 1 {
				w = x
			}
		}
		s.lp.mu.Unlock()
		if !b.claim(0) {
			t.Error("B was claimed already")
		}
		w.mu.Lock()
		w.batch = append(w.batch, b)
		w.mu.Unlock()
		<-release
		return true
	}}
	s, addr := startServer(t, Config{Workers: 1}, acceptAll(blocker), nil)
	a := dial(t, addr)
	rec.waitOpen(t)
	b := dial(t, addr)
	bConn.Store(rec.waitOpen(t))
	a.send(ws.OpText, []byte("block"))
	time.Sleep(20 * time.Millisecond) // A's handler claimed B and blocks
	b.send(ws.OpText, []byte("from B"))
	done := make(chan []byte, 1)
	go func() {
		_, p, _ := b.readFrame()
		done <- p
	}()
	select {
	case p := <-done:
		if string(p) != "from B" {
			t.Errorf("B echoed %q", p)
		}
	case <-time.After(stallBound):
		t.Error("B, in the stuck worker's batch, was not run")
		close(release)
		<-done
		return
	}
	close(release)
}

// funcHandler is a recorder whose OnMessage may be taken over.
type funcHandler struct {
	*recorder
	onMessage func(c *Conn, p []byte) bool // true: handled
}

func (h *funcHandler) OnMessage(c *Conn, op OpCode, p []byte) {
	if !h.onMessage(c, p) {
		h.recorder.OnMessage(c, op, p)
	}
}
