package phx

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

// readGate records what a socket did to its fake transport's input:
// pauseRead and resumeRead calls, in order. A test reader feeds frames
// only while the input is not paused, as netpoll and the LongPoll POST
// handler do.
type readGate struct {
	mu      sync.Mutex
	paused  bool
	calls   []string // "pause@N" / "resume@N": N units outstanding then
	changed chan struct{}
	sock    *Socket // whose count the log records (set by watchInput)
}

var readGates sync.Map // *fakeTransport → *readGate

func gateOf(f *fakeTransport) *readGate {
	g, _ := readGates.LoadOrStore(f, &readGate{changed: make(chan struct{})})
	return g.(*readGate)
}

func (f *fakeTransport) pauseRead()  { gateOf(f).set(true) }
func (f *fakeTransport) resumeRead() { gateOf(f).set(false) }

func (g *readGate) set(paused bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.paused = paused
	n := -1
	if g.sock != nil {
		n = int(g.sock.in.decided) // the caller (inboundSettle) holds s.in.mu; the count moves lock-free
	}
	if paused {
		g.calls = append(g.calls, fmt.Sprintf("pause@%d", n))
	} else {
		g.calls = append(g.calls, fmt.Sprintf("resume@%d", n))
	}
	close(g.changed)
	g.changed = make(chan struct{})
}

func (g *readGate) log() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]string(nil), g.calls...)
}

// waitReadable blocks while the input is paused; false after 60s (it runs
// on reader goroutines, which must not call t.Fatal).
func (g *readGate) waitReadable() bool {
	deadline := time.After(60 * time.Second)
	for {
		g.mu.Lock()
		paused, ch := g.paused, g.changed
		g.mu.Unlock()
		if !paused {
			return true
		}
		select {
		case <-ch:
		case <-deadline:
			return false
		}
	}
}

// waitPaused blocks until the input is paused (60s at most).
func (g *readGate) waitPaused(t testing.TB) {
	t.Helper()
	deadline := time.After(60 * time.Second)
	for {
		g.mu.Lock()
		paused, ch := g.paused, g.changed
		g.mu.Unlock()
		if paused {
			return
		}
		select {
		case <-ch:
		case <-deadline:
			t.Fatal("input not paused within 60s")
		}
	}
}

func (g *readGate) isPaused() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.paused
}

// inboundPeak returns the most inbound work the socket had outstanding.
func (s *Socket) inboundPeak() int {
	return int(s.in.peak.Load())
}

// mailboxLen is the number of items waiting in c's mailbox.
func (c *Channel) mailboxLen() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.x == nil {
		return 0
	}
	return len(c.x.queue)
}
