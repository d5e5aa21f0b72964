package netpoll

import (
	"testing"
	"time"
	"unsafe"
)

// maxQueued, read on every Send, lives on a cache line of its own, away
// from the counters and locks that every accept and close write.
func TestMaxQueuedOwnCacheLine(t *testing.T) {
	var s Server
	mq := int64(unsafe.Offsetof(s.maxQueued))
	for name, off := range map[string]uintptr{
		"now": unsafe.Offsetof(s.now), "openConns": unsafe.Offsetof(s.openConns),
		"used": unsafe.Offsetof(s.used), "ipl": unsafe.Offsetof(s.ipl),
		"dls": unsafe.Offsetof(s.dls), "stats": unsafe.Offsetof(s.stats),
	} {
		if d := mq - int64(off); d > -64 && d < 64 {
			t.Errorf("maxQueued (offset %d) within a cache line of %s (offset %d)", mq, name, off)
		}
	}
}

// mustFinish runs f while the caller holds a lock and fails the test when
// f does not return within 10s (it waits for that lock): then it unlocks,
// lets f finish and stops the test.
func mustFinish(t *testing.T, what string, f, unlock func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); f() }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		unlock()
		<-done
		t.Fatalf("%s waited for a lock", what)
	}
}

// The read path asks whether to pause without taking Conn.mu: the output
// backlog is a flag kept where the queue crosses ReadPauseBytes.
func TestPauseWantedLockFree(t *testing.T) {
	rec := newRecorder(false)
	_, addr := startServer(t, Config{ReadPauseBytes: 1000, WriteQueueBytes: 1 << 20}, acceptAll(rec), nil)
	dial(t, addr)
	c := rec.waitOpen(t)
	c.mu.Lock()
	var wanted bool
	mustFinish(t, "pauseWanted", func() { wanted = c.pauseWanted() }, c.mu.Unlock)
	// Queue past ReadPauseBytes by hand (the client reads nothing, but
	// the test must not depend on the socket filling): the flag follows.
	c.wq = append(c.wq, outFrame{p: make([]byte, 2000), op: opRaw})
	c.wqBytes += 2000
	c.queuedLocked()
	over := c.pauseWanted()
	c.advanceLocked(1500)
	under := c.pauseWanted()
	c.mu.Unlock()
	if wanted || !over || under {
		t.Fatalf("pauseWanted: empty %v, over %v, back under %v; want false, true, false", wanted, over, under)
	}
	c.mu.Lock()
	c.advanceLocked(500) // leave the queue as we found it
	c.mu.Unlock()
}

// A connection without a deadline (most, when they end) clears it without
// the server-wide deadlines lock.
func TestDeadlineClearWithoutLock(t *testing.T) {
	s, _ := startServer(t, Config{}, acceptAll(newRecorder(false)), nil)
	c := &Conn{s: s}
	s.dls.mu.Lock()
	mustFinish(t, "clearDeadline without a deadline", func() { s.clearDeadline(c) }, s.dls.mu.Unlock)
	s.dls.mu.Unlock()
}

// Connection churn recycles deadline nodes: no allocation per handshake
// or close deadline.
func TestDeadlineNodesRecycled(t *testing.T) {
	s, _ := startServer(t, Config{}, acceptAll(newRecorder(false)), nil)
	c := &Conn{s: s}
	cycle := func() {
		s.setDeadline(c, dlHandshake)
		s.clearDeadline(c)
		s.setDeadline(c, dlClose)
		s.clearDeadline(c)
	}
	cycle()
	if c.dl != nil || c.has(fDeadline) {
		t.Fatal("deadline left after clearing")
	}
	if raceEnabled {
		return // allocation counts are distorted under -race; the test command reruns without it
	}
	if n := testing.AllocsPerRun(100, cycle); n != 0 {
		t.Fatalf("%.1f allocations per handshake and close deadline, want 0", n)
	}
}

// TestDeadlineFreeListBounded: after a burst of connections with
// deadlines, at most maxFreeNodes nodes are kept for reuse; the rest are
// left to the GC, so the burst's memory is not held forever.
func TestDeadlineFreeListBounded(t *testing.T) {
	s, _ := startServer(t, Config{}, acceptAll(newRecorder(false)), nil)
	conns := make([]*Conn, 3*maxFreeNodes)
	for i := range conns {
		conns[i] = &Conn{s: s}
		s.setDeadline(conns[i], dlHandshake)
	}
	for _, c := range conns {
		s.clearDeadline(c)
	}
	s.dls.mu.Lock()
	defer s.dls.mu.Unlock()
	kept := 0
	for n := s.dls.free; n != nil; n = n.next {
		kept++
	}
	if kept != maxFreeNodes || s.dls.nfree != kept {
		t.Fatalf("%d nodes kept (counted %d) after %d deadlines cleared, want %d", kept, s.dls.nfree, len(conns), maxFreeNodes)
	}
}
